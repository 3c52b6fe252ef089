"""The local backend: a cluster simulated with namespaces, the real CNI plugins
and an embedded Kubernetes API, on this machine, without Docker.

Composition only: :mod:`topology` makes the nodes, :mod:`apiserver` serves
the API (on the root loopback for the harness and kubectl, and on each
node's own loopback for the plugins running there), one :mod:`kubelet` per
node calls CNI. The meta-plugin under test is installed like a real node
would have it, as its profile (:mod:`harness.profiles`) says: a binary in
``/opt/cni/bin`` and its config file (``00-<name>.conf``) first in
``/etc/cni/net.d``, wrapping the node's default network
(``10-kindnet.conflist``, ptp + host-local, one pod CIDR per node); in thick
form its daemon and shim (:mod:`harness.backends.local.thick`).

The API server has two kinds of listeners. https with a per-cluster CA
(:mod:`harness.backends.local.pki`) on the root loopback for kubectl and on
each node's loopback (the same port, so one URL serves both) for everything
on the node: client-go never sends a bearer token over plain http, so a
node sees the API as on kind; node kubeconfigs carry the CA, and the thick
daemon's in-cluster view (``KUBERNETES_SERVICE_HOST``/``PORT``, the
service-account token and ``ca.crt``) points there too; so does the
harness's own client (:mod:`harness.backends.local.apiclient`, from the
kubeconfig kubectl gets). Plain http on the root loopback only (``server``
in cluster.json, no longer used by the harness): no node can reach it (a
node's loopback is its own). A scheduler binds unbound pods
(``pods/binding``), like kube-scheduler.

This module holds the cluster's life (start, close) and composes the rooms
the rest lives in (:mod:`clusterbase` lists them): each stays small enough
to read in one sitting.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import threading
from typing import Any

from harness.backends.local.apiclient import ClusterClient, pool_size
from harness.backends.local.apiserver import APIServer, server_tls_context
from harness.backends.local.devices import DEVICE_INFO_DIR, POD_RESOURCES_SOCKET, DevicePlugin
from harness.backends.local.kubelet import Kubelet
from harness.backends.local.leakcheck import LeakCheck
from harness.backends.local.machinery import Machinery
from harness.backends.local.nodesetup import node_object
from harness.backends.local.pki import make_cluster_pki
from harness.backends.local.podio import NodeStreams
from harness.backends.local.scheduler import Scheduler
from harness.backends.local.sim_streams import SimNodeStreams
from harness.backends.local.topology import (
    NETNS_DIR,
    POD_CIDR_ALL,
    RUN_ROOT,
    Node,
    Topology,
    destroy_run_dir,
    stale_run_dirs,
)
from harness.profiles import Profile, choose, resolve_binaries

DEFAULT_CNI_BIN_DIR = "/usr/lib/cni"
MODES = ("thin", "thick")
# Who calls CNI on a node: the simulated kubelet itself, or a real containerd's
# CRI plugin driven by the harness's CRI kubelet (harness/backends/local/containerd/).
RUNTIMES = ("simulated", "containerd")


def default_meta_plugin() -> str:
    """The pymultus executable of this installation (the venv's console script)."""
    candidate = os.path.join(os.path.dirname(sys.executable), "pymultus")
    if os.access(candidate, os.X_OK):
        return candidate
    found = shutil.which("pymultus")
    if not found:
        raise FileNotFoundError("cannot find the pymultus executable; pass --meta-plugin PATH")
    return found


class LocalCluster(Machinery, LeakCheck):
    """A running simulated cluster. Use as a context manager or call close()."""

    def __init__(
        self,
        nodes: int = 2,
        meta_plugin: str | None = None,
        cni_bin_dir: str = DEFAULT_CNI_BIN_DIR,
        meta_config: dict[str, Any] | None = None,
        mode: str = "thin",
        run_root: str = RUN_ROOT,
        kubelet_workers: int = 4,
        devices: dict[str, int] | None = None,
        profile: Profile | None = None,
        daemon: str | None = None,
        shim: str | None = None,
        runtime: str = "simulated",
    ) -> None:
        """``profile`` says how the meta-plugin runs (default: pymultus in ``mode``);
        ``meta_plugin``/``daemon``/``shim`` are its binaries. What the profile
        cannot run with them raises :class:`harness.profiles.ProfileError`."""
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
        self.runtime = runtime
        self.runtimes = {}
        if profile is None:
            if mode not in MODES:
                raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
            profile = choose(mode=mode)
        self.profile = profile
        needs_default = profile.implementation == "pymultus" and profile.form == "thin"
        self.binaries = resolve_binaries(
            profile,
            meta_plugin,
            daemon,
            shim,
            pymultus_executable=default_meta_plugin()
            if needs_default and not meta_plugin
            else None,
            python=sys.executable,
        )
        self.mode = profile.form
        self.devices = dict(devices or {})  # extended resource -> devices per node
        self.device_plugins = []
        self.run_root = run_root
        self.kubelet_workers = kubelet_workers
        self.meta_plugin = self.binaries.meta_plugin or self.binaries.shim
        self.meta_name = profile.cni_type.removesuffix("-shim")
        self.cluster_id = "hx" + secrets.token_hex(3)
        self.name = f"local-{self.cluster_id}"
        self.topology = Topology(
            self.cluster_id,
            nodes,
            [cni_bin_dir],
            extra_binaries=(
                {profile.binary_name: self.binaries.meta_plugin} if profile.form == "thin" else {}
            ),
            run_root=run_root,
            extra_mounts=profile.node_mounts,
        )
        self.meta_config = meta_config or {}
        self.token = secrets.token_urlsafe(24)
        self.api_server = APIServer(token=self.token)
        self.kubelets = {}
        self.changed = threading.Condition()
        self.scheduler = None
        self.server = ""
        self.secure_server = ""
        self.node_server = ""
        self.ca_file = ""
        self.api = None
        self.errors = []
        self._installed = []
        self._sandboxes_written = ""
        self._installers = {}

    # ------------------------------------------------------------ lifecycle
    def start(self) -> LocalCluster:
        for run_dir in stale_run_dirs(self.run_root):
            destroy_run_dir(run_dir)
        self.topology.create()
        try:
            if self.runtime == "containerd":
                self._start_containerd()
            host, port = self.api_server.listen("127.0.0.1", 0)
            self.server = f"http://{host}:{port}"
            pki = make_cluster_pki(self.topology.run_dir, cluster_name=self.name)
            self.ca_file = pki.ca_cert
            tls = server_tls_context(pki.server_cert, pki.server_key)
            secure_host, secure_port = self.api_server.listen("127.0.0.1", 0, tls=tls)
            for node in self.topology.nodes:
                self.api_server.listen(
                    "127.0.0.1", secure_port, netns=f"{NETNS_DIR}/{node.netns}", tls=tls
                )
            self.secure_server = f"https://{secure_host}:{secure_port}"
            self.node_server = self.secure_server  # the same address inside every node
            self.api_server.start()
            self.write_kubeconfig(self.kubeconfig, secure=True)
            self.api = ClusterClient.from_kubeconfig(
                self.kubeconfig,
                pool_size(len(self.topology.nodes), self.kubelet_workers),
                temp_dir=self.topology.run_dir,
            )
            for node in self.topology.nodes:
                self.install_node(node)
                obj = node_object(node)
                if node.name in self.runtimes:  # kubectl get nodes -o wide: CONTAINER-RUNTIME
                    info = obj["status"]["nodeInfo"]
                    info["containerRuntimeVersion"] = self.runtimes[node.name].runtime_version()
                self.api.create_node(obj)
            self.ensure_namespace("default")
            self.scheduler = Scheduler(self.api, self.node_names(), self.errors.append)
            self.scheduler.start()
            for node in self.topology.nodes:
                plugin = None
                if self.devices:
                    plugin = DevicePlugin(
                        node.index,
                        self.devices,
                        node.host_path(POD_RESOURCES_SOCKET),
                        node.host_path(DEVICE_INFO_DIR),
                    )
                    self.device_plugins.append(plugin)
                    plugin.start()
                kubelet = self._make_kubelet(node)
                kubelet.devices = plugin
                self.kubelets[node.name] = kubelet
                self.api_server.node_streams[node.name] = self._node_streams(node.name, kubelet)
                kubelet.start()
            self.write_info()
        except BaseException:
            self.close()
            raise
        return self

    def _start_containerd(self) -> None:
        from harness.backends.local.containerd.daemon import ContainerdNode
        from harness.backends.local.containerd.image import busybox_image

        image = busybox_image()
        for node in self.topology.nodes:
            runtime = ContainerdNode(node, self.topology, image)
            self.runtimes[node.name] = runtime
            runtime.start()

    def _make_kubelet(self, node: Node) -> Kubelet:
        api = self.client()
        if self.runtime == "containerd":
            from harness.backends.local.containerd.kubelet import CRIKubelet

            return CRIKubelet(
                node,
                self.topology,
                api,
                self._notify,
                workers=self.kubelet_workers,
                runtime=self.runtimes[node.name],
            )
        return Kubelet(node, self.topology, api, self._notify, workers=self.kubelet_workers)

    def _node_streams(self, node: str, kubelet: Kubelet) -> NodeStreams:
        """kubectl exec/logs on this node: through CRI on a containerd node; else the
        kubelet's sandboxes and the store's events (sim_streams.py)."""
        store = self.api_server.store

        def sandbox_netns(uid: str) -> str | None:
            sandbox = kubelet.sandbox_by_uid(uid)
            # The host path (absolute, either runtime: a containerd node's pod
            # netns lives in the node's own /run).
            return kubelet.netns_path(sandbox) if sandbox is not None and sandbox.ready else None

        def pod_exists(namespace: str, name: str, uid: str) -> bool:
            pod = store.get("pods", name, namespace)
            return pod is not None and pod["metadata"].get("uid") == uid

        if self.runtime == "containerd":
            from harness.backends.local.containerd.kubelet import CRIKubelet
            from harness.backends.local.containerd.streams import CRINodeStreams

            assert isinstance(kubelet, CRIKubelet)
            return CRINodeStreams(kubelet, pod_exists)
        return SimNodeStreams(
            node, sandbox_netns, lambda ns: store.list_objects("events", ns), pod_exists
        )

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for node_name in list(self._installers):
            self.run_installer(node_name, "stop")
        if self.scheduler is not None:
            self.scheduler.stop()
        for kubelet in self.kubelets.values():
            kubelet.stop()
        if self.mode == "thick":
            for node in reversed(self._installed):
                try:
                    self.thick().uninstall(self, node)
                except Exception as exc:  # keep tearing down: the topology owns the rest
                    self.errors.append(f"thick uninstall on {node.name}: {exc}")
        for plugin in self.device_plugins:
            plugin.stop()
        for runtime in self.runtimes.values():
            try:
                runtime.stop()
            except Exception as exc:  # state.json's cleanup still kills what is left
                self.errors.append(f"containerd on {runtime.node.name}: {exc}")
        if self.api is not None:
            self.api.close()  # the pool's connections, before the server goes
        self.api_server.stop()
        self.topology.destroy()


__all__ = ["POD_CIDR_ALL", "LocalCluster", "default_meta_plugin"]
