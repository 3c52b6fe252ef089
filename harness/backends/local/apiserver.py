"""An embedded Kubernetes API server (JSON over HTTP/1.1) for the local backend.

It serves a simulated cluster from :class:`~harness.backends.local.store.Store`
with the real API's paths, verbs, ``Status`` errors, list kinds, watches and
discovery documents, so that pymultus, its thick daemon, the simulated
kubelet and ``kubectl`` (``get``, ``apply --validate=false``, ``describe``,
``delete``) all talk to it as to a real cluster. It starts in milliseconds:
one thread per listening socket blocked in ``accept`` and one thread per
connection, nothing else.

One server can listen in several network namespaces at once (the root
loopback for the harness and kubectl, each simulated node's loopback for the
CNI plugins running there): see :func:`~harness.backends.local.nsutil.socket_in_netns`.

Test hooks: :meth:`APIServer.set_fault` (answer 500/503/429, add latency),
:meth:`APIServer.pause`/:meth:`APIServer.resume` (refuse connections),
:meth:`APIServer.set_token` (rotate the bearer token) and a request log with
counts per (verb, resource).
"""

from __future__ import annotations

import base64
import calendar
import collections
import contextlib
import json
import logging
import os
import secrets
import select
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from harness.backends.local import streaming
from harness.backends.local.nsutil import socket_in_netns
from harness.backends.local.podio import NodeStreams
from harness.backends.local.store import (
    JSON_PATCH,
    MERGE_PATCH,
    PODS,
    RESOURCE_TYPES,
    STRATEGIC_MERGE_PATCH,
    APIError,
    Obj,
    ResourceType,
    Store,
    WatchEvent,
    clone,
    status_object,
)

log = logging.getLogger(__name__)

GIT_VERSION = "v1.31.0-pymultus-embedded"
FAULT_KINDS = (None, "500", "503", "429")
_HEALTH_PATHS = ("/healthz", "/readyz", "/livez")
_PROTOBUF = "application/vnd.kubernetes.protobuf"
_PROTOBUF_PARTIAL = "__protobufPartial"  # harness.backends.local.protobuf.PARTIAL
_DEFAULT_WATCH_TIMEOUT = 1800  # the real API's --min-request-timeout


@dataclass(frozen=True)
class RequestRecord:
    """One answered request, for tests (e.g. "the thick daemon made no GET")."""

    method: str
    path: str
    verb: str
    resource: str
    namespace: str | None
    name: str | None
    code: int
    user_agent: str
    seconds: float


@dataclass
class _Listener:
    host: str
    port: int
    netns: str | None
    sock: socket.socket | None = None
    thread: threading.Thread | None = None
    tls: ssl.SSLContext | None = None
    paused: bool = False


@dataclass
class _Route:
    """A parsed resource URL."""

    rt: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None
    legacy_watch: bool


class _Done(Exception):
    """The response was already written (e.g. a watch stream)."""


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


# --------------------------------------------------------------------------
# Discovery documents
# --------------------------------------------------------------------------


def _groups() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for rt in RESOURCE_TYPES:
        if rt.group:
            versions = out.setdefault(rt.group, [])
            if rt.version not in versions:
                versions.append(rt.version)
    return out


def _api_group(name: str, versions: list[str]) -> Obj:
    gvs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": gvs, "preferredVersion": gvs[0]}


def _resource_list(group: str, version: str) -> Obj | None:
    resources: list[Obj] = []
    for rt in RESOURCE_TYPES:
        if rt.group != group or rt.version != version:
            continue
        entry: Obj = {
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": list(rt.verbs),
        }
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        resources.append(entry)
        if rt.status_subresource:
            resources.append(
                {
                    "name": f"{rt.plural}/status",
                    "singularName": "",
                    "namespaced": rt.namespaced,
                    "kind": rt.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
        if rt is PODS:
            resources.append(
                {
                    "name": "pods/binding",
                    "singularName": "",
                    "namespaced": True,
                    "kind": "Binding",
                    "verbs": ["create"],
                }
            )
    if not resources:
        return None
    doc: Obj = {
        "kind": "APIResourceList",
        "groupVersion": f"{group}/{version}" if group else version,
    }
    if group:
        doc["apiVersion"] = "v1"
    doc["resources"] = resources
    return doc


def version_info() -> Obj:
    return {
        "major": "1",
        "minor": "31",
        "gitVersion": GIT_VERSION,
        "gitCommit": "0" * 40,
        "gitTreeState": "clean",
        "buildDate": "2024-08-13T00:00:00Z",
        "goVersion": "go1.22.5",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


# --------------------------------------------------------------------------
# Server-side printing: the meta.k8s.io/v1 Table that `kubectl get` asks for
# --------------------------------------------------------------------------


def _wants_table(accept: str | None) -> bool:
    return bool(accept) and "as=Table" in str(accept) and "g=meta.k8s.io" in str(accept)


def human_duration(seconds: float) -> str:
    """Ages as kubectl prints them (apimachinery's HumanDuration rules)."""
    if seconds < -1:
        return "<invalid>"
    s = int(max(seconds, 0))
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def _age(timestamp: Any) -> str:
    if not isinstance(timestamp, str) or not timestamp:
        return "<unknown>"
    try:
        then = calendar.timegm(time.strptime(timestamp[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return "<unknown>"
    return human_duration(time.time() - then)


def _col(name: str, type_: str = "string", priority: int = 0, fmt: str = "") -> Obj:
    return {"name": name, "type": type_, "format": fmt, "description": name, "priority": priority}


def _pod_cells(o: Obj) -> list[Any]:
    spec, status, meta = o.get("spec") or {}, o.get("status") or {}, o["metadata"]
    statuses = status.get("containerStatuses") or []
    total = len(spec.get("containers") or [])
    ready = sum(1 for c in statuses if c.get("ready"))
    reason = status.get("reason") or status.get("phase") or "Unknown"
    for c in statuses:
        state = c.get("state") or {}
        waiting = (state.get("waiting") or {}).get("reason")
        terminated = (state.get("terminated") or {}).get("reason")
        if waiting or terminated:
            reason = waiting or terminated
    if meta.get("deletionTimestamp"):
        reason = "Terminating"
    restarts = sum(int(c.get("restartCount") or 0) for c in statuses)
    return [
        meta["name"],
        f"{ready}/{total}",
        reason,
        restarts,
        _age(meta.get("creationTimestamp")),
        status.get("podIP") or "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        "<none>",
    ]


def _node_cells(o: Obj) -> list[Any]:
    meta, spec, status = o["metadata"], o.get("spec") or {}, o.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    state = "Unknown"
    if ready is not None:
        state = "Ready" if ready.get("status") == "True" else "NotReady"
    if spec.get("unschedulable"):
        state += ",SchedulingDisabled"
    prefix = "node-role.kubernetes.io/"
    roles = sorted(k[len(prefix) :] for k in (meta.get("labels") or {}) if k.startswith(prefix))
    addrs = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    info = status.get("nodeInfo") or {}
    return [
        meta["name"],
        state,
        ",".join(roles) or "<none>",
        _age(meta.get("creationTimestamp")),
        info.get("kubeletVersion") or "",
        addrs.get("InternalIP") or "<none>",
        addrs.get("ExternalIP") or "<none>",
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


def _event_cells(o: Obj) -> list[Any]:
    meta, inv = o["metadata"], o.get("involvedObject") or {}
    source = o.get("source") or {}
    last = o.get("lastTimestamp") or o.get("eventTime") or meta.get("creationTimestamp")
    return [
        _age(last),
        o.get("type") or "",
        o.get("reason") or "",
        f"{str(inv.get('kind', '')).lower()}/{inv.get('name', '')}",
        inv.get("fieldPath") or "",
        ", ".join(x for x in (source.get("component"), source.get("host")) if x),
        o.get("message") or "",
        _age(o.get("firstTimestamp") or meta.get("creationTimestamp")),
        int(o.get("count") or 1),
        meta["name"],
    ]


_TABLE_COLUMNS: dict[str, tuple[list[Obj], Callable[[Obj], list[Any]]]] = {
    "Pod": (
        [
            _col("Name", fmt="name"),
            _col("Ready"),
            _col("Status"),
            _col("Restarts", "integer"),
            _col("Age"),
            _col("IP", priority=1),
            _col("Node", priority=1),
            _col("Nominated Node", priority=1),
            _col("Readiness Gates", priority=1),
        ],
        _pod_cells,
    ),
    "Namespace": (
        [_col("Name", fmt="name"), _col("Status"), _col("Age")],
        lambda o: [
            o["metadata"]["name"],
            (o.get("status") or {}).get("phase", ""),
            _age(o["metadata"].get("creationTimestamp")),
        ],
    ),
    "Node": (
        [
            _col("Name", fmt="name"),
            _col("Status"),
            _col("Roles"),
            _col("Age"),
            _col("Version"),
            _col("Internal-IP", priority=1),
            _col("External-IP", priority=1),
            _col("OS-Image", priority=1),
            _col("Kernel-Version", priority=1),
            _col("Container-Runtime", priority=1),
        ],
        _node_cells,
    ),
    "Event": (
        [
            _col("Last Seen"),
            _col("Type"),
            _col("Reason"),
            _col("Object"),
            _col("Subobject", priority=1),
            _col("Source", priority=1),
            _col("Message"),
            _col("First Seen", priority=1),
            _col("Count", "integer", priority=1),
            _col("Name", priority=1),
        ],
        _event_cells,
    ),
    "CustomResourceDefinition": (
        [_col("Name", fmt="name"), _col("Created At", "date")],
        lambda o: [o["metadata"]["name"], o["metadata"].get("creationTimestamp", "")],
    ),
}
_DEFAULT_COLUMNS: tuple[list[Obj], Callable[[Obj], list[Any]]] = (
    [_col("Name", fmt="name"), _col("Age")],
    lambda o: [o["metadata"]["name"], _age(o["metadata"].get("creationTimestamp"))],
)


def _table_for(
    kind: str,
    items: list[Obj],
    meta: Obj | None,
    *,
    include_object: str = "Metadata",
    headers: bool = True,
) -> Obj:
    columns, cells = _TABLE_COLUMNS.get(kind, _DEFAULT_COLUMNS)
    rows: list[Obj] = []
    for obj in items:
        row: Obj = {"cells": cells(obj)}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
        rows.append(row)
    table: Obj = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta or {}}
    if headers:
        table["columnDefinitions"] = columns
    table["rows"] = rows
    return table


# --------------------------------------------------------------------------
# TLS
# --------------------------------------------------------------------------


def make_self_signed_cert(
    directory: str, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")
) -> tuple[str, str]:
    """Write a self-signed certificate and key for ``hosts``; returns their paths.

    Uses the ``openssl`` command (the standard library cannot make
    certificates). The certificate is its own CA: put it in the kubeconfig.
    """
    cert = os.path.join(directory, "apiserver.crt")
    key = os.path.join(directory, "apiserver.key")
    sans = ",".join(
        f"IP:{h}" if h.replace(".", "").isdigit() or ":" in h else f"DNS:{h}" for h in hosts
    )
    cmd = [
        "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", key, "-out", cert, "-days", "7", "-subj", "/CN=pymultus-embedded",
        "-addext", f"subjectAltName={sans}",
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"openssl could not make a certificate: {done.stderr.strip()}")
    os.chmod(key, 0o600)
    return cert, key


def server_tls_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """A server-side TLS context for :meth:`APIServer.listen`."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_file, key_file)
    return ctx


# --------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------


class APIServer:
    """The embedded API server; ``store`` gives the harness direct access.

    ``listen`` may be called several times (root loopback, node namespaces);
    each call serves at once. ``stop`` closes every socket and thread and is
    idempotent.
    """

    def __init__(self, token: str | None = None, *, store: Store | None = None) -> None:
        self.store = store if store is not None else Store()
        self._token = token
        self._lock = threading.Lock()
        self._listeners: list[_Listener] = []
        self._conns: dict[socket.socket, threading.Thread] = {}
        self._conn_listener: dict[socket.socket, _Listener] = {}
        self._started = False
        self._stopped = False
        self._paused = False
        self._generation = 0  # bumped by pause/stop: ends watches of the old connections
        self._fault: str | None = None
        self._fault_times: int | None = None
        self._delay = 0.0
        self._fault_scope = "all"  # or "nodes": only requests through node listeners
        self._counts: collections.Counter[tuple[str, str]] = collections.Counter()
        self.requests: collections.deque[RequestRecord] = collections.deque(maxlen=10000)
        # pods/exec, attach, log, portforward go to the pod's node (podio.NodeStreams).
        self.node_streams: dict[str, NodeStreams] = {}

    # ---- lifecycle ------------------------------------------------------------

    def __enter__(self) -> APIServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Serve every listener (``listen`` calls this itself)."""
        with self._lock:
            if self._stopped:
                raise RuntimeError("this APIServer was stopped; create a new one")
            self._started = True
            for lst in self._listeners:
                self._spawn_acceptor(lst)

    def listen(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        netns: str | None = None,
        *,
        tls: ssl.SSLContext | None = None,
    ) -> tuple[str, int]:
        """Listen on ``host:port`` (in the namespace file ``netns``) and serve it.

        Returns the bound address; with ``port=0`` the kernel picks the port.
        The root namespace's configuration is never modified. ``tls`` (a
        server context, see :func:`server_tls_context`) serves https: kubectl
        only sends bearer tokens over TLS.
        """
        sock = socket_in_netns(netns, host, port)
        bound_host, bound_port = sock.getsockname()[:2]
        lst = _Listener(host, bound_port, netns, sock, tls=tls)
        with self._lock:
            if self._stopped:
                sock.close()
                raise RuntimeError("this APIServer was stopped; create a new one")
            self._listeners.append(lst)
        self.start()
        return bound_host, bound_port

    @property
    def addresses(self) -> list[tuple[str, int, str | None]]:
        """(host, port, netns) of every listener."""
        with self._lock:
            return [(lst.host, lst.port, lst.netns) for lst in self._listeners]

    def url(self, index: int = 0) -> str:
        """``http(s)://host:port`` of a listener (the first by default)."""
        with self._lock:
            lst = self._listeners[index]
        host = f"[{lst.host}]" if ":" in lst.host else lst.host
        return f"{'https' if lst.tls else 'http'}://{host}:{lst.port}"

    def _spawn_acceptor(self, lst: _Listener) -> None:
        if lst.sock is None or (lst.thread is not None and lst.thread.is_alive()):
            return
        lst.thread = threading.Thread(
            target=self._accept_loop,
            args=(lst,),
            name=f"apiserver-accept:{lst.netns or 'root'}:{lst.port}",
            daemon=True,
        )
        lst.thread.start()

    def _accept_loop(self, lst: _Listener) -> None:
        sock, tls = lst.sock, lst.tls
        if sock is None:
            return
        while True:
            try:
                conn, addr = sock.accept()
            except OSError:
                return  # shut down by pause/stop
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            thread = threading.Thread(
                target=self._serve_connection,
                args=(conn, addr, tls, lst),
                name="apiserver-conn",
                daemon=True,
            )
            with self._lock:
                if self._stopped or self._paused or lst.paused:
                    conn.close()
                    continue
                self._conns[conn] = thread
                self._conn_listener[conn] = lst
            thread.start()

    def _serve_connection(
        self, conn: socket.socket, addr: Any, tls: ssl.SSLContext | None, lst: _Listener
    ) -> None:
        try:
            if tls is not None:
                raw = conn
                raw.settimeout(10.0)  # a client that never completes the handshake
                with self._lock:
                    self._conns.pop(raw, None)
                    self._conn_listener.pop(raw, None)
                    conn = tls.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
                    self._conns[conn] = threading.current_thread()
                    self._conn_listener[conn] = lst
                conn.do_handshake()
                conn.settimeout(None)
            _Handler(conn, addr, cast(Any, self))
        except (OSError, ValueError):
            pass  # client went away, or the socket was shut down by pause/stop
        finally:
            with self._lock:
                self._conns.pop(conn, None)
                self._conn_listener.pop(conn, None)
            with contextlib.suppress(OSError):
                conn.close()

    def _close_sockets(self, nodes_only: bool = False) -> list[threading.Thread]:
        """Close listeners and cut connections; returns the threads to join.

        ``nodes_only``: only the listeners inside node namespaces (``netns``
        set) and their connections; the root loopback keeps serving.
        """
        threads: list[threading.Thread] = []
        with self._lock:
            self._generation += 1
            for lst in self._listeners:
                if nodes_only and lst.netns is None:
                    continue
                lst.paused = True
                if lst.sock is not None:
                    with contextlib.suppress(OSError):
                        lst.sock.shutdown(socket.SHUT_RDWR)
                    lst.sock.close()
                    lst.sock = None
                if lst.thread is not None:
                    threads.append(lst.thread)
                    lst.thread = None
            for conn, thread in list(self._conns.items()):
                owner = self._conn_listener.get(conn)
                if nodes_only and (owner is None or owner.netns is None):
                    continue
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                threads.append(thread)
        with self.store._cond:  # wake watchers so they notice at once
            self.store._cond.notify_all()
        return threads

    def pause(self, scope: str = "all") -> None:
        """Stop answering: close the listeners (connections are refused) and cut clients.

        ``scope="nodes"`` closes only the listeners inside node namespaces: the
        plugins on the nodes lose the API while the harness and the simulated
        kubelets (on the root loopback) keep it, which is how "DEL while the
        API is down" is staged without stopping the runtime itself.
        """
        if scope not in ("all", "nodes"):
            raise ValueError(f"pause scope must be 'all' or 'nodes', not {scope!r}")
        with self._lock:
            if scope == "all":
                self._paused = True
        for t in self._close_sockets(nodes_only=scope == "nodes"):
            if t is not threading.current_thread():
                t.join(timeout=2.0)

    def resume(self) -> None:
        """Reopen the listeners on the same addresses (and namespaces) as before."""
        with self._lock:
            if self._stopped:
                raise RuntimeError("this APIServer was stopped; create a new one")
            listeners = list(self._listeners)
        for lst in listeners:
            if lst.sock is None:
                lst.sock = socket_in_netns(lst.netns, lst.host, lst.port)
            lst.paused = False
        with self._lock:
            self._paused = False
            if self._started:
                for lst in self._listeners:
                    self._spawn_acceptor(lst)

    def stop(self) -> None:
        """Close every socket and end every thread; idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        deadline = time.monotonic() + 3.0
        for t in self._close_sockets():
            if t is not threading.current_thread():
                t.join(timeout=max(0.0, deadline - time.monotonic()))

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

        For a TLS listener, ``ca_file`` (the certificate of
        :func:`make_self_signed_cert`) is embedded; without it the kubeconfig
        skips verification.
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
        gen = self._generation
        return lambda: self._stopped or self._generation != gen


# --------------------------------------------------------------------------
# Request handling
# --------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pymultus-embedded-apiserver"

    # Set per request.
    _verb = ""
    _resource = ""
    _ns: str | None = None
    _name: str | None = None
    _code = 0
    _query: dict[str, str] = {}
    _start = 0.0
    _logged = False

    @property
    def api(self) -> APIServer:
        return cast(APIServer, self.server)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - " + format, self.address_string(), *args)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Malformed requests get a Status too, never an HTML page."""
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "Error"
        self.close_connection = True
        self._send_json(code, status_object(code, phrase.replace(" ", ""), message or phrase))

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_OPTIONS(self) -> None:
        self._dispatch("OPTIONS")

    # ---- plumbing ----

    def _send(
        self,
        code: int,
        body: bytes,
        ctype: str = "application/json",
        extra: dict[str, str] | None = None,
    ) -> None:
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = ""
        head = [
            f"HTTP/1.1 {code} {phrase}",
            f"Content-Type: {ctype}",
            f"Content-Length: {len(body)}",
            "Cache-Control: no-cache, private",
        ]
        for k, v in (extra or {}).items():
            head.append(f"{k}: {v}")
        if self.close_connection:
            head.append("Connection: close")
        payload = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        if self.command != "HEAD":
            payload += body
        self._code = code
        self._log_request()  # before the client can see the answer: tests count at once
        self.wfile.write(payload)

    def _log_request(self) -> None:
        if self._logged:
            return
        self._logged = True
        self.api._record(
            RequestRecord(
                self.command or "",
                self.path,
                self._verb,
                self._resource,
                self._ns,
                self._name,
                self._code,
                self.headers.get("User-Agent", "") if self.headers else "",
                time.monotonic() - self._start,
            )
        )

    def _send_json(self, code: int, obj: Any, extra: dict[str, str] | None = None) -> None:
        self._send(code, _json_bytes(obj), "application/json", extra)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _client_gone(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            # Peek at the raw socket (an SSLSocket refuses recv flags): EOF means gone.
            conn = cast(socket.socket, self.connection)
            return socket.socket.recv(conn, 1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def _dispatch(self, method: str) -> None:
        self._start = time.monotonic()
        self._logged = False
        api = self.api
        self._verb, self._resource, self._ns, self._name, self._code = (
            method.lower(),
            "",
            None,
            None,
            0,
        )
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        self._query = query
        self._resource = path
        try:
            try:
                body = self._read_body()
            except (ValueError, OSError) as exc:
                self.close_connection = True
                raise APIError.bad_request(f"could not read the request body: {exc}") from exc
            if path in _HEALTH_PATHS or path.startswith(tuple(p + "/" for p in _HEALTH_PATHS)):
                self._send(200, b"ok", "text/plain; charset=utf-8")
                return
            self._classify(method, path, query)
            owner = api._conn_listener.get(cast(socket.socket, self.connection))
            kind, delay = api._take_fault(owner is not None and owner.netns is not None)
            if delay > 0:
                time.sleep(delay)
            if path not in ("/version",) and not api._authorized(self.headers.get("Authorization")):
                raise APIError(401, "Unauthorized", "Unauthorized")
            if kind is not None:
                code = int(kind)
                reason = {500: "InternalError", 503: "ServiceUnavailable", 429: "TooManyRequests"}[
                    code
                ]
                extra = {"Retry-After": "1"} if code in (429, 503) else None
                self._send_json(
                    code,
                    status_object(code, reason, f"injected fault: the server answers {code}"),
                    extra,
                )
                return
            self._route(method, path, query, body)
        except _Done:
            pass
        except APIError as exc:
            extra = None
            if exc.code == 401:
                extra = {"WWW-Authenticate": 'Bearer realm="kubernetes"'}
            self._send_json(exc.code, exc.status(), extra)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            self._code = self._code or 499
        except Exception as exc:  # a bug: answer a Status, keep serving, log it
            log.exception("embedded API server failed on %s %s", method, self.path)
            self._send_json(
                500, status_object(500, "InternalError", f"embedded API server error: {exc!r}")
            )
        finally:
            self._log_request()  # requests that got no answer (client gone) count too

    # ---- routing ----

    def _classify(self, method: str, path: str, query: dict[str, str]) -> None:
        """Name the request's (verb, resource) before anything can fail, for the request log."""
        segs = [s for s in path.split("/") if s]
        if len(segs) >= 3 and segs[0] == "api":
            group, version, rest = "", segs[1], segs[2:]
        elif len(segs) >= 4 and segs[0] == "apis":
            group, version, rest = segs[1], segs[2], segs[3:]
        else:
            return
        try:
            route = self._parse_resource_path(group, version, rest)
        except APIError:
            return
        watch = route.legacy_watch or query.get("watch", "").lower() in ("true", "1")
        if method in ("GET", "HEAD"):
            self._verb = "watch" if watch else ("get" if route.name else "list")
        elif method == "POST":
            self._verb = "create"
        elif method == "PUT":
            self._verb = "update"
        elif method == "PATCH":
            self._verb = "patch"
        elif method == "DELETE":
            self._verb = "delete" if route.name else "deletecollection"

    def _route(self, method: str, path: str, query: dict[str, str], body: bytes) -> None:
        segs = [s for s in path.split("/") if s]
        if method not in ("GET", "HEAD") and segs in (["version"], ["api"], ["apis"]):
            raise self._method_not_allowed(method)
        if segs == ["version"]:
            self._send_json(200, version_info())
            return
        if segs == ["api"]:
            host = self.headers.get("Host") or "{}:{}".format(*self.connection.getsockname()[:2])
            self._send_json(
                200,
                {
                    "kind": "APIVersions",
                    "versions": ["v1"],
                    "serverAddressByClientCIDRs": [
                        {"clientCIDR": "0.0.0.0/0", "serverAddress": host}
                    ],
                },
            )
            return
        groups = _groups()
        if segs == ["apis"]:
            self._send_json(
                200,
                {
                    "kind": "APIGroupList",
                    "apiVersion": "v1",
                    "groups": [_api_group(g, vs) for g, vs in groups.items()],
                },
            )
            return
        if len(segs) == 2 and segs[0] == "apis" and segs[1] in groups:
            self._only_get(method)
            doc = _api_group(segs[1], groups[segs[1]])
            self._send_json(200, {"kind": "APIGroup", "apiVersion": "v1", **doc})
            return
        if len(segs) >= 2 and segs[0] == "api":
            group, version, rest = "", segs[1], segs[2:]
        elif len(segs) >= 3 and segs[0] == "apis":
            group, version, rest = segs[1], segs[2], segs[3:]
        else:
            raise self._not_found()
        if not rest:
            resources = _resource_list(group, version)
            if resources is None:
                raise self._not_found()
            self._only_get(method)
            self._send_json(200, resources)
            return
        route = self._parse_resource_path(group, version, rest)
        self._serve_resource(method, route, query, body)

    @staticmethod
    def _not_found() -> APIError:
        return APIError(404, "NotFound", "the server could not find the requested resource")

    def _method_not_allowed(self, method: str) -> APIError:
        return APIError(
            405,
            "MethodNotAllowed",
            f"the server does not allow this method on the requested resource ({method})",
        )

    def _only_get(self, method: str) -> None:
        if method not in ("GET", "HEAD"):
            raise self._method_not_allowed(method)

    def _parse_resource_path(self, group: str, version: str, rest: list[str]) -> _Route:
        legacy_watch = False
        if rest[0] == "watch":
            legacy_watch, rest = True, rest[1:]
            if not rest:
                raise self._not_found()
        namespace: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
            namespace, rest = rest[1], rest[2:]
        if len(rest) > 3:
            raise self._not_found()
        plural = rest[0]
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        rt = next(
            (
                r
                for r in RESOURCE_TYPES
                if (r.group, r.version, r.plural) == (group, version, plural)
            ),
            None,
        )
        if rt is None or (namespace is not None and not rt.namespaced):
            raise self._not_found()
        if rt.namespaced and namespace is None and name is not None:
            raise self._not_found()
        if sub is not None and not (
            (sub == "status" and rt.status_subresource)
            or (sub == "binding" and rt is PODS)
            or (sub in streaming.SUBRESOURCES and rt is PODS and name is not None)
        ):
            raise self._not_found()
        self._resource = rt.plural + (f"/{sub}" if sub else "")
        self._ns, self._name = namespace, name
        return _Route(rt, namespace, name, sub, legacy_watch)

    def _decode_body(self, method: str, body: bytes) -> tuple[Any, str]:
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype == _PROTOBUF:
            if method not in ("POST", "PUT"):
                raise APIError(
                    415,
                    "UnsupportedMediaType",
                    f"{_PROTOBUF} is accepted for create and update only",
                )
            from harness.backends.local import protobuf

            try:
                return protobuf.decode_body(body), ctype
            except protobuf.ProtobufError as exc:
                raise APIError.bad_request(
                    f"the protobuf body could not be decoded: {exc}"
                ) from exc
        if method == "PATCH":
            if ctype == "application/apply-patch+yaml":
                raise APIError(
                    415,
                    "UnsupportedMediaType",
                    "server-side apply is not supported by the embedded API server: use "
                    "kubectl apply without --server-side",
                )
            if ctype not in (MERGE_PATCH, STRATEGIC_MERGE_PATCH, JSON_PATCH):
                raise APIError(
                    415,
                    "UnsupportedMediaType",
                    f"the body of the request was in an unknown format ({ctype or 'none'}) - "
                    f"accepted media types include: {JSON_PATCH}, {MERGE_PATCH}, "
                    f"{STRATEGIC_MERGE_PATCH}",
                )
        elif ctype not in ("", "application/json", "*/*", "application/yaml", "text/plain"):
            raise APIError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format ({ctype}) - accepted media "
                "types include: application/json, application/yaml",
            )
        if not body.strip():
            return None, ctype
        if ctype == "application/yaml":
            import yaml  # the harness may use PyYAML; only loaded for YAML bodies

            try:
                return yaml.safe_load(body), ctype
            except yaml.YAMLError as exc:
                raise APIError.bad_request(f"the body is not valid YAML: {exc}") from exc
        try:
            return json.loads(body), ctype
        except (ValueError, UnicodeDecodeError) as exc:
            raise APIError.bad_request(
                f"the body of the request could not be decoded as JSON: {exc}"
            ) from exc

    def _apply_partial(
        self, method: str, rt: ResourceType, ns: str | None, name: str | None, data: Obj
    ) -> Obj:
        """An update of which only metadata was decoded from protobuf, applied
        onto the stored object: its labels, annotations, owner references,
        finalizers and resourceVersion (the precondition) replace the stored
        ones; spec and status stay as stored."""
        if method != "PUT" or name is None:
            raise APIError(
                415,
                "UnsupportedMediaType",
                f"only metadata of {data.get('kind')} objects is decoded from {_PROTOBUF}: "
                "it can update an object, not create one; send application/json",
            )
        current = clone(self.api.store.get_raw(rt, name, ns))
        meta = current.setdefault("metadata", {})
        incoming = data.get("metadata") or {}
        for key in ("labels", "annotations", "ownerReferences", "finalizers", "resourceVersion"):
            if key in incoming:
                meta[key] = incoming[key]
            else:
                meta.pop(key, None)
        return current

    def _serve_resource(
        self, method: str, route: _Route, query: dict[str, str], body: bytes
    ) -> None:
        store = self.api.store
        rt, ns, name, sub = route.rt, route.namespace, route.name, route.subresource
        if sub in streaming.SUBRESOURCES and name is not None and ns is not None:
            self._serve_stream(method, sub, ns, name)
            return
        if method != "GET" and query.get("dryRun"):
            raise APIError.bad_request("dryRun is not supported by the embedded API server")
        watch = route.legacy_watch or query.get("watch", "").lower() in ("true", "1")
        if method in ("GET", "HEAD"):
            if name is not None and not watch:
                self._verb = "get"
                self._send_object(200, store.get_raw(rt, name, ns))
                return
            field_selector = query.get("fieldSelector") or ""
            if name is not None:  # /watch/.../pods/NAME
                field_selector = ",".join(x for x in (field_selector, f"metadata.name={name}") if x)
            if watch:
                self._verb = "watch"
                self._serve_watch(rt, ns, query, field_selector)
            else:
                self._verb = "list"
                self._serve_list(rt, ns, query, field_selector)
            return
        data, ctype = self._decode_body(method, body)
        if isinstance(data, dict) and data.pop(_PROTOBUF_PARTIAL, False):
            data = self._apply_partial(method, rt, ns, name, data)
        if method == "POST":
            if name is None:
                self._verb = "create"
                if not isinstance(data, dict):
                    raise APIError.bad_request(f"the body must be a {rt.kind} object")
                if ns is None and rt.namespaced:
                    raise self._method_not_allowed(method)
                self._send_object(201, store.create(rt, data, ns))
            elif sub == "binding":
                self._verb = "create"
                target = (data or {}).get("target") or {}
                node = target.get("name") if isinstance(target, dict) else None
                if not node:
                    raise APIError.bad_request("a Binding needs target.name (the node)")
                assert ns is not None
                store.bind_pod(ns, name, node)
                self._send_json(
                    201,
                    {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "metadata": {},
                        "status": "Success",
                        "code": 201,
                    },
                )
            else:
                raise self._method_not_allowed(method)
            return
        if name is None and method != "DELETE":
            raise self._method_not_allowed(method)
        if method == "PUT":
            self._verb = "update"
            if sub == "binding":
                raise self._method_not_allowed(method)
            if not isinstance(data, dict):
                raise APIError.bad_request(f"the body must be a {rt.kind} object")
            self._send_object(200, store.update_raw(rt, data, ns, name=name, subresource=sub))
            return
        if method == "PATCH":
            self._verb = "patch"
            if sub == "binding":
                raise self._method_not_allowed(method)
            assert name is not None
            if data is None:
                raise APIError.bad_request("the patch body is empty")
            self._send_object(200, store.patch_raw(rt, name, data, ctype, ns, subresource=sub))
            return
        if method == "DELETE":
            self._serve_delete(rt, ns, name, sub, query, data)
            return
        raise self._method_not_allowed(method)

    def _serve_stream(self, method: str, sub: str, namespace: str, name: str) -> None:
        """exec/attach/log/portforward: handed to the pod's node (see streaming)."""
        allowed = ("GET",) if sub == "log" else ("GET", "POST")
        if method not in allowed:
            raise self._method_not_allowed(method)
        self._verb = "get" if method == "GET" else "create"
        pod = self.api.store.get_raw(PODS, name, namespace)
        node_name = (pod.get("spec") or {}).get("nodeName")
        node = self.api.node_streams.get(str(node_name)) if node_name else None
        if node is None:
            where = (
                f"is on node {node_name}, which serves no {sub} streams"
                if node_name
                else "is not scheduled to a node yet"
            )
            raise APIError.bad_request(f"pod {namespace}/{name} {where}")
        streaming.serve(self, sub, pod, node)

    def answered(self, code: int) -> None:
        """A streaming answer's status line is about to go out: log the request now."""
        self._code = code
        self._log_request()

    def client_gone(self) -> bool:
        return self._client_gone()

    def _send_object(self, code: int, obj: Obj) -> None:
        if self._verb == "get" and _wants_table(self.headers.get("Accept")):
            meta = {"resourceVersion": obj["metadata"].get("resourceVersion", "")}
            self._send_json(
                code,
                _table_for(obj["kind"], [obj], meta, include_object=self._include_object()),
            )
            return
        self._send_json(code, obj)

    def _include_object(self) -> str:
        return self._query.get("includeObject") or "Metadata"

    def _serve_delete(
        self,
        rt: ResourceType,
        ns: str | None,
        name: str | None,
        sub: str | None,
        query: dict[str, str],
        data: Any,
    ) -> None:
        store = self.api.store
        opts = data if isinstance(data, dict) else {}
        grace_raw = query.get("gracePeriodSeconds", opts.get("gracePeriodSeconds"))
        grace: int | None = None
        if grace_raw not in (None, ""):
            try:
                grace = int(grace_raw)
            except (TypeError, ValueError) as exc:
                raise APIError.bad_request(f"invalid gracePeriodSeconds {grace_raw!r}") from exc
        if sub is not None:
            raise self._method_not_allowed("DELETE")
        if name is None:
            self._verb = "deletecollection"
            items = store.delete_collection(
                rt,
                ns,
                label_selector=query.get("labelSelector"),
                field_selector=query.get("fieldSelector"),
                grace_period_seconds=grace,
            )
            self._send_json(
                200,
                {
                    "kind": rt.list_kind,
                    "apiVersion": rt.api_version,
                    "metadata": {"resourceVersion": store.resource_version},
                    "items": items,
                },
            )
            return
        self._verb = "delete"
        pre = opts.get("preconditions") if isinstance(opts.get("preconditions"), dict) else None
        obj, removed = store.delete_raw(rt, name, ns, grace_period_seconds=grace, preconditions=pre)
        if rt.return_deleted_object or not removed:
            self._send_object(200, obj)
            return
        self._send_json(
            200,
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": {
                    "name": name,
                    "group": rt.group,
                    "kind": rt.plural,
                    "uid": obj["metadata"].get("uid", ""),
                },
            },
        )

    def _serve_list(
        self, rt: ResourceType, ns: str | None, query: dict[str, str], fsel: str
    ) -> None:
        items, rv = self.api.store.list_raw(
            rt, ns, label_selector=query.get("labelSelector"), field_selector=fsel
        )
        meta: Obj = {"resourceVersion": rv}
        token = query.get("continue")
        if token:
            try:
                state = json.loads(base64.urlsafe_b64decode(token.encode()))
                start = (str(state["start"][0]), str(state["start"][1]))
                meta["resourceVersion"] = rv = str(state["rv"])
            except (ValueError, KeyError, TypeError, IndexError) as exc:
                raise APIError.bad_request(f"invalid continue token {token!r}") from exc
            items = [
                o
                for o in items
                if (o["metadata"].get("namespace", ""), o["metadata"]["name"]) > start
            ]
        limit_raw = query.get("limit")
        if limit_raw:
            try:
                limit = int(limit_raw)
            except ValueError as exc:
                raise APIError.bad_request(f"invalid limit {limit_raw!r}") from exc
            if 0 < limit < len(items):
                last = items[limit - 1]["metadata"]
                state = {"rv": rv, "start": [last.get("namespace", ""), last["name"]]}
                meta["continue"] = base64.urlsafe_b64encode(_json_bytes(state)).decode()
                meta["remainingItemCount"] = len(items) - limit
                items = items[:limit]
        if _wants_table(self.headers.get("Accept")):
            table = _table_for(rt.kind, items, meta, include_object=self._include_object())
            self._send_json(200, table)
            return
        head = _json_bytes({"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": meta})[
            :-1
        ]
        body = head + b',"items":[' + b",".join(_json_bytes(o) for o in items) + b"]}"
        self._send(200, body)

    def _serve_watch(
        self, rt: ResourceType, ns: str | None, query: dict[str, str], fsel: str
    ) -> None:
        api = self.api
        timeout_raw = query.get("timeoutSeconds")
        try:
            timeout = float(timeout_raw) if timeout_raw else float(_DEFAULT_WATCH_TIMEOUT)
        except ValueError as exc:
            raise APIError.bad_request(f"invalid timeoutSeconds {timeout_raw!r}") from exc
        send_initial = query.get("sendInitialEvents")
        stop = api._watch_should_stop()
        events: Iterator[WatchEvent] = api.store.watch(
            rt,
            ns,
            label_selector=query.get("labelSelector"),
            field_selector=fsel,
            resource_version=query.get("resourceVersion"),
            timeout=timeout,
            send_initial_events=None if send_initial is None else send_initial == "true",
            allow_bookmarks=query.get("allowWatchBookmarks") == "true",
            should_stop=lambda: stop() or self._client_gone(),
        )
        head = (
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n"
            "Cache-Control: no-cache, private\r\n\r\n"
        )
        self._code = 200
        self._log_request()
        self.wfile.write(head.encode("latin-1"))
        as_table = _wants_table(self.headers.get("Accept"))
        first = True
        try:
            for event in events:
                if as_table and event.type in ("ADDED", "MODIFIED", "DELETED"):
                    table = _table_for(
                        rt.kind,
                        [event.raw],
                        {"resourceVersion": event.raw["metadata"].get("resourceVersion", "")},
                        include_object=self._include_object(),
                        headers=first,
                    )
                    first = False
                    event = WatchEvent(event.type, table)
                line = event.line()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
        if stop():
            self.close_connection = True
        raise _Done()
