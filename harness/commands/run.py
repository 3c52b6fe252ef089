"""``harness run [PATHS]``: run scenarios with a progress display, then a table,
a summary and the reports asked for (JUnit XML, Markdown, HTML, results JSON)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from harness.backends import (
    BACKENDS,
    Options,
    finish_backends,
    make_cluster,
    print_plan,
    probes_for,
    unavailable_reason,
)
from harness.backends.remote import add_cluster_arguments, cluster_options
from harness.runner import ScenarioResult, run_scenario
from harness.scenario.files import load_all, scenario_files
from harness.scenario.loader import Scenario

STATUS_MARK = {
    "passed": "PASS",
    "failed": "FAIL",
    "error": "ERROR",
    "skipped": "SKIP",
    "xfailed": "XFAIL",
    "xpassed": "XPASS",
}


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="run scenarios and print a table")
    p.add_argument(
        "paths", nargs="*", default=[], help="scenario files or directories (default: the suite)"
    )
    p.add_argument("-k", help="only scenarios whose name, path or clauses contain this text")
    p.add_argument("--backend", default="local", choices=BACKENDS)
    add_profile_arguments(p)
    p.add_argument("--cni-bin-dir", default="/usr/lib/cni")
    p.add_argument(
        "--runtime",
        default="simulated",
        choices=("simulated", "containerd"),
        help="local nodes' CNI caller: the simulated kubelet or a real containerd per node",
    )
    p.add_argument("--junit-xml", metavar="FILE", help="write JUnit XML")
    p.add_argument("--markdown", metavar="FILE", help="write a Markdown summary")
    p.add_argument("--html", metavar="FILE", help="write the HTML report with topologies")
    p.add_argument("--results-json", metavar="FILE", help="write results for `harness coverage`")
    add_cluster_arguments(p)
    p.set_defaults(func=run)


def add_profile_arguments(p: Any) -> None:
    """--profile/--profile-file and the binaries' paths (harness.profiles)."""
    from harness.profiles import BUILTIN

    p.add_argument(
        "--profile",
        help=f"meta-plugin profile: {', '.join(BUILTIN)} (default: pymultus in --mode)",
    )
    p.add_argument("--profile-file", metavar="FILE", help="a profile of your own (YAML/JSON)")
    p.add_argument(
        "--meta-plugin", help="the thin meta-plugin binary (default with pymultus: this pymultus)"
    )
    p.add_argument("--daemon", metavar="PATH", help="a thick profile's daemon binary")
    p.add_argument("--shim", metavar="PATH", help="a thick profile's shim binary")
    p.add_argument(
        "--mode",
        default=None,
        choices=("thin", "thick"),
        help="without a profile: pymultus-thin or pymultus-thick (default thin)",
    )


def profile_options(args: argparse.Namespace) -> dict[str, Any]:
    """Options' profile fields from the command line, checked before anything runs.

    A profile that does not exist, a mode that contradicts it, or binaries it
    cannot run raise ProfileError (the caller exits non-zero with it)."""
    from harness.profiles import choose, resolve_binaries

    profile = choose(args.profile, args.profile_file, args.mode)
    if getattr(args, "backend", "local") == "local":
        pymultus = None
        if profile.implementation == "pymultus" and profile.form == "thin" and not args.meta_plugin:
            from harness.backends.local.cluster import default_meta_plugin

            try:
                pymultus = default_meta_plugin()
            except FileNotFoundError:
                pymultus = None
        resolve_binaries(
            profile, args.meta_plugin, args.daemon, args.shim, pymultus, python=sys.executable
        )
    return {
        "mode": profile.form,
        "profile": None if args.profile_file else profile.name,
        "profile_file": args.profile_file,
        "meta_plugin": args.meta_plugin,
        "daemon": args.daemon,
        "shim": args.shim,
    }


def run_description(options: Options) -> dict[str, str]:
    """What a run ran, for the results JSON, JUnit properties and the HTML header."""
    out = {"backend": options.backend, "mode": options.mode}
    if options.backend != "local":
        out["metaPlugin"] = options.meta_plugin or "pymultus"
        return out
    import sys as _sys

    from harness.profiles import resolve_binaries

    profile = options.meta_profile()
    out["profile"] = profile.name
    if options.profile_file:
        out["profileFile"] = os.path.abspath(options.profile_file)
    pymultus = None
    if profile.implementation == "pymultus" and profile.form == "thin" and not options.meta_plugin:
        from harness.backends.local.cluster import default_meta_plugin

        with _suppress_missing():
            pymultus = default_meta_plugin()
    binaries = resolve_binaries(
        profile, options.meta_plugin, options.daemon, options.shim, pymultus, python=_sys.executable
    )
    if profile.form == "thick" and not binaries.shim:
        binaries_doc = {**binaries.describe(), "shim": "pymultus.shim (harness launcher)"}
    else:
        binaries_doc = binaries.describe()
    out.update(binaries_doc)
    if "metaPlugin" not in out:
        out["metaPlugin"] = out.get("shim", "")
    return out


def _suppress_missing() -> Any:
    import contextlib

    return contextlib.suppress(FileNotFoundError)


def select(scenarios: Sequence[Scenario], expr: str | None) -> list[Scenario]:
    if not expr:
        return list(scenarios)
    # "a or b": either substring, as pytest's -k reads the same expression.
    needles = [n.strip() for n in expr.lower().split(" or ") if n.strip()]
    return [
        s
        for s in scenarios
        if any(n in f"{s.name} {s.path} {' '.join(s.covers)}".lower() for n in needles)
    ]


def print_table(results: Sequence[ScenarioResult]) -> None:
    width = max([len(r.scenario.name) for r in results] + [8])
    print(f"\n{'scenario':<{width}}  result  seconds")
    print(f"{'-' * width}  ------  -------")
    for r in results:
        print(f"{r.scenario.name:<{width}}  {STATUS_MARK[r.status]:<6}  {r.seconds:7.2f}")


def summary_line(results: Sequence[ScenarioResult]) -> str:
    counts = {s: sum(1 for r in results if r.status == s) for s in STATUS_MARK}
    total = sum(r.seconds for r in results)
    extra = "".join(f", {counts[s]} {s}" for s in ("xfailed", "xpassed") if counts[s])
    line = (
        f"{counts['passed']} passed, {counts['failed'] + counts['error']} failed, "
        f"{counts['skipped']} skipped{extra} in {total:.2f} s"
    )
    # Per profile and class: a run against another implementation separates
    # conformance (spec, reference) from checks of our own extensions.
    from harness.report.classes import class_lines

    return "\n".join([line, *class_lines(results)])


def write(path: str, text: str) -> None:
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {path}")


def execute(
    scenarios: Sequence[Scenario],
    options: Options,
    progress: Callable[[str], None] = lambda text: print(text, end="", flush=True),
) -> list[ScenarioResult]:
    """Run scenarios one after the other, reporting progress as they go."""
    from harness.report.classes import profile_name

    reason = unavailable_reason(options)
    probes = probes_for(options)
    profile = profile_name(options)
    results: list[ScenarioResult] = []
    for index, scenario in enumerate(scenarios, 1):
        progress(f"[{index}/{len(scenarios)}] {scenario.name} ... ")
        if reason:
            result = ScenarioResult(scenario, status="skipped", reason=reason)
        else:
            result = run_scenario(scenario, lambda s: make_cluster(s, options), probes)
        result.profile = profile
        results.append(result)
        note = f": {result.reason}" if result.status in ("skipped", "xfailed") else ""
        progress(f"{STATUS_MARK[result.status]} ({result.seconds:.2f} s){note}\n")
        if result.status in ("failed", "error"):
            progress(result.report() + "\n")
    return results


def run(args: argparse.Namespace) -> int:
    from harness.profiles import ProfileError

    errors: list[str] = []
    try:
        chosen = profile_options(args)
    except ProfileError as exc:
        print(f"harness run: {exc}", file=sys.stderr)
        return 2
    options = Options(
        backend=args.backend,
        cni_bin_dir=args.cni_bin_dir,
        **chosen,
        runtime=args.runtime,
        **cluster_options(args),
    )
    placeholders = options.meta_profile().placeholders() if args.backend == "local" else None
    scenarios = select(
        load_all(scenario_files(args.paths), errors, placeholders=placeholders), args.k
    )
    if getattr(args, "dry_run", False):
        return print_plan(options)
    reason = unavailable_reason(options)
    if reason:
        # Not root, no CNI plugins, a missing tool: an error, never a run of skips.
        print(f"harness run: backend {options.backend} cannot run here: {reason}", file=sys.stderr)
        return 2
    results = execute(scenarios, options)
    if results:
        print_table(results)
    for error in errors:
        print(f"invalid scenario: {error}", file=sys.stderr)
    print("\n" + summary_line(results))
    write_reports(args, results, options)
    failed = any(r.status in ("failed", "error") for r in results)
    finish_backends(failed)
    return 1 if errors or failed else 0


def write_reports(
    args: argparse.Namespace, results: Sequence[ScenarioResult], options: Options
) -> None:
    import json

    ran = run_description(options)
    if args.junit_xml:
        from harness.report.junit import junit_xml

        write(args.junit_xml, junit_xml(results, run=ran))
    if args.markdown:
        from harness.report.markdown import markdown_summary

        write(args.markdown, markdown_summary(results))
    if args.html:
        from harness.report.html import html_report

        write(args.html, html_report(results, run=ran))
    if args.results_json:
        from harness.report.classes import profile_name
        from harness.report.results import results_document

        meta: dict[str, Any] = dict(ran)
        meta.setdefault("profile", profile_name(options))
        meta.setdefault("runtime", options.runtime)
        write(args.results_json, json.dumps(results_document(results, meta), indent=1))
