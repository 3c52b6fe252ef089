"""``harness skips [--results F] [--log F] [--expected ci/expected-skips.yaml]``:
fail when a run skipped a scenario nobody expected to skip (see
:mod:`harness.report.skips`). ``.ci/run`` calls it after ``make test``."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from harness.report.skips import judge, load_expected, outcomes_from_log, outcomes_from_results

DEFAULT_EXPECTED = "ci/expected-skips.yaml"


def register(sub: Any) -> None:
    p = sub.add_parser("skips", help="fail on skips not listed in ci/expected-skips.yaml")
    p.add_argument("--results", action="append", default=[], help="a results JSON (repeatable)")
    p.add_argument(
        "--log", action="append", default=[], help="a pytest skip log ($HARNESS_SKIP_LOG)"
    )
    p.add_argument("--expected", default=DEFAULT_EXPECTED)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.report.results import load_documents

    if not args.results and not args.log:
        print("harness skips: give --results or --log (what a run recorded)", file=sys.stderr)
        return 2
    outcomes = []
    for path in args.results:
        outcomes += outcomes_from_results(load_documents(path))
    for path in args.log:
        if not os.path.exists(path):
            print(f"harness skips: no skip log {path} (did the run set it?)", file=sys.stderr)
            return 2
        with open(path, encoding="utf-8") as f:
            outcomes += outcomes_from_log(f)
    try:
        expected = load_expected(args.expected)
    except (OSError, ValueError) as exc:
        print(f"harness skips: {exc}", file=sys.stderr)
        return 2
    problems, notes = judge(outcomes, expected)
    skipped = sum(1 for o in outcomes if o.status == "skipped")
    for note in notes:
        print(f"note: {note}")
    for problem in problems:
        print(f"UNEXPECTED {problem}")
    print(
        f"{len(outcomes)} outcome(s), {skipped} skipped, {len(problems)} unexpected "
        f"(expected skips: {args.expected})"
    )
    return 1 if problems else 0
