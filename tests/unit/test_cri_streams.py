"""CRI streams without a cluster: the log format, the remotecommand client, log follow."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.backends.local import spdyclient, spdyexec
from harness.backends.local.containerd import crilog
from harness.backends.local.containerd.streams import CRINodeStreams
from harness.backends.local.podio import LogLine, StreamUnavailable
from harness.backends.local.sim_streams import _PipeProcess
from harness.backends.local.streaming import exit_status


def test_cri_log_records_become_lines_partials_joined_per_stream() -> None:
    text = (
        "2026-12-04T21:00:00.1Z stdout P hel\n"
        "2026-12-04T21:00:00.2Z stderr F oops\n"
        "2026-12-04T21:00:00.3Z stdout F lo\n"
        "not a record\n"
        "2026-12-04T21:00:00.4Z stdout F \n"
        "2026-12-04T21:00:00.5Z stdout F still being written"
    )
    parser = crilog.LogParser()
    assert crilog.parse(text, parser) == [
        LogLine("2026-12-04T21:00:00.2Z", "oops"),
        LogLine("2026-12-04T21:00:00.1Z", "hello"),
        LogLine("2026-12-04T21:00:00.4Z", ""),
    ]
    assert parser.malformed == 1


def test_status_decoding_as_kubectl_reads_v4() -> None:
    assert spdyclient.decode_status(b'{"metadata":{},"status":"Success"}') == (0, None)
    assert spdyclient.decode_status(json.dumps(exit_status(7)).encode()) == (7, None)
    other = b'{"status":"Failure","reason":"InternalError","message":"exec failed: no such file"}'
    code, failure = spdyclient.decode_status(other)
    assert code == 1 and failure is not None and failure["message"].startswith("exec failed")
    code, failure = spdyclient.decode_status(b"")
    assert code == 1 and failure is not None and failure["status"] == "Failure"


def test_upgrade_request_and_response_head() -> None:
    request = spdyclient.upgrade_request("http://127.0.0.1:4242/exec/AbC", "v4.channel.k8s.io")
    assert request.startswith(b"POST /exec/AbC HTTP/1.1\r\nHost: 127.0.0.1:4242\r\n")
    assert b"Upgrade: SPDY/3.1\r\n" in request and request.endswith(b"\r\n\r\n")
    code, headers = spdyclient.parse_response_head(
        b"HTTP/1.1 101 Switching Protocols\r\nX-Stream-Protocol-Version: v4.channel.k8s.io"
    )
    assert code == 101 and headers["x-stream-protocol-version"] == "v4.channel.k8s.io"
    with pytest.raises(StreamUnavailable):
        spdyclient.parse_response_head(b"garbage")


def _serve(sock: socket.socket, argv: list[str], stdin: bool) -> threading.Thread:
    """Our own SPDY exec server on the other end (the integration test has containerd's)."""
    wanted = spdyexec.expected_streams(stdin, True, True, False)
    io = spdyclient.SocketBytes(sock)
    thread = threading.Thread(
        target=spdyexec.serve,
        args=(io, lambda: _PipeProcess(argv, stdin), exit_status, wanted),
        daemon=True,
    )
    thread.start()
    return thread


def _read_all(stream: Any) -> bytes:
    out = b""
    while chunk := stream.read1(65536):
        out += chunk
    return out


def test_remote_process_carries_stdin_its_end_output_and_exit_code() -> None:
    ours, theirs = socket.socketpair()
    server = _serve(theirs, ["sh", "-c", "cat; echo err >&2; exit 4"], stdin=True)
    proc = spdyclient.RemoteProcess(spdyclient.SocketBytes(ours), stdin=True, tty=False)
    try:
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        proc.stdin.write(b"x" * 20_000)  # under the pipe buffers: both ends here block on writes
        proc.stdin.close()  # FIN: the command sees the end of its input
        results: dict[str, bytes] = {}
        err = threading.Thread(target=lambda: results.update(err=_read_all(proc.stderr)))
        err.start()
        assert _read_all(proc.stdout) == b"x" * 20_000
        assert proc.wait() == 4 and proc.failure is None
        err.join(5)
        assert results["err"] == b"err\n"
    finally:
        proc.kill()
        server.join(5)
        theirs.close()


class _FakeKubelet:
    """What CRINodeStreams reads of the kubelet: containers and their log paths."""

    def __init__(self, log: Path) -> None:
        self.node = SimpleNamespace(name="node-1", netns="hx-node-1")
        self.running = {"uid-1": {"main": "c1"}}
        status = SimpleNamespace(log_path=str(log))
        self.cri = SimpleNamespace(container_status=lambda cid: status)

    def container_ids(self, uid: str) -> dict[str, str]:
        return dict(self.running.get(uid, {}))


POD = {"metadata": {"namespace": "default", "name": "p", "uid": "uid-1"}, "status": {}}


def test_logs_read_the_cri_file_and_follow_ends_with_the_container(tmp_path: Path) -> None:
    log = tmp_path / "0.log"
    log.write_text("2026-12-04T21:00:00Z stdout F one\n2026-12-04T21:00:01Z stderr F two\n")
    kubelet = _FakeKubelet(log)
    streams = CRINodeStreams(kubelet, lambda ns, name, uid: True)  # type: ignore[arg-type]
    lines = list(streams.log(POD, "main", follow=False, stop=lambda: False))
    assert [ln.text for ln in lines] == ["one", "two"]

    seen: list[str] = []
    follower = streams.log(POD, "main", follow=True, stop=lambda: False)
    seen += [next(follower).text, next(follower).text]
    with log.open("a") as f:
        f.write("2026-12-04T21:00:02Z stdout P thr\n2026-12-04T21:00:02Z stdout F ee\n")
    seen.append(next(follower).text)
    kubelet.running.clear()  # the container was removed: the follow ends
    assert list(follower) == []
    assert seen == ["one", "two", "three"]
    with pytest.raises(StreamUnavailable, match="container main of pod default/p is not running"):
        list(streams.log(POD, "main", follow=False, stop=lambda: False))


def test_relay_copies_both_ways_and_closes_the_runtime_side() -> None:
    from harness.backends.local.portforward import relay

    client_ours, client_theirs = socket.socketpair()
    up_ours, up_theirs = socket.socketpair()
    done = threading.Thread(
        target=relay,
        args=(spdyclient.SocketBytes(client_ours), spdyclient.SocketBytes(up_ours)),
        daemon=True,
    )
    done.start()
    try:
        client_theirs.sendall(b"to-runtime")
        assert up_theirs.recv(100) == b"to-runtime"
        up_theirs.sendall(b"to-client")
        assert client_theirs.recv(100) == b"to-client"
        client_theirs.shutdown(socket.SHUT_WR)  # the client ends: the runtime side is closed
        assert up_theirs.recv(100) == b""
        done.join(5)
        assert not done.is_alive()
    finally:
        for s in (client_ours, client_theirs, up_ours, up_theirs):
            s.close()
