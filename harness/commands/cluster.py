"""``harness cluster up|down|status``: a simulated cluster that stays up, for kubectl.

``up`` starts the owner process (:mod:`harness.backends.local.owner`) in its
own session, waits until the cluster answers, and prints the line to paste
(``export KUBECONFIG=...``) on stdout, so ``eval "$(harness cluster up)"``
works. ``down`` stops the owner and removes whatever is recorded in the run
directory, also when the owner was killed; ``status`` lists run directories.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

from harness.backends.local.owner import READY_PREFIX
from harness.backends.local.runs import list_runs, read_sandboxes, select_run, take_down
from harness.backends.local.topology import RUN_ROOT

UP_TIMEOUT = 60.0


def register(sub: Any) -> None:
    p = sub.add_parser("cluster", help="start, inspect and remove a simulated cluster")
    csub = p.add_subparsers(dest="cluster_command", required=True)

    up = csub.add_parser("up", help="start a cluster that stays up; prints export KUBECONFIG=...")
    up.add_argument("--nodes", type=int, default=2, help="number of nodes (default 2)")
    from harness.commands.run import add_profile_arguments

    add_profile_arguments(up)  # --profile/--profile-file/--meta-plugin/--daemon/--shim/--mode
    up.add_argument(
        "--runtime",
        default="simulated",
        choices=("simulated", "containerd"),
        help="nodes' CNI caller: the simulated kubelet or a real containerd per node",
    )
    up.add_argument("--cni-bin-dir", default="/usr/lib/cni")
    up.set_defaults(func=cmd_up)

    down = csub.add_parser("down", help="remove a cluster (also after a crash of its owner)")
    down.add_argument("id", nargs="?", help="cluster id (default: the only one up)")
    down.add_argument(
        "--all", action="store_true", help="every `cluster up` cluster and every stale run"
    )
    down.set_defaults(func=cmd_down)

    status = csub.add_parser("status", help="list clusters and their state")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=cmd_status)


def _root_check() -> str | None:
    if os.geteuid() != 0:
        return "the local backend needs root (network and mount namespaces)"
    return None


def cmd_up(args: argparse.Namespace) -> int:
    problem = _root_check()
    if problem:
        print(f"harness cluster up: {problem}", file=sys.stderr)
        return 2
    if args.nodes < 1 or args.nodes > 200:
        print("harness cluster up: --nodes must be between 1 and 200", file=sys.stderr)
        return 2
    argv = [
        sys.executable,
        "-m",
        "harness.backends.local.owner",
        "--nodes",
        str(args.nodes),
        "--runtime",
        args.runtime,
        "--cni-bin-dir",
        args.cni_bin_dir,
    ]
    from harness.commands.run import profile_options
    from harness.profiles import ProfileError

    try:
        chosen = profile_options(args)  # refused here, before an owner starts
    except ProfileError as exc:
        print(f"harness cluster up: {exc}", file=sys.stderr)
        return 2
    argv += ["--mode", chosen["mode"]]
    for flag, key in (("--profile", "profile"), ("--profile-file", "profile_file")):
        if chosen[key]:
            argv += [flag, os.path.abspath(chosen[key]) if key == "profile_file" else chosen[key]]
    for flag, key in (("--meta-plugin", "meta_plugin"), ("--daemon", "daemon"), ("--shim", "shim")):
        if chosen[key]:
            argv += [flag, os.path.abspath(chosen[key])]
    started = time.monotonic()
    # Its own session: the cluster outlives this command and the terminal.
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    output: list[str] = []
    info: dict[str, Any] | None = None
    for line in proc.stdout:
        if line.startswith(READY_PREFIX):
            info = json.loads(line[len(READY_PREFIX) :])
            break
        output.append(line)
        if time.monotonic() - started > UP_TIMEOUT:
            break
    proc.stdout.close()
    if info is None:
        proc.kill()
        proc.wait()
        print("harness cluster up: the cluster did not start:", file=sys.stderr)
        print("".join(output[-40:]).rstrip(), file=sys.stderr)
        return 1
    nodes = ", ".join(n["name"] for n in info.get("nodes", []))
    print(
        f"cluster {info['id']} up in {time.monotonic() - started:.2f} s "
        f"({info['mode']} mode, {info.get('runtime', 'simulated')} runtime, "
        f"nodes: {nodes}, owner pid {info['ownerPid']}); "
        f"remove it with: harness cluster down {info['id']}",
        file=sys.stderr,
    )
    print(f"export KUBECONFIG={info['kubeconfig']}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    runs = list_runs(RUN_ROOT)
    if args.all:
        targets = [r for r in runs if r.persistent or not r.alive]
        if not targets:
            print("no clusters to remove", file=sys.stderr)
            return 0
    else:
        try:
            if args.id:
                run = select_run(runs, args.id)
            else:
                live = [r for r in runs if r.persistent and r.alive]
                stale = [r for r in runs if not r.alive]
                run = select_run(runs, None) if live or not stale else stale[0]
                if not live and len(stale) > 1:
                    raise LookupError(
                        "several stale runs: name one or use --all "
                        f"({', '.join(r.id for r in stale)})"
                    )
        except LookupError as exc:
            print(f"harness cluster down: {exc}", file=sys.stderr)
            return 1
        if run.alive and not run.persistent:
            print(
                f"harness cluster down: {run.id} belongs to a running harness process "
                f"(pid {run.owner_pid}), which removes it itself",
                file=sys.stderr,
            )
            return 1
        targets = [run]
    for run in targets:
        print(take_down(run))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    runs = list_runs(RUN_ROOT)
    if args.json:
        out = [
            {
                "id": r.id,
                "alive": r.alive,
                "ownerPid": r.owner_pid,
                "persistent": r.persistent,
                "mode": r.info.get("mode"),
                "nodes": [n["name"] for n in r.info.get("nodes", [])],
                "pods": len(read_sandboxes(r)),
                "kubeconfig": r.kubeconfig if r.info else None,
            }
            for r in runs
        ]
        print(json.dumps(out, indent=2))
        return 0
    if not runs:
        print("no clusters")
        return 0
    print(f"{'id':<10} {'state':<8} {'kind':<9} {'mode':<5} {'nodes':>5} {'pods':>5}  kubeconfig")
    for r in runs:
        state = "up" if r.alive and r.info else ("starting" if r.alive else "stale")
        kind = "cluster" if r.persistent else "test-run"
        print(
            f"{r.id:<10} {state:<8} {kind:<9} {r.info.get('mode', '-')!s:<5} "
            f"{len(r.info.get('nodes', [])):>5} {len(read_sandboxes(r)):>5}  "
            f"{r.kubeconfig if r.info else '-'}"
        )
    if any(not r.alive for r in runs):
        print("stale runs (owner gone): remove with `harness cluster down --all`")
    return 0
