"""HTTP/1.1 client connections over ``_socket`` and ``_ssl`` (standard library only).

The transport of :mod:`pymultus.kube.client`. Why not ``http.client``:
importing it costs 16-18 ms per process here (it pulls in ``email``,
``ssl``, ``urllib``), ``socket`` 2 ms, and every thin CNI call is a new
process. Why not ``socket``/``ssl`` either: ``import socket`` brings
``enum`` and ``selectors``, ``import ssl`` ~15 ms of enum building (issue
16), so this drives the C modules they wrap. The API server always answers
with Content-Length or chunked bodies, which is all this needs to read.

A :class:`Connection` belongs to one caller at a time (the client's pool
hands it out); nothing here locks.
"""

from __future__ import annotations

import io
import os

from pymultus.cni.errors import INVALID_CONFIG, CNIError

TYPE_CHECKING = False  # importing typing costs ~2 ms per CNI call: mypy reads this as True
if TYPE_CHECKING:
    import _socket
    import _ssl
    from collections.abc import Iterator, Mapping
    from typing import Any

    from pymultus.kube.kubeconfig import ClusterAccess


class ProtocolError(ConnectionError):
    """The server's answer was not well-formed HTTP/1.1 (treated like a broken connection)."""


class Response:
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


def open_plain(host: str, port: int, timeout: float | None) -> _socket.socket:
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


class SocketReader(io.RawIOBase):
    """A readable raw stream over a ``_socket`` (what ``socket.makefile`` wraps)."""

    def __init__(self, sock: _socket.socket) -> None:
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        received: int = self._sock.recv_into(buffer)
        return received


class TLSStream(io.RawIOBase):
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


class Connection:
    """One HTTP/1.1 client connection, opened lazily, kept alive between requests."""

    def __init__(
        self, host: str, port: int, timeout: float | None, ssl_context: _ssl._SSLContext | None
    ) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.ssl_context = ssl_context
        self.sock: TLSStream | _socket.socket | None = None
        self.reader: Any = None
        self.used = False  # it has answered at least once (a reset then means "stale")

    def connect(self) -> None:
        # The C ``_socket`` (and ``_ssl``) modules, as ``socket`` and ``ssl`` use
        # them: ``import socket`` brings ``enum`` and ``selectors``, ``import ssl``
        # ~15 ms of enum building to every CNI call (issue 16).
        raw = open_plain(self.host, self.port, self.timeout)
        if self.ssl_context is None:
            self.sock = raw
            self.reader = io.BufferedReader(SocketReader(raw))
            return
        try:
            tls = TLSStream(self.ssl_context, raw, self.host)
        except BaseException:
            raw.close()
            raise
        self.sock = tls
        self.reader = io.BufferedReader(tls)

    def request(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes | None
    ) -> Response:
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
        return Response(self.reader, method)

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
        if self.sock is not None:
            self.sock.close()
        self.sock = None
        self.reader = None
        self.used = False


def split_server(server: str) -> tuple[str, str, int, str]:
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


def tls_context(access: ClusterAccess) -> _ssl._SSLContext:
    """What ``ssl.create_default_context`` makes, on ``_ssl`` (``ssl`` costs ~15 ms).

    One context serves every connection of a client: OpenSSL contexts are
    safe to share between threads once set up.
    """
    import _ssl

    a = access
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
            _load_cert_data(ctx, a.client_cert_data, a.client_key_data or b"")
    except (OSError, ValueError, _ssl.SSLError) as exc:
        raise CNIError(
            INVALID_CONFIG,
            f"cannot set up TLS for {a.server}: {exc}",
            "check the kubeconfig's certificate-authority and client certificate",
        ) from exc
    return ctx


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
