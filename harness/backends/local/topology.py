"""Simulated nodes: network namespaces, a fabric, and a private filesystem view.

Each node is what a kind node container is to the CNI plugins running on it:
- its own network namespace (``<cluster>-node-N``), never the root one, with
  ``eth0`` on an L2 fabric shared by all nodes (a bridge in a fabric
  namespace, like kind's docker network) and ``eth1`` on a second fabric,
  the master for macvlan attachments across nodes (as the reference's e2e
  wires its kind workers);
- its own mount namespace in which ``/etc/cni``, ``/var/lib/cni`` and
  ``/opt/cni`` are the node's own directories, so host-local leases, the
  meta-plugin's caches and configs are per node as on real machines, while
  the CNI binaries are shared (symlinks in the node's ``/opt/cni/bin``).

Pod routes between nodes are static routes on each node (node i owns
10.244.i.0/24), like kindnet installs. The root namespace's network
configuration is never touched: links are created directly in their target
namespaces. Everything made is recorded in ``state.json`` in the run
directory, so :func:`destroy_run_dir` can remove it after a crash too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import json
import os
import shutil
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.backends.local import sh

NETNS_DIR = "/run/netns"
RUN_ROOT = "/run/harness"
FABRIC_PREFIX = ipaddress.ip_network("172.18.0.0/16")
POD_CIDR_TEMPLATE = "10.244.{index}.0/24"
POD_CIDR_ALL = "10.244.0.0/16"
# Host paths a node sees as its own (source dir name in the node dir, target).
NODE_MOUNTS = (
    ("etc-cni", "/etc/cni"),
    ("var-lib-cni", "/var/lib/cni"),
    ("opt-cni", "/opt/cni"),
    # The kubelet's pod-resources socket and device plugins' device-info files.
    ("var-lib-kubelet", "/var/lib/kubelet"),
    ("run-k8s-cni", "/var/run/k8s.cni.cncf.io"),
    # The DaemonSet pod's service-account token, CA and namespace, where
    # client-go's in-cluster config reads them (a thick daemon).
    ("serviceaccount", "/var/run/secrets/kubernetes.io/serviceaccount"),
)


@dataclass
class Node:
    name: str
    index: int
    netns: str
    mount_ns: str
    root: str  # backing directory of this node's private paths
    address: str  # eth0 address, CIDR
    pod_cidr: str
    # Node-private dirs (source dir name in the node dir, node path): NODE_MOUNTS
    # plus those a meta-plugin profile asks for (its daemon's socket dir).
    mounts: tuple[tuple[str, str], ...] = NODE_MOUNTS

    @property
    def ip(self) -> str:
        return self.address.split("/")[0]

    def host_path(self, path: str) -> str:
        """Where a path as the node sees it lives on the host (for the harness)."""
        for source, target in self.mounts:
            if path == target or path.startswith(target + "/"):
                return os.path.join(self.root, source) + path[len(target) :]
        return path

    def exec_prefix(self) -> list[str]:
        """argv prefix that runs a program inside this node (network + mounts)."""
        return ["nsenter", f"--net={NETNS_DIR}/{self.netns}", f"--mount={self.mount_ns}", "--"]


@dataclass
class State:
    """What a run made, written down as soon as it is made."""

    cluster_id: str
    owner_pid: int
    netns: list[str] = field(default_factory=list)
    mounts: list[str] = field(default_factory=list)  # unmount in reverse
    created_dirs: list[str] = field(default_factory=list)  # host dirs we had to create
    pids: list[int] = field(default_factory=list)
    # Containerd nodes (harness.backends.local.containerd): processes whose
    # command line holds one of these marks (shims outlive containerd) and
    # the nodes' cgroup parents (pods' processes outlive their shims).
    process_marks: list[str] = field(default_factory=list)
    cgroups: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Keys of state.json this version does not know (set by load_state; not saved).
        self.unknown: list[str] = []


class Topology:
    """Creates and destroys the namespaces, links and mounts of one cluster."""

    def __init__(
        self,
        cluster_id: str,
        nodes: int,
        cni_bin_dirs: list[str],
        extra_binaries: dict[str, str] | None = None,
        run_root: str = RUN_ROOT,
        extra_mounts: tuple[tuple[str, str], ...] = (),
    ) -> None:
        if nodes < 1 or nodes > 200:
            raise ValueError("nodes must be between 1 and 200")
        self.cluster_id = cluster_id
        self.run_dir = os.path.join(run_root, cluster_id)
        self.cni_bin_dirs = cni_bin_dirs
        self.extra_binaries = extra_binaries or {}
        self.mounts = NODE_MOUNTS + tuple(m for m in extra_mounts if m not in NODE_MOUNTS)
        self.state = State(cluster_id, os.getpid())
        self._lock = threading.RLock()
        self.fabric_netns = f"{cluster_id}-fabric"
        self.nodes = [self._node(i) for i in range(1, nodes + 1)]

    def _node(self, index: int) -> Node:
        name = f"node-{index}"
        return Node(
            name=name,
            index=index,
            netns=f"{self.cluster_id}-{name}",
            mount_ns=os.path.join(self.run_dir, f"{name}.mnt"),
            root=os.path.join(self.run_dir, "nodes", name),
            address=f"{FABRIC_PREFIX[10 + index]}/{FABRIC_PREFIX.prefixlen}",
            pod_cidr=POD_CIDR_TEMPLATE.format(index=index),
            mounts=self.mounts,
        )

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"no node {name!r} (nodes: {[n.name for n in self.nodes]})")

    # ------------------------------------------------------------ create
    def create(self) -> None:
        os.makedirs(self.run_dir, mode=0o700, exist_ok=False)
        self._save()
        try:
            self._create_netns(self.fabric_netns)
            sh.ip_batch(
                [
                    "link set lo up",
                    "link add br0 type bridge",
                    "link set br0 up",
                    "link add br1 type bridge",
                    "link set br1 up",
                ],
                netns=self.fabric_netns,
            )
            for node in self.nodes:
                self._create_node_network(node)
            fabric_cmds: list[str] = []
            for node in self.nodes:
                for dev, bridge in (("e0", "br0"), ("e1", "br1")):
                    fabric_cmds += [
                        f"link set n{node.index}{dev} master {bridge}",
                        f"link set n{node.index}{dev} up",
                    ]
            sh.ip_batch(fabric_cmds, netns=self.fabric_netns)
            self._private_run_dir()
            for node in self.nodes:
                self._create_node_filesystem(node)
        except BaseException:
            self.destroy()
            raise

    def _create_netns(self, name: str) -> None:
        sh.run(["ip", "netns", "add", name])
        with self._lock:
            self.state.netns.append(name)
            self._save()

    def _create_node_network(self, node: Node) -> None:
        self._create_netns(node.netns)
        for dev in ("0", "1"):
            sh.run(
                [
                    "ip",
                    "link",
                    "add",
                    f"eth{dev}",
                    "netns",
                    node.netns,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    f"n{node.index}e{dev}",
                    "netns",
                    self.fabric_netns,
                ]
            )
        cmds = [
            "link set lo up",
            f"addr add {node.address} dev eth0",
            "link set eth0 up",
            "link set eth1 up",
        ]
        for other in self.nodes:
            if other is not node:
                cmds.append(f"route add {other.pod_cidr} via {other.ip} dev eth0")
        sh.ip_batch(cmds, netns=node.netns)
        # Forwarding between pods and the fabric, inside the node only
        # (net.ipv4.ip_forward is per network namespace).
        sh.run(
            [
                "nsenter",
                f"--net={NETNS_DIR}/{node.netns}",
                "sysctl",
                "-q",
                "-w",
                "net.ipv4.ip_forward=1",
                "net.ipv6.conf.all.forwarding=1",
            ]
        )

    def _private_run_dir(self) -> None:
        # A persistent mount namespace is pinned by bind-mounting its nsfs file,
        # which the kernel refuses on a shared mount: make the run dir a
        # private mount of its own.
        sh.run(["mount", "--bind", self.run_dir, self.run_dir])
        self.state.mounts.append(self.run_dir)
        self._save()
        sh.run(["mount", "--make-private", self.run_dir])

    def _create_node_filesystem(self, node: Node) -> None:
        for source, target in node.mounts:
            os.makedirs(os.path.join(node.root, source), exist_ok=True)
            self._ensure_host_dir(target)
        os.makedirs(node.host_path("/etc/cni/net.d"), exist_ok=True)
        os.makedirs(node.host_path("/etc/cni/multus/net.d"), exist_ok=True)
        bin_dir = node.host_path("/opt/cni/bin")
        os.makedirs(bin_dir, exist_ok=True)
        for directory in reversed(self.cni_bin_dirs):  # earlier dirs win
            if os.path.isdir(directory):
                for name in os.listdir(directory):
                    link = os.path.join(bin_dir, name)
                    if os.path.lexists(link):
                        os.unlink(link)
                    os.symlink(os.path.join(directory, name), link)
        for name, path in self.extra_binaries.items():
            link = os.path.join(bin_dir, name)
            if os.path.lexists(link):
                os.unlink(link)
            os.symlink(path, link)

        open(node.mount_ns, "w").close()
        # Slave propagation: pod network namespaces mounted later under
        # /run/netns by the runtime (in the root mount namespace) appear
        # inside the node, as they do in a kind node.
        sh.run(["unshare", f"--mount={node.mount_ns}", "--propagation", "slave", "true"])
        self.state.mounts.append(node.mount_ns)
        self._save()
        for source, target in node.mounts:
            sh.run(
                [
                    "nsenter",
                    f"--mount={node.mount_ns}",
                    "--",
                    "mount",
                    "--bind",
                    os.path.join(node.root, source),
                    target,
                ]
            )

    def _ensure_host_dir(self, path: str) -> None:
        """Mount targets must exist on the host; remember those we create."""
        missing: list[str] = []
        current = path
        while not os.path.exists(current):
            missing.append(current)
            current = os.path.dirname(current)
        for directory in reversed(missing):
            os.mkdir(directory, 0o755)
            self.state.created_dirs.append(directory)
            remember_mount_target(os.path.dirname(self.run_dir), directory)
        if missing:
            self._save()

    def _save(self) -> None:
        # Kubelet workers add and remove pod namespaces concurrently: one
        # writer at a time, or a rename could publish a half-written list.
        with self._lock:
            path = os.path.join(self.run_dir, "state.json")
            tmp = path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(asdict(self.state), f)
            os.replace(tmp, path)

    # ----------------------------------------------------------- destroy
    def add_netns(self, name: str) -> None:
        """Create a pod's network namespace and record it."""
        self._create_netns(name)

    def remove_netns(self, name: str) -> None:
        delete_netns(name)
        with self._lock:
            if name in self.state.netns:
                self.state.netns.remove(name)
                self._save()

    def destroy(self) -> None:
        destroy_state(self.state, self.run_dir)


def delete_netns(name: str) -> None:
    if os.path.exists(os.path.join(NETNS_DIR, name)):
        sh.run(["ip", "netns", "delete", name], check=False)


def destroy_state(state: State, run_dir: str) -> None:
    """Remove everything a run recorded, whatever state it was left in."""
    for pid in state.pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, 9)
    if state.process_marks or state.cgroups:
        from harness.backends.local.containerd.daemon import destroy_leftovers

        destroy_leftovers(state.cgroups, state.process_marks)
    # Every namespace of a cluster is named "<cluster id>-...": also those
    # created by `ip netns add` just before a crash and not yet recorded.
    names = set(state.netns)
    with contextlib.suppress(OSError):
        names.update(n for n in os.listdir(NETNS_DIR) if n.startswith(state.cluster_id + "-"))
    # Pods first, then nodes, then the fabric: veth peers vanish with them.
    for name in sorted(names, key=lambda n: (n.endswith("-fabric"), "-node-" in n)):
        delete_netns(name)
    for mount in reversed(state.mounts):
        sh.run(["umount", "-l", mount], check=False)
    shutil.rmtree(run_dir, ignore_errors=True)
    # The host dirs we created are mount targets of every cluster on this
    # machine: removing one that another live cluster's nodes have mounted
    # over would silently detach those mounts (rmdir of a mount point in
    # another mount namespace succeeds since Linux 3.18). The last one out
    # removes them.
    # Runs that overlap record what they create in a file shared by the run
    # root, so the last one out also removes what an earlier one made.
    roots = {RUN_ROOT, os.path.dirname(run_dir)}  # tests may use their own run root
    if any(other_live_runs(root, run_dir) for root in roots):
        return
    targets = list(state.created_dirs)
    for root in roots:
        targets += take_mount_targets(root)
    for directory in sorted(set(targets), key=len, reverse=True):  # deepest first
        with contextlib.suppress(OSError):
            os.rmdir(directory)  # only if empty: never what someone else put there


MOUNT_TARGETS_FILE = ".mount-targets"


def remember_mount_target(run_root: str, directory: str) -> None:
    """Note a host dir a run created (one line, appended atomically)."""
    with contextlib.suppress(OSError):
        fd = os.open(
            os.path.join(run_root, MOUNT_TARGETS_FILE),
            os.O_WRONLY | os.O_CREAT | os.O_APPEND,
            0o600,
        )
        try:
            os.write(fd, (directory + "\n").encode())
        finally:
            os.close(fd)


def take_mount_targets(run_root: str) -> list[str]:
    """The host dirs runs under ``run_root`` created, forgetting the list."""
    path = os.path.join(run_root, MOUNT_TARGETS_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            lines = [line.strip() for line in f]
        os.unlink(path)
    except OSError:
        return []
    return [line for line in lines if line.startswith("/")]


def other_live_runs(run_root: str, run_dir: str) -> list[str]:
    """Run dirs under ``run_root`` other than ``run_dir`` whose owner is alive."""
    try:
        names = os.listdir(run_root)
    except OSError:
        return []
    out: list[str] = []
    for name in names:
        other = os.path.join(run_root, name)
        if os.path.abspath(other) == os.path.abspath(run_dir):
            continue
        state = load_state(other)
        if state is not None and pid_alive(state.owner_pid):
            out.append(other)
    return out


def load_state(run_dir: str) -> State | None:
    try:
        with open(os.path.join(run_dir, "state.json")) as f:
            data: dict[str, Any] = json.load(f)
    except (OSError, ValueError):
        return None
    # Another harness version (a parallel run from another checkout) may record
    # more fields: keep the ones this version knows instead of crashing its cleanup,
    # and note the others (stale_run_dirs leaves such a run to its own version).
    known = {f.name for f in dataclasses.fields(State)}
    try:
        state = State(**{k: v for k, v in data.items() if k in known})
    except TypeError:  # a field this version needs is missing
        return None
    state.unknown = sorted(set(data) - known)
    return state


def destroy_run_dir(run_dir: str) -> None:
    state = load_state(run_dir)
    if state is None:
        shutil.rmtree(run_dir, ignore_errors=True)
        return
    destroy_state(state, run_dir)


def stale_run_dirs(run_root: str = RUN_ROOT) -> list[str]:
    """Run directories whose owning process is gone (a crashed earlier run)."""
    out: list[str] = []
    try:
        names = os.listdir(run_root)
    except OSError:
        return out
    for name in names:
        run_dir = os.path.join(run_root, name)
        if not os.path.isdir(run_dir):
            continue  # e.g. the shared list of mount targets
        state = load_state(run_dir)
        if state is not None and state.unknown:
            # Written by another version of the harness (fields this one does not
            # know): only that version knows how to tear it all down, so leave it.
            continue
        if state is None:
            # A run creates its directory, then writes state.json: a directory
            # without one may be a concurrent run starting right now (parallel
            # harness runs share this root), so only an old one is stale.
            if _age(run_dir) > UNSTATED_GRACE:
                out.append(run_dir)
        elif not pid_alive(state.owner_pid):
            out.append(run_dir)
    return out


#: Seconds a run directory may exist without state.json before it counts as stale.
UNSTATED_GRACE = 60.0


def _age(path: str) -> float:
    import time

    try:
        return time.time() - os.stat(path).st_mtime
    except OSError:
        return 0.0


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
