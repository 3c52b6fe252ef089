"""SPDY/3.1 framing and session (port-forward's transport), without a cluster."""

from __future__ import annotations

import io
import queue
import struct
import threading
import zlib

from harness.backends.local import spdy


def test_dictionary_is_the_specs() -> None:
    # SPDY/3 section 2.6.10.1: 1423 bytes; kubectl's zlib stream names it by Adler-32.
    assert len(spdy.DICTIONARY) == 1423
    assert spdy.DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert spdy.DICTIONARY.endswith(b"charset=iso-8859-1,utf-,*,enq=0.")


def test_header_blocks_round_trip_and_lowercase() -> None:
    block = spdy.encode_headers({"streamType": "data", "port": "80", "requestID": "0"})
    assert spdy.decode_headers(block) == {"streamtype": "data", "port": "80", "requestid": "0"}


class Pipe:
    """The client's side: frames in, frames the session wrote out."""

    def __init__(self, incoming: bytes) -> None:
        self._in = io.BytesIO(incoming)
        self.out = bytearray()

    def read(self, size: int, /) -> bytes:
        return self._in.read(size)

    def write(self, data: bytes, /) -> None:
        self.out += data

    def flush(self) -> None:
        pass


def frames(data: bytes) -> list[tuple[bool, int, int, bytes]]:
    out, pos = [], 0
    while pos < len(data):
        first, second = struct.unpack_from(">II", data, pos)
        size = second & 0xFFFFFF
        payload = data[pos + 8 : pos + 8 + size]
        control = bool(first & 0x80000000)
        out.append((control, first & 0xFFFF if control else first, second >> 24, payload))
        pos += 8 + size
    return out


def test_session_replies_pings_grants_windows_and_delivers_data() -> None:
    deflate = zlib.compressobj(zdict=spdy.DICTIONARY)
    block = deflate.compress(spdy.encode_headers({"streamtype": "data", "port": "80"}))
    block += deflate.flush(zlib.Z_SYNC_FLUSH)
    syn = struct.pack(">IIH", 1, 0, 0) + block
    client = (
        spdy.control_frame(spdy.SYN_STREAM, 0, syn)
        + spdy.control_frame(spdy.PING, 0, struct.pack(">I", 7))
        + spdy.data_frame(1, 0, b"hello")
        + spdy.data_frame(1, spdy.FLAG_FIN, b"")
    )
    got: queue.Queue[bytes] = queue.Queue()
    opened: list[spdy.Stream] = []

    def on_stream(stream: spdy.Stream) -> None:
        opened.append(stream)
        stream.listen(got.put)

    pipe = Pipe(client)
    session = spdy.Session(pipe, on_stream)
    worker = threading.Thread(target=session.run)
    worker.start()
    worker.join(timeout=5)
    assert opened[0].headers == {"streamtype": "data", "port": "80"}
    assert [got.get_nowait() for _ in range(2)] == [b"hello", b""]
    kinds = [(c, k) for c, k, _, _ in frames(bytes(pipe.out))]
    assert kinds[0] == (True, spdy.SYN_REPLY) and (True, spdy.PING) in kinds
    updates = [p for c, k, _, p in frames(bytes(pipe.out)) if c and k == spdy.WINDOW_UPDATE]
    assert struct.unpack(">II", updates[0]) == (1, 5)
    opened[0].write(b"back", fin=True)  # after the session ended: dropped, no error
