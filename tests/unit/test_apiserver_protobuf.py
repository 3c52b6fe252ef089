"""Kubernetes protobuf request bodies: the decoder, and the API server accepting them.

The messages are built here with a tiny encoder following the same field
numbers (apimachinery meta/v1 and core/v1 generated.proto), so each test
states the bytes a client-go plugin would send.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.backends.local import protobuf
from harness.backends.local.apiserver import APIServer
from tests.unit.test_apiserver import HTTP, POD_PATH, pod

PROTOBUF = "application/vnd.kubernetes.protobuf"


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field(number: int, value: bytes | str | int) -> bytes:
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    data = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(data)) + data


def entry(key: str, value: str) -> bytes:
    return field(1, key) + field(2, value)


def time_(seconds: int, nanos: int = 0) -> bytes:
    return field(1, seconds) + (field(2, nanos) if nanos else b"")


def unknown(api_version: str, kind: str, raw: bytes) -> bytes:
    return b"k8s\x00" + field(1, field(1, api_version) + field(2, kind)) + field(2, raw)


def object_meta(**kw: Any) -> bytes:
    numbers = {"name": 1, "generateName": 2, "namespace": 3, "uid": 5, "resourceVersion": 6}
    out = b""
    for key, number in numbers.items():
        if key in kw:
            out += field(number, kw[key])
    for key, value in (kw.get("labels") or {}).items():
        out += field(11, entry(key, value))
    for key, value in (kw.get("annotations") or {}).items():
        out += field(12, entry(key, value))
    for value in kw.get("finalizers") or []:
        out += field(14, value)
    return out


EVENT = (
    field(1, object_meta(generateName="p.", namespace="default", annotations={"a": "b"}))
    + field(
        2,
        field(1, "Pod") + field(2, "default") + field(3, "p") + field(4, "uid-1") + field(5, "v1"),
    )
    + field(3, "AddedInterface")
    + field(4, "Add net1 [10.1.1.2/24] from default/macvlan")
    + field(5, field(1, "multus") + field(2, "node-1"))
    + field(6, time_(1767225600))
    + field(7, time_(1767225601, 500_000_000))
    + field(8, 2)
    + field(9, "Normal")
)


def test_event_is_decoded_whole() -> None:
    assert protobuf.decode_body(unknown("v1", "Event", EVENT)) == {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": "p.", "namespace": "default", "annotations": {"a": "b"}},
        "involvedObject": {
            "kind": "Pod",
            "namespace": "default",
            "name": "p",
            "uid": "uid-1",
            "apiVersion": "v1",
        },
        "reason": "AddedInterface",
        "message": "Add net1 [10.1.1.2/24] from default/macvlan",
        "source": {"component": "multus", "host": "node-1"},
        "firstTimestamp": "2026-01-01T00:00:00Z",
        "lastTimestamp": "2026-01-01T00:00:01.500000Z",
        "count": 2,
        "type": "Normal",
    }


def test_unset_times_decode_to_null_as_the_real_server_does() -> None:
    # Go marshals a zero metav1.Time/MicroTime as an empty message; Unmarshal
    # gives the zero time back, which the API server writes as JSON null.
    # client-go's event recorder leaves eventTime unset.
    raw = field(2, field(1, "Pod") + field(3, "p")) + field(10, b"") + field(6, b"")
    event = protobuf.decode_body(unknown("v1", "Event", raw))
    assert event["eventTime"] is None
    assert event["firstTimestamp"] is None
    # The epoch itself is a real instant (seconds=0 present), not unset.
    assert protobuf.decode_time(time_(0, 1000)) == "1970-01-01T00:00:00.000001Z"


def test_other_kinds_decode_metadata_only() -> None:
    raw = field(1, object_meta(name="p", resourceVersion="7", labels={"x": "y"}, finalizers=["f"]))
    raw += field(2, b"\x0a\x00") + field(3, b"\x0a\x07Running")  # spec, status: not decoded
    assert protobuf.decode_body(unknown("v1", "Pod", raw)) == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "p",
            "resourceVersion": "7",
            "labels": {"x": "y"},
            "finalizers": ["f"],
        },
        protobuf.PARTIAL: True,
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\x0a\x00", "k8s"),
        (b"k8s\x00" + field(2, b""), "no kind"),
        (b"k8s\x00\x0a\x05ab", "runs past the end"),
        (b"k8s\x00\x0b", "wire type 3"),
        (b"k8s\x00" + b"\xff" * 11, "varint"),
        (b"k8s\x00" + field(1, field(2, "Pod")) + field(3, "gzip"), "encoding 'gzip'"),
    ],
)
def test_malformed_bodies_are_protobuf_errors(body: bytes, message: str) -> None:
    with pytest.raises(protobuf.ProtobufError, match=message):
        protobuf.decode_body(body)


@given(st.binary(max_size=200))
def test_any_bytes_decode_or_raise_protobuf_error(data: bytes) -> None:
    with contextlib.suppress(protobuf.ProtobufError):
        protobuf.decode_body(b"k8s\x00" + data)


@pytest.fixture
def http() -> Iterator[HTTP]:
    srv = APIServer()
    srv.listen("127.0.0.1", 0)
    try:
        yield HTTP(srv.url())
    finally:
        srv.stop()


def test_events_can_be_posted_in_protobuf(http: HTTP) -> None:
    status, body = http(
        "POST", "/api/v1/namespaces/default/events", unknown("v1", "Event", EVENT), PROTOBUF
    )
    assert status == 201, body
    assert body["reason"] == "AddedInterface" and body["metadata"]["name"].startswith("p.")
    status, listing = http("GET", "/api/v1/namespaces/default/events")
    assert [e["reason"] for e in listing["items"]] == ["AddedInterface"]


def test_pod_status_update_in_protobuf_changes_metadata_only(http: HTTP) -> None:
    status, _created = http("POST", POD_PATH, pod("p"))
    assert status == 201
    status, running = http(
        "PATCH", f"{POD_PATH}/p/status", {"status": {"phase": "Running"}},
        "application/merge-patch+json",
    )  # fmt: skip
    assert status == 200
    rv = running["metadata"]["resourceVersion"]
    annotations = {"k8s.v1.cni.cncf.io/network-status": '[{"name":"x"}]'}
    raw = field(1, object_meta(name="p", namespace="default", resourceVersion=rv,
                               annotations=annotations))  # fmt: skip
    status, body = http("PUT", f"{POD_PATH}/p/status", unknown("v1", "Pod", raw), PROTOBUF)
    assert status == 200, body
    assert body["metadata"]["annotations"] == annotations
    assert body["status"]["phase"] == "Running"  # kept: status was not decoded
    assert body["spec"] == running["spec"]
    # The resourceVersion it carried is a precondition, as in JSON.
    status, body = http("PUT", f"{POD_PATH}/p/status", unknown("v1", "Pod", raw), PROTOBUF)
    assert status == 409, body
    # Only create and update take protobuf.
    status, body = http("PATCH", f"{POD_PATH}/p", unknown("v1", "Pod", raw), PROTOBUF)
    assert status == 415
