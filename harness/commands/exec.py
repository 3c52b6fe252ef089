"""``harness exec POD [-n NS] [--cluster ID] [-c CONTAINER] -- CMD...``: run CMD in a pod.

On containerd nodes (``--runtime containerd``) the pod has real containers:
CMD runs in one of them through CRI ``ExecSync``, as ``kubectl exec`` does
(the container's busybox tools). On simulated nodes:

The command runs on the host, inside the pod sandbox's network namespace, so
``harness exec mypod -- ip addr`` shows the pod's interfaces. The sandbox is
found in the ``sandboxes.json`` the cluster's owner keeps in its run dir, so
this works without the API server (``kubectl exec`` does the same through
the API: :mod:`harness.backends.local.streaming`).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from harness.backends.local.runs import find_sandbox, list_runs, read_sandboxes, select_run
from harness.backends.local.topology import NETNS_DIR, RUN_ROOT


def register(sub: Any) -> None:
    p = sub.add_parser("exec", help="run a command in a pod's network namespace")
    p.add_argument("pod", help="pod name")
    p.add_argument("-n", "--namespace", default="default")
    p.add_argument("--cluster", help="cluster id (default: the only one up)")
    p.add_argument("-c", "--container", default="", help="container (containerd nodes)")
    p.add_argument("argv", nargs=argparse.REMAINDER, help="-- CMD [ARGS...]")
    p.set_defaults(func=run)


def split_command(
    namespace: str, cluster: str | None, rest: list[str]
) -> tuple[str, str | None, list[str]]:
    """Options given after POD (``POD -n NS -- CMD``) and the command after ``--``.

    argparse hands everything after POD over unparsed (REMAINDER), so options
    placed between POD and ``--`` are read here; without ``--`` all of it is
    the command.
    """
    if "--" not in rest:
        return namespace, cluster, rest
    cut = rest.index("--")
    options, command = rest[:cut], rest[cut + 1 :]
    p = argparse.ArgumentParser(prog="harness exec", add_help=False)
    p.add_argument("-n", "--namespace", default=namespace)
    p.add_argument("--cluster", default=cluster)
    parsed = p.parse_args(options)
    return str(parsed.namespace), parsed.cluster, command


def run(args: argparse.Namespace) -> int:
    args.namespace, args.cluster, argv = split_command(
        args.namespace, args.cluster, list(args.argv)
    )
    if not argv:
        print("harness exec: no command given (harness exec POD -- CMD ...)", file=sys.stderr)
        return 2
    try:
        cluster = select_run(list_runs(RUN_ROOT), args.cluster)
    except LookupError as exc:
        print(f"harness exec: {exc}", file=sys.stderr)
        return 1
    sandboxes = read_sandboxes(cluster)
    sandbox = find_sandbox(sandboxes, args.namespace, args.pod)
    if sandbox is None:
        running = sorted(f"{s['namespace']}/{s['name']}" for s in sandboxes.values())
        print(
            f"harness exec: pod {args.namespace}/{args.pod} has no running sandbox in cluster "
            f"{cluster.id} (running: {', '.join(running) or 'none'}); "
            "see `kubectl describe pod` for its events",
            file=sys.stderr,
        )
        return 1
    if sandbox.get("criSocket"):
        return exec_sync(sandbox, args.container, argv)
    netns = os.path.join(NETNS_DIR, str(sandbox["netns"]))
    try:
        os.execvp("nsenter", ["nsenter", f"--net={netns}", "--", *argv])
    except OSError as exc:
        print(f"harness exec: cannot run nsenter: {exc}", file=sys.stderr)
        return 127
    return 0  # not reached


def pick_container(containers: dict[str, str], wanted: str) -> str:
    """The CRI id of container ``wanted`` (default: the pod's first); LookupError if none."""
    if wanted:
        if wanted not in containers:
            known = ", ".join(sorted(containers)) or "none"
            raise LookupError(f"no container {wanted!r} in the pod (containers: {known})")
        return containers[wanted]
    if not containers:
        raise LookupError("the pod has no running container")
    return next(iter(containers.values()))


def exec_sync(sandbox: dict[str, Any], container: str, argv: list[str]) -> int:
    """CMD in the pod's container through the node's CRI ExecSync; its exit status."""
    from harness.backends.local.containerd.cri import CRIClient, CRIError

    try:
        cid = pick_container(dict(sandbox.get("containers") or {}), container)
    except LookupError as exc:
        print(f"harness exec: {exc}", file=sys.stderr)
        return 1
    client = CRIClient(str(sandbox["criSocket"]))
    try:
        response = client.exec_sync(cid, argv, timeout=60)
    except CRIError as exc:
        print(f"harness exec: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    sys.stdout.buffer.write(response.stdout)
    sys.stderr.buffer.write(response.stderr)
    return int(response.exit_code)
