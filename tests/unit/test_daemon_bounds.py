"""Issue 15, item 6: the daemon's HTTP server is bounded in every resource.

A daemon on a temporary unix socket (no root), clients speaking raw HTTP/1.0
on sockets of their own. Each case is something the first server got wrong:
bodies read before admission, no read timeout, a thread per connection, a
listen backlog of 5. The figures under real load are in benchmarks/README.md
(``benchmarks/daemon_load.py``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from harness.backends.local.thick import http_get
from pymultus.cni.request import CNIRequest
from pymultus.daemon.overlay import DaemonOptions
from pymultus.daemon.server import Daemon
from pymultus.daemon.wire import encode_request
from pymultus.log import Logger


class Gate:
    """A fake executor whose ADD blocks until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Semaphore(0)

    def __call__(
        self, plugin_type: str, command: str, conf: dict[str, Any], request: CNIRequest
    ) -> dict[str, Any]:
        self.entered.release()
        self.release.wait(20)
        return {"cniVersion": "1.0.0"} if command == "ADD" else {}


@pytest.fixture
def daemon(tmp_path: Any) -> Iterator[tuple[Daemon, Gate]]:
    gate = Gate()
    options = DaemonOptions(socket_dir=str(tmp_path / "run"), max_concurrent=1, max_queue=1)
    d = Daemon(
        options,
        {"delegates": [{"cniVersion": "1.0.0", "name": "d", "type": "x"}], "cniDir": str(tmp_path)},
        env={},
        log=Logger("error", "", False),
        executor_factory=lambda dirs, env, timeout: gate,
    )
    limits = getattr(d, "limits", None)
    if limits is not None:  # the bounds under test, short enough for a unit test
        d.limits = dataclasses.replace(limits, header_timeout=0.5, body_timeout=1.0)
    d.start()
    try:
        yield d, gate
    finally:
        gate.release.set()
        d.stop()


def connect(path: str, timeout: float = 3.0) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(path)
    return sock


def read_reply(sock: socket.socket) -> tuple[int, bytes]:
    """(status, body) of the reply; (0, b"") if the server closed without one."""
    chunks = []
    try:
        while data := sock.recv(65536):
            chunks.append(data)
    finally:
        sock.close()
    reply = b"".join(chunks)
    if not reply:
        return 0, b""
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def post_head(length: int) -> bytes:
    return f"POST /cni HTTP/1.0\r\nHost: pymultus\r\nContent-Length: {length}\r\n\r\n".encode()


def add_body(container_id: str) -> bytes:
    env = {
        "CNI_COMMAND": "ADD",
        "CNI_CONTAINERID": container_id,
        "CNI_NETNS": "/var/run/netns/p",
        "CNI_IFNAME": "eth0",
    }
    return encode_request(env, json.dumps({"cniVersion": "1.0.0", "name": "n"}).encode())


def test_a_large_body_is_refused_before_it_is_sent(daemon: tuple[Daemon, Gate]) -> None:
    """4 MiB announced, nothing sent: 413 at once (was: the server waited for the body)."""
    d, _ = daemon
    sock = connect(d.options.socket_path)
    sock.sendall(post_head(4 << 20))
    start = time.monotonic()
    status, _ = read_reply(sock)
    assert status == 413
    assert time.monotonic() - start < 2.0


def test_a_call_is_refused_before_its_body_when_the_queue_is_full(
    daemon: tuple[Daemon, Gate],
) -> None:
    d, gate = daemon
    holders = []
    for index in range(2):  # maxConcurrent 1 + maxQueue 1
        sock = connect(d.options.socket_path, timeout=20)
        body = add_body(f"c{index}")
        sock.sendall(post_head(len(body)) + body)
        holders.append(sock)
    assert gate.entered.acquire(timeout=5)
    deadline = time.monotonic() + 5
    while d.metrics.inflight + d.metrics.queued < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    sock = connect(d.options.socket_path)
    sock.sendall(post_head(100_000))  # the body never comes
    status, body = read_reply(sock)
    assert status == 503, body  # was: the server waited for the body first
    assert json.loads(body)["code"] == 11
    gate.release.set()
    assert [read_reply(s)[0] for s in holders] == [200, 200]


def test_a_silent_client_is_dropped_after_the_header_timeout(
    daemon: tuple[Daemon, Gate],
) -> None:
    d, _ = daemon
    sock = connect(d.options.socket_path, timeout=5)
    start = time.monotonic()
    assert read_reply(sock) == (0, b"")  # closed without an answer
    assert time.monotonic() - start < 3.0


def test_a_stalled_body_is_dropped_after_the_body_timeout(daemon: tuple[Daemon, Gate]) -> None:
    d, _ = daemon
    sock = connect(d.options.socket_path, timeout=5)
    sock.sendall(post_head(1000) + b"x" * 10)
    start = time.monotonic()
    assert read_reply(sock)[0] in (0, 408)
    assert time.monotonic() - start < 4.0


def test_slow_clients_hold_no_threads_and_healthz_stays_fast(
    daemon: tuple[Daemon, Gate],
) -> None:
    d, _ = daemon
    before = threading.active_count()
    clients = []
    try:
        for _ in range(200):
            sock = connect(d.options.socket_path)
            sock.sendall(b"GET /heal")  # a slowloris: never finishes its head
            clients.append(sock)
        time.sleep(0.2)
        assert threading.active_count() - before <= 2  # was: one thread per connection
        start = time.monotonic()
        assert http_get(d.options.socket_path, "/healthz")[0] == 200
        assert time.monotonic() - start < 1.0
    finally:
        for sock in clients:
            sock.close()


def test_500_simultaneous_connects_are_all_accepted(daemon: tuple[Daemon, Gate]) -> None:
    """A real backlog: none refused (was: listen(5), 145 of 500 refused)."""
    d, _ = daemon
    clients, refused = [], 0
    try:
        for _ in range(500):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                sock.connect(d.options.socket_path)
            except (BlockingIOError, ConnectionRefusedError):
                refused += 1
            clients.append(sock)
        assert refused == 0
        for sock in clients[:50]:
            sock.setblocking(True)
            sock.settimeout(5)
            sock.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        assert all(read_reply(sock)[0] == 200 for sock in clients[:50])
    finally:
        for sock in clients:
            sock.close()


def test_connections_beyond_the_limit_are_answered_503(tmp_path: Any) -> None:
    options = DaemonOptions(socket_dir=str(tmp_path / "run"))
    d = Daemon(options, {"delegates": [{"cniVersion": "1.0.0", "name": "d", "type": "x"}]})
    d.limits = dataclasses.replace(d.limits, max_connections=3, header_timeout=5)
    d.start()
    clients = []
    try:
        for _ in range(3):
            clients.append(connect(options.socket_path))
        time.sleep(0.2)
        extra = connect(options.socket_path)
        assert read_reply(extra)[0] == 503
    finally:
        for sock in clients:
            sock.close()
        d.stop()
    assert not os.path.exists(options.socket_path)
