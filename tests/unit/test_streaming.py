"""The WebSocket framing and the exec/log decisions, without a cluster (no root)."""

from __future__ import annotations

import io
import json
import os
import struct

import pytest

from harness.backends.local import websocket
from harness.backends.local.apierrors import APIError
from harness.backends.local.podio import LogLine
from harness.backends.local.podlogs import log_options, select_lines
from harness.backends.local.sim_streams import event_lines
from harness.backends.local.streaming import (
    choose_protocol,
    exit_status,
    pick_container,
    query_lists,
)


def client_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A masked frame as a client sends it (RFC 6455 section 5.3)."""
    mask = os.urandom(4)
    head = bytes([(0x80 if fin else 0) | opcode])
    size = len(payload)
    if size < 126:
        head += bytes([0x80 | size])
    elif size < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack(">H", size)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", size)
    return head + mask + bytes(b ^ mask[i & 3] for i, b in enumerate(payload))


def test_accept_key_is_the_rfc_example() -> None:
    # RFC 6455 section 1.3's worked example.
    assert websocket.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.mark.parametrize("size", [0, 5, 125, 126, 65535, 65536, 70000])
def test_frames_round_trip_every_length_encoding(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    fin, opcode, data = websocket.read_frame(io.BytesIO(client_frame(0x2, payload)))
    assert (fin, opcode, data) == (True, 0x2, payload)
    server = websocket.encode_frame(0x2, payload)
    assert server[1] & 0x80 == 0  # servers never mask


def test_connection_reassembles_fragments_and_answers_ping() -> None:
    stream = io.BytesIO(
        client_frame(0x9, b"hb")
        + client_frame(0x2, b"\x00ab", fin=False)
        + client_frame(0x0, b"cd")
        + client_frame(0x8, struct.pack(">H", 1000))
    )
    out = io.BytesIO()
    conn = websocket.Connection(stream, out)
    assert conn.receive() == b"\x00abcd"
    assert out.getvalue() == websocket.encode_frame(websocket.OP_PONG, b"hb")
    assert conn.receive() is None and conn.closed


def test_unmasked_client_frames_are_a_protocol_error() -> None:
    with pytest.raises(websocket.ProtocolError):
        websocket.read_frame(io.BytesIO(websocket.encode_frame(0x2, b"x")))


def test_protocol_choice_prefers_the_clients_order_among_ours() -> None:
    offered = ["v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io"]
    assert choose_protocol(offered) == "v5.channel.k8s.io"
    assert choose_protocol(["v4.channel.k8s.io"]) == "v4.channel.k8s.io"
    assert choose_protocol(["channel.k8s.io", "base64.channel.k8s.io"]) is None


def test_exit_status_carries_the_code_as_kubectl_reads_it() -> None:
    assert exit_status(0) == {"metadata": {}, "status": "Success"}
    failure = exit_status(3)
    assert failure["reason"] == "NonZeroExitCode"
    assert failure["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    json.dumps(failure)


def test_exec_query_keeps_every_command_word() -> None:
    query = query_lists("/api/v1/namespaces/d/pods/p/exec?command=ip&command=a&stdout=true")
    assert query["command"] == ["ip", "a"]


POD = {
    "metadata": {"name": "p", "namespace": "d"},
    "spec": {"containers": [{"name": "main"}, {"name": "side"}]},
}


def test_container_choice_and_its_errors() -> None:
    assert pick_container(POD, "side") == "side"
    with pytest.raises(APIError, match="container nope is not valid for pod p"):
        pick_container(POD, "nope")
    with pytest.raises(APIError, match=r"choose one of: \[main side\]"):
        pick_container(POD, "")
    single = {"metadata": {"name": "s"}, "spec": {"containers": [{"name": "only"}]}}
    assert pick_container(single, "") == "only"


def test_log_options_name_the_bad_parameter() -> None:
    assert log_options({"tailLines": ["2"]})[0] == 2
    with pytest.raises(APIError, match="tailLines"):
        log_options({"tailLines": ["x"]})
    with pytest.raises(APIError, match="limitBytes"):
        log_options({"limitBytes": ["0"]})
    with pytest.raises(APIError, match="sinceTime"):
        log_options({"sinceTime": ["yesterday"]})


def test_tail_and_since_select_lines() -> None:
    lines = [LogLine(f"2026-01-01T00:00:0{i}+00:00", str(i)) for i in range(5)]
    assert [ln.text for ln in select_lines(lines, tail=2, since=None)] == ["3", "4"]
    assert select_lines(lines, tail=0, since=None) == []
    _, since, _ = log_options({"sinceTime": ["2026-01-01T00:00:03Z"]})
    assert [ln.text for ln in select_lines(lines, tail=None, since=since)] == ["3", "4"]


def test_a_pods_log_is_its_events_in_creation_order() -> None:
    def event(
        name: str, rv: str, reason: str, uid: str = "u1", count: int = 1
    ) -> dict[str, object]:
        return {
            "metadata": {"name": name, "resourceVersion": rv},
            "involvedObject": {"uid": uid},
            "reason": reason,
            "message": f"{reason} happened",
            "type": "Normal",
            "lastTimestamp": "2026-01-01T00:00:00Z",
            "count": count,
        }

    events = [
        event("b", "12", "AddedInterface"),
        event("a", "11", "Scheduled"),
        event("c", "13", "Other", uid="u2"),
        event("d", "14", "BackOff", count=3),
    ]
    lines = event_lines(events, "u1")
    assert [line.text.split(":")[0] for _, line in lines] == [
        "Normal Scheduled",
        "Normal AddedInterface",
        "Normal BackOff",
    ]
    assert lines[-1][1].text.endswith("(x3)") and lines[-1][0] == "d#3"
    assert lines[0][1].timestamp == "2026-01-01T00:00:00.000000000Z"
