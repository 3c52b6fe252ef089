"""A small Kubernetes REST client for the CNI path (standard library only).

pymultus makes a handful of API calls per CNI operation (GET the pod, GET
NADs, PATCH the pod's network-status, POST an event). Loading a full client
library would cost more than the calls themselves (see
docs/architecture.md: ``import kubernetes`` is 150 ms), so this is
``socket`` + ``json``, with ``ssl`` imported only for https servers and
nothing imported at all until the first request.

Behaviour, and why:

- one keep-alive HTTP/1.1 connection per client (a CNI ADD makes several
  calls in a row); a connection the server closed while idle is retried
  once at once. The transport is a small HTTP/1.1 client over ``socket``
  rather than ``http.client``: importing ``http.client`` costs 16-18 ms per
  process here (it pulls in ``email``, ``ssl``, ``urllib``), ``socket`` 2 ms,
  and every CNI ADD is a new process. The API server always answers with
  Content-Length or chunked bodies, which is all this needs to read;
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

A client is safe to share between threads: requests are serialised on its
one connection (the thick daemon should give each worker its own client).
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Generator, Iterator, Mapping

from pymultus.cni import jsonlite
from pymultus.cni.errors import (
    DECODE_FAILURE,
    INVALID_CONFIG,
    IO_FAILURE,
    TRY_AGAIN_LATER,
    CNIError,
)

TYPE_CHECKING = False  # importing typing costs ~2 ms per CNI call: mypy reads this as True
if TYPE_CHECKING:
    import _socket
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


class ProtocolError(ConnectionError):
    """The server's answer was not well-formed HTTP/1.1 (treated like a broken connection)."""


class _Response:
    """Status, headers and a body reader of one HTTP/1.1 response."""

    def __init__(self, reader: Any, method: str) -> None:
        self._reader = reader
        while True:
            line = reader.readline(65537)
            if not line:
                raise ConnectionResetError("the server closed the connection before answering")
            parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
                raise ProtocolError(f"bad HTTP status line {line[:80]!r}")
            self.version = parts[0]
            self.status = int(parts[1])
            self.headers: dict[str, str] = {}
            while True:
                h = reader.readline(65537)
                if not h:
                    raise ConnectionResetError("the server closed the connection mid-headers")
                if h in (b"\r\n", b"\n"):
                    break
                name, sep, value = h.decode("latin-1").partition(":")
                if not sep:
                    raise ProtocolError(f"bad HTTP header line {h[:80]!r}")
                self.headers[name.strip().lower()] = value.strip()
            if not 100 <= self.status < 200:
                break  # 1xx informational answers precede the real one
        self.chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        length = self.headers.get("content-length")
        self.length = int(length) if length and length.isdigit() else None
        no_body = method == "HEAD" or self.status in (204, 304)
        if no_body:
            self.chunked, self.length = False, 0
        self.will_close = (
            self.version == "HTTP/1.0"
            or self.headers.get("connection", "").lower() == "close"
            or (not self.chunked and self.length is None)
        )
        self._chunk_left = 0
        self._done = no_body

    def read(self) -> bytes:
        """The whole body."""
        if self._done:
            return b""
        if self.chunked:
            out = b"".join(iter(self.read_chunk, b""))
        elif self.length is not None:
            out = self._reader.read(self.length)
            if len(out) < self.length:
                raise ConnectionResetError("the server closed the connection mid-body")
        else:
            out = self._reader.read()
        self._done = True
        return bytes(out)

    def read_chunk(self) -> bytes:
        """The next chunk of a chunked body; b"" at its end."""
        if self._done:
            return b""
        line = self._reader.readline(65537)
        if not line:
            raise ConnectionResetError("the server closed the connection mid-chunk")
        try:
            size = int(line.split(b";")[0].strip(), 16)
        except ValueError:
            raise ProtocolError(f"bad chunk size line {line[:40]!r}") from None
        if size == 0:
            while self._reader.readline(65537) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            self._done = True
            return b""
        data = self._reader.read(size + 2)  # the chunk and its CRLF
        if len(data) < size + 2:
            raise ConnectionResetError("the server closed the connection mid-chunk")
        return bytes(data[:size])

    def lines(self) -> Iterator[bytes]:
        """Newline-delimited records of a streamed body (a watch)."""
        pending = b""
        while True:
            chunk = self.read_chunk() if self.chunked else self._reader.readline(1 << 20)
            if not chunk:
                if pending.strip():
                    yield pending
                return
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                if line.strip():
                    yield line


def _open_plain(host: str, port: int, timeout: float | None) -> _socket.socket:
    """``socket.create_connection`` on ``_socket``: each address in turn, the last error."""
    import _socket

    class _Socket(_socket.socket):
        """``_ssl`` keeps a weak reference to its socket: the C type has no slot for one."""

        __slots__ = ("__weakref__",)

    error: OSError | None = None
    # An ASCII host as bytes: a str goes through the idna codec, which imports re.
    name: str | bytes = host.encode("ascii") if host.isascii() else host
    for family, kind, proto, _, address in _socket.getaddrinfo(name, port, 0, _socket.SOCK_STREAM):
        sock = _Socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        return sock
    raise error if error is not None else OSError(f"no address for {host!r}")


class _SocketReader(io.RawIOBase):
    """A readable raw stream over a ``_socket`` (what ``socket.makefile`` wraps)."""

    def __init__(self, sock: _socket.socket) -> None:
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        received: int = self._sock.recv_into(buffer)
        return received


class _TLSStream(io.RawIOBase):
    """A TLS client stream over a ``_socket`` with ``_ssl`` (what ``ssl.SSLSocket`` wraps).

    The handshake happens here; the certificate and host name are checked by
    OpenSSL as the context says (``check_hostname``, ``verify_mode``), exactly
    as ``ssl.SSLContext.wrap_socket`` would have them checked.
    """

    def __init__(self, context: _ssl._SSLContext, sock: _socket.socket, host: str) -> None:
        self._sock = sock
        # _wrap_socket is what ssl.SSLContext.wrap_socket calls (not in typeshed).
        self._tls = context._wrap_socket(sock, False, host, owner=None, session=None)  # type: ignore[attr-defined]
        self._tls.do_handshake()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        import _ssl

        try:
            received: int = self._tls.read(len(buffer), buffer)
        except _ssl.SSLEOFError:  # a close without close_notify: end of stream
            return 0
        return received

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[self._tls.write(view) :]

    def close(self) -> None:
        super().close()
        self._sock.close()


class _Connection:
    """One HTTP/1.1 client connection, opened lazily, kept alive between requests."""

    def __init__(
        self, host: str, port: int, timeout: float | None, ssl_context: _ssl._SSLContext | None
    ) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.ssl_context = ssl_context
        self.sock: _TLSStream | _socket.socket | None = None
        self.reader: Any = None

    def connect(self) -> None:
        # The C ``_socket`` (and ``_ssl``) modules, as ``socket`` and ``ssl`` use
        # them: ``import socket`` brings ``enum`` and ``selectors``, ``import ssl``
        # ~15 ms of enum building to every CNI call (issue 16).
        raw = _open_plain(self.host, self.port, self.timeout)
        if self.ssl_context is None:
            self.sock = raw
            self.reader = io.BufferedReader(_SocketReader(raw))
            return
        try:
            tls = _TLSStream(self.ssl_context, raw, self.host)
        except BaseException:
            raw.close()
            raise
        self.sock = tls
        self.reader = io.BufferedReader(tls)

    def request(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes | None
    ) -> _Response:
        if self.sock is None:
            self.connect()
        assert self.sock is not None
        host = f"[{self.host}]" if ":" in self.host else self.host
        head = [f"{method} {target} HTTP/1.1", f"Host: {host}:{self.port}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        if body is not None or method in ("POST", "PUT", "PATCH"):
            head.append(f"Content-Length: {len(body or b'')}")
        # Head and body in one send: no Nagle/delayed-ACK stall.
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + (body or b""))
        return _Response(self.reader, method)

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
        if self.sock is not None:
            self.sock.close()
        self.sock = None
        self.reader = None


def _split_server(server: str) -> tuple[str, str, int, str]:
    """``https://host:port/prefix`` -> (scheme, host, port, prefix) without urllib."""
    scheme, sep, rest = server.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in ("http", "https"):
        raise CNIError(
            INVALID_CONFIG,
            f"Kubernetes API server {server!r} is not an http:// or https:// URL",
            "check the 'server' of the kubeconfig's cluster",
        )
    hostport, _, prefix = rest.partition("/")
    default = 443 if scheme == "https" else 80
    if hostport.startswith("["):  # [IPv6]:port
        host, _, after = hostport[1:].partition("]")
        port_text = after[1:] if after.startswith(":") else ""
    elif hostport.count(":") == 1:
        host, _, port_text = hostport.partition(":")
    else:
        host, port_text = hostport, ""
    try:
        port = int(port_text) if port_text else default
    except ValueError:
        raise CNIError(
            INVALID_CONFIG, f"Kubernetes API server {server!r} has a bad port {port_text!r}"
        ) from None
    if not host:
        raise CNIError(INVALID_CONFIG, f"Kubernetes API server {server!r} has no host")
    return scheme, host, port, ("/" + prefix.strip("/")) if prefix.strip("/") else ""


class KubeClient:
    """Kubernetes REST calls over one keep-alive connection (see the module doc)."""

    def __init__(
        self,
        access: ClusterAccess,
        *,
        timeout: float = 10.0,
        retry_for: float = 2.5,
        user_agent: str = "pymultus",
    ) -> None:
        import _thread  # built in: no import cost, unlike threading

        self.access = access
        self.timeout = timeout
        self.retry_for = retry_for
        self.user_agent = user_agent
        self._scheme, self._host, self._port, self._prefix = _split_server(access.server)
        self._conn: _Connection | None = None
        self._used = False  # the connection has answered at least once
        self._ssl: _ssl._SSLContext | None = None
        self._lock = _thread.allocate_lock()

    # ---- lifecycle ----

    def close(self) -> None:
        with self._lock:
            self._drop()

    def __enter__(self) -> KubeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None
        self._used = False

    # ---- transport ----

    def _ssl_context(self) -> _ssl._SSLContext:
        """What ``ssl.create_default_context`` makes, on ``_ssl`` (``ssl`` costs ~15 ms)."""
        if self._ssl is not None:
            return self._ssl
        import _ssl

        a = self.access
        try:
            # PROTOCOL_TLS_CLIENT: certificate and host name required, as ssl's default.
            ctx = _ssl._SSLContext(_ssl.PROTOCOL_TLS_CLIENT)
            if a.insecure:
                ctx.check_hostname = False
                ctx.verify_mode = _ssl.CERT_NONE
            elif a.ca_data:
                # client-go: certificate-authority-data wins over the file.
                ctx.load_verify_locations(None, None, a.ca_data.decode("ascii"))
            elif a.ca_file:
                ctx.load_verify_locations(a.ca_file)
            else:
                ctx.set_default_verify_paths()
            if a.client_cert_file:
                ctx.load_cert_chain(a.client_cert_file, a.client_key_file)
            elif a.client_cert_data:
                self._load_cert_data(ctx, a.client_cert_data, a.client_key_data or b"")
        except (OSError, ValueError, _ssl.SSLError) as exc:
            raise CNIError(
                INVALID_CONFIG,
                f"cannot set up TLS for {a.server}: {exc}",
                "check the kubeconfig's certificate-authority and client certificate",
            ) from exc
        self._ssl = ctx
        return ctx

    @staticmethod
    def _load_cert_data(ctx: _ssl._SSLContext, cert: bytes, key: bytes) -> None:
        """ssl only loads client certificates from files: use a private temporary directory."""
        import shutil
        import tempfile

        tmp = tempfile.mkdtemp(prefix="pymultus-tls-")
        try:
            cert_path = os.path.join(tmp, "client.crt")
            key_path = os.path.join(tmp, "client.key")
            for path, data in ((cert_path, cert), (key_path, key)):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
            ctx.load_cert_chain(cert_path, key_path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _new_connection(self, timeout: float | None) -> _Connection:
        ctx = self._ssl_context() if self._scheme == "https" else None
        return _Connection(self._host, self._port, timeout, ctx)

    def _connection(self) -> _Connection:
        if self._conn is None:
            self._conn = self._new_connection(self.timeout)
            self._used = False
        return self._conn

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

    def _once(
        self, method: str, path: str, payload: bytes | None, content_type: str
    ) -> tuple[int, str | None, bytes]:
        conn = self._connection()
        headers = {"Accept": "application/json", "User-Agent": self.user_agent}
        token = self._bearer()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if payload is not None:
            headers["Content-Type"] = content_type
        resp = conn.request(method, self._prefix + path, headers, payload)
        data = resp.read()
        self._used = True
        if resp.will_close:
            self._drop()
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
            reused = self._used
            try:
                status, retry_after, data = self._once(method, path, payload, content_type)
            except (OSError, ValueError) as exc:
                self._drop()
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
        with self._lock:
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

        Uses its own connection (the shared one stays free for requests). An
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
            headers = {"Accept": "application/json", "User-Agent": self.user_agent}
            token = self._bearer()
            if token:
                headers["Authorization"] = f"Bearer {token}"
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
