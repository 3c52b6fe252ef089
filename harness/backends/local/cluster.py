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
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from harness.backends.local import nodestatus, sh
from harness.backends.local.apiclient import ClusterClient, pod_path, pool_size
from harness.backends.local.apiserver import APIServer, server_tls_context
from harness.backends.local.devices import DEVICE_INFO_DIR, POD_RESOURCES_SOCKET, DevicePlugin
from harness.backends.local.kubelet import Kubelet, Sandbox
from harness.backends.local.pki import make_cluster_pki
from harness.backends.local.podio import NodeStreams
from harness.backends.local.runs import INFO_FILE, SANDBOXES_FILE
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
from harness.cluster import CNICall, CNICallOutcome, PodOutcome, SandboxError, Unsupported
from harness.netstate import PodNetwork, parse_addresses, parse_routes, ping_argv
from harness.profiles import SERVICE_ACCOUNT_DIR, Profile, choose, resolve_binaries

DEFAULT_CNI_BIN_DIR = "/usr/lib/cni"
DEFAULT_NETWORK_NAME = "kindnet"
NAD_API = "/apis/k8s.cni.cncf.io/v1"
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


def default_network_conf(node: Node) -> dict[str, Any]:
    """kind-like default network: ptp + host-local with the node's pod CIDR."""
    return {
        "cniVersion": "1.0.0",
        "name": DEFAULT_NETWORK_NAME,
        "plugins": [
            {
                "type": "ptp",
                "ipMasq": False,
                "mtu": 1500,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": node.pod_cidr, "gateway": gateway(node.pod_cidr)}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            }
        ],
    }


def gateway(cidr: str) -> str:
    import ipaddress

    return str(ipaddress.ip_network(cidr)[1])


class LocalCluster:
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
        self.runtimes: dict[str, Any] = {}  # node name -> ContainerdNode (containerd runtime)
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
        self.device_plugins: list[DevicePlugin] = []
        self.run_root = run_root
        self.kubelet_workers = kubelet_workers
        # What the runtime executes: the thin binary, or (thick) the shim.
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
        self.kubelets: dict[str, Kubelet] = {}
        self.changed = threading.Condition()
        self.scheduler: Scheduler | None = None
        self.server = ""  # http, root loopback (cluster.json's "server")
        self.secure_server = ""  # https, root loopback: kubectl
        self.node_server = ""  # https, each node's loopback: plugins and daemons
        self.ca_file = ""
        self.api: ClusterClient | None = None
        self.errors: list[str] = []  # failures of the machinery (scheduler ...)
        self._installed: list[Node] = []
        self._sandboxes_written = ""
        # Running pymultus-install processes by node.
        self._installers: dict[str, subprocess.Popen[bytes]] = {}

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
                    thick_module().uninstall(self, node)
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

    def _notify(self) -> None:
        with self.changed:
            self.changed.notify_all()
        self.write_sandboxes()

    @property
    def run_dir(self) -> str:
        return self.topology.run_dir

    @property
    def kubeconfig(self) -> str:
        """The kubeconfig for kubectl (https with the cluster's CA)."""
        return os.path.join(self.topology.run_dir, "kubeconfig")

    def kubeconfig_text(self, secure: bool = True, token_file: str = "") -> str:
        """A kubeconfig for this cluster: https with the CA (kubectl and the nodes;
        the same URL works in both), or ``secure=False`` the harness's plain-http
        root listener; with ``token_file`` the token is read from that file at
        each request."""
        cluster: dict[str, Any] = {"server": self.secure_server if secure else self.server}
        if secure:
            with open(self.ca_file, "rb") as f:
                cluster["certificate-authority-data"] = base64.b64encode(f.read()).decode()
        # JSON (which is YAML), as pymultus-install writes it: the meta-plugin's
        # CNI path reads it without a YAML parser (issue 16).
        return json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": self.name, "cluster": cluster}],
                "users": [
                    {
                        "name": "admin",
                        "user": {"tokenFile": token_file} if token_file else {"token": self.token},
                    }
                ],
                "contexts": [
                    {"name": self.name, "context": {"cluster": self.name, "user": "admin"}}
                ],
                "current-context": self.name,
            },
            indent=2,
        )

    def write_kubeconfig(self, path: str, secure: bool = True, token_file: str = "") -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.kubeconfig_text(secure, token_file))

    def info(self) -> dict[str, Any]:
        """What a later ``harness`` command needs to find and use this cluster."""
        return {
            "id": self.cluster_id,
            "name": self.name,
            "ownerPid": os.getpid(),
            "mode": self.mode,
            "profile": self.profile.name,
            "binaries": self.binaries.describe(),
            "runtime": self.runtime,
            "metaPlugin": self.meta_plugin,
            "nodes": [
                {"name": n.name, "netns": n.netns, "ip": n.ip, "podCIDR": n.pod_cidr}
                for n in self.topology.nodes
            ],
            "server": self.server,
            "secureServer": self.secure_server,
            "nodeServer": self.node_server,
            "token": self.token,
            "kubeconfig": self.kubeconfig,
        }

    def write_info(self) -> None:
        write_private_json(os.path.join(self.run_dir, INFO_FILE), self.info())
        self.write_sandboxes()

    def sandboxes(self) -> dict[str, dict[str, Any]]:
        """Running sandboxes by pod uid: namespace, name, node, netns."""
        out: dict[str, dict[str, Any]] = {}
        for node_name, kubelet in self.kubelets.items():
            with kubelet.lock:
                items = list(kubelet.sandboxes.values())
            for sandbox in items:
                if sandbox.ready:
                    namespace, _, name = sandbox.pod_key.partition("/")
                    out[sandbox.uid] = {
                        "namespace": namespace,
                        "name": name,
                        "node": node_name,
                        "netns": sandbox.netns,
                        "netnsPath": kubelet.netns_path(sandbox),
                    }
                    if self.runtime == "containerd":  # harness exec goes through CRI
                        out[sandbox.uid]["criSocket"] = self.runtimes[node_name].socket
                        out[sandbox.uid]["containers"] = kubelet.container_ids(sandbox.uid)
        return out

    def write_sandboxes(self) -> None:
        """Publish the pod -> netns map for ``harness exec`` (only when it changed)."""
        if not os.path.isdir(self.run_dir):
            return
        text = json.dumps(self.sandboxes(), sort_keys=True)
        with self.changed:
            if text == self._sandboxes_written:
                return
            self._sandboxes_written = text
            with contextlib.suppress(OSError):
                write_private_text(os.path.join(self.run_dir, SANDBOXES_FILE), text)

    def meta_conf(self) -> dict[str, Any]:
        """The meta-plugin's node config in thin form (thick: what its daemon is given)."""
        profile = self.profile
        conf: dict[str, Any] = {
            "cniVersion": "1.0.0",
            "name": f"{self.meta_name}-cni-network",
            "type": profile.cni_type,
        }
        if profile.kubeconfig:
            conf["kubeconfig"] = profile.kubeconfig
        conf.update(
            {
                "clusterNetwork": f"/etc/cni/net.d/10-{DEFAULT_NETWORK_NAME}.conflist",
                "confDir": profile.conf_dir,
                "cniDir": profile.cache_dir,
                "binDir": "/opt/cni/bin",
                **self.meta_config,
            }
        )
        return conf

    def install_node(self, node: Node) -> None:
        """Put the default network and the meta-plugin's config on a node."""
        conf_dir = node.host_path("/etc/cni/net.d")
        write_atomic(
            os.path.join(conf_dir, f"10-{DEFAULT_NETWORK_NAME}.conflist"),
            json.dumps(default_network_conf(node), indent=2),
        )
        self.write_service_account(node)
        if self.profile.kubeconfig:
            # Thick pymultus: the daemon reads its token from the service-account
            # token file at each request, as it does in its pod (a projected
            # token), so a rotation needs no restart. Thin: the token is inline,
            # as pymultus-install and Multus's thin entrypoint write it.
            token_file = self._token_file(node) if self.profile.kubeconfig_token_file else ""
            self.write_kubeconfig(node.host_path(self.profile.kubeconfig), token_file=token_file)
        conf = self.meta_conf()
        if self.mode == "thick":
            # The thick-mode installer (its own module) writes the daemon's config
            # and the shim's (or lets the daemon write it) and starts the daemon.
            thick_module().install(self, node, conf)
        else:
            write_atomic(os.path.join(conf_dir, self.profile.conf_file), json.dumps(conf, indent=2))
        runtime = self.runtimes.get(node.name)
        if runtime is not None:  # what containerd runs first: tapped for its error codes
            runtime.install_tap([self.profile.binary_name])
        self._installed.append(node)

    def write_service_account(self, node: Node) -> None:
        """The DaemonSet pod's service-account files: token, the cluster CA, namespace.

        In the node's run directory (the same path inside the node and out),
        mounted in the node at /var/run/secrets/kubernetes.io/serviceaccount,
        where client-go's in-cluster config reads them."""
        directory = os.path.dirname(self._token_file(node))
        os.makedirs(directory, mode=0o755, exist_ok=True)
        write_private_text(self._token_file(node), self.token + "\n")
        with open(self.ca_file, encoding="utf-8") as f:
            ca = f.read()
        write_private_text(os.path.join(directory, "ca.crt"), ca)
        write_private_text(os.path.join(directory, "namespace"), "kube-system")

    # ------------------------------------------------------------- objects
    def client(self) -> ClusterClient:
        if self.api is None:
            raise RuntimeError("cluster not started")
        return self.api

    def node_names(self) -> list[str]:
        return [n.name for n in self.topology.nodes]

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        path = object_path(obj)
        existing = self.client().get(f"{path}/{obj['metadata']['name']}")
        if existing is None:
            return self.client().request("POST", path, obj)
        body = dict(obj)
        body["metadata"] = {
            **obj["metadata"],
            "resourceVersion": existing["metadata"]["resourceVersion"],
        }
        return self.client().request("PUT", f"{path}/{obj['metadata']['name']}", body)

    def delete_object(self, obj: dict[str, Any]) -> None:
        self.client().delete(f"{object_path(obj)}/{obj['metadata']['name']}")

    def create_pod(self, pod: dict[str, Any]) -> dict[str, Any]:
        """Create a pod; an unbound one is bound at once (round-robin, creation order)."""
        pod = json.loads(json.dumps(pod))
        namespace = pod["metadata"].setdefault("namespace", "default")
        self.ensure_namespace(namespace)
        created = self.client().request("POST", pod_path(namespace), pod)
        if not (created.get("spec") or {}).get("nodeName") and self.scheduler is not None:
            node = self.scheduler.schedule(created)
            if node:
                created.setdefault("spec", {})["nodeName"] = node
        return created

    def ensure_namespace(self, namespace: str) -> None:
        if self.client().get(f"/api/v1/namespaces/{namespace}") is None:
            self.client().create_namespace(namespace)

    def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.client().get(pod_path(namespace, name))

    def _sandbox(self, namespace: str, name: str) -> Any:
        """The sandbox of the pod that has this name *now* (a pod of the same name
        deleted earlier, maybe on another node, must not answer for it)."""
        pod = self.get_pod(namespace, name)
        if pod is not None:
            uid = str(pod["metadata"].get("uid", ""))
            node = (pod.get("spec") or {}).get("nodeName")
            kubelet = self.kubelets.get(str(node)) if node else None
            return kubelet.sandbox_by_uid(uid) if kubelet is not None else None
        for kubelet in self.kubelets.values():  # already gone from the API
            sandbox = kubelet.sandbox_for(namespace, name)
            if sandbox is not None:
                return sandbox
        return None

    def wait_pod(self, namespace: str, name: str, timeout: float) -> PodOutcome:
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                sandbox = self._sandbox(namespace, name)
                if sandbox is not None and sandbox.ready:
                    return PodOutcome(True, seconds=sandbox.timings.get("add", 0.0))
                failed = None if sandbox is None else sandbox.error or sandbox.previous_error
                remaining = deadline - time.monotonic()
                # A failed attempt is reported once the runtime has torn it down
                # (DEL, namespace removed), as RunPodSandbox returns only then: a
                # leak check right after sees what the failure left, not the
                # teardown still in progress.
                tearing_down = (
                    sandbox is not None and sandbox.error is not None and self._busy(sandbox.uid)
                )
                if (
                    sandbox is not None
                    and failed is not None
                    and not (tearing_down and remaining > 0)
                ):
                    # The first attempt's outcome: a retry in flight does not hide it.
                    err = SandboxError(failed.code, str(failed))
                    return PodOutcome(False, err, sandbox.timings.get("add", 0.0))
                if remaining <= 0:
                    return PodOutcome(False)
                self.changed.wait(min(remaining, 0.5))

    def _busy(self, uid: str) -> bool:
        """Whether a kubelet is still working on the pod (setup or its teardown)."""
        for kubelet in self.kubelets.values():
            with kubelet.lock:
                if uid in kubelet.inflight:
                    return True
        return False

    def delete_pod(self, namespace: str, name: str, timeout: float = 30.0) -> SandboxError | None:
        sandbox = self._sandbox(namespace, name)
        self.client().delete(pod_path(namespace, name))
        deadline = time.monotonic() + timeout
        while self.get_pod(namespace, name) is not None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"pod {namespace}/{name} still exists after {timeout:.0f} s")
            with self.changed:
                self.changed.wait(0.1)
        if sandbox is not None and sandbox.teardown_error is not None:
            return SandboxError(sandbox.teardown_error.code, str(sandbox.teardown_error))
        return None

    def events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        listing = self.client().request("GET", f"/api/v1/namespaces/{namespace}/events")
        return [
            e
            for e in listing.get("items", [])
            if (e.get("involvedObject") or {}).get("name") == name
        ]

    # ------------------------------------------------------------- kernel
    def pod_netns(self, namespace: str, name: str) -> str:
        """The name of the pod sandbox's network namespace (``ip -n`` on simulated
        nodes; on containerd nodes a name in the node's own /var/run/netns)."""
        sandbox = self._sandbox(namespace, name)
        if sandbox is None or not sandbox.ready:
            raise LookupError(f"pod {namespace}/{name} has no running sandbox")
        return str(sandbox.netns)

    def pod_netns_path(self, namespace: str, name: str) -> str:
        """The host path of the pod sandbox's network namespace (either runtime)."""
        sandbox: Sandbox | None = self._sandbox(namespace, name)
        if sandbox is None or not sandbox.ready:
            raise LookupError(f"pod {namespace}/{name} has no running sandbox")
        for kubelet in self.kubelets.values():
            if kubelet.sandbox_by_uid(sandbox.uid) is sandbox:
                return kubelet.netns_path(sandbox)
        return os.path.join(NETNS_DIR, str(sandbox.netns))

    def pod_network(self, namespace: str, name: str) -> PodNetwork:
        enter = ["nsenter", f"--net={self.pod_netns_path(namespace, name)}", "--"]
        interfaces = parse_addresses(sh.run([*enter, "ip", "-d", "-j", "addr", "show"]))
        routes = parse_routes(sh.run([*enter, "ip", "-j", "route", "show"]), 4)
        routes += parse_routes(sh.run([*enter, "ip", "-6", "-j", "route", "show"]), 6)
        return PodNetwork(tuple(interfaces), tuple(routes))

    def exec_in_pod(
        self, namespace: str, name: str, argv: list[str], timeout: float = 30.0
    ) -> tuple[int, str]:
        import subprocess

        netns = self.pod_netns_path(namespace, name)
        proc = subprocess.run(
            ["nsenter", f"--net={netns}", "--", *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return proc.returncode, proc.stdout + proc.stderr

    def ping(
        self, namespace: str, name: str, address: str, interface: str | None, timeout: float = 2.0
    ) -> tuple[bool, str]:
        argv = ping_argv(address, interface, timeout)
        code, output = self.exec_in_pod(namespace, name, argv, timeout + 5)
        return code == 0, output

    # ----------------------------------------------------------- machinery
    def stop_api(self, scope: str = "all") -> None:
        """Refuse API connections: everywhere, or (``scope="nodes"``) only from nodes."""
        self.api_server.pause(scope)

    def start_api(self) -> None:
        self.api_server.resume()

    def set_api_fault(
        self, kind: str | None, delay: float = 0.0, scope: str = "all", times: int | None = None
    ) -> None:
        self.api_server.set_fault(kind, delay=delay, scope=scope, times=times)

    def write_node_file(self, node: str, path: str, content: str) -> None:
        target = self.topology.node(node).host_path(path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        write_atomic(target, content)

    def remove_node_file(self, node: str, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.topology.node(node).host_path(path))

    def node_of(self, namespace: str, name: str) -> str | None:
        pod = self.get_pod(namespace, name)
        node = ((pod or {}).get("spec") or {}).get("nodeName")
        return str(node) if node else None

    def sandbox_id(self, namespace: str, name: str) -> str | None:
        sandbox = self._sandbox(namespace, name)
        return str(sandbox.container_id) if sandbox is not None else None

    def exec_on_node(self, node: str, argv: list[str], timeout: float = 30.0) -> tuple[int, str]:
        import subprocess

        proc = subprocess.run(
            [*self.topology.node(node).exec_prefix(), *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return proc.returncode, proc.stdout + proc.stderr

    def restart_daemon(self, node: str) -> None:
        """Restart the node's meta-plugin daemon (thick mode; thin has none)."""
        if self.mode != "thick":
            raise Unsupported("restartDaemon: the meta-plugin runs in thin mode (no daemon)")
        thick_module().restart_daemon(self, self.topology.node(node))

    def kill_process(self, node: str, process: str) -> None:
        """SIGKILL the node's daemon (``process="daemon"``); thick mode only."""
        if self.mode != "thick":
            raise Unsupported(f"kill {process}: the meta-plugin runs in thin mode (no daemon)")
        if process != "daemon":
            raise Unsupported(f"kill {process}: the local backend can only kill the daemon")
        thick_module().kill_daemon(self, self.topology.node(node))

    # ------------------------------------------------ thick mode, installer
    def hotplug(
        self, namespace: str, name: str, op: str, network: str = "", interface: str = ""
    ) -> tuple[bool, str]:
        """``POST /delegate`` to the daemon of the pod's node (thick mode only)."""
        if self.mode != "thick":
            raise Unsupported("hotplug: the meta-plugin runs in thin mode (no daemon)")
        if self.profile.implementation != "pymultus":
            raise Unsupported(
                f"hotplug: the harness speaks pymultus's /delegate body, not {self.profile.name}'s"
            )
        node = self.node_of(namespace, name)
        if node is None:
            return False, f"pod {namespace}/{name} is not bound to a node"
        body = {"podNamespace": namespace, "podName": name, "op": op}
        if network:
            body["network"] = network
        if interface:
            body["interface"] = interface
        status, text = thick_module().hotplug(self, self.topology.node(node), body)
        return status == 200, text if status else f"daemon unreachable: {text}"

    def _token_file(self, node: Node) -> str:
        """The node's service-account token file (the DaemonSet pod's projected token).

        In the node's run directory, the same path inside the node and out."""
        return os.path.join(node.host_path(SERVICE_ACCOUNT_DIR), "token")

    def rotate_token(self, token: str | None = None, timeout: float = 10.0) -> None:
        """A new bearer token: the old one is refused at once; the harness's client,
        kubectl's kubeconfig and every node's token file get the new one.

        Where pymultus-install runs it must rewrite the plugin's kubeconfig from
        the token file itself (that is what is tested); elsewhere the harness
        rewrites it as the thin DaemonSet would. Thick nodes read the token file.
        """
        new = token or secrets.token_urlsafe(24)
        self.api_server.set_token(new)
        self.token = new
        self.client().token = new
        self.write_kubeconfig(self.kubeconfig, secure=True)
        self.write_info()
        kubeconfig = self.profile.kubeconfig
        for node in self.topology.nodes:
            write_private_text(self._token_file(node), new + "\n")
            if not kubeconfig or self.profile.kubeconfig_token_file:
                continue  # read from the token file: nothing to rewrite
            if node.name in self._installers:
                self._wait_for_text(node, kubeconfig, new, timeout)
            else:
                self.write_kubeconfig(node.host_path(kubeconfig))

    def _wait_for_text(self, node: Node, path: str, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in (self.read_node_file(node.name, path) or ""):
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"pymultus-install on {node.name} did not rewrite {path} with the "
                    f"rotated token within {timeout:.0f} s"
                )
            time.sleep(0.05)

    def run_installer(self, node: str, action: str, interval: float = 0.1) -> None:
        """Start ``pymultus-install`` against the node's conf dir, as the DaemonSet's
        container does with the host's (host paths, the root namespaces), or stop
        it with SIGTERM (it removes its config). Binaries are already on the node;
        its log is ``pymultus-install.log`` in the node's run directory."""
        if action == "stop":
            proc = self._installers.pop(node, None)
            if proc is not None:
                self._stop_installer(proc)
            return
        if action != "start":
            raise ValueError(f"installer action must be start or stop, not {action!r}")
        if self.profile.implementation != "pymultus":
            raise Unsupported(
                f"installer: pymultus-install installs pymultus, not profile {self.profile.name}"
            )
        if node in self._installers:
            return
        target = self.topology.node(node)
        argv = [
            sys.executable, "-m", "pymultus.install.main",
            "--mode", self.mode,
            "--cni-conf-dir", target.host_path("/etc/cni/net.d"),
            "--host-conf-dir", "/etc/cni/net.d",
            "--skip-binaries",
            "--cni-dir", self.profile.cache_dir,
            "--token-file", self._token_file(target),
            "--ca-file", os.path.join(os.path.dirname(self._token_file(target)), "ca.crt"),
            "--interval", str(interval),
        ]  # fmt: skip
        if self.mode == "thick":
            # The shim's config points at the daemon the harness runs on the node;
            # the daemon's options are the ones that daemon was started with.
            thick = thick_module()
            argv += [
                "--socket-dir", thick.socket_dir(target),
                "--daemon-config", target.host_path(thick.DAEMON_CONFIG_IN_NODE),
            ]  # fmt: skip
        else:
            argv += ["--server", self.node_server]
        with open(os.path.join(target.root, "pymultus-install.log"), "ab") as log:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        self._installers[node] = proc
        # Recorded like the thick daemons: a crashed run's cleanup kills it too.
        self.topology.state.pids.append(proc.pid)
        self.topology._save()

    def _stop_installer(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if proc.pid in self.topology.state.pids:
            self.topology.state.pids.remove(proc.pid)
            with contextlib.suppress(OSError):
                self.topology._save()

    def cni_call(self, call: CNICall) -> CNICallOutcome:
        """One CNI call as the node's runtime would make it (harness/backends/local/cnicall.py)."""
        from harness.backends.local import cnicall

        target = cnicall.find_target(call, self.kubelets, self.get_pod)
        # On containerd nodes /run is the node's own: a new sandbox's netns is
        # made there, where the plugins (run inside the node) look for it.
        inside = (
            ["nsenter", f"--mount={target.kubelet.node.mount_ns}", "--"]
            if self.runtime == "containerd"
            else []
        )

        def new_netns(name: str) -> None:
            if inside:
                sh.run([*inside, "ip", "netns", "add", name])
            else:
                self.topology.add_netns(name)
            sh.run([*inside, "ip", "-n", name, "link", "set", "lo", "up"])

        def drop_netns(name: str) -> None:
            if inside:
                sh.run([*inside, "ip", "netns", "delete", name], check=False)
            else:
                self.topology.remove_netns(name)

        def links(name: str) -> list[str]:
            argv = [*inside, "ip", "-n", name, "-d", "-j", "addr", "show"]
            found = parse_addresses(sh.run(argv))
            return [link.name for link in found if link.name != "lo"]

        return cnicall.make_call(call, target, new_netns, drop_netns, links, self.cluster_id)

    def read_node_file(self, node: str, path: str) -> str | None:
        try:
            with open(self.topology.node(node).host_path(path), encoding="utf-8") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def leaks(self) -> list[str]:
        """What deleted pods left behind: namespaces, links, leases, caches."""
        for busy in self.kubelets.values():  # not an attempt in the middle of its ADD
            wait_idle(busy)
        found: list[str] = []
        infra = {self.topology.fabric_netns} | {n.netns for n in self.topology.nodes}
        # A live pod's sandbox (e.g. a failing pod's retry in flight) is not a leak.
        for kubelet in self.kubelets.values():
            with kubelet.lock:
                infra |= {s.netns for s in kubelet.sandboxes.values()}
        for name in sorted(os.listdir(NETNS_DIR)) if os.path.isdir(NETNS_DIR) else []:
            if name.startswith(self.cluster_id + "-") and name not in infra:
                found.append(f"network namespace {name}")
        for node in self.topology.nodes:
            links = parse_addresses(sh.run(["ip", "-n", node.netns, "-d", "-j", "addr", "show"]))
            for link in links:
                # The bridge plugin makes a node-level bridge and never removes
                # it (neither on a real node): infrastructure, not a pod's leak.
                # Veths left on it still count.
                if link.name not in ("lo", "eth0", "eth1") and link.kind != "bridge":
                    found.append(f"{node.name}: link {link.name} ({link.kind})")
            found += [f"{node.name}: {leak}" for leak in node_file_leaks(node)]
            runtime = self.runtimes.get(node.name)
            if runtime is not None:
                found += [f"{node.name}: {leak}" for leak in runtime.leaks()]
                cri = getattr(self.kubelets.get(node.name), "cri", None)
                if cri is not None:
                    for item in cri.list_pod_sandboxes():
                        meta = item.metadata
                        found.append(
                            f"{node.name}: containerd sandbox {item.id[:12]} "
                            f"({meta.namespace}/{meta.name})"
                        )
        return found


def wait_idle(kubelet: Kubelet, timeout: float = 10.0) -> None:
    """Wait (bounded) until the kubelet runs no sandbox setup or teardown.

    A retried sandbox of a failing pod has a netns while the attempt runs
    (a RunPodSandbox on containerd nodes takes ~1 s): not a leak, so nodes
    are inspected between attempts (the back-off leaves at least 1 s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with kubelet.lock:
            if not kubelet.inflight:
                return
        time.sleep(0.02)


def thick_module() -> Any:
    """The thick-mode installer (``install``/``uninstall``), imported only in thick mode."""
    import importlib

    return importlib.import_module("harness.backends.local.thick")


def write_private_text(path: str, text: str) -> None:
    """Atomically replace ``path`` with ``text``, readable by root only (tokens)."""
    tmp = f"{path}.{threading.get_ident()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_atomic(path: str, text: str) -> None:
    """Replace ``path`` in one rename: containerd's CRI plugin re-reads the conf dir
    on every inotify event and must never see a half-written config. The
    temporary name has no config extension, so no runtime ever loads it."""
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{secrets.token_hex(4)}~")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    with contextlib.suppress(FileNotFoundError):  # an existing file keeps its mode
        os.chmod(tmp, os.stat(path).st_mode & 0o7777)
    os.replace(tmp, path)


def write_private_json(path: str, obj: Any) -> None:
    write_private_text(path, json.dumps(obj, indent=2, sort_keys=True))


def node_file_leaks(node: Node) -> list[str]:
    """IPAM leases and cache files left in a node's /var/lib/cni."""
    found: list[str] = []
    root = node.host_path("/var/lib/cni")
    for dirpath, _dirs, files in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for name in files:
            if rel.startswith("networks") and (name == "lock" or name.startswith("last_reserved")):
                continue  # host-local's bookkeeping, not a lease
            found.append(f"file /var/lib/cni/{os.path.join(rel, name)}".replace("/./", "/"))
    return found


def node_object(node: Node) -> dict[str, Any]:
    """The Node the kubelet registers (complete: see :mod:`nodestatus`)."""
    return nodestatus.node_object(node.name, node.ip, node.pod_cidr, cluster_id=node.netns)


def object_path(obj: dict[str, Any]) -> str:
    """The collection path of an object from its apiVersion and kind."""
    kind = obj.get("kind")
    namespace = (obj.get("metadata") or {}).get("namespace", "default")
    if kind == "NetworkAttachmentDefinition":
        return f"{NAD_API}/namespaces/{namespace}/network-attachment-definitions"
    if kind == "Namespace":
        return "/api/v1/namespaces"
    if kind == "Pod":
        return pod_path(namespace)
    raise ValueError(f"unsupported kind {kind!r} (NetworkAttachmentDefinition, Namespace, Pod)")


__all__ = ["POD_CIDR_ALL", "LocalCluster"]
