"""``harness run [PATHS]``: run scenarios and print a table and a summary."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from harness.backends import BACKENDS, Options, make_cluster, unavailable_reason
from harness.runner import ScenarioResult, run_scenario
from harness.scenario.files import load_all, scenario_files

STATUS_MARK = {"passed": "PASS", "failed": "FAIL", "error": "ERROR", "skipped": "SKIP"}


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="run scenarios and print a table")
    p.add_argument("paths", nargs="*", default=["scenarios"])
    p.add_argument("-k", help="only scenarios whose name or path contains this text")
    p.add_argument("--backend", default="local", choices=BACKENDS)
    p.add_argument("--meta-plugin", help="meta-plugin binary under test (default: pymultus)")
    p.add_argument("--cni-bin-dir", default="/usr/lib/cni")
    p.set_defaults(func=run)


def print_table(results: Sequence[ScenarioResult]) -> None:
    width = max([len(r.scenario.name) for r in results] + [8])
    print(f"\n{'scenario':<{width}}  result  seconds")
    print(f"{'-' * width}  ------  -------")
    for r in results:
        print(f"{r.scenario.name:<{width}}  {STATUS_MARK[r.status]:<6}  {r.seconds:7.2f}")


def run(args: argparse.Namespace) -> int:
    errors: list[str] = []
    scenarios = load_all(scenario_files(args.paths), errors)
    if args.k:
        scenarios = [s for s in scenarios if args.k.lower() in f"{s.name} {s.path}".lower()]
    options = Options(
        backend=args.backend, meta_plugin=args.meta_plugin, cni_bin_dir=args.cni_bin_dir
    )
    reason = unavailable_reason(options)
    results: list[ScenarioResult] = []
    for index, scenario in enumerate(scenarios, 1):
        print(f"[{index}/{len(scenarios)}] {scenario.name} ...", end=" ", flush=True)
        if reason:
            result = ScenarioResult(scenario, status="skipped", reason=reason)
        else:
            result = run_scenario(scenario, lambda s: make_cluster(s, options))
        results.append(result)
        print(f"{STATUS_MARK[result.status]} ({result.seconds:.2f} s)", flush=True)
        if result.status in ("failed", "error"):
            print(result.report(), flush=True)
    if results:
        print_table(results)
    counts = {s: sum(1 for r in results if r.status == s) for s in STATUS_MARK}
    total = sum(r.seconds for r in results)
    for error in errors:
        print(f"invalid scenario: {error}", file=sys.stderr)
    print(
        f"\n{counts['passed']} passed, {counts['failed'] + counts['error']} failed, "
        f"{counts['skipped']} skipped in {total:.2f} s"
    )
    return 1 if errors or counts["failed"] or counts["error"] else 0
