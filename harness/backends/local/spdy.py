"""SPDY/3.1 framing, server side, as far as ``kubectl port-forward`` uses it.

Kubernetes multiplexes port-forward connections as SPDY streams: over an
HTTP connection upgraded to ``SPDY/3.1``, or (kubectl >= 1.31) tunnelled in
the binary messages of a WebSocket whose subprotocol is
``SPDY/3.1+portforward.k8s.io``. This module is the framing (SPDY draft 3.1
sections 2.2 control and data frames, 2.6 frame types, 2.6.10 header blocks
compressed with zlib and the spec's dictionary) and a small session that
answers SYN_STREAM with SYN_REPLY, PING with PING, grants window updates,
and hands each new stream to a callback. It knows nothing of ports.

The same session is the client end too (:mod:`harness.backends.local.spdyclient`,
a containerd node's streaming server): :meth:`Session.open` sends SYN_STREAM
with the next odd stream id (section 2.3.2: client-initiated ids are odd).
"""

from __future__ import annotations

import contextlib
import struct
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = (
    1, 2, 3, 4, 6, 7, 8, 9,
)  # fmt: skip
FLAG_FIN = 0x01
RST_PROTOCOL_ERROR, RST_CANCEL = 1, 5
MAX_FRAME = 16 * 1024 * 1024

# Section 2.6.10.1: the dictionary both ends prime zlib with. Built from its
# definition: each header word with a 4-byte length before it, then a tail.
_WORDS = (
    "options head post put delete trace accept accept-charset accept-encoding "
    "accept-language accept-ranges age allow authorization cache-control connection "
    "content-base content-encoding content-language content-length content-location "
    "content-md5 content-range content-type date etag expect expires from host if-match "
    "if-modified-since if-none-match if-range if-unmodified-since last-modified location "
    "max-forwards pragma proxy-authenticate proxy-authorization range referer retry-after "
    "server te trailer transfer-encoding upgrade user-agent vary via warning "
    "www-authenticate method get status 200_OK version HTTP/1.1 url public set-cookie "
    "keep-alive origin"
)
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417"
    "502504505203 Non-Authoritative Information204 No Content301 Moved Permanently"
    "400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error"
    "501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct "
    "Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,"
    "image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,text/javascript,"
    "publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)


def _dictionary() -> bytes:
    words = [w.replace("_", " ") for w in _WORDS.split()]  # "200_OK" is "200 OK"
    out = b"".join(struct.pack(">I", len(w)) + w.encode() for w in words)
    return out + _TAIL.encode()


DICTIONARY = _dictionary()


class ProtocolError(Exception):
    pass


def encode_headers(headers: dict[str, str]) -> bytes:
    """An uncompressed header block (section 2.6.10): count, then length-prefixed pairs."""
    out = struct.pack(">I", len(headers))
    for name, value in headers.items():
        n, v = name.lower().encode(), value.encode()
        out += struct.pack(">I", len(n)) + n + struct.pack(">I", len(v)) + v
    return out


def decode_headers(block: bytes) -> dict[str, str]:
    try:
        (count,) = struct.unpack_from(">I", block, 0)
        pos, out = 4, {}
        for _ in range(count):
            (size,) = struct.unpack_from(">I", block, pos)
            name = block[pos + 4 : pos + 4 + size].decode()
            pos += 4 + size
            (size,) = struct.unpack_from(">I", block, pos)
            out[name.lower()] = block[pos + 4 : pos + 4 + size].decode()
            pos += 4 + size
    except (struct.error, UnicodeDecodeError) as exc:
        raise ProtocolError(f"malformed header block: {exc}") from exc
    return out


def control_frame(kind: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(payload)) + payload


def data_frame(stream_id: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">II", stream_id & 0x7FFFFFFF, (flags << 24) | len(payload)) + payload


class ByteStream(Protocol):
    def read(self, size: int, /) -> bytes: ...

    def write(self, data: bytes, /) -> Any: ...

    def flush(self) -> Any: ...


def _read_exact(stream: ByteStream, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            raise EOFError("the client closed the connection")
        data += chunk
    return data


@dataclass
class Stream:
    """One SPDY stream: headers the client opened it with, and its inbound data."""

    session: Session
    stream_id: int
    headers: dict[str, str]
    on_data: Callable[[bytes], None] | None = None  # b"" once the client half-closed
    closed_by_us: bool = False
    pending: list[bytes] = field(default_factory=list)
    # deliver (the session's reader) and listen (a consumer's thread) take turns, so
    # data queued before listen is handed over first and a FIN never overtakes it.
    _turn: threading.Lock = field(default_factory=threading.Lock)

    def write(self, data: bytes, fin: bool = False) -> None:
        if self.closed_by_us:
            return
        for start in range(0, len(data), 16384):
            self.session.send(data_frame(self.stream_id, 0, data[start : start + 16384]))
        if fin:
            self.close()

    def close(self) -> None:
        if not self.closed_by_us:
            self.closed_by_us = True
            self.session.send(data_frame(self.stream_id, FLAG_FIN, b""))

    def reset(self) -> None:
        self.closed_by_us = True
        self.session.send(
            control_frame(RST_STREAM, 0, struct.pack(">II", self.stream_id, RST_CANCEL))
        )

    def deliver(self, data: bytes) -> None:
        with self._turn:
            if self.on_data is None:
                self.pending.append(data)
            else:
                self.on_data(data)

    def listen(self, on_data: Callable[[bytes], None]) -> None:
        with self._turn:
            for data in self.pending:
                on_data(data)
            self.pending.clear()
            self.on_data = on_data


class Session:
    """The server end of one SPDY connection: ``run`` reads frames until EOF."""

    def __init__(self, stream: ByteStream, on_stream: Callable[[Stream], None]) -> None:
        self._io = stream
        self._on_stream = on_stream
        self._lock = threading.Lock()
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._deflate = zlib.compressobj(zdict=DICTIONARY)
        self.streams: dict[int, Stream] = {}
        self.closed = False
        self._next_id = 1  # streams we open (client side): odd ids, increasing

    def open(self, headers: dict[str, str]) -> Stream:
        """Open a stream to the peer (SYN_STREAM, section 2.6.1) with ``headers``.

        Compression and sending happen under one lock: the peer's inflater
        must see header blocks in the order our deflater made them."""
        with self._lock:
            stream_id = self._next_id
            self._next_id += 2
            stream = Stream(self, stream_id, headers)
            self.streams[stream_id] = stream
            block = self._deflate.compress(encode_headers(headers)) + self._deflate.flush(
                zlib.Z_SYNC_FLUSH
            )
            frame = control_frame(SYN_STREAM, 0, struct.pack(">IIH", stream_id, 0, 0) + block)
            if self.closed:
                raise EOFError("the SPDY connection is closed")
            try:
                self._io.write(frame)
                self._io.flush()
            except (OSError, ValueError) as exc:
                self.closed = True
                raise EOFError(f"the SPDY connection broke: {exc}") from exc
        return stream

    def send(self, frame: bytes) -> None:
        with self._lock:
            if self.closed:
                return
            try:
                self._io.write(frame)
                self._io.flush()
            except (OSError, ValueError):
                self.closed = True

    def _headers(self, compressed: bytes) -> dict[str, str]:
        try:
            return decode_headers(self._inflate.decompress(compressed))
        except zlib.error as exc:
            raise ProtocolError(f"header block does not inflate: {exc}") from exc

    def _reply(self, stream_id: int) -> None:
        with self._lock:
            block = self._deflate.compress(encode_headers({})) + self._deflate.flush(
                zlib.Z_SYNC_FLUSH
            )
        self.send(control_frame(SYN_REPLY, 0, struct.pack(">I", stream_id) + block))

    def run(self) -> None:
        try:
            while True:
                head = _read_exact(self._io, 8)
                first, second = struct.unpack(">II", head)
                flags, size = second >> 24, second & 0xFFFFFF
                if size > MAX_FRAME:
                    raise ProtocolError(f"frame of {size} bytes")
                payload = _read_exact(self._io, size)
                if first & 0x80000000:
                    self._control((first >> 16) & 0x7FFF, first & 0xFFFF, flags, payload)
                else:
                    self._data(first & 0x7FFFFFFF, flags, payload)
        except (EOFError, OSError, ProtocolError):
            pass
        finally:
            self.closed = True
            for stream in list(self.streams.values()):
                with contextlib.suppress(Exception):
                    stream.deliver(b"")

    def _control(self, version: int, kind: int, flags: int, payload: bytes) -> None:
        if version != VERSION:
            raise ProtocolError(f"SPDY version {version}, not {VERSION}")
        if kind == SYN_STREAM:
            stream_id = struct.unpack_from(">I", payload, 0)[0] & 0x7FFFFFFF
            stream = Stream(self, stream_id, self._headers(payload[10:]))
            self.streams[stream_id] = stream
            self._reply(stream_id)
            self._on_stream(stream)
            if flags & FLAG_FIN:
                stream.deliver(b"")
        elif kind == PING:
            self.send(control_frame(PING, 0, payload[:4]))
        elif kind == RST_STREAM:
            stream_id = struct.unpack_from(">I", payload, 0)[0] & 0x7FFFFFFF
            gone = self.streams.pop(stream_id, None)
            if gone is not None:
                gone.closed_by_us = True
                gone.deliver(b"")
        elif kind == GOAWAY:
            raise EOFError("the client sent GOAWAY")
        elif kind in (HEADERS, SYN_REPLY):
            self._headers(payload[4:])  # keep the inflater in step; nothing to act on
        # SETTINGS and WINDOW_UPDATE: we do not limit what we send.

    def _data(self, stream_id: int, flags: int, payload: bytes) -> None:
        stream = self.streams.get(stream_id)
        if stream is None:
            return
        if payload:
            # Grant back what was read (SPDY/3.1 flow control, stream and session).
            for target in (stream_id, 0):
                self.send(control_frame(WINDOW_UPDATE, 0, struct.pack(">II", target, len(payload))))
            stream.deliver(payload)
        if flags & FLAG_FIN:
            stream.deliver(b"")
