"""The seam between scenarios and clusters: what every backend implements.

The runner only speaks this protocol, so a scenario runs unchanged on the
embedded local backend and on real clusters. Keep it small: each method is
something a person would do with kubectl and a shell on the node.

Every backend implements every method: the runner never probes a cluster
for what it has. What a backend cannot do it refuses by raising
:class:`Unsupported`, which the runner turns into a skip (decided before
the scenario starts, from ``cluster.needs``) or a "not checked" verdict,
never a pass. mypy checks each backend against :class:`Cluster` where the
backend registry (:mod:`harness.backends`) returns it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from harness.netstate import PodNetwork


@dataclass(frozen=True)
class SandboxError:
    """A CNI error the runtime got when creating (or deleting) a pod's sandbox."""

    code: int | None
    message: str

    def describe(self) -> str:
        code = f"code {self.code}" if self.code is not None else "no code"
        return f"CNI error ({code}): {self.message}"


@dataclass(frozen=True)
class PodOutcome:
    """How a pod's sandbox creation ended (or that it had not yet, at timeout)."""

    ready: bool
    error: SandboxError | None = None
    seconds: float = 0.0

    @property
    def finished(self) -> bool:
        return self.ready or self.error is not None


class Unsupported(Exception):
    """A backend cannot perform this operation; scenarios needing it are skipped."""


@dataclass(frozen=True)
class CNICall:
    """One CNI invocation of the node's meta-plugin as the runtime would make it.

    The target is a pod's sandbox (``pod``, ``namespace``) or, for VERSION,
    STATUS and GC, a ``node``. Everything else overrides what the runtime
    would send: ``args`` replaces CNI_ARGS keys (None removes one),
    ``new_sandbox`` uses a fresh container ID and network namespace.
    """

    command: str
    pod: str = ""
    namespace: str = "default"
    node: str = ""
    ifname: str | None = None
    args: tuple[tuple[str, str | None], ...] = ()
    netns: str | None = None
    container_id: str | None = None
    new_sandbox: bool = False
    cni_version: str | None = None


@dataclass(frozen=True)
class CNICallOutcome:
    """What one :class:`CNICall` returned.

    ``result`` is the decoded stdout of ADD and VERSION; ``skipped`` says why
    the runtime would not call the plugin at all (e.g. STATUS on a config older
    than 1.1.0); ``links`` are the links in a new sandbox right after the call
    (loopback excluded), None for the pod's own sandbox; ``cleanup_error`` is
    a failed DEL of a new sandbox after a successful ADD.
    """

    command: str
    error: SandboxError | None = None
    result: dict[str, Any] | None = None
    skipped: str = ""
    links: tuple[str, ...] | None = None
    env: tuple[tuple[str, str], ...] = ()
    cleanup_error: SandboxError | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


class Cluster(Protocol):
    name: str

    def node_names(self) -> list[str]: ...

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create or replace an object (a NAD, a namespace ...)."""
        ...

    def delete_object(self, obj: dict[str, Any]) -> None: ...

    def create_pod(self, pod: dict[str, Any]) -> dict[str, Any]: ...

    def wait_pod(self, namespace: str, name: str, timeout: float) -> PodOutcome: ...

    def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def delete_pod(self, namespace: str, name: str, timeout: float) -> SandboxError | None:
        """Delete and wait until gone; returns the teardown error if DEL failed."""
        ...

    def pod_network(self, namespace: str, name: str) -> PodNetwork: ...

    def ping(
        self, namespace: str, name: str, address: str, interface: str | None, timeout: float = 2.0
    ) -> tuple[bool, str]: ...

    def exec_in_pod(
        self, namespace: str, name: str, argv: list[str], timeout: float = 30.0
    ) -> tuple[int, str]:
        """Run a command in the pod's network namespace (``kubectl exec``): exit
        code and output."""
        ...

    def events(self, namespace: str, name: str) -> list[dict[str, Any]]: ...

    def leaks(self) -> list[str]:
        """Everything pods left behind after their deletion (empty = clean)."""
        ...

    def leak_blind_spots(self) -> list[str]:
        """What :meth:`leaks` cannot see on this cluster (e.g. node state without a
        shell on the nodes): reported "not checked", never passed. Empty: it sees all."""
        ...

    def wiretap_files(self) -> list[tuple[str, str]]:
        """(node, record file) of every node's CNI wiretap (harness.wiretap); empty
        when the cluster has none (its calls are then "not checked")."""
        ...

    def network_configs(self) -> list[dict[str, Any]]:
        """Every CNI network config the cluster holds, for what each network and
        plugin declares (wiretap MUSTs): the nodes' conf files and each NAD's
        ``spec.config`` (named after its NAD when it has no name, NPWG 3.4.2).
        Unsupported where the nodes' files are out of reach."""
        ...

    # Operations on the cluster's machinery, for failure scenarios. A backend
    # that cannot do one raises Unsupported (the scenario is then skipped).
    def stop_api(self, scope: str = "all") -> None:
        """Make the Kubernetes API unreachable (connections refused).

        ``scope="nodes"``: only for the plugins on the nodes; the runtime
        (kubelet) and the harness keep reaching it, as when a node loses its
        route to the control plane. Raises Unsupported if a backend cannot.
        """
        ...

    def start_api(self) -> None: ...

    def set_api_fault(
        self, kind: str | None, delay: float = 0.0, scope: str = "all", times: int | None = None
    ) -> None:
        """Answer every API request with HTTP ``kind`` ("500", "503", "429"), or
        delay each by ``delay`` seconds; ``None`` and 0 restore normal service.
        ``scope="nodes"``: only the plugins' requests from the nodes (like stop_api).
        ``times``: only the next N requests (in scope), then service is normal again."""
        ...

    def write_node_file(self, node: str, path: str, content: str) -> None:
        """Create or replace a file as the node sees it (e.g. under /etc/cni)."""
        ...

    def remove_node_file(self, node: str, path: str) -> None: ...

    def node_of(self, namespace: str, name: str) -> str | None:
        """The node a pod is bound to."""
        ...

    def sandbox_id(self, namespace: str, name: str) -> str | None:
        """The container (sandbox) ID the runtime gave the pod's CNI calls, or
        None: scenarios use it to name per-sandbox files such as the delegate cache."""
        ...

    def exec_on_node(self, node: str, argv: list[str], timeout: float = 30.0) -> tuple[int, str]:
        """Run a command on a node (its network namespace and file system, as root):
        exit code and output. For checks of node-side state (iptables rules, tc,
        files); Unsupported when the backend has no shell on nodes."""
        ...

    def restart_daemon(self, node: str) -> None:
        """Restart the meta-plugin's daemon on ``node`` (thick mode); Unsupported otherwise."""
        ...

    def kill_process(self, node: str, process: str) -> None:
        """SIGKILL ``process`` ("daemon" or "delegate") on ``node``; Unsupported when
        the cluster has no such process (thin mode) or cannot do it."""
        ...

    def hotplug(
        self, namespace: str, name: str, op: str, network: str = "", interface: str = ""
    ) -> tuple[bool, str]:
        """Add (``op="add"``, ``network``) or remove (``op="remove"``, ``interface``)
        one attachment of a running pod through the node daemon's ``POST /delegate``:
        (succeeded, the daemon's answer). Unsupported without a daemon (thin mode)."""
        ...

    def rotate_token(self, token: str | None = None) -> None:
        """Rotate the API's bearer token (the old one is refused from then on) and
        the service-account token file the node side reads; returns once the node's
        plugin credentials were rewritten from it."""
        ...

    def run_installer(self, node: str, action: str) -> None:
        """``action="start"``: run ``pymultus-install`` against the node's conf dir, as
        the DaemonSet would; ``"stop"``: SIGTERM it (it removes its config)."""
        ...

    def read_node_file(self, node: str, path: str) -> str | None:
        """A file's text as the node sees it, or None when it does not exist."""
        ...

    def cni_call(self, call: CNICall) -> CNICallOutcome:
        """Invoke the node's first CNI config (the meta-plugin) the way the runtime
        does for the pod's sandbox, with ``call``'s overrides; Unsupported where the
        harness cannot act as the runtime (real clusters)."""
        ...

    def close(self) -> None: ...
