"""pytest fixture ``cni_vendor_check``: the vendor battery inside a vendor's test suite.

Installed with this package through the harness's pytest plugin, so a test
only asks for it::

    def test_my_plugin_conforms(cni_vendor_check):
        report = cni_vendor_check("bin/my-plugin", {"cniVersion": "1.0.0", ...})
        assert report.ok, report.failed_names()

It runs :func:`harness.vendor.check_plugin` (same keyword arguments), skips
the test with the reason when the machine cannot run it (not root), and
attaches the text report to the test's output.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from harness.vendor.battery import check_plugin, unavailable_reason
from harness.vendor.report import Report, render_text

VendorCheck = Callable[..., Report]


@pytest.fixture
def cni_vendor_check(request: pytest.FixtureRequest) -> VendorCheck:
    """A function ``(binary, config, **options) -> Report`` (see check_plugin)."""

    def run(binary: str, config: Any, **options: Any) -> Report:
        reason = unavailable_reason()
        if reason:
            pytest.skip(reason)
        report = check_plugin(binary, config, **options)
        request.node.user_properties.append(("cni-vendor-report", render_text(report)))
        print(render_text(report))
        return report

    return run
