"""Watches over HTTP: chunked JSON lines, resume, 410, timeouts, shutdown."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Generator, Iterator
from typing import Any

import pytest

from harness.backends.local.apiserver import APIServer
from harness.backends.local.store import Store
from pymultus.kube.client import KubeClient
from pymultus.kube.kubeconfig import ClusterAccess

PODS = "/api/v1/namespaces/default/pods"


def pod(name: str, node: str = "node-1", **meta: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, **meta},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i"}]},
    }


@pytest.fixture
def server() -> Iterator[APIServer]:
    srv = APIServer()
    srv.listen()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def client(server: APIServer) -> Iterator[KubeClient]:
    with KubeClient(ClusterAccess(server=server.url())) as c:
        yield c


Events = Generator[tuple[str, dict[str, Any]], None, None]


def take(events: Events, n: int) -> list[tuple[str, dict[str, Any]]]:
    """The first ``n`` events, then close the stream (no waiting for its timeout)."""
    out = []
    for event in events:
        out.append(event)
        if len(out) == n:
            break
    events.close()
    return out


def raw_get(server: APIServer, target: str) -> tuple[bytes, bytes]:
    """GET with a raw socket: (head, body) exactly as sent, to check the framing."""
    host, port, _ = server.addresses[0]
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


def test_watch_stream_is_chunked_json_lines(server: APIServer) -> None:
    server.store.create("pods", pod("a"))
    head, body = raw_get(server, f"{PODS}?watch=1&timeoutSeconds=1")
    assert b"HTTP/1.1 200" in head and b"Transfer-Encoding: chunked" in head
    # One chunk per event: "<hex size>\r\n<json line>\n\r\n", then "0\r\n\r\n".
    size_line, _, rest = body.partition(b"\r\n")
    size = int(size_line, 16)
    line = rest[:size]
    assert line.endswith(b"\n")
    event = json.loads(line)
    assert event["type"] == "ADDED" and event["object"]["metadata"]["name"] == "a"
    assert body.endswith(b"0\r\n\r\n")


def test_watch_resume_from_resource_version(server: APIServer, client: KubeClient) -> None:
    store = server.store
    created = store.create("pods", pod("a"))
    store.patch("pods", "a", {"metadata": {"annotations": {"x": "1"}}})
    store.delete("pods", "a")  # graceful: MODIFIED with deletionTimestamp
    store.delete("pods", "a", grace_period_seconds=0)
    events = take(client.watch(PODS, resource_version=created["metadata"]["resourceVersion"]), 3)
    assert [t for t, _ in events] == ["MODIFIED", "MODIFIED", "DELETED"]
    assert events[1][1]["metadata"]["deletionGracePeriodSeconds"] == 30
    versions = [int(o["metadata"]["resourceVersion"]) for _, o in events]
    assert versions == sorted(versions)


def test_watch_delivers_live_events(server: APIServer, client: KubeClient) -> None:
    rv = server.store.resource_version

    def later() -> None:
        time.sleep(0.1)
        server.store.create("pods", pod("live"))

    threading.Thread(target=later).start()
    stream = client.watch(PODS, resource_version=rv, timeout_seconds=5)
    kind, obj = next(stream)
    assert (kind, obj["metadata"]["name"]) == ("ADDED", "live")
    stream.close()


def test_watch_with_selectors(server: APIServer, client: KubeClient) -> None:
    rv = server.store.resource_version
    server.store.create("pods", pod("a", node="n1", labels={"app": "x"}))
    server.store.create("pods", pod("b", node="n2", labels={"app": "x"}))
    server.store.create("pods", pod("c", node="n1"))
    server.store.create("pods", pod("d", node="n1", labels={"app": "x"}))
    events = client.watch(
        "/api/v1/pods",
        resource_version=rv,
        params={"fieldSelector": "spec.nodeName=n1", "labelSelector": "app=x"},
    )
    assert [(t, o["metadata"]["name"]) for t, o in take(events, 2)] == [
        ("ADDED", "a"),
        ("ADDED", "d"),
    ]


def test_watch_too_old_is_an_error_event_410() -> None:
    srv = APIServer(store=Store(history=2))
    srv.listen()
    try:
        old = srv.store.resource_version
        for i in range(6):
            srv.store.create("pods", pod(f"p{i}"))
        with KubeClient(ClusterAccess(server=srv.url())) as c:
            events = list(c.watch(PODS, resource_version=old))
        assert len(events) == 1
        kind, status = events[0]
        assert kind == "ERROR" and status["kind"] == "Status" and status["code"] == 410
    finally:
        srv.stop()


def test_watch_bad_selector_is_an_http_400(client: KubeClient) -> None:
    from pymultus.kube.client import KubeAPIError

    with pytest.raises(KubeAPIError) as info:
        list(client.watch(PODS, params={"fieldSelector": "spec.nope=1"}))
    assert info.value.status == 400


def test_legacy_watch_path_for_one_object(server: APIServer) -> None:
    server.store.create("pods", pod("a"))
    server.store.create("pods", pod("b"))
    with KubeClient(ClusterAccess(server=server.url())) as c:
        events = take(c.watch("/api/v1/watch/namespaces/default/pods/b"), 1)
        assert [o["metadata"]["name"] for _, o in events] == ["b"]
        server.store.patch("pods", "a", {"metadata": {"labels": {"x": "1"}}})
        server.store.patch("pods", "b", {"metadata": {"labels": {"x": "1"}}})
        rv = events[0][1]["metadata"]["resourceVersion"]
        events = take(c.watch("/api/v1/watch/namespaces/default/pods/b", resource_version=rv), 1)
        assert [(t, o["metadata"]["name"]) for t, o in events] == [("MODIFIED", "b")]


def test_stop_ends_open_watches_quickly(server: APIServer, client: KubeClient) -> None:
    got: list[Any] = []
    done = threading.Event()

    def run() -> None:
        got.extend(client.watch(PODS, resource_version=server.store.resource_version))
        done.set()

    threading.Thread(target=run, daemon=True).start()
    time.sleep(0.1)
    start = time.monotonic()
    server.stop()
    assert done.wait(3), "watch did not end when the server stopped"
    assert time.monotonic() - start < 2
    assert got == []


def test_pause_ends_watches_and_disconnects_are_noticed(server: APIServer) -> None:
    host, port, _ = server.addresses[0]
    sock = socket.create_connection((host, port), timeout=5)
    sock.sendall(f"GET {PODS}?watch=true HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert b"200 OK" in sock.recv(4096)
    assert len(server.listeners._conns) == 1
    sock.close()  # the client goes away: the handler notices without any event
    deadline = time.monotonic() + 3
    while server.listeners._conns and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not server.listeners._conns


def test_watch_as_table_for_kubectl(server: APIServer) -> None:
    server.store.create("pods", pod("a"))
    host, port, _ = server.addresses[0]
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(
            f"GET {PODS}?watch=1&timeoutSeconds=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            "Accept: application/json;as=Table;v=v1;g=meta.k8s.io,application/json\r\n\r\n".encode()
        )
        threading.Timer(0.1, lambda: server.store.create("pods", pod("b"))).start()
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    lines = [json.loads(x) for x in data.split(b"\n") if x.startswith(b"{")]
    assert [e["object"]["kind"] for e in lines] == ["Table", "Table"]
    assert "columnDefinitions" in lines[0]["object"]
    assert "columnDefinitions" not in lines[1]["object"]
    assert lines[1]["object"]["rows"][0]["cells"][0] == "b"
