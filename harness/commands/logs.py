"""``harness logs POD [-n NS] [-c CONTAINER] [--cluster ID]``: a container's output.

Containerd nodes only: the kubelet asks CRI ``ContainerStatus`` for the
container's log file (CRI log format: ``<time> <stream> <F|P> <text>``) and
prints the text, as ``kubectl logs`` does. Simulated pods have no containers.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from harness.backends.local.runs import find_sandbox, list_runs, read_sandboxes, select_run
from harness.backends.local.topology import RUN_ROOT
from harness.commands.exec import pick_container


def register(sub: Any) -> None:
    p = sub.add_parser("logs", help="print a pod container's output (containerd nodes)")
    p.add_argument("pod", help="pod name")
    p.add_argument("-n", "--namespace", default="default")
    p.add_argument("-c", "--container", default="", help="container (default: the first)")
    p.add_argument("--cluster", help="cluster id (default: the only one up)")
    p.set_defaults(func=run)


def cri_log_text(raw: str) -> str:
    """The text of CRI log lines (``time stream tag text``); partial lines (P) joined."""
    out: list[str] = []
    for line in raw.splitlines():
        parts = line.split(" ", 3)
        if len(parts) < 3:
            continue
        text = parts[3] if len(parts) == 4 else ""
        out.append(text if parts[2] == "P" else text + "\n")
    return "".join(out)


def run(args: argparse.Namespace) -> int:
    try:
        cluster = select_run(list_runs(RUN_ROOT), args.cluster)
    except LookupError as exc:
        print(f"harness logs: {exc}", file=sys.stderr)
        return 1
    sandbox = find_sandbox(read_sandboxes(cluster), args.namespace, args.pod)
    if sandbox is None or not sandbox.get("criSocket"):
        print(
            f"harness logs: pod {args.namespace}/{args.pod} has no running containers in "
            f"cluster {cluster.id} (containers run on containerd nodes: --runtime containerd)",
            file=sys.stderr,
        )
        return 1
    from harness.backends.local.containerd.cri import CRIClient, CRIError

    client = CRIClient(str(sandbox["criSocket"]))
    try:
        cid = pick_container(dict(sandbox.get("containers") or {}), args.container)
        path = client.container_status(cid).log_path
        with open(path, encoding="utf-8", errors="replace") as f:
            sys.stdout.write(cri_log_text(f.read()))
    except (LookupError, CRIError, OSError) as exc:
        print(f"harness logs: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    return 0
