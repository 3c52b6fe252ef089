"""A small Kubernetes REST client for the CNI path (standard library only).

pymultus makes a handful of API calls per CNI operation (GET the pod, GET
NADs, PATCH the pod's network-status, POST an event). Loading a full client
library would cost more than the calls themselves (see
docs/architecture.md: ``import kubernetes`` is 150 ms), so this is
``socket`` + ``json``, with ``ssl`` imported only for https servers and
nothing imported at all until the first request.

Behaviour, and why:

- keep-alive HTTP/1.1 connections (a CNI ADD makes several calls in a
  row), a connection per request in flight (:mod:`pymultus.kube.pool`);
  a connection the server closed while idle is retried once at once. The
  transport (:mod:`pymultus.kube.transport`) is a small HTTP/1.1 client over
  the C ``_socket``/``_ssl`` modules rather than ``http.client`` (16-18 ms
  to import, and every thin CNI call is a new process);
- the bearer token is re-read from ``token_file`` at every request and once
  more after a 401, so rotated service-account tokens just work;
- connection refused/reset, 429, 500, 502, 503 and 504 are retried with a
  short back-off for at most ``retry_for`` seconds (the reference waits
  about 2.5 s, which is also why its DEL stalls when the API is down:
  callers on the DEL path pass ``retry_for=0``), then CNIError(11
  TRY_AGAIN_LATER), the CNI spec's code for transient conditions;
- 401/403 after the re-read -> CNIError(7 INVALID_CONFIG): a credential the
  API server rejects is a configuration fault (the ``kubeconfig`` named in
  the network configuration, its token, or RBAC) that retrying will not fix;
  the message says "check the kubeconfig / service-account token";
- other 4xx -> :class:`KubeAPIError` (code 5 IO_FAILURE) carrying the
  Status message, the HTTP status and reason; a body that is not JSON ->
  CNIError(6 DECODE_FAILURE).

A client is safe to share between threads without serialising them: each
request takes a connection of its own from the pool and gives it back once
its answer is read; no lock is held across network I/O, retries or sleeps
(issue 16). The thick daemon's workers and watch caches share one client.
"""

from __future__ import annotations

import os
import time

# collections.abc without importing collections (~1.3 ms per CNI call, issue 16)
from _collections_abc import Generator, Mapping

from pymultus.cni import jsonlite
from pymultus.cni.errors import (
    DECODE_FAILURE,
    INVALID_CONFIG,
    IO_FAILURE,
    TRY_AGAIN_LATER,
    CNIError,
)
from pymultus.kube.pool import ConnectionPool
from pymultus.kube.transport import Connection, split_server, tls_context

TYPE_CHECKING = False  # importing typing costs ~2 ms per CNI call: mypy reads this as True
if TYPE_CHECKING:
    import _ssl
    from typing import Any

    from pymultus.kube.kubeconfig import ClusterAccess

NAD_GROUP_VERSION = "k8s.cni.cncf.io/v1"
NAD_PLURAL = "network-attachment-definitions"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_AUTH_HINT = "check the kubeconfig / service-account token"


class KubeAPIError(CNIError):
    """The API server refused a request: ``status`` is the HTTP code, ``reason`` the Status's."""

    def __init__(
        self,
        code: int,
        msg: str,
        details: str = "",
        *,
        status: int = 0,
        reason: str = "",
        body: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(code, msg, details)
        self.status = status
        self.reason = reason
        self.body: Mapping[str, Any] = body or {}


_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _quote(segment: str) -> str:
    """Percent-encode one URL path segment or query value (RFC 3986 unreserved kept)."""
    data = segment.encode("utf-8")
    if segment in (".", ".."):
        # Unreserved characters, but as a whole segment they would walk the
        # URL path (RFC 3986 5.2.4): K8S_POD_NAMESPACE=.. must not turn
        # /api/v1/namespaces/../pods/x into /api/v1/pods/x.
        return "%2E" * len(segment)
    if all(b in _UNRESERVED for b in data):
        return segment
    return "".join(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in data)


class KubeClient:
    """Kubernetes REST calls over pooled keep-alive connections (see the module doc)."""

    def __init__(
        self,
        access: ClusterAccess,
        *,
        timeout: float = 10.0,
        retry_for: float = 2.5,
        user_agent: str = "pymultus",
        max_idle: int = 8,
    ) -> None:
        import _thread  # built in: no import cost, unlike threading

        self.access = access
        self.timeout = timeout
        self.retry_for = retry_for
        self.user_agent = user_agent
        self._scheme, self._host, self._port, self._prefix = split_server(access.server)
        self._ssl: _ssl._SSLContext | None = None
        # Guards only the one-time TLS set-up (reading the CA and client
        # certificate files), never a request.
        self._ssl_lock = _thread.allocate_lock()
        self.pool = ConnectionPool(lambda: self._new_connection(self.timeout), max_idle)

    # ---- lifecycle ----

    def close(self) -> None:
        """Close the idle connections (the client stays usable: it reconnects)."""
        self.pool.close()

    def __enter__(self) -> KubeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- transport ----

    def _ssl_context(self) -> _ssl._SSLContext:
        if self._ssl is None:
            with self._ssl_lock:
                if self._ssl is None:
                    self._ssl = tls_context(self.access)
        return self._ssl

    def _new_connection(self, timeout: float | None) -> Connection:
        ctx = self._ssl_context() if self._scheme == "https" else None
        return Connection(self._host, self._port, timeout, ctx)

    def _bearer(self) -> str | None:
        a = self.access
        if a.token_file:
            try:
                with open(a.token_file, encoding="utf-8") as fh:
                    token = fh.read().strip()
                if token:
                    return token
            except OSError as exc:
                if not a.token:
                    raise CNIError(
                        INVALID_CONFIG,
                        f"cannot read the bearer token file {a.token_file}: "
                        f"{exc.strerror or exc}; {_AUTH_HINT}",
                    ) from exc
        return a.token

    def _headers(self, payload: bytes | None, content_type: str) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": self.user_agent}
        token = self._bearer()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if payload is not None:
            headers["Content-Type"] = content_type
        return headers

    def _once(
        self,
        conn: Connection,
        method: str,
        path: str,
        headers: Mapping[str, str],
        payload: bytes | None,
    ) -> tuple[int, str | None, bytes]:
        """One request on ``conn``; on any failure ``conn`` is closed (its state is unknown)."""
        try:
            resp = conn.request(method, self._prefix + path, headers, payload)
            data = resp.read()
        except BaseException:
            conn.close()
            raise
        conn.used = True
        if resp.will_close:
            conn.close()
        return resp.status, resp.headers.get("retry-after"), data

    def _is_tls_fault(self, exc: BaseException) -> bool:
        if self._scheme != "https":
            return False
        import _ssl

        return isinstance(exc, _ssl.SSLCertVerificationError)

    def _exchange(
        self,
        method: str,
        path: str,
        payload: bytes | None,
        content_type: str,
        retry_for: float,
    ) -> tuple[int, bytes]:
        """One request with retries; returns (HTTP status, body) of the final answer."""
        what = f"{method} {self._prefix}{path}"
        deadline = time.monotonic() + retry_for
        backoff = 0.05
        reread_401 = False
        while True:
            # A connection of this request's own: taken from the pool for one
            # attempt and given back before any back-off sleep.
            headers = self._headers(payload, content_type)  # the token re-read each time
            conn = self.pool.take()
            reused = conn.used
            try:
                status, retry_after, data = self._once(conn, method, path, headers, payload)
            except (OSError, ValueError) as exc:
                # _once closed the connection: dropped, never given back.
                if self._is_tls_fault(exc):
                    raise CNIError(
                        INVALID_CONFIG,
                        f"TLS verification of the Kubernetes API {self.access.server} failed "
                        f"({what}): {exc}",
                        "check the kubeconfig's certificate-authority",
                    ) from exc
                if reused and isinstance(
                    exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)
                ):
                    continue  # the server closed the idle keep-alive connection: reconnect
                if time.monotonic() + backoff > deadline:
                    raise CNIError(
                        TRY_AGAIN_LATER,
                        f"Kubernetes API {self.access.server} unreachable ({what}): {exc}",
                        f"gave up after {retry_for:.1f}s of retries",
                    ) from exc
                time.sleep(backoff)
                backoff = min(backoff * 2, 0.5)
                continue
            self.pool.give(conn)
            if status == 401 and not reread_401:
                reread_401 = True  # the token file may have just been rotated: read it again
                continue
            if status in RETRY_STATUSES:
                wait = backoff
                if retry_after and retry_after.isdigit():
                    wait = max(wait, min(float(retry_after), 1.0))
                if time.monotonic() + wait > deadline:
                    raise self._error(status, data, what, TRY_AGAIN_LATER)
                time.sleep(wait)
                backoff = min(backoff * 2, 0.5)
                continue
            return status, data

    def _error(self, status: int, data: bytes, what: str, code: int) -> KubeAPIError:
        body: dict[str, Any] = {}
        try:
            decoded = jsonlite.loads(data) if data else {}
            if isinstance(decoded, dict):
                body = decoded
        except ValueError:
            pass
        message = str(body.get("message") or data[:200].decode("utf-8", "replace") or "no body")
        reason = str(body.get("reason") or "")
        server = self.access.server
        if status in (401, 403):
            return KubeAPIError(
                INVALID_CONFIG,
                f"Kubernetes API {server} refused {what} with {status} {reason or 'Forbidden'}: "
                f"{message}; {_AUTH_HINT}",
                status=status,
                reason=reason,
                body=body,
            )
        if code == TRY_AGAIN_LATER:
            return KubeAPIError(
                TRY_AGAIN_LATER,
                f"Kubernetes API {server} overloaded or failing ({what}): {status} {message}",
                f"gave up after {self.retry_for:.1f}s of retries",
                status=status,
                reason=reason,
                body=body,
            )
        return KubeAPIError(
            code,
            f"Kubernetes API {server} rejected {what}: {status} {reason}: {message}",
            status=status,
            reason=reason,
            body=body,
        )

    def _decode(self, data: bytes, what: str) -> dict[str, Any]:
        try:
            decoded = jsonlite.loads(data) if data else {}
        except ValueError as exc:
            raise CNIError(
                DECODE_FAILURE,
                f"Kubernetes API {self.access.server} answered {what} with a body that is not "
                f"JSON: {exc}",
                data[:200].decode("utf-8", "replace"),
            ) from exc
        if not isinstance(decoded, dict):
            raise CNIError(
                DECODE_FAILURE,
                f"Kubernetes API {self.access.server} answered {what} with JSON that is not an "
                "object",
            )
        return decoded

    # ---- public API ----

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
        *,
        retry_for: float | None = None,
    ) -> dict[str, Any]:
        """Send one request; the decoded JSON answer, or CNIError as described above."""
        result = self._request(method, path, body, content_type, retry_for, allow_404=False)
        assert result is not None
        return result

    def _request(
        self,
        method: str,
        path: str,
        body: Any,
        content_type: str,
        retry_for: float | None,
        *,
        allow_404: bool,
    ) -> dict[str, Any] | None:
        payload = None
        if body is not None:
            payload = body if isinstance(body, bytes) else jsonlite.dumps(body).encode()
        budget = self.retry_for if retry_for is None else retry_for
        what = f"{method} {self._prefix}{path}"
        status, data = self._exchange(method, path, payload, content_type, budget)
        if 200 <= status < 300:
            return self._decode(data, what)
        if status == 404 and allow_404:
            return None
        raise self._error(status, data, what, IO_FAILURE)

    def get(self, path: str, *, retry_for: float | None = None) -> dict[str, Any] | None:
        """GET ``path``; None when the object does not exist (404)."""
        return self._request("GET", path, None, "application/json", retry_for, allow_404=True)

    def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.get(f"/api/v1/namespaces/{_quote(namespace)}/pods/{_quote(name)}")

    def get_nad(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.get(
            f"/apis/{NAD_GROUP_VERSION}/namespaces/{_quote(namespace)}/{NAD_PLURAL}/{_quote(name)}"
        )

    def list_nads(self, namespace: str | None = None) -> list[dict[str, Any]]:
        """NetworkAttachmentDefinitions of one namespace, or of all when None."""
        if namespace:
            path = f"/apis/{NAD_GROUP_VERSION}/namespaces/{_quote(namespace)}/{NAD_PLURAL}"
        else:
            path = f"/apis/{NAD_GROUP_VERSION}/{NAD_PLURAL}"
        items = self.request("GET", path).get("items") or []
        return [i for i in items if isinstance(i, dict)]

    def patch_pod_status_annotations(
        self, namespace: str, name: str, annotations: Mapping[str, str | None]
    ) -> dict[str, Any] | None:
        """Set (None: remove) pod annotations through ``pods/status``; None if the pod is gone.

        A JSON merge patch (RFC 7386) of ``metadata.annotations`` touches only
        the keys given, so other writers' annotations are never lost and no
        GET/update conflict loop is needed (the reference does GET + update).
        """
        path = f"/api/v1/namespaces/{_quote(namespace)}/pods/{_quote(name)}/status"
        body = {"metadata": {"annotations": dict(annotations)}}
        return self._request(
            "PATCH", path, body, "application/merge-patch+json", None, allow_404=True
        )

    def create_event(
        self,
        namespace: str,
        involved: Mapping[str, Any],
        reason: str,
        message: str,
        type: str = "Normal",
        source_component: str = "pymultus",
        *,
        host: str | None = None,
    ) -> dict[str, Any]:
        """POST a core/v1 Event about ``involved`` (an object or an ObjectReference)."""
        meta = involved.get("metadata")
        if isinstance(meta, Mapping):
            ref = {
                "kind": involved.get("kind", "Pod"),
                "apiVersion": involved.get("apiVersion", "v1"),
                "namespace": meta.get("namespace", namespace),
                "name": meta.get("name", ""),
                "uid": meta.get("uid", ""),
                "resourceVersion": meta.get("resourceVersion", ""),
            }
        else:
            ref = dict(involved)
        ref = {k: v for k, v in ref.items() if v not in (None, "")}
        node = host or os.uname().nodename
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                # Named like client-go's recorder: <object>.<hex nanoseconds>.
                "name": f"{ref.get('name', 'object')}.{time.time_ns():x}",
                "namespace": namespace,
            },
            "involvedObject": ref,
            "reason": reason,
            "message": message,
            "type": type,
            "source": {"component": source_component, "host": node},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "reportingComponent": source_component,
            "reportingInstance": node,
        }
        return self.request("POST", f"/api/v1/namespaces/{_quote(namespace)}/events", event)

    def watch(
        self,
        path: str,
        *,
        resource_version: str | None = None,
        timeout_seconds: int | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Generator[tuple[str, dict[str, Any]], None, None]:
        """Stream ``(type, object)`` watch events of a collection ``path``.

        Uses a connection of its own, outside the pool (it stays open for the
        stream's life, with the stream's read timeout). An
        ``ERROR`` event (e.g. 410 Expired: re-list and watch again) is yielded
        like any other; the stream ends when the server closes it.
        """

        query: dict[str, str] = {"watch": "true", **(params or {})}
        if resource_version:
            query["resourceVersion"] = resource_version
        if timeout_seconds is not None:
            query["timeoutSeconds"] = str(timeout_seconds)
        target = f"{self._prefix}{path}?" + "&".join(
            f"{_quote(k)}={_quote(v)}" for k, v in query.items()
        )
        read_timeout = None if timeout_seconds is None else timeout_seconds + self.timeout
        conn = self._new_connection(read_timeout)
        try:
            headers = self._headers(None, "")
            try:
                resp = conn.request("GET", target, headers, None)
            except (OSError, ValueError) as exc:
                raise CNIError(
                    TRY_AGAIN_LATER,
                    f"Kubernetes API {self.access.server} unreachable (watch {path}): {exc}",
                ) from exc
            if resp.status != 200:
                raise self._error(resp.status, resp.read(), f"watch {path}", IO_FAILURE)
            try:
                for line in resp.lines():
                    event = self._decode(line, f"watch {path}")
                    obj = event.get("object")
                    yield str(event.get("type", "")), obj if isinstance(obj, dict) else {}
            except (OSError, ValueError):
                # A cut stream ends the watch like a closed one: watch again from the
                # last resourceVersion seen (what client-go's reflector does).
                return
        finally:
            conn.close()
