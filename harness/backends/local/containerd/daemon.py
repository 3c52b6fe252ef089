"""One real containerd (CRI plugin) per local node, private to that node.

The node is a network namespace plus a mount namespace (topology.py). Its
containerd runs inside both (``nsenter --net --mount``) with everything of
its own, so that nothing it makes reaches the host or another node
(machine.md, containerd section):

- a private ``/run`` in the node's mount namespace (a tmpfs), where the CRI
  plugin's pod network namespaces (``/var/run/netns/cni-<uuid>``, a fixed
  path in containerd 1.6), the shims' sockets (``/run/containerd/s``) and
  runc's state go; the run dir and ``/var/run/k8s.cni.cncf.io`` are bound
  back in, so the meta-plugin and thick daemon see what they saw before;
- its own root, state, socket, ``opt`` plugin path (else
  ``/opt/containerd`` on the host) and a per-node ``cgroup_parent``, all
  under the node's directory in the run dir;
- ``restrict_oom_score_adj`` (we lack CAP_SYS_RESOURCE here: without it
  runc fails), the overlayfs snapshotter, and the locally built busybox
  image as ``sandbox_image`` (imported with ``ctr``, never pulled).

A holder process (``sleep``) sits in the node's mount namespace for as long
as the node lives: containerd may be restarted, the namespace with the pod
netns bind mounts stays, and ``/proc/<holder>/root`` is how the harness,
outside, reaches a path of the node's private ``/run``.

Everything started is recorded in the topology's ``state.json`` (pids, a
process mark, the cgroup parent), so ``harness cluster down`` removes it
after a crash too (:func:`harness.backends.local.topology.destroy_state`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass

from harness.backends.local import sh
from harness.backends.local.containerd.image import Image
from harness.backends.local.topology import NETNS_DIR, Node, Topology

CONTAINERD = "containerd"
CTR = "ctr"
K8S_NAMESPACE = "k8s.io"
READY_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
NETNS_IN_NODE = "/var/run/netns"  # where the CRI plugin of containerd 1.6 puts pod netns
# The same directory for a path through /proc/<holder>/root: /var/run is an
# absolute symlink to /run, which would resolve against the *host's* root.
NETNS_DIR_IN_NODE = "/run/netns"
CGROUP_ROOT = "/sys/fs/cgroup"


@dataclass(frozen=True)
class Paths:
    """Where one node's containerd keeps its things (host paths = node paths)."""

    base: str

    @property
    def root(self) -> str:
        return os.path.join(self.base, "root")

    @property
    def state(self) -> str:
        return os.path.join(self.base, "state")

    @property
    def opt(self) -> str:
        return os.path.join(self.base, "opt")

    socket: str = "/run/containerd/containerd.sock"  # inside the node (see socket_in_node)

    @property
    def config(self) -> str:
        return os.path.join(self.base, "config.toml")

    @property
    def log(self) -> str:
        return os.path.join(self.base, "containerd.log")

    @property
    def tap(self) -> str:
        return os.path.join(self.base, "tap")

    @property
    def pod_logs(self) -> str:
        return os.path.join(self.base, "pods")


def socket_in_node(cluster_id: str, node: Node) -> str:
    """The gRPC socket, in the node's private /run: unix socket paths are short
    (108 bytes) and run dirs may be long; unique per node, so it also marks the
    node's shims (their command line carries ``-address <socket>``)."""
    return f"/run/containerd/{cluster_id}-{node.name}.sock"


def paths_for(node: Node, cluster_id: str) -> Paths:
    return Paths(os.path.join(node.root, "containerd"), socket_in_node(cluster_id, node))


def cgroup_parent(cluster_id: str, node: Node) -> str:
    """The node's cgroup (cgroupfs driver): every pod's cgroups go below it."""
    return f"/harness-{cluster_id}-{node.name}"


def config_toml(paths: Paths, image: str) -> str:
    """containerd 1.6 config (version 2) for one node."""
    return f"""version = 2
root = "{paths.root}"
state = "{paths.state}"
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "{paths.socket}"

[ttrpc]
  address = "{paths.socket}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{paths.opt}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{image}"
  restrict_oom_score_adj = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_cdi = false

[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "/opt/cni/bin"
  conf_dir = "/etc/cni/net.d"
  max_conf_num = 1

[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = false
"""


def run_mounts(node: Node) -> list[tuple[str, str]]:
    """The node's private dirs that live under /run (``/var/run`` is /run here):
    (host dir, path under /run), so the private /run can bind them back in."""
    out = []
    for _, target in node.mounts:
        for prefix in ("/var/run/", "/run/"):
            if target.startswith(prefix):
                out.append((node.host_path(target), "/run/" + target[len(prefix) :]))
    return out


def private_run_script(run_dir: str, node: Node) -> str:
    """Shell run inside the node's mount namespace: a tmpfs on /run, the run dir and
    every node-private dir under /run (the meta-plugin's /var/run/k8s.cni.cncf.io,
    the DaemonSet pod's service-account files) bound back in.

    The run dir is opened (fd 3) before /run is covered and bound back from
    ``/proc/self/fd/3``: once covered it has no path left to bind from.
    """
    binds = run_mounts(node)
    targets = " ".join(f"'{target}'" for _, target in binds)
    return (
        "set -e\n"
        f"exec 3<'{run_dir}'\n"
        "mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run\n"
        f"mkdir -p '{run_dir}' {targets} {NETNS_DIR_IN_NODE} /run/containerd\n"
        # A shared mount point already, as `ip netns add` would make it: else a
        # later `ip netns add` in the node binds the dir over itself, hiding the
        # CRI plugin's netns mounts from its unmount (EBUSY on StopPodSandbox).
        f"mount --bind {NETNS_DIR_IN_NODE} {NETNS_DIR_IN_NODE}\n"
        f"mount --make-shared {NETNS_DIR_IN_NODE}\n"
        f"mount --no-canonicalize --bind /proc/self/fd/3 '{run_dir}'\n"
        "exec 3<&-\n" + "".join(f"mount --bind '{source}' '{target}'\n" for source, target in binds)
    )


class ContainerdNode:
    """The containerd of one node: start, import the image, stop, clean."""

    def __init__(self, node: Node, topology: Topology, image: Image) -> None:
        self.node = node
        self.topology = topology
        self.image = image
        self.paths = paths_for(node, topology.cluster_id)
        self.cgroup_parent = cgroup_parent(topology.cluster_id, node)
        self.holder: subprocess.Popen[bytes] | None = None
        self.process: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------ paths
    def enter(self) -> list[str]:
        return [
            "nsenter",
            f"--net={NETNS_DIR}/{self.node.netns}",
            f"--mount={self.node.mount_ns}",
            "--",
        ]

    def node_path(self, path: str) -> str:
        """A path of the node's private /run (or anything) as the host reaches it."""
        if self.holder is None:
            raise RuntimeError(f"{self.node.name}: containerd node not started")
        return f"/proc/{self.holder.pid}/root{path}"

    @property
    def socket(self) -> str:
        """The containerd socket as the host reaches it (through the holder)."""
        return self.node_path(self.paths.socket)

    def runtime_version(self) -> str:
        """``containerd://<version>`` as the CRI Version call reports it (kubelet's nodeInfo)."""
        from harness.backends.local.containerd.cri import CRIClient

        client = CRIClient(self.socket)
        try:
            answer = client.version()
        finally:
            client.close()
        return f"{answer.runtime_name}://{answer.runtime_version}"

    def netns_path(self, name: str) -> str:
        """Host path of the pod network namespace ``name`` the CRI plugin made."""
        return self.node_path(f"{NETNS_DIR_IN_NODE}/{name}")

    # -------------------------------------------------------- lifecycle
    def start(self) -> None:
        for directory in (self.paths.base, self.paths.root, self.paths.state, self.paths.opt):
            os.makedirs(directory, mode=0o711, exist_ok=True)
        os.makedirs(self.paths.pod_logs, exist_ok=True)
        self._record(cgroup=self.cgroup_parent, mark=self.paths.base)
        self._record(mark=self.paths.socket)
        sh.run(
            [
                "nsenter",
                f"--mount={self.node.mount_ns}",
                "--",
                "sh",
                "-c",
                private_run_script(self.topology.run_dir, self.node),
            ]
        )
        self.holder = subprocess.Popen(
            [*self.enter(), "sleep", "infinity"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._record(pid=self.holder.pid)
        with open(self.paths.config, "w", encoding="utf-8") as f:
            f.write(config_toml(self.paths, self.image.name))
        self.start_daemon()
        self.import_image()

    def start_daemon(self) -> None:
        with open(self.paths.log, "ab") as log:
            self.process = subprocess.Popen(
                [*self.enter(), CONTAINERD, "--config", self.paths.config],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self._record(pid=self.process.pid)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.node.name}: containerd exited ({self.process.returncode}); "
                    f"see {self.paths.log}:\n{tail(self.paths.log)}"
                )
            if os.path.exists(self.socket):
                code = subprocess.run(
                    [CTR, "-a", self.socket, "version"],
                    capture_output=True,
                    check=False,
                ).returncode
                if code == 0:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{self.node.name}: containerd not ready within {READY_TIMEOUT:.0f} s; "
                    f"see {self.paths.log}"
                )
            time.sleep(0.02)

    def import_image(self) -> None:
        sh.run(
            [CTR, "-a", self.socket, "-n", K8S_NAMESPACE, "images", "import",
             self.image.archive],
            timeout=60,
        )  # fmt: skip

    def stop_daemon(self) -> None:
        proc, self.process = self.process, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self._forget(proc.pid)

    def stop(self) -> None:
        """containerd, its shims and pods' processes, the holder, the cgroups."""
        self.stop_daemon()
        kill_marked(self.paths.base)
        kill_marked(self.paths.socket)
        kill_cgroup(self.cgroup_parent)
        holder, self.holder = self.holder, None
        if holder is not None:
            holder.kill()
            holder.wait(5)
            self._forget(holder.pid)
        remove_cgroup(self.cgroup_parent)

    def install_tap(self, names: list[str]) -> None:
        """Wrap the plugins containerd calls first so their error codes are kept (tap.py)."""
        from harness.backends.local.containerd import tap

        for name in names:
            tap.install(self.node.host_path("/opt/cni/bin"), name, self.paths.tap)

    # ------------------------------------------------------------ state
    def _record(self, pid: int | None = None, cgroup: str = "", mark: str = "") -> None:
        state = self.topology.state
        with self.topology._lock:
            if pid is not None:
                state.pids.append(pid)
            if cgroup and cgroup not in state.cgroups:
                state.cgroups.append(cgroup)
            if mark and mark not in state.process_marks:
                state.process_marks.append(mark)
            self.topology._save()

    def _forget(self, pid: int) -> None:
        with self.topology._lock:
            if pid in self.topology.state.pids:
                self.topology.state.pids.remove(pid)
                with contextlib.suppress(OSError):
                    self.topology._save()

    # ------------------------------------------------------------ leaks
    def leaks(self) -> list[str]:
        """Pod things containerd should have removed: netns, shims, cgroups."""
        found: list[str] = []
        with contextlib.suppress(OSError):
            for name in sorted(os.listdir(self.node_path(NETNS_DIR_IN_NODE))):
                found.append(f"containerd network namespace {NETNS_IN_NODE}/{name}")
        for pid, argv in processes_marked(self.paths.socket):
            if "containerd-shim" in argv:
                found.append(f"containerd shim pid {pid}")
        for path in cgroup_dirs(self.cgroup_parent):
            if os.path.abspath(path) != os.path.abspath(cgroup_root_of(path, self.cgroup_parent)):
                found.append(f"cgroup {path}")
        return found


def tail(path: str, lines: int = 15) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


# -------------------------------------------------------------- crash cleanup
def processes_marked(mark: str) -> list[tuple[int, str]]:
    """Processes whose command line contains ``mark`` (a node's containerd dir)."""
    out: list[tuple[int, str]] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if mark in argv:
            out.append((int(entry), argv))
    return out


def kill_marked(mark: str) -> None:
    for pid, _argv in processes_marked(mark):
        if pid != os.getpid():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def cgroup_hierarchies() -> list[str]:
    """Every mounted cgroup hierarchy (v1 controllers and the v2 unified one)."""
    out: list[str] = []
    try:
        with open("/proc/self/mounts", encoding="utf-8") as f:
            for line in f:
                parts = line.split()
                if len(parts) > 2 and parts[2] in ("cgroup", "cgroup2"):
                    out.append(parts[1])
    except OSError:
        pass
    return sorted(set(out))


def cgroup_dirs(parent: str) -> list[str]:
    """The directories of cgroup ``parent`` and below it, in every hierarchy, deepest first."""
    out: list[str] = []
    for hierarchy in cgroup_hierarchies():
        top = os.path.join(hierarchy, parent.lstrip("/"))
        if not os.path.isdir(top):
            continue
        for dirpath, _dirs, _files in os.walk(top):
            out.append(dirpath)
    return sorted(out, key=lambda p: p.count("/"), reverse=True)


def cgroup_root_of(path: str, parent: str) -> str:
    """The node's own cgroup directory in the hierarchy ``path`` is in."""
    index = path.find(parent.rstrip("/"))
    return path[: index + len(parent.rstrip("/"))] if index >= 0 else path


def kill_cgroup(parent: str) -> None:
    """SIGKILL every process in the node's cgroups (pods' containers outlive their shim)."""
    for _ in range(3):
        pids: set[int] = set()
        for path in cgroup_dirs(parent):
            with contextlib.suppress(OSError), open(os.path.join(path, "cgroup.procs")) as f:
                pids.update(int(p) for p in f.read().split())
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def remove_cgroup(parent: str) -> None:
    for path in cgroup_dirs(parent):
        for _ in range(20):
            try:
                os.rmdir(path)
                break
            except FileNotFoundError:
                break
            except OSError:  # still busy: processes dying
                time.sleep(0.05)


def destroy_leftovers(cgroups: list[str], marks: list[str]) -> None:
    """The crash path: what a dead harness's containerd nodes left (state.json)."""
    for mark in marks:
        kill_marked(mark)
    for parent in cgroups:
        kill_cgroup(parent)
        remove_cgroup(parent)
