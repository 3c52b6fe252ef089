"""The kubelet's pod-resources API: which devices the kubelet gave a pod.

A NAD annotated ``k8s.v1.cni.cncf.io/resourceName`` (an SR-IOV VF pool, say)
names a device-plugin resource; the kubelet allocated one device of it per
request to the pod, and the delegate must be told which (``deviceID``). The
kubelet answers that over gRPC on a unix socket,
``/var/lib/kubelet/pod-resources/kubelet.sock``, service
``v1.PodResourcesLister``, unary method ``List``.

The CNI path may not import third-party packages (and grpcio takes ~100 ms
to import), so this is a minimal client written against the specs it needs:

* HTTP/2 (RFC 9113): the connection preface, SETTINGS (ours: a large
  initial window so a big answer never waits for WINDOW_UPDATE), one
  HEADERS + DATA request on stream 1, and reading frames (acking SETTINGS
  and PING, honouring RST_STREAM and GOAWAY) until the stream ends.
* HPACK (RFC 7541): requests are sent as literal fields without indexing
  and without Huffman coding, which every decoder accepts; response headers
  are decoded (static and dynamic table, integers, raw strings) only to
  find ``grpc-status``/``grpc-message``; a Huffman-coded value is skipped,
  which is harmless: success is decided by the response message itself.
* gRPC over HTTP/2: a message is a 1-byte compressed flag, a 4-byte length
  and the protobuf bytes; ``grpc-status`` 0 in the trailers means OK.
* Protocol buffers wire format: varints and length-delimited fields, enough
  to read ``ListPodResourcesResponse`` (fields listed below).

Only used when some NAD of the pod has a resourceName: the import costs
nothing for everyone else (the engine imports it lazily).
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

from pymultus.cni.errors import IO_FAILURE, TRY_AGAIN_LATER, CNIError

DEFAULT_SOCKET = "/var/lib/kubelet/pod-resources/kubelet.sock"
LIST_METHOD = "/v1.PodResourcesLister/List"
TIMEOUT = 10.0

# HTTP/2 frame types and flags (RFC 9113 section 6).
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = (
    0x0,
    0x1,
    0x3,
    0x4,
    0x6,
    0x7,
    0x8,
    0x9,
)
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY = 0x1, 0x1, 0x4, 0x8, 0x20
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
MAX_WINDOW = 2**31 - 1


# ------------------------------------------------------------------ HPACK
def encode_integer(value: int, prefix_bits: int, first_byte: int = 0) -> bytes:
    """RFC 7541 5.1: an integer with an N-bit prefix."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first_byte | value])
    out = bytearray([first_byte | limit])
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_integer(data: bytes, pos: int, prefix_bits: int) -> tuple[int, int]:
    limit = (1 << prefix_bits) - 1
    value = data[pos] & limit
    pos += 1
    if value < limit:
        return value, pos
    shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value += (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def encode_headers(headers: list[tuple[str, str]]) -> bytes:
    """Literal header fields without indexing, new names, raw strings (RFC 7541 6.2.2)."""
    out = bytearray()
    for name, value in headers:
        out += b"\x00"
        for text in (name.encode(), value.encode()):
            out += encode_integer(len(text), 7)
            out += text
    return bytes(out)


# RFC 7541 Appendix A: the static table entries a gRPC answer may index.
STATIC_TABLE: tuple[tuple[str, str], ...] = (
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
)


class HeaderDecoder:
    """An HPACK decoder that keeps the dynamic table in step with the server."""

    def __init__(self) -> None:
        self.dynamic: list[tuple[str, str]] = []

    def _entry(self, index: int) -> tuple[str, str]:
        if 1 <= index <= len(STATIC_TABLE):
            return STATIC_TABLE[index - 1]
        position = index - len(STATIC_TABLE) - 1
        if 0 <= position < len(self.dynamic):
            return self.dynamic[position]
        raise ValueError(f"HPACK index {index} is out of range")

    @staticmethod
    def _string(data: bytes, pos: int) -> tuple[str | None, int]:
        huffman = bool(data[pos] & 0x80)
        length, pos = decode_integer(data, pos, 7)
        raw = data[pos : pos + length]
        # A Huffman-coded string is not decoded (see the module docstring).
        return (None if huffman else raw.decode("utf-8", "replace")), pos + length

    def decode(self, block: bytes) -> dict[str, str]:
        headers: dict[str, str] = {}
        pos = 0
        while pos < len(block):
            byte = block[pos]
            if byte & 0x80:  # indexed field
                index, pos = decode_integer(block, pos, 7)
                name, value = self._entry(index)
                headers[name] = value
                continue
            if byte & 0xE0 == 0x20:  # dynamic table size update
                size, pos = decode_integer(block, pos, 5)
                if size == 0:
                    self.dynamic.clear()
                continue
            indexing = byte & 0xC0 == 0x40
            index, pos = decode_integer(block, pos, 6 if indexing else 4)
            name_text: str | None
            if index:
                name_text = self._entry(index)[0]
            else:
                name_text, pos = self._string(block, pos)
            value_text, pos = self._string(block, pos)
            name_final = name_text if name_text is not None else "?"
            value_final = value_text if value_text is not None else "?"
            if indexing:
                self.dynamic.insert(0, (name_final, value_final))
            headers[name_final] = value_final
        return headers


# --------------------------------------------------------------- protobuf
def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) pairs of one message; length-delimited values as bytes."""
    pos = 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(data, pos)
            yield number, value
        elif wire == 2:
            length, pos = read_varint(data, pos)
            if pos + length > len(data):
                raise ValueError("truncated length-delimited field")
            yield number, data[pos : pos + length]
            pos += length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")


def pod_devices(response: bytes, namespace: str, name: str) -> dict[str, list[str]]:
    """Device IDs per resource of one pod, from a ``ListPodResourcesResponse``.

    v1 messages: ListPodResourcesResponse{1: repeated PodResources};
    PodResources{1: name, 2: namespace, 3: repeated ContainerResources};
    ContainerResources{2: repeated ContainerDevices};
    ContainerDevices{1: resource_name, 2: repeated device_ids}.
    Containers are taken in order, as the kubelet lists them.
    """
    devices: dict[str, list[str]] = {}
    for number, pod in fields(response):
        if number != 1 or not isinstance(pod, bytes):
            continue
        pod_name = pod_namespace = ""
        containers: list[bytes] = []
        for key, value in fields(pod):
            if key == 1 and isinstance(value, bytes):
                pod_name = value.decode("utf-8", "replace")
            elif key == 2 and isinstance(value, bytes):
                pod_namespace = value.decode("utf-8", "replace")
            elif key == 3 and isinstance(value, bytes):
                containers.append(value)
        if (pod_namespace, pod_name) != (namespace, name):
            continue
        for container in containers:
            for key, value in fields(container):
                if key != 2 or not isinstance(value, bytes):
                    continue
                resource = ""
                ids: list[str] = []
                for dkey, dvalue in fields(value):
                    if dkey == 1 and isinstance(dvalue, bytes):
                        resource = dvalue.decode("utf-8", "replace")
                    elif dkey == 2 and isinstance(dvalue, bytes):
                        ids.append(dvalue.decode("utf-8", "replace"))
                devices.setdefault(resource, []).extend(ids)
    return devices


# ----------------------------------------------------------------- HTTP/2
def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return (
        struct.pack(">I", len(payload))[1:]
        + bytes([kind, flags])
        + struct.pack(">I", stream)
        + payload
    )


def _recv_exact(sock: socket.socket, count: int) -> bytes:
    data = bytearray()
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("the kubelet closed the pod-resources connection")
        data += chunk
    return bytes(data)


def read_frame(sock: socket.socket) -> tuple[int, int, int, bytes]:
    head = _recv_exact(sock, 9)
    length = int.from_bytes(head[:3], "big")
    stream = int.from_bytes(head[5:9], "big") & 0x7FFFFFFF
    return head[3], head[4], stream, _recv_exact(sock, length)


def _strip_padding(flags: int, payload: bytes, priority: bool) -> bytes:
    if flags & PADDED:
        pad = payload[0]
        payload = payload[1 : len(payload) - pad]
    if priority and flags & PRIORITY:
        payload = payload[5:]
    return payload


def unary_call(path: str, method: str, request: bytes, timeout: float = TIMEOUT) -> bytes:
    """One gRPC unary call over a unix socket; the response message bytes.

    Raises OSError/ConnectionError/ValueError on transport trouble and
    CNIError when the server answers with a non-zero grpc-status.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
        settings = struct.pack(">HI", 0x4, MAX_WINDOW) + struct.pack(">HI", 0x2, 0)
        headers = encode_headers(
            [
                (":method", "POST"),
                (":scheme", "http"),
                (":path", method),
                (":authority", "localhost"),
                ("content-type", "application/grpc"),
                ("te", "trailers"),
                ("user-agent", "pymultus"),
            ]
        )
        message = b"\x00" + struct.pack(">I", len(request)) + request
        sock.sendall(
            PREFACE
            + frame(SETTINGS, 0, 0, settings)
            + frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", MAX_WINDOW - 65535))
            + frame(HEADERS, END_HEADERS, 1, headers)
            + frame(DATA, END_STREAM, 1, message)
        )
        return _read_response(sock)
    finally:
        sock.close()


def _read_response(sock: socket.socket) -> bytes:
    decoder = HeaderDecoder()
    body = bytearray()
    status: dict[str, str] = {}
    block = bytearray()
    block_ends_stream = False
    while True:
        kind, flags, stream, payload = read_frame(sock)
        if kind == SETTINGS and not flags & ACK:
            sock.sendall(frame(SETTINGS, ACK, 0))
        elif kind == PING and not flags & ACK:
            sock.sendall(frame(PING, ACK, 0, payload))
        elif kind == GOAWAY and stream == 0:
            last = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
            if last < 1:
                raise ConnectionError("the kubelet refused the pod-resources call (GOAWAY)")
        elif stream != 1:
            continue
        elif kind == RST_STREAM:
            code = int.from_bytes(payload[:4], "big")
            raise ConnectionError(f"the kubelet reset the pod-resources call (HTTP/2 error {code})")
        elif kind == DATA:
            body += _strip_padding(flags, payload, priority=False)
            if flags & END_STREAM:
                break
        elif kind in (HEADERS, CONTINUATION):
            if kind == HEADERS:
                block = bytearray(_strip_padding(flags, payload, priority=True))
                block_ends_stream = bool(flags & END_STREAM)
            else:
                block += payload
            if flags & END_HEADERS:
                status.update(decoder.decode(bytes(block)))
                if block_ends_stream:
                    break
    grpc_status = status.get("grpc-status", "0" if body else "?")
    if grpc_status != "0":
        raise CNIError(
            IO_FAILURE,
            f"the kubelet's pod-resources API answered grpc-status {grpc_status}",
            status.get("grpc-message", ""),
        )
    if len(body) < 5:
        return b""
    length = int.from_bytes(body[1:5], "big")
    if body[0] != 0:
        raise ValueError("compressed gRPC messages are not supported")
    return bytes(body[5 : 5 + length])


def list_pod_devices(
    namespace: str, name: str, socket_path: str = DEFAULT_SOCKET, timeout: float = TIMEOUT
) -> dict[str, list[str]]:
    """``{resourceName: [deviceID, ...]}`` the kubelet allocated to one pod."""
    try:
        response = unary_call(socket_path, LIST_METHOD, b"", timeout)
        return pod_devices(response, namespace, name)
    except CNIError:
        raise
    except (OSError, ValueError, IndexError) as exc:
        raise CNIError(
            TRY_AGAIN_LATER,
            f"cannot ask the kubelet which devices pod {namespace}/{name} got: {exc}",
            f"the pod-resources socket is {socket_path}; the kubelet must be running and "
            "the socket mounted into the meta-plugin's environment",
        ) from exc
