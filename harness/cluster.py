"""The seam between scenarios and clusters: what every backend implements.

The runner only speaks this protocol, so a scenario runs unchanged on the
embedded local backend and on real clusters. Keep it small: each method is
something a person would do with kubectl and a shell on the node.
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

    def events(self, namespace: str, name: str) -> list[dict[str, Any]]: ...

    def leaks(self) -> list[str]:
        """Everything pods left behind after their deletion (empty = clean)."""
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

    def set_api_fault(self, kind: str | None, delay: float = 0.0) -> None:
        """Answer every API request with HTTP ``kind`` ("500", "503", "429"), or
        delay each by ``delay`` seconds; ``None`` and 0 restore normal service."""
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

    def close(self) -> None: ...
