"""The ``k3s`` backend: the scenarios on a single-node k3s, through testcontainers.

testcontainers' K3s module starts ``rancher/k3s`` in Docker and hands back a
kubeconfig; the rest is the same kubectl-driven cluster as kind
(:mod:`harness.backends.remote`). k3s keeps its CNI files in its own places
(not ``/etc/cni/net.d`` and ``/opt/cni/bin``), so after applying
``deploy/<mode>`` the DaemonSet's host paths are rewritten to k3s's, and the
reference plugins are unpacked into k3s's CNI bin directory. The pod CIDR is
set to kind's 10.244.0.0/16 so scenarios' address expectations hold.

testcontainers is an optional extra (``pip install 'pymultus[k3s]'``),
imported only when this backend starts.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from harness.backends import versions
from harness.backends.kind import PYMULTUS_IMAGE, host_arch
from harness.backends.remote import (
    PYMULTUS_SELECTOR,
    ClusterAccess,
    Command,
    Completed,
    RemoteBackend,
    Tools,
    backend_entry,
    machinery_probes,
    write_text,
)
from harness.scenario.needs import Probe

if TYPE_CHECKING:
    from harness.backends.options import Options

K3S_CONF_DIR = "/var/lib/rancher/k3s/agent/etc/cni/net.d"
# k3s >= 1.28.x keeps CNI binaries in data/cni; older releases in data/current/bin.
K3S_BIN_DIR_PROBE = (
    "if [ -d /var/lib/rancher/k3s/data/cni ]; then echo /var/lib/rancher/k3s/data/cni; "
    "else readlink -f /var/lib/rancher/k3s/data/current/bin; fi"
)
POD_CIDR = "10.244.0.0/16"
HOST_PATHS = {"/etc/cni/net.d": K3S_CONF_DIR}


def import_k3s() -> Any:
    """testcontainers' K3SContainer class (module path moved in testcontainers 4)."""
    import importlib

    try:
        module = importlib.import_module("testcontainers.community.k3s")
    except ImportError:
        module = importlib.import_module("testcontainers.k3s")
    return module.K3SContainer


def unavailable_reason() -> str | None:
    try:
        import_k3s()
    except ImportError:
        return "the k3s backend needs testcontainers (pip install 'pymultus[k3s]')"
    import shutil

    if shutil.which("docker") is None or shutil.which("kubectl") is None:
        return "the k3s backend needs docker and kubectl on PATH"
    return None


def hostpath_patch(daemonset: dict[str, Any], bin_dir: str) -> list[dict[str, Any]]:
    """JSON-patch operations moving a DaemonSet's CNI host paths to k3s's."""
    paths = {**HOST_PATHS, "/opt/cni/bin": bin_dir}
    volumes = ((daemonset.get("spec") or {}).get("template") or {}).get("spec", {}).get(
        "volumes"
    ) or []
    ops: list[dict[str, Any]] = []
    for index, volume in enumerate(volumes):
        path = (volume.get("hostPath") or {}).get("path")
        if path in paths:
            ops.append(
                {
                    "op": "replace",
                    "path": f"/spec/template/spec/volumes/{index}/hostPath/path",
                    "value": paths[path],
                }
            )
    return ops


def probes(mode: str) -> dict[str, Probe]:
    thick = None if mode == "thick" else "the run is in thin mode (--mode thick)"
    return {
        "ipv6": lambda: "the k3s backend is IPv4 only",
        "eth1": lambda: "k3s runs a single node without eth1",
        "macvlan": lambda: None,
        "bandwidth": lambda: None,
        "portmap": lambda: None,
        "thick": lambda: thick,
    }


class K3sBackend(RemoteBackend):
    name = "k3s"

    def __init__(
        self,
        tools: Tools,
        k8s_version: str | None = None,
        mode: str = "thin",
        work_dir: str = ".",
        report_dir: str = "reports",
        keep: bool = False,
        container_class: Any = None,
    ) -> None:
        super().__init__(tools, report_dir, keep)
        self.image = versions.k3s_image(k8s_version)
        self.mode = mode
        self.work_dir = work_dir
        self.container_class = container_class
        self.container: Any = None
        self.cid = "<container>"
        self.kubeconfig = os.path.join(work_dir, ".cache", "harness", "k3s.kubeconfig")

    def kubectl(self) -> tuple[str, ...]:
        return ("kubectl", "--kubeconfig", self.kubeconfig)

    def install_commands(self) -> list[Command]:
        cid = self.cid
        k = self.kubectl()
        version = versions.CNI_PLUGINS_VERSION
        tarball = f"cni-plugins-linux-{host_arch()}-{version}.tgz"
        url = (
            f"https://github.com/containernetworking/plugins/releases/download/{version}/{tarball}"
        )
        cache = os.path.join(self.work_dir, ".cache", "harness")
        local = os.path.join(cache, tarball)
        image_tar = os.path.join(cache, "pymultus-image.tar")
        return [
            Command(("docker", "exec", cid, "sh", "-c", K3S_BIN_DIR_PROBE), capture="bindir"),
            Command(("curl", "-fsSL", "--retry", "3", "-o", local, url)),
            Command(("curl", "-fsSL", "--retry", "3", "-o", f"{local}.sha256", f"{url}.sha256")),
            Command(("sha256sum", "-c", f"{tarball}.sha256"), cwd=cache),
            Command(("docker", "cp", local, f"{cid}:/tmp/cni-plugins.tgz")),
            Command(
                ("docker", "exec", cid, "tar", "-xzf", "/tmp/cni-plugins.tgz", "-C", "<bindir>"),
            ),
            Command(
                (
                    "docker", "build", "-t", PYMULTUS_IMAGE, "-f",
                    os.path.join(self.work_dir, "deploy", "Dockerfile"), self.work_dir,
                ),
                timeout=1200,
            ),
            Command(("docker", "save", "-o", image_tar, PYMULTUS_IMAGE)),
            Command(("docker", "cp", image_tar, f"{cid}:/tmp/pymultus-image.tar")),
            Command(
                (
                    "docker", "exec", cid, "ctr", "-n", "k8s.io", "images", "import",
                    "/tmp/pymultus-image.tar",
                )
            ),
            Command((*k, "apply", "-k", os.path.join(self.work_dir, "deploy", self.mode))),
            Command(
                (
                    *k, "-n", "kube-system", "set", "image", "daemonset", "-l",
                    PYMULTUS_SELECTOR, f"*={PYMULTUS_IMAGE}",
                )
            ),
            Command(
                (
                    *k, "-n", "kube-system", "get", "daemonset", "-l", PYMULTUS_SELECTOR,
                    "-o", "json",
                ),
                capture="daemonsets",
            ),
        ]  # fmt: skip

    def rollout_commands(self) -> list[Command]:
        return [
            Command(
                (
                    *self.kubectl(), "-n", "kube-system", "rollout", "status", "daemonset",
                    "-l", PYMULTUS_SELECTOR, "--timeout=300s",
                ),
                timeout=360,
            )
        ]  # fmt: skip

    def setup_commands(self) -> list[Command]:
        start = Command(
            ("testcontainers", "K3SContainer", self.image, f"--cluster-cidr={POD_CIDR}"),
            capture="container",  # stands for testcontainers' K3SContainer(image).start()
        )
        return [start, *self.install_commands(), *self.rollout_commands()]

    def log_commands(self) -> list[Command]:
        return [
            Command(
                (
                    *self.kubectl(), "-n", "kube-system", "logs", "-l", PYMULTUS_SELECTOR,
                    "--all-containers", "--prefix", "--tail=-1",
                ),
                output=os.path.join(self.report_dir, "pymultus.log"),
            )
        ]  # fmt: skip

    def node_exec(self, node: str, argv: Sequence[str], stdin: str | None) -> Completed:
        interactive = ("-i",) if stdin is not None else ()
        return self.tools.run(
            Command(("docker", "exec", *interactive, self.cid, *argv), stdin=stdin, timeout=60)
        )

    def start_container(self) -> None:
        cls = self.container_class or import_k3s()
        container = cls(self.image)
        container.with_command(
            "server --disable traefik --flannel-backend=host-gw "
            f"--cluster-cidr={POD_CIDR} --tls-san={container.get_container_host_ip()}"
        )
        self.container = container.start()
        self.cid = str(self.container.get_wrapped_container().id)
        write_text(self.kubeconfig, self.container.config_yaml())

    def start(self) -> ClusterAccess:
        import json

        self.start_container()
        try:
            self.run_all(self.install_commands())
            for ds in json.loads(self.values.get("<daemonsets>", "{}")).get("items", []):
                ops = hostpath_patch(ds, self.values.get("<bindir>", "/opt/cni/bin"))
                if ops:
                    name = ds["metadata"]["name"]
                    patch = ("patch", "daemonset", name, "--type", "json", "-p", json.dumps(ops))
                    self.tools.run(Command((*self.kubectl(), "-n", "kube-system", *patch)))
            self.run_all(self.rollout_commands())
            nodes = json.loads(
                self.tools.run(Command((*self.kubectl(), "get", "nodes", "-o", "json"))).stdout
            )
        except Exception:
            self.access = ClusterAccess("k3s", self.kubectl(), {}, self.tools)
            self.finish(failed=True)
            raise
        node = str(nodes["items"][0]["metadata"]["name"])
        return ClusterAccess(
            name=f"k3s/{self.image}",
            kubectl=self.kubectl(),
            nodes={"node-1": node},
            tools=self.tools,
            node_exec=self.node_exec,
            probes=probes(self.mode),
        )

    def finish(self, failed: bool) -> None:
        super().finish(failed)
        if self.container is not None and not self.keep:
            self.container.stop()
            self.container = None


# ------------------------------------------------------ the registry's entry
def build(options: Options, tools: Tools) -> K3sBackend:
    """The run's k3s backend, not started (starting is on the first scenario)."""
    return K3sBackend(
        tools,
        k8s_version=options.k8s_version,
        mode=options.mode,
        work_dir=os.getcwd(),
        report_dir=options.report_dir,
        keep=options.keep_cluster,
    )


def probes_for(options: Options) -> dict[str, Probe]:
    return {**probes(options.mode), **machinery_probes(lambda: True)}


def unavailable_for(options: Options) -> str | None:
    try:
        versions.k3s_image(options.k8s_version)  # a bad --k8s-version is a reason
    except ValueError as exc:
        return str(exc)
    return unavailable_reason()


BACKEND = backend_entry(build, probes_for, unavailable_for)
