"""An embedded Kubernetes API server (JSON over HTTP/1.1) for the local backend.

It serves a simulated cluster from :class:`~harness.backends.local.store.Store`
with the real API's paths, verbs, ``Status`` errors, list kinds, watches,
discovery and OpenAPI documents, so that pymultus, its thick daemon, the
simulated kubelet, ``kubectl`` and the official clients all talk to it as
to a real cluster. It starts in milliseconds: one thread per listening
socket blocked in ``accept`` and one thread per connection, nothing else.

The parts: :mod:`listeners` (sockets in namespaces, TLS), :mod:`exchange`
(one HTTP connection: auth, faults, dispatch, request log), :mod:`routes`
(the handler registry: add routes there, not here), :mod:`resourceapi`
(the resource verbs), :mod:`discovery`, :mod:`openapi`, :mod:`tables`.

Test hooks: :meth:`APIServer.set_fault` (answer 500/503/429, add latency),
:meth:`APIServer.pause`/:meth:`APIServer.resume` (refuse connections),
:meth:`APIServer.set_token` (rotate the bearer token) and a request log with
counts per (verb, resource).
"""

from __future__ import annotations

import base64
import collections
import json
import secrets
import socket
import ssl
import threading
from collections.abc import Callable
from typing import Any

from harness.backends.local.exchange import Handler, RequestRecord
from harness.backends.local.listeners import (
    ListenerSet,
    server_tls_context,
)
from harness.backends.local.podio import NodeStreams
from harness.backends.local.routes import Routes, default_routes
from harness.backends.local.store import Store
from harness.backends.local.tables import human_duration

__all__ = [
    "FAULT_KINDS",
    "APIServer",
    "RequestRecord",
    "human_duration",
    "server_tls_context",
]

FAULT_KINDS = (None, "500", "503", "429")


class APIServer:
    """The embedded API server; ``store`` gives the harness direct access.

    ``listen`` may be called several times (root loopback, node namespaces);
    each call serves at once. ``stop`` closes every socket and thread and is
    idempotent. ``routes`` is the handler registry (see :mod:`routes`).
    """

    def __init__(
        self,
        token: str | None = None,
        *,
        store: Store | None = None,
        routes: Routes | None = None,
    ) -> None:
        self.store = store if store is not None else Store()
        self.routes = routes if routes is not None else default_routes()
        self.listeners = ListenerSet(self._handle, self.store.wake)
        self._token = token
        self._lock = threading.Lock()
        self._fault: str | None = None
        self._fault_times: int | None = None
        self._delay = 0.0
        self._fault_scope = "all"  # or "nodes": only requests through node listeners
        self._counts: collections.Counter[tuple[str, str]] = collections.Counter()
        self.requests: collections.deque[RequestRecord] = collections.deque(maxlen=10000)
        # pods/exec, attach, log, portforward go to the pod's node (podio.NodeStreams).
        self.node_streams: dict[str, NodeStreams] = {}

    def _handle(self, conn: socket.socket, addr: Any) -> None:
        Handler(conn, addr, self)  # type: ignore[arg-type]

    # ---- lifecycle (the listener set does the work) ---------------------------

    def __enter__(self) -> APIServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Serve every listener (``listen`` calls this itself)."""
        self.listeners.start()

    def listen(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        netns: str | None = None,
        *,
        tls: ssl.SSLContext | None = None,
    ) -> tuple[str, int]:
        """Listen and serve: see :meth:`Listeners.listen` (this server's listeners)."""
        return self.listeners.listen(host, port, netns, tls=tls)

    @property
    def addresses(self) -> list[tuple[str, int, str | None]]:
        """(host, port, netns) of every listener."""
        return self.listeners.addresses

    def url(self, index: int = 0) -> str:
        """``http(s)://host:port`` of a listener (the first by default)."""
        return self.listeners.url(index)

    def pause(self, scope: str = "all") -> None:
        """Stop answering (see :meth:`ListenerSet.pause`); ``scope="nodes"``: only
        the listeners inside node namespaces, so plugins lose the API while the
        harness and the simulated kubelets keep it."""
        self.listeners.pause(scope)

    def resume(self) -> None:
        """Reopen the listeners on the same addresses (and namespaces) as before."""
        self.listeners.resume()

    def stop(self) -> None:
        """Close every socket and end every thread; idempotent."""
        self.listeners.stop()

    # ---- test hooks -------------------------------------------------------------

    def set_token(self, token: str | None) -> None:
        """Require ``Authorization: Bearer <token>`` (None: no authentication)."""
        with self._lock:
            self._token = token

    def set_fault(
        self,
        kind: str | None,
        *,
        delay: float = 0.0,
        times: int | None = None,
        scope: str = "all",
    ) -> None:
        """Answer every request but /healthz with ``kind`` (500, 503 or 429).

        ``delay`` seconds are slept before answering any request (fault or not);
        ``times`` limits the fault to the next N requests, then it clears itself.
        ``scope="nodes"`` applies fault and delay only to requests that came in
        through a listener inside a node namespace (the plugins), like
        :meth:`pause`: the harness and the simulated kubelets keep a healthy API.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {FAULT_KINDS}, not {kind!r}")
        if scope not in ("all", "nodes"):
            raise ValueError(f"fault scope must be 'all' or 'nodes', not {scope!r}")
        with self._lock:
            self._fault = kind
            self._fault_times = times
            self._delay = delay
            self._fault_scope = scope

    def request_counts(self) -> dict[tuple[str, str], int]:
        """Requests answered so far, by (verb, resource), e.g. ``("get", "pods")``."""
        with self._lock:
            return dict(self._counts)

    def count(self, verb: str | None = None, resource: str | None = None) -> int:
        """How many requests matched ``verb`` and/or ``resource`` (None: any)."""
        with self._lock:
            return sum(
                n
                for (v, r), n in self._counts.items()
                if (verb is None or v == verb) and (resource is None or r == resource)
            )

    def reset_requests(self) -> None:
        with self._lock:
            self._counts.clear()
            self.requests.clear()

    def kubeconfig(
        self, index: int = 0, *, namespace: str = "default", ca_file: str | None = None
    ) -> str:
        """A kubeconfig (YAML text) for a listener: for kubectl and pymultus.

        For a TLS listener, ``ca_file`` (the cluster CA of
        :func:`harness.backends.local.pki.make_cluster_pki`) is embedded;
        without it the kubeconfig skips verification.
        """
        token = self._token
        user = f"    token: {json.dumps(token)}\n" if token else ""
        url = self.url(index)
        tls_line = ""
        if url.startswith("https:"):
            if ca_file:
                with open(ca_file, "rb") as fh:
                    tls_line = (
                        f"    certificate-authority-data: {base64.b64encode(fh.read()).decode()}\n"
                    )
            else:
                tls_line = "    insecure-skip-tls-verify: true\n"
        return (
            "apiVersion: v1\n"
            "kind: Config\n"
            "clusters:\n"
            "- cluster:\n"
            f"{tls_line}"
            f"    server: {url}\n"
            "  name: embedded\n"
            "contexts:\n"
            "- context:\n"
            "    cluster: embedded\n"
            f"    namespace: {namespace}\n"
            "    user: embedded\n"
            "  name: embedded\n"
            "current-context: embedded\n"
            "preferences: {}\n"
            "users:\n"
            "- name: embedded\n" + ("  user:\n" + user if user else "  user: {}\n")
        )

    # ---- internals used by the handler ------------------------------------------

    def _record(self, rec: RequestRecord) -> None:
        with self._lock:
            self._counts[(rec.verb, rec.resource)] += 1
            self.requests.append(rec)

    def _take_fault(self, from_node: bool = True) -> tuple[str | None, float]:
        with self._lock:
            if self._fault_scope == "nodes" and not from_node:
                return None, 0.0
            kind, delay = self._fault, self._delay
            if kind is not None and self._fault_times is not None:
                self._fault_times -= 1
                if self._fault_times <= 0:
                    self._fault, self._fault_times = None, None
            return kind, delay

    def _authorized(self, header: str | None) -> bool:
        token = self._token
        if token is None:
            return True
        if not header or not header.startswith("Bearer "):
            return False
        return secrets.compare_digest(header[7:].strip().encode(), token.encode())

    def _watch_should_stop(self) -> Callable[[], bool]:
        lst = self.listeners
        gen = lst.generation
        return lambda: lst.stopped or lst.generation != gen
