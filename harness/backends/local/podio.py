"""The seam between the API server's streaming subresources and a node's runtime.

A real API server hands ``pods/exec``, ``pods/attach``, ``pods/log`` and
``pods/portforward`` to the kubelet of the pod's node, and the kubelet to its
container runtime (CRI ``Exec``/``Attach``/``PortForward``, the container's
log file). The embedded API server does the same through this protocol: it
keeps one :class:`NodeStreams` per node name (``APIServer.node_streams``) and
knows nothing of how a node runs pods.

Two implementations: :class:`harness.backends.local.sim_streams.SimNodeStreams`
for simulated nodes (the pod is a network namespace; commands run on the host
inside it, as ``harness exec`` does), and
:class:`harness.backends.local.containerd.streams.CRINodeStreams` for nodes
that run containerd (CRI Exec/Attach/PortForward on its streaming server,
the container's CRI log file).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, Protocol


class StreamUnavailable(Exception):
    """The node cannot serve this request for this pod; the message says why and what
    to do. The API server answers it as a 400 BadRequest Status before any upgrade,
    so kubectl prints it."""


@dataclass(frozen=True)
class LogLine:
    """One line of a pod's log: RFC 3339 timestamp (UTC, nanoseconds) and text."""

    timestamp: str
    text: str


class PodProcess(Protocol):
    """A process started for exec or attach: byte streams, resize, exit status.

    With a TTY, ``stderr`` is None (the terminal carries both outputs, as in
    Kubernetes) and ``resize`` changes the terminal's size. ``failure`` is,
    after ``wait``, the runtime's own Status when the command did not simply
    exit (a CRI runtime could not start it ...): passed on to the client as
    written; None means the exit code says everything.
    """

    stdin: IO[bytes] | None
    stdout: IO[bytes] | None
    stderr: IO[bytes] | None
    failure: dict[str, Any] | None

    def resize(self, width: int, height: int) -> None: ...

    def wait(self) -> int: ...

    def kill(self) -> None: ...


class Upstream(Protocol):
    """A connection to a runtime's own streaming server, protocol already negotiated."""

    def read(self, size: int, /) -> bytes: ...

    def write(self, data: bytes, /) -> Any: ...

    def flush(self) -> Any: ...

    def close(self) -> None: ...


class NodeStreams(Protocol):
    """What one node offers the streaming subresources (the kubelet's streaming server)."""

    def check(self, pod: dict[str, Any], container: str, subresource: str) -> None:
        """Raise StreamUnavailable when ``subresource`` cannot be served for this pod now;
        no side effects (called before the protocol is even known)."""

    def exec(
        self, pod: dict[str, Any], container: str, argv: list[str], *, tty: bool, stdin: bool
    ) -> PodProcess: ...

    def attach(
        self, pod: dict[str, Any], container: str, *, tty: bool, stdin: bool
    ) -> PodProcess: ...

    def log(
        self, pod: dict[str, Any], container: str, *, follow: bool, stop: Callable[[], bool]
    ) -> Iterator[LogLine]: ...

    def connect(self, pod: dict[str, Any], port: int) -> socket.socket: ...

    def forward(self, pod: dict[str, Any]) -> Upstream | None:
        """The runtime's port-forward server for this pod (SPDY ``portforward.k8s.io``
        negotiated), to which the client's session is relayed byte for byte; None
        when the API server serves the session itself, ``connect`` per stream."""
