"""``harness validate FILES``: check scenario files without running them."""

from __future__ import annotations

import argparse
from typing import Any

from harness.scenario.files import load_all, scenario_files


def register(sub: Any) -> None:
    p = sub.add_parser("validate", help="check scenario files without running them")
    p.add_argument(
        "paths", nargs="*", default=[], help="scenario files or directories (default: the suite)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    errors: list[str] = []
    scenarios = load_all(scenario_files(args.paths), errors)
    for scenario in scenarios:
        print(f"ok    {scenario.path}  ({scenario.name})")
    for error in errors:
        print(f"error {error}")
    return 1 if errors else 0
