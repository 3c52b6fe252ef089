"""Thick mode on the local backend: one meta-plugin daemon per simulated node.

``LocalCluster`` with a thick profile (:mod:`harness.profiles`) calls
:func:`install` for each node with the meta-plugin configuration the node
would get in thin form; this module turns the node into a thick-mode node,
as the plugin's thick DaemonSet does on a real one, driven by the profile:

- that configuration becomes the daemon's config file (the profile's
  ``daemonConfig`` node path), less the profile's ``daemonConfigDrop`` keys,
  plus its ``daemonConfigExtra`` keys (``socketDir`` ...);
- the shim goes into the node's ``/opt/cni/bin`` under the profile's shim
  name: the ``--shim`` binary given, or for pymultus without one a launcher
  for :mod:`pymultus.shim` with this interpreter (``-I -S``: no site import);
- the node's config file (``confFile``) becomes the shim's small config
  (``type`` the shim, plus the profile's ``shimConf`` keys), unless the
  profile says the daemon writes it itself (Multus's ``multusConfigFile:
  auto``): then the harness waits for the daemon to write it;
- the daemon (the ``--daemon`` binary, or ``python -m pymultus.daemon`` for
  pymultus) runs inside the node's network and mount namespaces
  (``node.exec_prefix()``) with the in-cluster view a DaemonSet pod has
  (``KUBERNETES_SERVICE_HOST``/``PORT``; the service-account token and CA in
  ``/var/run/secrets/kubernetes.io/serviceaccount``), its pid recorded in the
  topology state so a crashed run's cleanup kills it too. It is ready when
  ``GET <readinessPath>`` on its socket answers 200.

A foreign profile never starts pymultus's daemon or shim: what it needs and
was not given is refused before the cluster starts (``resolve_binaries``).

pymultus's socket directory is under the node's backing directory in the run
dir (the same path inside the node's mount namespace and outside, so the
harness reads ``/readyz`` and ``/metrics`` while the shim uses it); Multus's
is its DaemonSet's ``/run/multus``, a node-private mount.
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
from typing import Any, Protocol

import pymultus
from harness.backends.local.topology import Node, Topology
from harness.profiles import BUILTIN, Binaries, Profile, expand

SHIM_NAME = "pymultus-shim"
DAEMON_CONFIG_IN_NODE = BUILTIN["pymultus-thick"].daemon_config
READY_TIMEOUT = 15.0
CONF_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(pymultus.__file__ or ".")))

# Running daemons by (cluster id, node name).
_DAEMONS: dict[tuple[str, str], subprocess.Popen[bytes]] = {}


class ThickHost(Protocol):
    """What the installer needs of the cluster it makes thick nodes in: the
    LocalCluster (benchmarks hand a stand-in with these attributes). The pure
    parts take None for pymultus's thick profile with no API address."""

    profile: Profile
    binaries: Binaries
    node_server: str
    cluster_id: str
    topology: Topology
    errors: list[str]


def _profile(cluster: ThickHost | None = None) -> Profile:
    return cluster.profile if cluster is not None else BUILTIN["pymultus-thick"]


def template_values(
    node: Node, profile: Profile, cluster: ThickHost | None = None
) -> dict[str, str]:
    """The ``{key}`` values of a profile's templates on ``node``."""
    values = {"nodeName": node.name, "nodeRoot": node.root, "apiHost": "", "apiPort": ""}
    server = cluster.node_server if cluster is not None else ""
    if server:
        hostport = server.split("://", 1)[-1]
        host, _, port = hostport.rpartition(":")
        values["apiHost"], values["apiPort"] = host.strip("[]"), port
    values["socketDir"] = str(expand(profile.socket_dir, values))
    values["daemonConfig"] = profile.daemon_config
    return values


def socket_dir(node: Node, profile: Profile | None = None) -> str:
    """The daemon's socket directory as the host sees it."""
    profile = profile or BUILTIN["pymultus-thick"]
    return node.host_path(str(expand(profile.socket_dir, template_values(node, profile))))


def socket_path(node: Node, profile: Profile | None = None) -> str:
    profile = profile or BUILTIN["pymultus-thick"]
    return os.path.join(socket_dir(node, profile), profile.socket_name)


def log_path(node: Node, profile: Profile | None = None) -> str:
    name = (profile or BUILTIN["pymultus-thick"]).cni_type.removesuffix("-shim") or "meta"
    return os.path.join(node.root, f"{name}-daemon.log")


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


def daemon_config(
    thin_conf: dict[str, Any],
    node: Node,
    profile: Profile | None = None,
    cluster: ThickHost | None = None,
) -> dict[str, Any]:
    """The daemon's config: the node's meta-plugin config plus the daemon's own keys."""
    profile = profile or BUILTIN["pymultus-thick"]
    conf = {k: v for k, v in thin_conf.items() if k not in profile.daemon_config_drop}
    extra = expand(dict(profile.daemon_config_extra), template_values(node, profile, cluster))
    conf.update(extra)
    return conf


def shim_config(
    thin_conf: dict[str, Any],
    node: Node,
    profile: Profile | None = None,
    cluster: ThickHost | None = None,
) -> dict[str, Any]:
    profile = profile or BUILTIN["pymultus-thick"]
    conf: dict[str, Any] = {
        "cniVersion": thin_conf.get("cniVersion", "1.0.0"),
        "name": thin_conf.get("name", f"{profile.cni_type}-cni-network"),
        "type": profile.binary_name,
        **expand(dict(profile.shim_conf), template_values(node, profile, cluster)),
    }
    if "capabilities" in thin_conf:
        conf["capabilities"] = thin_conf["capabilities"]
    return conf


def install(cluster: ThickHost, node: Node, thin_conf: dict[str, Any] | None = None) -> None:
    """Make ``node`` a thick-mode node and start its daemon (waits until ready)."""
    profile = _profile(cluster)
    conf_dir = node.host_path("/etc/cni/net.d")
    conf_path = os.path.join(conf_dir, profile.conf_file)
    if thin_conf is None:  # the thin install wrote it first (older callers)
        with open(conf_path, encoding="utf-8") as f:
            thin_conf = json.load(f)

    config_host = node.host_path(profile.daemon_config)
    os.makedirs(os.path.dirname(config_host), mode=0o700, exist_ok=True)
    conf = daemon_config(thin_conf, node, profile, cluster)
    write_file(config_host, json.dumps(conf, indent=2), 0o600)

    shim_host = node.host_path(f"/opt/cni/bin/{profile.binary_name}")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(shim_host)  # never write through a symlink into a shared dir
    shim = cluster.binaries.shim
    if shim:
        os.symlink(shim, shim_host)
    elif profile.implementation == "pymultus":
        write_file(shim_host, shim_launcher(sys.executable, REPO_ROOT), 0o755)
    else:
        raise RuntimeError(f"profile {profile.name} needs its shim binary (--shim PATH)")

    if profile.daemon_writes_conf:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(conf_path)
    # Like a DaemonSet pod, a daemon that is running but not ready yet (Multus
    # waits for its readinessindicatorfile before anything else) does not hold
    # the node back: the cluster starts, and what the node's runtime does
    # meanwhile is what a real node does (the config there, if any).
    ready = start_daemon(cluster, node, unready_ok=True) is not None
    if not ready:
        cluster.errors.append(
            f"{profile.name} daemon on {node.name} running but not ready after "
            f"{READY_TIMEOUT:.0f} s: {log_tail(node, 500, profile)}"
        )
    if profile.daemon_writes_conf:
        if ready:
            wait_for_conf(node, conf_path, profile)
    else:
        write_file(
            conf_path, json.dumps(shim_config(thin_conf, node, profile, cluster), indent=2), 0o644
        )


def wait_for_conf(node: Node, path: str, profile: Profile, timeout: float = CONF_TIMEOUT) -> None:
    """The daemon writes the node's config itself: wait until it has (a parseable file)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(path, encoding="utf-8") as f:
                json.load(f)
            return
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{profile.name} daemon on {node.name} did not write /etc/cni/net.d/"
                f"{profile.conf_file} within {timeout:.0f} s: {log_tail(node, profile=profile)}"
            )
        time.sleep(0.05)


def write_file(path: str, text: str, mode: int) -> None:
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def daemon_argv(cluster: ThickHost, node: Node, node_name: str | None = None) -> list[str]:
    """The daemon's command line inside ``node`` (the profile's arguments filled in)."""
    profile = _profile(cluster)
    values = template_values(node, profile, cluster)
    if node_name:
        values["nodeName"] = node_name
    daemon = tuple(cluster.binaries.daemon)
    if not daemon:
        if profile.implementation != "pymultus":
            raise RuntimeError(f"profile {profile.name} needs its daemon binary (--daemon PATH)")
        daemon = (sys.executable, "-m", "pymultus.daemon")
    return [*node.exec_prefix(), *daemon, *(str(expand(a, values)) for a in profile.daemon_args)]


def daemon_env(cluster: ThickHost, node: Node, node_name: str | None = None) -> dict[str, str]:
    """The harness's environment (no KUBECONFIG) plus the profile's daemon variables."""
    profile = _profile(cluster)
    values = template_values(node, profile, cluster)
    if node_name:
        values["nodeName"] = node_name
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env.update({k: str(expand(v, values)) for k, v in profile.daemon_env.items()})
    return env


def start_daemon(
    cluster: ThickHost,
    node: Node,
    timeout: float = READY_TIMEOUT,
    node_name: str | None = None,
    unready_ok: bool = False,
) -> int | None:
    """Start the node's daemon inside the node; return its pid once it says it is ready.

    ``node_name`` overrides the node whose pods the daemon caches (benchmarks
    bind their pods to a node without a kubelet). Not ready within
    ``timeout``: killed and TimeoutError, or with ``unready_ok`` left running
    and None returned. A daemon that exits is a RuntimeError either way.
    """
    profile = _profile(cluster)
    argv = daemon_argv(cluster, node, node_name)
    log = open(log_path(node, profile), "ab")  # noqa: SIM115 (handed to the child)
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            cwd="/",
            env=daemon_env(cluster, node, node_name),
        )
    finally:
        log.close()
    _DAEMONS[(cluster.cluster_id, node.name)] = proc
    state = cluster.topology.state
    state.pids.append(proc.pid)
    cluster.topology._save()
    deadline = time.monotonic() + timeout
    sock = socket_path(node, profile)
    while True:
        if proc.poll() is not None:
            forget(cluster, node, proc)
            raise RuntimeError(
                f"{profile.name} daemon on {node.name} exited with {proc.returncode}: "
                f"{log_tail(node, profile=profile)}"
            )
        if http_get(sock, profile.readiness_path)[0] == 200:
            return proc.pid
        if time.monotonic() > deadline:
            if unready_ok:
                return None
            stop_daemon(cluster, node, graceful=False)
            raise TimeoutError(
                f"{profile.name} daemon on {node.name} not ready within {timeout:.0f} s: "
                f"{log_tail(node, profile=profile)}"
            )
        time.sleep(0.05)


def forget(cluster: ThickHost, node: Node, proc: subprocess.Popen[bytes]) -> None:
    _DAEMONS.pop((cluster.cluster_id, node.name), None)
    state = cluster.topology.state
    if proc.pid in state.pids:
        state.pids.remove(proc.pid)
        with contextlib.suppress(OSError):
            cluster.topology._save()


def stop_daemon(cluster: ThickHost, node: Node, graceful: bool = True) -> int | None:
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


def kill_daemon(cluster: ThickHost, node: Node) -> int | None:
    """SIGKILL the node's daemon (a crash: nothing drained, the socket left behind)."""
    return stop_daemon(cluster, node, graceful=False)


def restart_daemon(cluster: ThickHost, node: Node, node_name: str | None = None) -> int:
    stop_daemon(cluster, node)
    pid = start_daemon(cluster, node, node_name=node_name)
    assert pid is not None  # not unready_ok: a timeout raised
    return pid


def daemon_pid(cluster: ThickHost, node: Node) -> int | None:
    proc = _DAEMONS.get((cluster.cluster_id, node.name))
    return proc.pid if proc is not None and proc.poll() is None else None


def uninstall(cluster: ThickHost, node: Node) -> None:
    """Stop the daemon (drained) and put nothing of thick mode back: the run dir goes."""
    stop_daemon(cluster, node)


def log_tail(node: Node, size: int = 2000, profile: Profile | None = None) -> str:
    try:
        with open(log_path(node, profile), "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - size))
            return f.read().decode("utf-8", "replace").strip() or "(empty log)"
    except OSError:
        return "(no log)"


def hotplug(cluster: ThickHost, node: Node, body: dict[str, str]) -> tuple[int, str]:
    """``POST /delegate`` to the node's daemon (add or remove one attachment)."""
    return http_get(
        socket_path(node, _profile(cluster)),
        "/delegate",
        timeout=60.0,
        body=json.dumps(body).encode(),
    )


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
