"""The embedded API server's handler registry: which function answers which request.

Two kinds of routes, both answered by a :data:`Handler` that gets a :class:`Call`:

- path routes: an exact path or a path prefix (``/version``, ``/openapi/v2``,
  ``/openapi/v3/...``), matched first;
- subresource routes: ``<resource>/<subresource>`` of a served type (``pods/exec``,
  ``pods/log``, ``pods/portforward``), reached once the resource URL is parsed, so
  the handler gets the resolved type, namespace and name in ``call.route``.
  Discovery lists them with the resource.

Resource URLs (``/api/v1/...``, ``/apis/<group>/<version>/...``) that no
subresource route claims are served by :mod:`harness.backends.local.resourceapi`.

To add routes, write a module with ``register(routes: Routes) -> None`` and
name it in :data:`ROUTE_MODULES`: the core is not edited. A handler answers
with ``call.send``/``call.send_json``; a handler that streams (watch, exec,
logs) writes ``call.write_head`` then ``call.wfile`` and raises :class:`Done`.
A handler that upgrades the connection (WebSocket, SPDY) answers
``call.write_head(101, {...})``, speaks its protocol on ``call.rfile`` and
``call.wfile``, calls ``call.close_after()`` and raises :class:`Done`.
Authentication and the test faults are applied before any handler runs.
"""

from __future__ import annotations

import importlib
import json
import select
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BufferedIOBase
from typing import TYPE_CHECKING, Any, Protocol

from harness.backends.local.apierrors import APIError
from harness.backends.local.resources import ResourceType

if TYPE_CHECKING:
    from harness.backends.local.apiserver import APIServer
    from harness.backends.local.store import Store

# Modules whose ``register(routes)`` builds the default routes, in order.
ROUTE_MODULES: tuple[str, ...] = (
    "harness.backends.local.discovery",
    "harness.backends.local.openapi",
    "harness.backends.local.reviews",
    "harness.backends.local.streaming",
    "harness.backends.local.scale",
)


class Done(Exception):
    """The response was already written by the handler (a stream)."""


@dataclass(frozen=True)
class ResourceRoute:
    """A parsed resource URL."""

    rt: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None
    legacy_watch: bool


class Exchange(Protocol):
    """What a handler may use of the HTTP connection (the request handler)."""

    headers: Any
    rfile: BufferedIOBase
    wfile: BufferedIOBase
    connection: Any
    close_connection: bool
    command: str

    def send_bytes(
        self, code: int, body: bytes, ctype: str, extra: dict[str, str] | None
    ) -> None: ...

    def write_head(self, code: int, headers: dict[str, str]) -> None: ...


def json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


@dataclass
class Call:
    """One request as handlers see it; ``verb``/``resource``/``namespace``/``name``
    name it in the request log (set them as soon as they are known)."""

    method: str
    path: str  # no query string, no trailing slash
    query: dict[str, str]
    body: bytes
    exchange: Exchange
    api: APIServer
    route: ResourceRoute | None = None
    verb: str = ""
    resource: str = ""
    namespace: str | None = None
    name: str | None = None

    @property
    def segments(self) -> list[str]:
        return [s for s in self.path.split("/") if s]

    @property
    def store(self) -> Store:
        return self.api.store

    @property
    def headers(self) -> Any:
        return self.exchange.headers

    @property
    def rfile(self) -> BufferedIOBase:
        return self.exchange.rfile

    @property
    def wfile(self) -> BufferedIOBase:
        return self.exchange.wfile

    @property
    def connection(self) -> Any:
        return self.exchange.connection

    def send(
        self,
        code: int,
        body: bytes,
        ctype: str = "application/json",
        extra: dict[str, str] | None = None,
    ) -> None:
        self.exchange.send_bytes(code, body, ctype, extra)

    def send_json(self, code: int, obj: Any, extra: dict[str, str] | None = None) -> None:
        self.exchange.send_bytes(code, json_bytes(obj), "application/json", extra)

    def write_head(self, code: int, headers: dict[str, str]) -> None:
        """Start a streamed answer: the status line and headers (logged now)."""
        self.exchange.write_head(code, headers)

    def close_after(self) -> None:
        """Close the connection once this request is done."""
        self.exchange.close_connection = True

    def client_gone(self) -> bool:
        """True once the client closed its end (for long requests)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            # Peek at the raw socket (an SSLSocket refuses recv flags): EOF means gone.
            return socket.socket.recv(self.connection, 1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def only(self, *methods: str) -> None:
        if self.method not in methods:
            raise method_not_allowed(self.method)


Handler = Callable[[Call], None]


def not_found() -> APIError:
    return APIError(404, "NotFound", "the server could not find the requested resource")


def method_not_allowed(method: str) -> APIError:
    return APIError(
        405,
        "MethodNotAllowed",
        f"the server does not allow this method on the requested resource ({method})",
    )


@dataclass(frozen=True)
class PathRoute:
    path: str
    handler: Handler
    methods: tuple[str, ...]
    prefix: bool


@dataclass(frozen=True)
class SubresourceRoute:
    group: str
    resource: str
    subresource: str
    handler: Handler
    methods: tuple[str, ...]
    kind: str
    verbs: tuple[str, ...]


@dataclass
class Routes:
    """The registry; :func:`default_routes` fills one from :data:`ROUTE_MODULES`."""

    paths: list[PathRoute] = field(default_factory=list)
    subresources: list[SubresourceRoute] = field(default_factory=list)

    def add_path(
        self,
        path: str,
        handler: Handler,
        *,
        methods: tuple[str, ...] = ("GET", "HEAD"),
        prefix: bool = False,
    ) -> None:
        """Answer ``path`` (or every path under it with ``prefix``)."""
        self.paths.append(PathRoute(path.rstrip("/") or "/", handler, methods, prefix))

    def add_subresource(
        self,
        resource: str,
        subresource: str,
        handler: Handler,
        *,
        group: str = "",
        methods: tuple[str, ...] = ("GET", "POST"),
        kind: str = "",
        verbs: tuple[str, ...] = ("get", "create"),
    ) -> None:
        """Answer ``<resource>/<subresource>`` of the type with this plural and group."""
        self.subresources.append(
            SubresourceRoute(group, resource, subresource, handler, methods, kind, verbs)
        )

    def for_path(self, path: str) -> PathRoute | None:
        for r in self.paths:
            if path == r.path or (r.prefix and path.startswith(r.path + "/")):
                return r
        return None

    def for_subresource(self, rt: ResourceType, sub: str) -> SubresourceRoute | None:
        for r in self.subresources:
            if (r.group, r.resource, r.subresource) == (rt.group, rt.plural, sub):
                return r
        return None

    def subresources_of(self, rt: ResourceType) -> list[SubresourceRoute]:
        return [r for r in self.subresources if (r.group, r.resource) == (rt.group, rt.plural)]


def default_routes(modules: tuple[str, ...] | None = None) -> Routes:
    """A registry filled by every module's ``register`` (default: :data:`ROUTE_MODULES`)."""
    routes = Routes()
    for name in ROUTE_MODULES if modules is None else modules:
        importlib.import_module(name).register(routes)
    return routes
