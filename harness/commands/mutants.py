"""``harness mutants``: the mutant kit (docs/mutants.md).

harness mutants list                      # id, file, what it breaks, its catches
harness mutants check [PATHS]             # every snippet matches once and compiles
harness mutants build ID --out DIR        # one mutant's launcher, to try by hand
harness mutants run [PATHS] [-m ID ...] [--jobs N] [--full | --fast] [--report F]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from typing import Any

from harness.mutants.model import Catalog, CatalogError, catalog_from_data


def register(sub: Any) -> None:
    p = sub.add_parser("mutants", help="run the suite against deliberately broken meta-plugins")
    p.add_argument("--catalog", help="a YAML/JSON catalog (default: the built-in pymultus one)")
    p.add_argument("--source", help="directory holding the package to mutate (default: its own)")
    msub = p.add_subparsers(dest="action", required=True)

    ls = msub.add_parser("list", help="list the mutants")
    ls.set_defaults(func=cmd_list)

    ck = msub.add_parser("check", help="build every mutant: snippets match once, copies compile")
    ck.add_argument("paths", nargs="*", default=["scenarios"])
    ck.set_defaults(func=cmd_check)

    bd = msub.add_parser("build", help="build one mutant (or 'control') and print its launcher")
    bd.add_argument("id")
    bd.add_argument("--out", required=True, help="directory to build in")
    bd.set_defaults(func=cmd_build)

    rn = msub.add_parser("run", help="run the suite against each mutant: caught N/M")
    rn.add_argument("paths", nargs="*", default=["scenarios"])
    rn.add_argument("-m", "--mutant", action="append", default=[], help="only this mutant")
    rn.add_argument("--jobs", type=int, default=2, help="harness runs at a time (default 2)")
    mode = rn.add_mutually_exclusive_group()
    mode.add_argument("--full", action="store_true", help="the whole suite against every mutant")
    mode.add_argument("--fast", action="store_true", help="only each mutant's catches")
    rn.add_argument("--fast-only", action="store_true", help="only the mutants marked fast")
    rn.add_argument("--no-control", action="store_true", help="skip the unmodified control run")
    rn.add_argument("--timeout", type=float, default=1800.0, help="bound on one harness run (s)")
    rn.add_argument("--work-dir", help="keep builds and logs here (default: a temp dir, removed)")
    rn.add_argument("--report", metavar="FILE", help="write the verdicts as JSON")
    rn.add_argument("--cni-bin-dir", help="passed on to harness run")
    rn.set_defaults(func=cmd_run)


def load_catalog(args: argparse.Namespace) -> Catalog:
    if not args.catalog:
        from harness.mutants.catalog import CATALOG

        CATALOG.check()
        return CATALOG
    import yaml

    with open(args.catalog, encoding="utf-8") as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict):
        raise CatalogError(f"{args.catalog}: a catalog is a mapping (package, entry, mutants)")
    return catalog_from_data(data)


def suite_files(paths: list[str]) -> list[str]:
    from harness.scenario.files import scenario_files

    return [str(p) for p in scenario_files(paths)]


def guarded(func: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            return int(func(args))
        except CatalogError as exc:
            print(f"harness mutants: {exc}", file=sys.stderr)
            return 2

    return run


@guarded
def cmd_list(args: argparse.Namespace) -> int:
    catalog = load_catalog(args)
    for m in catalog.mutants:
        fast = " [fast]" if m.fast else ""
        print(f"{m.id}{fast}: {m.description}")
        print(
            f"    {catalog.package}/{m.file}; breaks {m.breaks}; caught by {', '.join(m.catches)}"
        )
    print(f"{len(catalog.mutants)} mutants")
    return 0


@guarded
def cmd_check(args: argparse.Namespace) -> int:
    from harness.mutants.build import build
    from harness.mutants.sweep import missing_catches

    catalog = load_catalog(args)
    problems = [
        f"catches names no scenario: {m}" for m in missing_catches(catalog, suite_files(args.paths))
    ]
    with tempfile.TemporaryDirectory(prefix="harness-mutants-") as work:
        for mutant in catalog.mutants:
            try:
                build(catalog, mutant, work, args.source)
            except CatalogError as exc:
                problems.append(str(exc))
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{len(catalog.mutants)} mutants, {len(problems)} problems")
    return 1 if problems else 0


@guarded
def cmd_build(args: argparse.Namespace) -> int:
    from harness.mutants.build import CONTROL_ID, build

    catalog = load_catalog(args)
    mutant = None if args.id == CONTROL_ID else catalog.select([args.id])[0]
    result = build(catalog, mutant, os.path.abspath(args.out), args.source)
    sys.stdout.write(result.diff)
    print(result.launcher)
    return 0


def interrupted(signum: int, frame: object) -> None:
    """SIGTERM ends a sweep like Ctrl-C: its runs are stopped and cleaned up."""
    raise KeyboardInterrupt


@guarded
def cmd_run(args: argparse.Namespace) -> int:
    from harness.mutants.sweep import missing_catches, summary, sweep

    catalog = load_catalog(args)
    mutants = catalog.select(args.mutant)
    if args.fast_only:
        mutants = [m for m in mutants if m.fast]
    suite = [os.path.abspath(p) for p in suite_files(args.paths)]
    if not suite:
        raise CatalogError(f"no scenarios in {' '.join(args.paths)}")
    for problem in missing_catches(catalog, suite):
        print(f"note: catches names no scenario of this suite: {problem}", file=sys.stderr)
    extra = ["--cni-bin-dir", args.cni_bin_dir] if args.cni_bin_dir else []
    signal.signal(signal.SIGTERM, interrupted)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="harness-mutants-") as tmp:
        work = os.path.abspath(args.work_dir) if args.work_dir else tmp
        os.makedirs(work, exist_ok=True)
        mode = (
            "full suite" if args.full else "catches only" if args.fast else "catches, then the rest"
        )
        print(f"{len(mutants)} mutants x {len(suite)} scenarios ({mode}), {args.jobs} at a time")
        results, control = sweep(
            catalog,
            mutants,
            suite,
            work,
            jobs=args.jobs,
            full=args.full,
            fast=args.fast or args.fast_only,
            with_control=not args.no_control,
            extra_args=extra,
            source=args.source,
            timeout=args.timeout,
        )
    text, code = summary(results, control)
    print(text)
    print(f"in {time.monotonic() - started:.0f} s")
    if args.report:
        os.makedirs(os.path.dirname(os.path.abspath(args.report)), exist_ok=True)
        with open(args.report, "w", encoding="utf-8") as f:
            json.dump(
                {
                    "mutants": [r.to_json() for r in results],
                    "control": control.statuses if control else None,
                    "seconds": round(time.monotonic() - started, 1),
                },
                f,
                indent=1,
            )
    return code
