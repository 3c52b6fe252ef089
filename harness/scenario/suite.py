"""Where the conformance suite and its fixtures are: the checkout, or the installed package.

In a source checkout the suite is ``scenarios/`` and ``fixtures/`` beside the
``harness`` package. A wheel carries both inside the package, as
``harness/_data/scenarios`` and ``harness/_data/fixtures`` (pyproject's
``force-include``), because an installed harness has no checkout to look
in. Every consumer asks here, so ``harness run`` with no path, ``harness
coverage``, ``harness validate`` and ``pytest --harness-suite`` all run the
same suite from any working directory.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib import resources

SHIPPED = ("scenarios", "fixtures")


def shipped_dir(name: str) -> str:
    """The directory of one shipped part (``scenarios`` or ``fixtures``)."""
    if name not in SHIPPED:
        raise ValueError(f"not a shipped part: {name!r} (one of {', '.join(SHIPPED)})")
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    checkout = os.path.dirname(package)
    source = os.path.join(checkout, name)
    # pyproject.toml beside it: a checkout, not a site-packages that has a scenarios/.
    if os.path.isdir(source) and os.path.isfile(os.path.join(checkout, "pyproject.toml")):
        return source
    return str(resources.files("harness").joinpath("_data", name))


def suite_dir() -> str:
    """The conformance suite's scenario directory."""
    return shipped_dir("scenarios")


def paths_or_suite(paths: Sequence[str]) -> list[str]:
    """The paths a command was given, or the whole suite when it was given none."""
    return list(paths) if paths else [suite_dir()]
