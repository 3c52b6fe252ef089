"""RFC 6455 WebSocket framing, server side: what the streaming subresources need.

kubectl (since 1.30) speaks exec, attach and cp over a WebSocket whose binary
messages carry one channel byte and then data (the ``v5.channel.k8s.io``
subprotocol, see :mod:`harness.backends.local.streaming`). This module knows
nothing of channels: the opening handshake (RFC 6455 section 4.2), reading
masked client frames and reassembling fragmented messages (section 5), and
writing unmasked server frames. Control frames (ping, close) are answered
here, so callers only see data messages.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import threading
from collections.abc import Mapping
from typing import Any, Protocol

# RFC 6455 section 1.3: the GUID every server appends to Sec-WebSocket-Key.
_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MAX_MESSAGE = 16 * 1024 * 1024  # a client message larger than this is refused (1009)


class Reader(Protocol):
    def read(self, size: int, /) -> bytes: ...


class Writer(Protocol):
    def write(self, data: bytes, /) -> Any: ...

    def flush(self) -> Any: ...


class ProtocolError(Exception):
    """The peer broke RFC 6455; ``code`` is the close status to send (section 7.4.1)."""

    def __init__(self, message: str, code: int = 1002) -> None:
        super().__init__(message)
        self.code = code


def is_upgrade(headers: Mapping[str, str]) -> bool:
    """A WebSocket opening handshake (RFC 6455 section 4.2.1)."""
    upgrade = (headers.get("Upgrade") or "").lower()
    connection = (headers.get("Connection") or "").lower()
    return upgrade == "websocket" and "upgrade" in connection


def offered_protocols(headers: Mapping[str, str]) -> list[str]:
    """The client's Sec-WebSocket-Protocol list, in its order of preference."""
    text = headers.get("Sec-WebSocket-Protocol") or ""
    return [p.strip() for p in text.split(",") if p.strip()]


def accept_key(client_key: str) -> str:
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 section 4.2.2 item 5.4)."""
    digest = hashlib.sha1((client_key.strip() + _GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def handshake_headers(client_key: str, protocol: str) -> dict[str, str]:
    """The headers of the 101 answer that completes the handshake with ``protocol``."""
    return {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Accept": accept_key(client_key),
        "Sec-WebSocket-Protocol": protocol,
    }


def encode_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """One unmasked frame, as a server sends it (section 5.1: servers never mask)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    size = len(payload)
    if size < 126:
        head += bytes([size])
    elif size < 1 << 16:
        head += bytes([126]) + struct.pack(">H", size)
    else:
        head += bytes([127]) + struct.pack(">Q", size)
    return head + payload


def _read_exact(stream: Reader, size: int) -> bytes:
    data = stream.read(size) if size else b""
    if len(data) != size:
        raise EOFError("the client closed the connection")
    return data


def read_frame(stream: Reader) -> tuple[bool, int, bytes]:
    """(fin, opcode, unmasked payload) of one client frame; EOFError at end of stream."""
    first, second = _read_exact(stream, 2)
    if first & 0x70:
        raise ProtocolError("reserved bits set without a negotiated extension")
    if not second & 0x80:
        raise ProtocolError("client frames must be masked (RFC 6455 section 5.3)")
    size = second & 0x7F
    if size == 126:
        size = struct.unpack(">H", _read_exact(stream, 2))[0]
    elif size == 127:
        size = struct.unpack(">Q", _read_exact(stream, 8))[0]
    if size > MAX_MESSAGE:
        raise ProtocolError(f"frame of {size} bytes is larger than {MAX_MESSAGE}", 1009)
    mask = _read_exact(stream, 4)
    payload = bytearray(_read_exact(stream, size))
    for i in range(size):
        payload[i] ^= mask[i & 3]
    return bool(first & 0x80), first & 0x0F, bytes(payload)


class Connection:
    """A server-side WebSocket over an HTTP connection that was upgraded.

    ``send`` may be called from several threads (one per output stream);
    ``receive`` from one reader thread only.
    """

    def __init__(self, rfile: Reader, wfile: Writer) -> None:
        self._rfile = rfile
        self._wfile = wfile
        self._lock = threading.Lock()
        self.closed = False

    def _write(self, data: bytes) -> None:
        with self._lock:
            if self.closed:
                raise BrokenPipeError("the WebSocket is closed")
            self._wfile.write(data)
            self._wfile.flush()

    def send(self, payload: bytes, opcode: int = OP_BINARY) -> None:
        self._write(encode_frame(opcode, payload))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame once (section 5.5.1); later sends raise BrokenPipeError."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            try:
                self._wfile.write(encode_frame(OP_CLOSE, struct.pack(">H", code) + reason.encode()))
                self._wfile.flush()
            except OSError:
                pass

    def receive(self) -> bytes | None:
        """The next data message (binary or text); None once the client closed."""
        parts: list[bytes] = []
        message_opcode: int | None = None
        while True:
            try:
                fin, opcode, payload = read_frame(self._rfile)
            except (EOFError, OSError, ValueError):
                return None
            if opcode == OP_PING:
                self._write(encode_frame(OP_PONG, payload))
                continue
            if opcode == OP_PONG:
                continue
            if opcode == OP_CLOSE:
                self.close()
                return None
            if opcode == OP_CONT:
                if message_opcode is None:
                    raise ProtocolError("continuation frame without a message to continue")
            elif opcode in (OP_TEXT, OP_BINARY):
                if message_opcode is not None:
                    raise ProtocolError("a new message began before the last one finished")
                message_opcode = opcode
            else:
                raise ProtocolError(f"unknown opcode {opcode:#x}")
            parts.append(payload)
            if sum(len(p) for p in parts) > MAX_MESSAGE:
                raise ProtocolError("message too large", 1009)
            if fin:
                return b"".join(parts)
