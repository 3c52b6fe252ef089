"""The ``kind`` backend: the scenarios on a real Kubernetes in Docker.

One cluster per run (``harness run --backend kind --k8s-version 1.31``):
one control plane and two workers (the scenarios' ``node-1`` and
``node-2``) from the pinned kindest/node image of that version
(:mod:`harness.backends.versions`), plus an extra veth pair between the two
workers, named ``eth1`` on both, as the master for macvlan attachments that
cross nodes (kind gives each node only ``eth0``). Then the reference CNI
plugins go into every node's ``/opt/cni/bin`` (kind ships only ptp,
host-local, loopback and portmap), the pymultus image is built from
``deploy/Dockerfile`` and loaded, and ``deploy/<mode>`` is applied. Each
scenario then runs unchanged through :class:`harness.backends.remote.KubectlCluster`.

All of it is a list of :class:`Command` values built by pure functions, so
``--dry-run`` prints exactly what a run would execute and the unit tests pin
it. This machine cannot run kind: real results come from GitHub Actions
(docs/ci.md).
"""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.backends import versions
from harness.backends.remote import (
    POD_IMAGE,
    PYMULTUS_SELECTOR,
    REFERENCE_SELECTOR,
    ClusterAccess,
    Command,
    Completed,
    DryRun,
    RemoteBackend,
    Tools,
    backend_entry,
    machinery_probes,
)
from harness.scenario.needs import Probe

if TYPE_CHECKING:
    from harness.backends.options import Options

PYMULTUS_IMAGE = "localhost/pymultus:harness"
# The reference Multus, as a peer: its own manifest, its own DaemonSet label.
REFERENCE_MANIFEST = (
    "https://raw.githubusercontent.com/k8snetworkplumbingwg/multus-cni/"
    f"{versions.REFERENCE_MULTUS_VERSION}/deployments/multus-daemonset.yml"
)
IP_FAMILIES = ("ipv4", "dual")
MODES = ("thin", "thick")


def host_arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


@dataclass(frozen=True)
class KindSettings:
    """Everything that decides the commands; built from the CLI's Options."""

    k8s_version: str = versions.default_version()
    mode: str = "thin"
    ip_family: str = "ipv4"
    work_dir: str = "."  # the repository: deploy/, ci/kind/
    report_dir: str = "reports"
    name: str = ""  # default: pymultus-<minor>-<mode>-<family>
    manifest: str | None = None  # apply this instead of deploy/<mode> (the reference peer)
    selector: str = PYMULTUS_SELECTOR
    arch: str = "amd64"
    pod_image: str = POD_IMAGE

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"--mode {self.mode!r}: expected one of {', '.join(MODES)}")
        if self.ip_family not in IP_FAMILIES:
            raise ValueError(
                f"--ip-family {self.ip_family!r}: expected one of {', '.join(IP_FAMILIES)}"
            )
        versions.kind_image(self.k8s_version)  # unknown versions fail here, with the list

    @property
    def cluster(self) -> str:
        if self.name:
            return self.name
        minor = versions.minor(self.k8s_version).replace(".", "-")
        return f"pymultus-{minor}-{self.mode}-{self.ip_family}"

    @property
    def image(self) -> str:
        return versions.kind_image(self.k8s_version)

    @property
    def cache_dir(self) -> str:
        return os.path.join(self.work_dir, ".cache", "harness")

    @property
    def kubeconfig(self) -> str:
        # Not in the report directory: reports are uploaded as CI artifacts.
        return os.path.join(self.cache_dir, f"{self.cluster}.kubeconfig")

    @property
    def config(self) -> str:
        return os.path.join(self.work_dir, "ci", "kind", f"{self.ip_family}.yaml")

    @property
    def workers(self) -> tuple[str, str]:
        return f"{self.cluster}-worker", f"{self.cluster}-worker2"

    @property
    def nodes(self) -> tuple[str, ...]:
        return (f"{self.cluster}-control-plane", *self.workers)

    def kubectl(self) -> tuple[str, ...]:
        return ("kubectl", "--kubeconfig", self.kubeconfig)


def settings_from(options: Options) -> KindSettings:
    """The settings of a run; the repository (deploy/, ci/kind/) is the current directory."""
    return KindSettings(
        k8s_version=options.k8s_version or versions.default_version(),
        mode=options.mode,
        ip_family=options.ip_family,
        work_dir=os.getcwd(),
        report_dir=options.report_dir,
        manifest=options.deploy,
        selector=REFERENCE_SELECTOR if options.deploy else PYMULTUS_SELECTOR,
        arch=host_arch(),
    )


def create_commands(s: KindSettings) -> list[Command]:
    return [
        Command(("mkdir", "-p", s.cache_dir)),
        Command(
            (
                "kind", "create", "cluster", "--name", s.cluster, "--image", s.image,
                "--config", s.config, "--kubeconfig", s.kubeconfig, "--wait", "300s",
            ),
            timeout=900,
        ),
    ]  # fmt: skip


def eth1_commands(s: KindSettings) -> list[Command]:
    """A veth pair straight between the two workers' network namespaces, ``eth1``
    on both ends. Made by a throwaway privileged container in the host's PID
    namespace (the node image has iproute2), where both node PIDs are visible:
    no root needed on the host, and the host's own network is never touched
    (the pair is created directly in the nodes' namespaces)."""
    first, second = s.workers
    return [
        Command(("docker", "inspect", "--format", "{{.State.Pid}}", first), capture="pid1"),
        Command(("docker", "inspect", "--format", "{{.State.Pid}}", second), capture="pid2"),
        Command(
            (
                "docker", "run", "--rm", "--privileged", "--pid=host", "--network=host",
                "--entrypoint", "ip", s.image,
                "link", "add", "eth1", "netns", "<pid1>", "type", "veth",
                "peer", "name", "eth1", "netns", "<pid2>",
            )
        ),
        Command(("docker", "exec", first, "ip", "link", "set", "eth1", "up")),
        Command(("docker", "exec", second, "ip", "link", "set", "eth1", "up")),
    ]  # fmt: skip


def plugin_commands(s: KindSettings) -> list[Command]:
    """The reference plugins, checksum-verified, into every node's /opt/cni/bin."""
    version = versions.CNI_PLUGINS_VERSION
    tarball = f"cni-plugins-linux-{s.arch}-{version}.tgz"
    url = f"https://github.com/containernetworking/plugins/releases/download/{version}/{tarball}"
    local = os.path.join(s.cache_dir, tarball)
    commands = [
        Command(("curl", "-fsSL", "--retry", "3", "-o", local, url)),
        Command(("curl", "-fsSL", "--retry", "3", "-o", f"{local}.sha256", f"{url}.sha256")),
        Command(("sha256sum", "-c", f"{tarball}.sha256"), cwd=s.cache_dir),
    ]
    for node in s.nodes:
        commands += [
            Command(("docker", "cp", local, f"{node}:/tmp/cni-plugins.tgz")),
            Command(
                (
                    "docker",
                    "exec",
                    node,
                    "tar",
                    "-xzf",
                    "/tmp/cni-plugins.tgz",
                    "-C",
                    "/opt/cni/bin",
                )
            ),
        ]
    return commands


def image_commands(s: KindSettings) -> list[Command]:
    commands: list[Command] = []
    if s.manifest is None:
        dockerfile = os.path.join(s.work_dir, "deploy", "Dockerfile")
        commands += [
            Command(
                ("docker", "build", "-t", PYMULTUS_IMAGE, "-f", dockerfile, s.work_dir),
                timeout=1200,
            ),
            Command(("kind", "load", "docker-image", PYMULTUS_IMAGE, "--name", s.cluster)),
        ]
    commands += [
        Command(("docker", "pull", s.pod_image), timeout=900),
        Command(("kind", "load", "docker-image", s.pod_image, "--name", s.cluster)),
    ]
    return commands


def deploy_commands(s: KindSettings) -> list[Command]:
    k = s.kubectl()
    commands = [Command((*k, "wait", "--for=condition=Ready", "nodes", "--all", "--timeout=300s"))]
    if s.manifest is not None:
        commands.append(Command((*k, "apply", "-f", s.manifest)))
    else:
        commands += [
            Command((*k, "apply", "-k", os.path.join(s.work_dir, "deploy", s.mode))),
            Command(
                (
                    *k, "-n", "kube-system", "set", "image", "daemonset", "-l", s.selector,
                    f"*={PYMULTUS_IMAGE}",
                )
            ),
        ]  # fmt: skip
    commands.append(
        Command(
            (
                *k, "-n", "kube-system", "rollout", "status", "daemonset", "-l", s.selector,
                "--timeout=300s",
            ),
            timeout=360,
        )
    )  # fmt: skip
    return commands


def setup_commands(s: KindSettings) -> list[Command]:
    return [
        *create_commands(s),
        *eth1_commands(s),
        *plugin_commands(s),
        *image_commands(s),
        *deploy_commands(s),
    ]


def teardown_commands(s: KindSettings) -> list[Command]:
    return [
        Command(("kind", "delete", "cluster", "--name", s.cluster, "--kubeconfig", s.kubeconfig))
    ]


def log_commands(s: KindSettings) -> list[Command]:
    """On failure: the meta-plugin's logs, the cluster's events, and kind's own dump."""
    k = s.kubectl()
    return [
        Command(
            (
                *k, "-n", "kube-system", "logs", "-l", s.selector, "--all-containers",
                "--prefix", "--tail=-1",
            ),
            output=os.path.join(s.report_dir, "pymultus.log"),
        ),
        Command(
            (*k, "get", "events", "--all-namespaces", "-o", "wide"),
            output=os.path.join(s.report_dir, "events.txt"),
        ),
        Command(
            ("kind", "export", "logs", os.path.join(s.report_dir, "kind-logs"), "--name", s.cluster)
        ),
    ]  # fmt: skip


def probes(s: KindSettings) -> dict[str, Probe]:
    """What a kind cluster made here offers (answers for ``cluster.needs``)."""
    ipv6 = None if s.ip_family == "dual" else "the kind cluster is IPv4 only (--ip-family dual)"
    thick = None if s.mode == "thick" else "the run is in thin mode (--mode thick)"
    return {
        "eth1": lambda: None,
        "ipv6": lambda: ipv6,
        "macvlan": lambda: None,
        "ipvlan": lambda: None,
        "vlan": lambda: None,
        "bandwidth": lambda: None,
        "portmap": lambda: None,
        "thick": lambda: thick,
    }


class KindBackend(RemoteBackend):
    name = "kind"

    def __init__(self, settings: KindSettings, tools: Tools, keep: bool = False) -> None:
        super().__init__(tools, settings.report_dir, keep)
        self.settings = settings

    def setup_commands(self) -> list[Command]:
        return setup_commands(self.settings)

    def teardown_commands(self) -> list[Command]:
        return teardown_commands(self.settings)

    def log_commands(self) -> list[Command]:
        return log_commands(self.settings)

    def plan(self) -> list[Command]:
        lookup = Command(("kind", "get", "clusters"), check=False)
        teardown = [] if self.keep else self.teardown_commands()
        return [lookup, *self.setup_commands(), *teardown]

    def node_exec(self, node: str, argv: Sequence[str], stdin: str | None) -> Completed:
        interactive = ("-i",) if stdin is not None else ()
        return self.tools.run(
            Command(("docker", "exec", *interactive, node, *argv), stdin=stdin, timeout=60)
        )

    def start(self) -> ClusterAccess:
        s = self.settings
        try:
            listed = self.tools.run(Command(("kind", "get", "clusters"), check=False)).stdout
            if s.cluster in listed.split():  # kept by an earlier --keep-cluster run: reuse it
                self.run_all([*image_commands(s), *deploy_commands(s)])
            else:
                self.run_all(self.setup_commands())
        except Exception:
            self.access = ClusterAccess(s.cluster, s.kubectl(), {}, self.tools)
            self.finish(failed=True)
            raise
        first, second = s.workers
        return ClusterAccess(
            name=f"kind/{s.cluster}",
            kubectl=s.kubectl(),
            nodes={"node-1": first, "node-2": second},
            tools=self.tools,
            node_exec=self.node_exec,
            probes=probes(s),
            pod_image=s.pod_image,
        )


def unavailable_reason() -> str | None:
    import shutil

    missing = [tool for tool in ("kind", "kubectl", "docker") if shutil.which(tool) is None]
    if missing:
        return (
            f"the kind backend needs {', '.join(missing)} on PATH "
            "(see docs/ci.md; real-cluster results come from GitHub Actions)"
        )
    return None


# ------------------------------------------------------ the registry's entry
def build(options: Options, tools: Tools) -> KindBackend:
    """The run's kind backend, not started (starting is on the first scenario)."""
    return KindBackend(settings_from(options), tools, keep=options.keep_cluster)


def probes_for(options: Options) -> dict[str, Probe]:
    return {**probes(settings_from(options)), **machinery_probes(lambda: True)}


def unavailable_for(options: Options) -> str | None:
    try:
        build(options, DryRun())  # a bad --k8s-version/--ip-family is a reason
    except ValueError as exc:
        return str(exc)
    return unavailable_reason()


BACKEND = backend_entry(build, probes_for, unavailable_for)
