"""Thick mode on the local backend: one pymultus daemon per simulated node.

``LocalCluster(mode="thick")`` calls :func:`install` for each node after the
thin install wrote ``00-<meta>.conf``; this module turns that node into a
thick-mode node, as the thick DaemonSet does on a real one:

- the meta-plugin configuration becomes the daemon's config file
  (``/etc/cni/pymultus/daemon-config.json`` in the node), plus ``socketDir``
  and ``nodeName``;
- the shim goes into the node's ``/opt/cni/bin/pymultus-shim`` (a launcher
  for :mod:`pymultus.shim` with this interpreter, ``-I -S``: no site import);
- ``00-<meta>.conf`` becomes the shim's small config (``type:
  pymultus-shim``, ``daemonSocketDir``, ``daemonConfig``);
- the daemon runs inside the node's network and mount namespaces
  (``node.exec_prefix()``), its pid recorded in the topology state so a
  crashed run's cleanup kills it too.

The socket directory is under the node's backing directory in the run dir:
that path is the same inside the node's mount namespace and outside, so the
harness can read ``/readyz`` and ``/metrics`` while the shim on the node
uses it; it disappears with the run dir.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import pymultus
from harness.backends.local.topology import Node

SHIM_NAME = "pymultus-shim"
DAEMON_CONFIG_IN_NODE = "/etc/cni/pymultus/daemon-config.json"
READY_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(pymultus.__file__ or ".")))

# Running daemons by (cluster id, node name).
_DAEMONS: dict[tuple[str, str], subprocess.Popen[bytes]] = {}


def socket_dir(node: Node) -> str:
    return os.path.join(node.root, "run", "pymultus")


def socket_path(node: Node) -> str:
    return os.path.join(socket_dir(node), "pymultus.sock")


def log_path(node: Node) -> str:
    return os.path.join(node.root, "pymultus-daemon.log")


def shim_launcher(python: str, package_root: str) -> str:
    """The shim executable: this interpreter, isolated, importing only pymultus.shim.

    ``-I -S``: no site-packages scan, no user site, no PYTHON* variables
    (start-up ~5 ms instead of ~8 ms); the package root is put on sys.path
    by hand instead.
    """
    return (
        f"#!{python} -IS\n"
        "import sys\n"
        f"sys.path.insert(0, {package_root!r})\n"
        "from pymultus.shim import main\n"
        "sys.exit(main())\n"
    )


def daemon_config(thin_conf: dict[str, Any], node: Node) -> dict[str, Any]:
    """The daemon's config: the node's meta-plugin config plus the daemon's own keys."""
    conf = {k: v for k, v in thin_conf.items() if k not in ("type", "name", "cniVersion")}
    conf["socketDir"] = socket_dir(node)
    conf["nodeName"] = node.name
    return conf


def shim_config(thin_conf: dict[str, Any], node: Node) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "cniVersion": thin_conf.get("cniVersion", "1.0.0"),
        "name": thin_conf.get("name", "pymultus-cni-network"),
        "type": SHIM_NAME,
        "daemonSocketDir": socket_dir(node),
        "daemonConfig": DAEMON_CONFIG_IN_NODE,
    }
    if "capabilities" in thin_conf:
        conf["capabilities"] = thin_conf["capabilities"]
    return conf


def install(cluster: Any, node: Node) -> None:
    """Make ``node`` a thick-mode node and start its daemon (waits until ready)."""
    conf_dir = node.host_path("/etc/cni/net.d")
    thin_path = os.path.join(conf_dir, f"00-{cluster.meta_name}.conf")
    with open(thin_path, encoding="utf-8") as f:
        thin_conf = json.load(f)

    config_host = node.host_path(DAEMON_CONFIG_IN_NODE)
    os.makedirs(os.path.dirname(config_host), mode=0o700, exist_ok=True)
    write_file(config_host, json.dumps(daemon_config(thin_conf, node), indent=2), 0o600)

    shim_host = node.host_path(f"/opt/cni/bin/{SHIM_NAME}")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(shim_host)  # never write through a symlink into a shared dir
    write_file(shim_host, shim_launcher(sys.executable, REPO_ROOT), 0o755)

    start_daemon(cluster, node)
    write_file(thin_path, json.dumps(shim_config(thin_conf, node), indent=2), 0o644)


def write_file(path: str, text: str, mode: int) -> None:
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def start_daemon(
    cluster: Any, node: Node, timeout: float = READY_TIMEOUT, node_name: str | None = None
) -> int:
    """Start the node's daemon inside the node; return its pid once /readyz says ready.

    ``node_name`` overrides the node whose pods the daemon caches (benchmarks
    bind their pods to a node without a kubelet).
    """
    argv = [
        *node.exec_prefix(),
        sys.executable,
        "-m",
        "pymultus.daemon",
        "--config",
        DAEMON_CONFIG_IN_NODE,
        "--node-name",
        node_name or node.name,
    ]
    log = open(log_path(node), "ab")  # noqa: SIM115 (handed to the child)
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            cwd="/",
        )
    finally:
        log.close()
    _DAEMONS[(cluster.cluster_id, node.name)] = proc
    state = cluster.topology.state
    state.pids.append(proc.pid)
    cluster.topology._save()
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            forget(cluster, node, proc)
            raise RuntimeError(
                f"pymultus daemon on {node.name} exited with {proc.returncode}: {log_tail(node)}"
            )
        if http_get(socket_path(node), "/readyz")[0] == 200:
            return proc.pid
        if time.monotonic() > deadline:
            stop_daemon(cluster, node, graceful=False)
            raise TimeoutError(
                f"pymultus daemon on {node.name} not ready within {timeout:.0f} s: {log_tail(node)}"
            )
        time.sleep(0.05)


def forget(cluster: Any, node: Node, proc: subprocess.Popen[bytes]) -> None:
    _DAEMONS.pop((cluster.cluster_id, node.name), None)
    state = cluster.topology.state
    if proc.pid in state.pids:
        state.pids.remove(proc.pid)
        with contextlib.suppress(OSError):
            cluster.topology._save()


def stop_daemon(cluster: Any, node: Node, graceful: bool = True) -> int | None:
    """SIGTERM (drain) or SIGKILL the node's daemon; its exit status, None if none ran."""
    proc = _DAEMONS.get((cluster.cluster_id, node.name))
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM if graceful else signal.SIGKILL)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT)
    forget(cluster, node, proc)
    return proc.returncode


def kill_daemon(cluster: Any, node: Node) -> int | None:
    """SIGKILL the node's daemon (a crash: nothing drained, the socket left behind)."""
    return stop_daemon(cluster, node, graceful=False)


def restart_daemon(cluster: Any, node: Node, node_name: str | None = None) -> int:
    stop_daemon(cluster, node)
    return start_daemon(cluster, node, node_name=node_name)


def daemon_pid(cluster: Any, node: Node) -> int | None:
    proc = _DAEMONS.get((cluster.cluster_id, node.name))
    return proc.pid if proc is not None and proc.poll() is None else None


def uninstall(cluster: Any, node: Node) -> None:
    """Stop the daemon (drained) and put nothing of thick mode back: the run dir goes."""
    stop_daemon(cluster, node)


def log_tail(node: Node, size: int = 2000) -> str:
    try:
        with open(log_path(node), "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - size))
            return f.read().decode("utf-8", "replace").strip() or "(empty log)"
    except OSError:
        return "(no log)"


def hotplug(cluster: Any, node: Node, body: dict[str, str]) -> tuple[int, str]:
    """``POST /delegate`` to the node's daemon (add or remove one attachment)."""
    return http_get(socket_path(node), "/delegate", timeout=60.0, body=json.dumps(body).encode())


def http_get(
    path: str, target: str, timeout: float = 2.0, body: bytes | None = None
) -> tuple[int, str]:
    """GET ``target`` (POST ``body``) on the daemon's unix socket; (0, reason) if unreachable."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    if body is None:
        head = f"GET {target} HTTP/1.0\r\nHost: pymultus\r\n\r\n".encode()
    else:
        head = (
            f"POST {target} HTTP/1.0\r\nHost: pymultus\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
    try:
        sock.connect(path)
        sock.sendall(head)
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    except OSError as exc:
        return 0, str(exc)
    finally:
        sock.close()
    reply = b"".join(chunks)
    head, _, body = reply.partition(b"\r\n\r\n")
    try:
        status = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0, f"malformed reply {reply[:80]!r}"
    return status, body.decode("utf-8", "replace")
