"""KubeClient shared by threads: a connection per request in flight (issue 16).

The daemon's workers share one client. One worker's slow answer, or its
retries and back-off sleeps against a failing server, must not hold up the
others. A small local HTTP/1.1 server (keep-alive) makes one path block
until released and another answer 503 until told otherwise.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from pymultus.cni.errors import TRY_AGAIN_LATER, CNIError
from pymultus.kube.client import KubeClient
from pymultus.kube.kubeconfig import ClusterAccess


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.gate = threading.Event()  # /slow answers once this is set
        self.slow_arrived = threading.Event()
        self.busy = threading.Event()  # /busy answers 503 while this is set
        self.lock = threading.Lock()
        self.seen: list[tuple[str, int]] = []  # (path, client port) per request

    def record(self, path: str, port: int) -> None:
        with self.lock:
            self.seen.append((path, port))

    def count(self, path: str) -> int:
        with self.lock:
            return sum(1 for p, _ in self.seen if p == path)

    def ports(self) -> set[int]:
        with self.lock:
            return {port for _, port in self.seen}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the API server
    server: Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.server.record(self.path, self.client_address[1])
        if self.path == "/slow":
            self.server.slow_arrived.set()
            self.server.gate.wait(10)
            self.answer(200, {"path": "slow"})
        elif self.path == "/busy" and self.server.busy.is_set():
            self.answer(503, {"kind": "Status", "reason": "ServiceUnavailable", "message": "x"})
        else:
            self.answer(200, {"path": self.path})


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.gate.set()
        srv.busy.clear()
        srv.shutdown()
        srv.server_close()
        thread.join(5)


@pytest.fixture
def client(server: Server) -> Iterator[KubeClient]:
    host, port = server.server_address[:2]
    with KubeClient(ClusterAccess(server=f"http://{host}:{port}")) as c:
        yield c


def in_thread(fn: Any) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["result"] = fn()
        except BaseException as exc:  # reported to the test, not lost in the thread
            out["error"] = exc
        out["done"] = time.monotonic()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def test_a_slow_request_does_not_hold_up_another(server: Server, client: KubeClient) -> None:
    slow, out = in_thread(lambda: client.request("GET", "/slow"))
    assert server.slow_arrived.wait(5)
    # The slow one is on the wire, unanswered: the next request gets its own connection.
    for _ in range(3):
        assert client.request("GET", "/fast") == {"path": "/fast"}
    assert slow.is_alive() and "done" not in out
    server.gate.set()
    slow.join(5)
    assert out.get("result") == {"path": "slow"}, out
    assert len(server.ports()) == 2  # two connections, each kept alive
    assert client.pool.opened == 2 and len(client.pool.idle()) == 2


def test_retries_and_back_off_do_not_hold_up_another(server: Server, client: KubeClient) -> None:
    server.busy.set()
    retrying, out = in_thread(lambda: client.request("GET", "/busy", retry_for=8))
    deadline = time.monotonic() + 5
    while server.count("/busy") < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.count("/busy") >= 3  # the first worker is in its retry loop
    started = time.monotonic()
    for _ in range(5):
        assert client.request("GET", "/fast") == {"path": "/fast"}
    finished = time.monotonic()
    assert retrying.is_alive() and "done" not in out
    # Each fast request waited for no back-off sleep (they reach 0.5 s each).
    assert finished - started < 2.0
    server.busy.clear()
    retrying.join(10)
    assert out.get("result") == {"path": "/busy"}, out
    assert out["done"] > finished


def test_the_retry_budget_still_ends_in_try_again_later(server: Server, client: KubeClient) -> None:
    server.busy.set()
    with pytest.raises(CNIError) as info:
        client.request("GET", "/busy", retry_for=0.3)
    assert info.value.code == TRY_AGAIN_LATER
    # Every 503 came back on a healthy connection: it was reused, not reopened.
    assert client.pool.opened == 1


def test_idle_connections_are_bounded(server: Server) -> None:
    host, port = server.server_address[:2]
    with KubeClient(ClusterAccess(server=f"http://{host}:{port}"), max_idle=1) as c:
        slow, out = in_thread(lambda: c.request("GET", "/slow"))
        assert server.slow_arrived.wait(5)
        assert c.request("GET", "/fast") == {"path": "/fast"}
        server.gate.set()
        slow.join(5)
        assert "result" in out, out
        assert c.pool.opened == 2 and len(c.pool.idle()) == 1  # the second was closed
    assert c.pool.idle() == []
