"""Vendor kit: a black-box conformance battery for any CNI plugin binary.

``check_plugin(binary, config)`` runs every check in fresh namespaces and
returns a :class:`Report`; ``harness vendor check`` is the same on the command
line; :mod:`harness.vendor.pytest_fixtures` offers it to a vendor's pytest
suite. See docs/vendor.md.
"""

from harness.vendor.battery import check_plugin, with_version
from harness.vendor.report import CheckResult, Report

__all__ = ["CheckResult", "Report", "check_plugin", "with_version"]
