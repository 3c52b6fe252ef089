"""``harness peers --multus-thin F --multus-thick F --pymultus-thin F
--pymultus-thick F [--out docs/peer-results.md] [--check]``: the peer-results
page from four ``harness run --results-json`` files (see
:mod:`harness.report.peers`).

Exit 1 when the runs disagree with docs/peer-reasons.yaml or
docs/compatibility.md (listed on stderr), or with ``--check`` when the page
on disk is not what the runs generate. The page is written either way, so a
rerun shows its differences in ``git diff``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
from typing import Any

DEFAULT_OUT = "docs/peer-results.md"
DEFAULT_REASONS = "docs/peer-reasons.yaml"
DEFAULT_COMPAT = "docs/compatibility.md"


def register(sub: Any) -> None:
    p = sub.add_parser("peers", help="docs/peer-results.md from four results JSON files")
    for profile in ("multus-thin", "multus-thick", "pymultus-thin", "pymultus-thick"):
        p.add_argument(
            f"--{profile}",
            metavar="FILE",
            action="append",
            required=True,
            help=f"results of {profile}; repeat for a rerun of some scenarios (later files win)",
        )
    p.add_argument("--reasons", default=DEFAULT_REASONS, help="why Multus fails each scenario")
    p.add_argument("--compatibility", default=DEFAULT_COMPAT)
    p.add_argument("--out", default=DEFAULT_OUT)
    p.add_argument("--check", action="store_true", help="exit 1 if --out differs from the result")
    p.set_defaults(func=run)


def describe_binary(path: str) -> str:
    """sha256 and what ``--version`` prints: the build is pinned by content."""
    if not os.path.isfile(path):
        return "not on this machine"
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
        version = (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        version = "no --version output"
    return f"sha256 {digest[:16]}..., `--version`: {version}"


def run(args: argparse.Namespace) -> int:
    import yaml

    from harness.report.peers import (
        COLUMNS,
        MULTUS,
        Peers,
        anchors,
        judge,
        merge_runs,
        parse_reasons,
        render,
    )
    from harness.report.results import load_documents

    runs: dict[str, dict[str, Any]] = {}
    files: dict[str, list[str]] = {}
    for profile, _ in COLUMNS:
        for path in getattr(args, profile.replace("-", "_")):
            try:
                docs = load_documents(path)
            except (OSError, ValueError) as exc:
                print(f"harness peers: cannot read {path}: {exc}", file=sys.stderr)
                return 2
            got = docs[0].get("profile") if docs else None
            if got != profile:
                print(f"harness peers: {path} is a run of {got}, not {profile}", file=sys.stderr)
                return 2
            runs[profile] = merge_runs(runs.get(profile), docs[0])
            files.setdefault(profile, []).append(os.path.basename(path))
    try:
        with open(args.reasons, encoding="utf-8") as f:
            reasons = parse_reasons(yaml.safe_load(f) or {})
        with open(args.compatibility, encoding="utf-8") as f:
            compat = anchors(f.read())
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"harness peers: {exc}", file=sys.stderr)
        return 2
    binaries: list[tuple[str, str]] = []
    for profile in MULTUS:
        for key in ("metaPlugin", "daemon", "shim"):
            path = str(runs[profile].get(key) or "")
            if path and path not in [b for b, _ in binaries]:
                binaries.append((path, describe_binary(path)))
    peers = Peers.of(runs)
    page = render(peers, reasons, files, binaries)
    problems = judge(peers, reasons, compat)
    stale = False
    if args.check:
        try:
            with open(args.out, encoding="utf-8") as f:
                stale = f.read() != page
        except OSError:
            stale = True
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(page)
    for problem in problems:
        print(f"DISAGREES {problem}", file=sys.stderr)
    if stale:
        print(
            f"harness peers: {args.out} was not what these runs generate (rewritten)",
            file=sys.stderr,
        )
    print(f"wrote {args.out}: {len(peers.rows)} scenarios, {len(problems)} disagreement(s)")
    return 1 if problems or stale else 0
