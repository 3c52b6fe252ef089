"""``pymultus-daemon``: run the thick-mode node daemon until SIGTERM.

    pymultus-daemon --config /etc/cni/pymultus/daemon-config.json [--node-name N]

The config file is JSON: the daemon's own keys (``socketDir``, ``nodeName``,
``maxConcurrent``, ``maxQueue``, ``drainTimeoutSeconds``) and the meta-plugin
configuration that overlays every request (``clusterNetwork``, ``kubeconfig``,
``cniDir``, ...; see docs/thick-mode.md).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from pymultus.cni.errors import CNIError
from pymultus.daemon.overlay import DaemonOptions, split_daemon_config
from pymultus.log import Logger


def load_config(path: str, wait: float = 0.0) -> dict[str, Any]:
    """The config file; waits up to ``wait`` s for it (the installer writes it)."""
    import time

    deadline = time.monotonic() + wait
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.5)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as exc:
        raise SystemExit(f"pymultus-daemon: cannot read --config {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise SystemExit(f"pymultus-daemon: --config {path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise SystemExit(f"pymultus-daemon: --config {path} must hold a JSON object")
    return data


def build_kube(conf: Mapping[str, Any], env: Mapping[str, str]) -> Any:
    """The API client of the daemon: ``kubeconfig``, else in-cluster, else none."""
    from pymultus.kube.client import KubeClient
    from pymultus.kube.kubeconfig import in_cluster, load_kubeconfig

    kubeconfig = conf.get("kubeconfig")
    if isinstance(kubeconfig, str) and kubeconfig:
        return KubeClient(load_kubeconfig(kubeconfig))
    access = in_cluster(env)
    return KubeClient(access) if access is not None else None


def options_from(
    args: argparse.Namespace, conf: Mapping[str, Any]
) -> tuple[DaemonOptions, dict[str, Any]]:
    options, multus = split_daemon_config(conf, f"--config {args.config}")
    changes: dict[str, Any] = {}
    node = args.node_name or options.node_name or os.environ.get("NODE_NAME", "")
    if node:
        changes["node_name"] = node
    if args.socket_dir:
        changes["socket_dir"] = args.socket_dir
    if changes:
        import dataclasses

        options = dataclasses.replace(options, **changes)
    return options, multus


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pymultus-daemon", description=__doc__.split("\n")[0])
    p.add_argument("--config", required=True, help="daemon config file (JSON)")
    p.add_argument("--node-name", default="", help="this node's name (default: $NODE_NAME)")
    p.add_argument("--socket-dir", default="", help="override socketDir")
    p.add_argument(
        "--wait-for-config",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for --config to appear (written by pymultus-install)",
    )
    return p


def fix_malloc_threshold() -> None:
    """Keep large buffers (request bodies) in mmap, so freeing them returns the memory.

    glibc raises its mmap threshold each time an mmapped block is freed; after
    a burst of large request bodies the next ones come from the heap, which
    is not given back, and the daemon stays big (issue 15, item 6: idle + 10
    MiB after a burst). A fixed threshold (mallopt M_MMAP_THRESHOLD, 128 KiB,
    glibc's default) stops that. Not glibc: nothing to do.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        return


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    fix_malloc_threshold()

    from pymultus.daemon.server import Daemon

    conf = load_config(args.config, args.wait_for_config)
    try:
        options, multus = options_from(args, conf)
        log = Logger(str(multus.get("logLevel", "")), str(multus.get("logFile", "")), True)
        daemon = Daemon(options, multus, build_kube(multus, os.environ), log=log)
        daemon.start()
    except CNIError as exc:
        print(f"pymultus-daemon: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not stop.wait(3600):
        pass
    log.verbose("SIGTERM: draining")
    daemon.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
