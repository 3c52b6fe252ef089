"""The client end of a remote command (exec, attach) on a runtime's streaming server.

A CRI runtime does not run ``kubectl exec`` itself over gRPC: ``Exec`` and
``Attach`` answer a one-time URL on its streaming server, and the kubelet
(and, since Kubernetes 1.30, the API server's stream translator) connects
there as a client of the remotecommand protocol. containerd 1.6's server
(pkg/cri/streaming) speaks SPDY/3.1 with ``v4.channel.k8s.io`` .. v1 and
WebSocket with ``v4.channel.k8s.io`` and the older channel protocols, *not*
``v5.channel.k8s.io``. We speak SPDY ``v4.channel.k8s.io`` to it, as the real
API server's translator does, because only SPDY can half-close stdin (a v4
WebSocket has no way to say "end of input"); the client side of the API
server still gets v5 over WebSocket, or SPDY (:mod:`.streaming`).

The session (client-go ``remotecommand`` v4, in order): HTTP upgrade to
``SPDY/3.1`` with ``X-Stream-Protocol-Version: v4.channel.k8s.io``; one
stream per channel, named by its ``streamType`` header, the ``error`` stream
first, then ``stdin``, ``stdout``, ``stderr`` (no stderr with a TTY) and
``resize`` (TTY only); output until the runtime writes a JSON
``metav1.Status`` on the error stream and closes the connection.

What the runtime's streams carry is handed to the API server's side as a
:class:`~harness.backends.local.podio.PodProcess`, so nothing above this
module knows whether a command runs in a container or in a network namespace.
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
from typing import IO, Any
from urllib.parse import urlsplit

from harness.backends.local import spdy
from harness.backends.local.nsutil import connect_in_netns
from harness.backends.local.podio import StreamUnavailable

PROTOCOL = "v4.channel.k8s.io"
_MAX_HEAD = 64 * 1024
CONNECT_TIMEOUT = 10.0


class SocketBytes:
    """A connected socket as the SPDY session's byte stream (bytes after the HTTP head first)."""

    def __init__(self, sock: socket.socket, leftover: bytes = b"") -> None:
        self.sock = sock
        self._leftover = leftover

    def read(self, size: int, /) -> bytes:
        if self._leftover:
            data, self._leftover = self._leftover[:size], self._leftover[size:]
            return data
        try:
            return self.sock.recv(size)
        except OSError:
            return b""

    def write(self, data: bytes, /) -> None:
        self.sock.sendall(data)

    def flush(self) -> None:
        """sendall has sent everything."""

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.sock.close()


def upgrade_request(url: str, protocol: str) -> bytes:
    """The HTTP/1.1 request that upgrades a connection to SPDY/3.1 at ``url``."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return (
        f"POST {target or '/'} HTTP/1.1\r\n"
        f"Host: {parts.netloc}\r\n"
        "Connection: Upgrade\r\n"
        "Upgrade: SPDY/3.1\r\n"
        f"X-Stream-Protocol-Version: {protocol}\r\n"
        "Content-Length: 0\r\n"
        "\r\n"
    ).encode()


def parse_response_head(head: bytes) -> tuple[int, dict[str, str]]:
    """(status code, lower-cased headers) of an HTTP response head."""
    lines = head.decode("latin-1").split("\r\n")
    try:
        code = int(lines[0].split(" ", 2)[1])
    except (IndexError, ValueError):
        raise StreamUnavailable(f"the runtime's streaming server answered {lines[0]!r}") from None
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return code, headers


def open_upgraded(netns: str | None, url: str, protocol: str) -> SocketBytes:
    """Connect to ``url`` (inside the network namespace file ``netns``) and upgrade.

    A refusal (anything but 101, e.g. an expired one-time token) is a
    StreamUnavailable naming the status and the server's own words."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname is None:
        raise StreamUnavailable(f"the runtime's stream URL {url!r} is not http://host:port/...")
    port = parts.port or 80
    try:
        sock = connect_in_netns(netns, parts.hostname, port, timeout=CONNECT_TIMEOUT)
    except OSError as exc:
        raise StreamUnavailable(f"cannot reach the runtime's stream server {url}: {exc}") from exc
    try:
        sock.sendall(upgrade_request(url, protocol))
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk or len(data) > _MAX_HEAD:
                raise StreamUnavailable(f"the runtime's streaming server at {url} closed early")
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        code, headers = parse_response_head(head)
        if code != 101:
            body = rest.decode(errors="replace").strip()
            raise StreamUnavailable(
                f"the runtime's streaming server refused the stream ({code}): {body or head!r}"
            )
        chosen = headers.get("x-stream-protocol-version", "")
        if chosen and chosen != protocol:
            raise StreamUnavailable(f"the runtime's stream server chose {chosen}, not {protocol}")
    except BaseException:
        sock.close()
        raise
    sock.settimeout(None)
    return SocketBytes(sock, rest)


class StreamReader:
    """One inbound SPDY stream as a file: ``read1`` blocks for data, b"" at its end."""

    def __init__(self, stream: spdy.Stream) -> None:
        self._chunks: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self._buffer = b""
        self._ended = False
        stream.listen(self._chunks.put)

    def read1(self, size: int = 65536) -> bytes:
        if not self._buffer and not self._ended:
            self._buffer = self._chunks.get()
            if not self._buffer:
                self._ended = True
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    read = read1


class StreamWriter:
    """An outbound SPDY stream as a file: ``close`` half-closes it (FIN: end of stdin)."""

    def __init__(self, stream: spdy.Stream) -> None:
        self._stream = stream

    def write(self, data: bytes) -> int:
        self._stream.write(bytes(data))
        return len(data)

    def flush(self) -> None:
        """Each write is sent at once."""

    def close(self) -> None:
        self._stream.close()


def decode_status(data: bytes) -> tuple[int, dict[str, Any] | None]:
    """The exit code and, unless it is a plain exit, the runtime's Status (v4 error stream).

    Success is 0; Failure with reason NonZeroExitCode carries the code as its
    ExitCode cause (what kubectl exits with); any other Failure (the command
    could not start ...) is passed on as the runtime wrote it, exit code 1."""
    if not data.strip():
        failure = {
            "metadata": {},
            "status": "Failure",
            "reason": "InternalError",
            "message": "the runtime's stream ended without a status",
        }
        return 1, failure
    try:
        status = json.loads(data)
    except ValueError:
        text = data.decode(errors="replace")
        return 1, {"metadata": {}, "status": "Failure", "reason": "InternalError", "message": text}
    if status.get("status") == "Success":
        return 0, None
    if status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                with contextlib.suppress(TypeError, ValueError):
                    return int(cause.get("message")), None
    return 1, status


class RemoteProcess:
    """A command a runtime's streaming server runs, as a PodProcess."""

    def __init__(self, io: SocketBytes, *, stdin: bool, tty: bool) -> None:
        self._io = io
        self._session = spdy.Session(io, self._unexpected)
        self._error_data = b""
        self._done = threading.Event()
        self.failure: dict[str, Any] | None = None
        error = self._session.open({"streamType": "error"})
        error.listen(self._on_error)
        self.stdin: IO[bytes] | None = None
        if stdin:
            self.stdin = StreamWriter(self._session.open({"streamType": "stdin"}))  # type: ignore[assignment]
        self.stdout: IO[bytes] | None = StreamReader(self._session.open({"streamType": "stdout"}))  # type: ignore[assignment]
        self.stderr: IO[bytes] | None = None
        if not tty:
            self.stderr = StreamReader(self._session.open({"streamType": "stderr"}))  # type: ignore[assignment]
        self._resize = self._session.open({"streamType": "resize"}) if tty else None
        self._reader = threading.Thread(target=self._session.run, name="cri-stream", daemon=True)
        self._reader.start()

    @staticmethod
    def _unexpected(stream: spdy.Stream) -> None:
        stream.reset()  # the server opens no streams in this protocol

    def _on_error(self, data: bytes) -> None:
        if data:
            self._error_data += data
        else:
            self._done.set()

    def resize(self, width: int, height: int) -> None:
        if self._resize is not None:
            self._resize.write(json.dumps({"Width": width, "Height": height}).encode())

    def wait(self) -> int:
        self._done.wait()
        code, self.failure = decode_status(self._error_data)
        return code

    def kill(self) -> None:
        """Drop the connection: the runtime ends the session (and closes the command's stdin)."""
        self._session.closed = True
        self._io.close()
        self._reader.join(timeout=5)


def remote_command(netns: str | None, url: str, *, stdin: bool, tty: bool) -> RemoteProcess:
    """Start the command behind a CRI Exec/Attach ``url`` (reached inside ``netns``)."""
    io = open_upgraded(netns, url, PROTOCOL)
    try:
        return RemoteProcess(io, stdin=stdin, tty=tty)
    except BaseException:
        io.close()
        raise
