"""``pods/portforward``: kubectl's port-forward protocol over a SPDY session.

For every local connection kubectl opens two SPDY streams with the same
``requestID`` header: ``streamType: error`` and ``streamType: data``, both
naming the pod ``port`` (protocol ``portforward.k8s.io``). The server
connects to that port in the pod (through the node, :mod:`podio`), copies
bytes both ways on the data stream, and writes a message on the error
stream when the connection cannot be made; closing either side of the TCP
connection half-closes the stream. The SPDY session runs either directly
on the upgraded HTTP connection or inside a WebSocket
(``SPDY/3.1+portforward.k8s.io``, kubectl's default since 1.31).

When the node's runtime has a port-forward server of its own (CRI
``PortForward``, containerd nodes), the session is not served here: the
client's SPDY bytes are relayed to the runtime's server unchanged
(:func:`relay`), as a kubelet proxies them; out of the WebSocket tunnel, as
the API server's tunnel does since 1.31.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from typing import Any

from harness.backends.local import spdy, websocket
from harness.backends.local.podio import StreamUnavailable

PROTOCOL = "portforward.k8s.io"
TUNNEL_PROTOCOL = "SPDY/3.1+portforward.k8s.io"


class WebSocketBytes:
    """The binary messages of a WebSocket as one byte stream (the SPDY tunnel)."""

    def __init__(self, conn: websocket.Connection) -> None:
        self._conn = conn
        self._buffer = b""

    def read(self, size: int, /) -> bytes:
        while not self._buffer:
            try:
                message = self._conn.receive()
            except websocket.ProtocolError as exc:
                self._conn.close(exc.code, str(exc))
                return b""
            if message is None:
                return b""
            self._buffer = message
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def write(self, data: bytes, /) -> None:
        self._conn.send(data)

    def flush(self) -> None:
        """Every write is one message already."""


class Forwarder:
    """Pairs each request's error and data streams and connects them to the pod."""

    def __init__(self, connect: Callable[[int], socket.socket], describe: str) -> None:
        self._connect = connect
        self._describe = describe
        self._lock = threading.Lock()
        self._errors: dict[str, spdy.Stream] = {}
        self.sockets: list[socket.socket] = []

    def on_stream(self, stream: spdy.Stream) -> None:
        kind = stream.headers.get("streamtype", "")
        request = stream.headers.get("requestid", "")
        if kind == "error":
            with self._lock:
                self._errors[request] = stream
            stream.listen(lambda _data: None)
        elif kind == "data":
            with self._lock:
                error = self._errors.pop(request, None)
            threading.Thread(target=self._forward, args=(stream, error), daemon=True).start()
        else:
            stream.reset()

    def _forward(self, data: spdy.Stream, error: spdy.Stream | None) -> None:
        text = data.headers.get("port", "")
        try:
            port = int(text)
            if not 0 < port < 65536:
                raise ValueError(text)
        except ValueError:
            self._fail(data, error, f"invalid port {text!r}")
            return
        try:
            sock = self._connect(port)
        except (StreamUnavailable, OSError) as exc:
            self._fail(data, error, f"error forwarding port {port} to {self._describe}: {exc}")
            return
        with self._lock:
            self.sockets.append(sock)

        def inbound(chunk: bytes) -> None:
            try:
                if chunk:
                    sock.sendall(chunk)
                else:
                    sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass

        data.listen(inbound)
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data.write(chunk)
        except OSError:
            pass
        finally:
            data.close()
            if error is not None:
                error.close()

    @staticmethod
    def _fail(data: spdy.Stream, error: spdy.Stream | None, message: str) -> None:
        if error is not None:
            error.write(message.encode(), fin=True)
        data.close()

    def close(self) -> None:
        with self._lock:
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.close()
            self.sockets.clear()


def serve_session(stream: Any, connect: Callable[[int], socket.socket], describe: str) -> None:
    """Run one port-forward session until the client goes away."""
    forwarder = Forwarder(connect, describe)
    session = spdy.Session(stream, forwarder.on_stream)
    try:
        session.run()
    finally:
        forwarder.close()


def relay(client: Any, upstream: Any) -> None:
    """Copy bytes both ways between the client's session and the runtime's until
    either side ends; the upstream connection is closed on the way out."""

    def inbound() -> None:
        try:
            while data := client.read(65536):
                upstream.write(data)
                upstream.flush()
        except (OSError, ValueError):
            pass
        finally:
            upstream.close()

    threading.Thread(target=inbound, name="portforward-relay", daemon=True).start()
    try:
        while data := upstream.read(65536):
            client.write(data)
            client.flush()
    except (OSError, ValueError):
        pass
    finally:
        upstream.close()
