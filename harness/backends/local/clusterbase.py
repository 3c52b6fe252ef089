"""What every part of :class:`~harness.backends.local.cluster.LocalCluster` shares.

The local cluster is one object (it is the :class:`harness.cluster.Cluster`
the runner drives), but what it does falls into rooms of their own, one
module each: bringing nodes up (:mod:`nodesetup`), what later ``harness``
commands read (:mod:`runinfo`), pods and objects (:mod:`podaccess`), files,
shells and CNI calls on nodes (:mod:`nodeaccess`), the machinery failure
scenarios act on (:mod:`machinery`) and the leak check (:mod:`leakcheck`).
Each room is a mixin built on :class:`ClusterBase`, which declares the
attributes they share once; :mod:`cluster` assigns them and composes the
rooms. A room that needs another's method inherits that room, so mypy
checks every call across rooms.
"""

from __future__ import annotations

import os
import subprocess
import threading
from typing import TYPE_CHECKING, Any

from harness.backends.local.apiclient import ClusterClient
from harness.profiles import SERVICE_ACCOUNT_DIR, Binaries, Profile

if TYPE_CHECKING:
    from harness.backends.local.apiserver import APIServer
    from harness.backends.local.devices import DevicePlugin
    from harness.backends.local.kubelet import Kubelet
    from harness.backends.local.scheduler import Scheduler
    from harness.backends.local.topology import Node, Topology


class ClusterBase:
    """The local cluster's state (assigned in ``LocalCluster.__init__``/``start``)."""

    name: str
    cluster_id: str
    profile: Profile
    binaries: Binaries
    mode: str  # the profile's form: "thin" or "thick"
    runtime: str  # "simulated" or "containerd"
    runtimes: dict[str, Any]  # node name -> ContainerdNode (containerd runtime)
    meta_plugin: str  # what the runtime executes: the thin binary or the shim
    meta_name: str
    meta_config: dict[str, Any]
    devices: dict[str, int]
    device_plugins: list[DevicePlugin]
    run_root: str
    kubelet_workers: int
    topology: Topology
    token: str
    api_server: APIServer
    api: ClusterClient | None
    kubelets: dict[str, Kubelet]
    changed: threading.Condition  # notified whenever a kubelet's sandboxes change
    scheduler: Scheduler | None
    server: str  # http, root loopback (cluster.json's "server")
    secure_server: str  # https, root loopback: kubectl
    node_server: str  # https, each node's loopback: plugins and daemons
    ca_file: str
    errors: list[str]  # failures of the machinery (scheduler ...)
    _installed: list[Node]
    _sandboxes_written: str
    _installers: dict[str, subprocess.Popen[bytes]]  # running pymultus-install by node

    def client(self) -> ClusterClient:
        if self.api is None:
            raise RuntimeError("cluster not started")
        return self.api

    def node_names(self) -> list[str]:
        return [n.name for n in self.topology.nodes]

    @property
    def run_dir(self) -> str:
        return self.topology.run_dir

    @property
    def kubeconfig(self) -> str:
        """The kubeconfig for kubectl (https with the cluster's CA)."""
        return os.path.join(self.topology.run_dir, "kubeconfig")

    def _token_file(self, node: Node) -> str:
        """The node's service-account token file (the DaemonSet pod's projected token).

        In the node's run directory, the same path inside the node and out."""
        return os.path.join(node.host_path(SERVICE_ACCOUNT_DIR), "token")

    def thick(self) -> Any:
        """The thick-mode installer module (looked up at each call: tests replace it)."""
        return thick_module()


def thick_module() -> Any:
    """The thick-mode installer (``install``/``uninstall``), imported only in thick mode."""
    import importlib

    return importlib.import_module("harness.backends.local.thick")
