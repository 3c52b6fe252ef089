"""``harness vendor check``: the vendor battery against one plugin binary.

    harness vendor check --plugin PATH --config CONF [--cni-version V ...]
        [--type TYPE] [--ifname NAME] [--cni-path DIR ...] [--runtime-config FILE]
        [--only CHECK ...] [--no-delegate] [--timeout S]
        [--junit-xml F] [--markdown F] [--json F]
    harness vendor reference [--markdown F] [--plugins NAME ...]

Exit status: 0 when no check failed (skips carry a reason), 1 when one did,
2 when the input itself is unusable (unreadable config).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("vendor", help="conformance checks for a CNI plugin binary")
    vsub = p.add_subparsers(dest="vendor_command", required=True)
    c = vsub.add_parser("check", help="run the battery against one plugin binary")
    c.add_argument("--plugin", required=True, help="the plugin binary under test")
    c.add_argument("--config", required=True, help="network configuration file (JSON)")
    c.add_argument(
        "--cni-version",
        action="append",
        dest="cni_versions",
        metavar="V",
        help="run the battery with this cniVersion (repeatable; default: the config's)",
    )
    c.add_argument(
        "--type", dest="plugin_type", metavar="TYPE", help="type of the plugin under test in a list"
    )
    c.add_argument("--ifname", default="eth0", metavar="NAME", help="CNI_IFNAME (default eth0)")
    c.add_argument(
        "--cni-path",
        action="append",
        metavar="DIR",
        help="directory of the other plugins (IPAM, chained; default /usr/lib/cni)",
    )
    c.add_argument("--runtime-config", metavar="FILE", help="JSON file: capability values to use")
    c.add_argument(
        "--only", action="append", metavar="CHECK", help="run only this check (repeatable)"
    )
    c.add_argument("--no-delegate", action="store_true", help="skip the cluster-based check")
    c.add_argument(
        "--timeout", type=float, default=20.0, metavar="S", help="seconds per check (default 20)"
    )
    c.add_argument("--junit-xml", metavar="F", help="write a JUnit XML report here")
    c.add_argument("--markdown", metavar="F", help="write a Markdown report here")
    c.add_argument("--json", metavar="F", help="write a JSON report here")
    c.set_defaults(func=run_check)
    r = vsub.add_parser("reference", help="run the battery on the reference plugins")
    r.add_argument("--cni-bin-dir", default="/usr/lib/cni")
    r.add_argument("--plugins", nargs="*", help="only these reference plugins")
    r.add_argument("--markdown", help="write the results table here (docs/vendor-results.md)")
    r.set_defaults(func=run_reference)


def _read_json(path: str, what: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as exc:
        raise SystemExit(f"harness vendor: cannot read {what} {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise SystemExit(f"harness vendor: {what} {path} is not valid JSON: {exc}") from None


def _write(path: str | None, text: str) -> None:
    if path:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)


def run_check(args: argparse.Namespace) -> int:
    from harness.vendor.battery import check_plugin
    from harness.vendor.report import render_json, render_junit, render_markdown

    config = _read_json(args.config, "config")
    if not isinstance(config, dict):
        print(f"harness vendor: {args.config} must hold a JSON object", file=sys.stderr)
        return 2
    runtime = _read_json(args.runtime_config, "runtime config") if args.runtime_config else {}
    report = check_plugin(
        args.plugin,
        config,
        cni_versions=args.cni_versions,
        plugin_type=args.plugin_type,
        ifname=args.ifname,
        cni_path=args.cni_path or ["/usr/lib/cni"],
        runtime_config=runtime,
        timeout=args.timeout,
        only=args.only,
        delegate=not args.no_delegate,
        source=args.config,
        progress=lambda r: print(r.line(), flush=True),
    )
    for r in report.results:
        if r.status == "failed" and r.evidence:
            print(f"\n--- {r.name}\n{r.evidence}")
    print(f"\n{report.summary()}")
    _write(args.junit_xml, render_junit(report))
    _write(args.markdown, render_markdown(report))
    _write(args.json, render_json(report))
    return report.exit_code


def run_reference(args: argparse.Namespace) -> int:
    from harness.vendor.reference import render_results, run_reference_plugins

    reports = run_reference_plugins(
        args.cni_bin_dir,
        args.plugins,
        progress=lambda name, r: print(f"{name}: {r.summary()}", flush=True),
    )
    _write(args.markdown, render_results(reports))
    return 0
