"""The process that owns a cluster started by ``harness cluster up``.

    python -m harness.backends.local.owner --nodes 2 [--meta-plugin PATH] [--mode thin]
        [--profile NAME | --profile-file F] [--daemon PATH --shim PATH]

It starts a :class:`LocalCluster`, marks it persistent in ``cluster.json``,
prints one line ``READY <cluster.json as JSON>`` on stdout for the process
that launched it, then sends its own output to ``owner.log`` in the run
directory and serves until SIGTERM/SIGINT/SIGHUP, when it closes the cluster
(every namespace, mount, file and process). If it is killed outright,
``harness cluster down`` removes the same things from ``state.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence

READY_PREFIX = "READY "


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="harness-cluster-owner")
    p.add_argument("--nodes", type=int, default=2)
    p.add_argument("--meta-plugin")
    p.add_argument("--mode", default="thin", choices=("thin", "thick"))
    p.add_argument("--profile")
    p.add_argument("--profile-file")
    p.add_argument("--daemon")
    p.add_argument("--shim")
    p.add_argument("--runtime", default="simulated", choices=("simulated", "containerd"))
    p.add_argument("--cni-bin-dir", default="/usr/lib/cni")
    p.add_argument("--run-root", default="/run/harness")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from harness.backends.local.cluster import LocalCluster
    from harness.backends.local.files import write_private_json
    from harness.backends.local.runs import INFO_FILE

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    from harness.profiles import choose

    named = args.profile or args.profile_file
    cluster = LocalCluster(
        nodes=args.nodes,
        meta_plugin=args.meta_plugin,
        cni_bin_dir=args.cni_bin_dir,
        mode=args.mode,
        run_root=args.run_root,
        profile=choose(args.profile, args.profile_file, None) if named else None,
        daemon=args.daemon,
        shim=args.shim,
        runtime=args.runtime,
    ).start()
    try:
        info = {**cluster.info(), "persistent": True}
        write_private_json(os.path.join(cluster.run_dir, INFO_FILE), info)
        sys.stdout.write(READY_PREFIX + json.dumps(info) + "\n")
        sys.stdout.flush()
        # From now on nobody reads our pipe: write to a log in the run dir.
        log = os.open(
            os.path.join(cluster.run_dir, "owner.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND
        )
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        while not stop.wait(1.0):
            pass
    finally:
        cluster.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
