"""The local cluster's Kubernetes client (the official package) against the real
embedded API server: https from a kubeconfig, errors mapped once, watches that
give their connection back, token rotation, one connection per caller."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.backends.local.apiclient import (
    PER_NODE_EXTRA,
    SHARED,
    APIError,
    ClusterClient,
    api_error,
    pod_path,
    pool_size,
)
from harness.backends.local.apiserver import APIServer, server_tls_context
from harness.backends.local.listeners import ListenerSet
from harness.backends.local.pki import make_cluster_pki

TOKEN = "sekret"


def test_api_error_reads_the_status_object() -> None:
    body = json.dumps({"kind": "Status", "message": 'pods "p" not found', "reason": "NotFound"})
    err = api_error(404, body.encode())
    assert (err.status, err.reason, err.message) == (404, "NotFound", 'pods "p" not found')
    plain = api_error(502, b"<html>bad gateway</html>")
    assert (plain.status, plain.reason, plain.message) == (502, "", "<html>bad gateway</html>")
    assert api_error(500, None).message == ""


def test_pool_has_a_connection_for_every_caller() -> None:
    assert pool_size(3, 4) == 3 * (4 + PER_NODE_EXTRA) + SHARED


def pod(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "i"}]},
    }


@pytest.fixture
def secure(tmp_path: Path) -> Iterator[tuple[APIServer, ClusterClient]]:
    """An API server on https with a token, and a client from a kubeconfig for it."""
    pki = make_cluster_pki(str(tmp_path), cluster_name="t")
    server = APIServer(token=TOKEN)
    host, port = server.listen(
        "127.0.0.1", 0, tls=server_tls_context(pki.server_cert, pki.server_key)
    )
    server.start()
    kubeconfig = tmp_path / "kubeconfig"
    ca = base64.b64encode(Path(pki.ca_cert).read_bytes()).decode()
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "t",
                        "cluster": {
                            "server": f"https://{host}:{port}",
                            "certificate-authority-data": ca,
                        },
                    }
                ],
                "users": [{"name": "u", "user": {"token": TOKEN}}],
                "contexts": [{"name": "t", "context": {"cluster": "t", "user": "u"}}],
                "current-context": "t",
            }
        )
    )
    client = ClusterClient.from_kubeconfig(str(kubeconfig), pool=8, temp_dir=str(tmp_path))
    try:
        yield server, client
    finally:
        client.close()
        server.stop()


def test_crud_over_https_and_errors_mapped(secure: tuple[APIServer, ClusterClient]) -> None:
    _server, api = secure
    api.create_namespace("other")
    made = api.request("POST", pod_path("default"), pod("p"))
    assert made["metadata"]["name"] == "p"
    assert api.get(pod_path("default", "missing")) is None
    assert api.merge_patch(pod_path("default", "missing"), {"metadata": {}}) is None
    api.delete(pod_path("default", "missing"))  # gone already: not an error
    with pytest.raises(APIError) as caught:
        api.request("POST", pod_path("default"), pod("p"))
    assert (caught.value.status, caught.value.reason) == (409, "AlreadyExists")
    patched = api.merge_patch(pod_path("default", "p"), {"metadata": {"labels": {"a": "b"}}})
    assert patched is not None and patched["metadata"]["labels"] == {"a": "b"}


def test_lease_through_the_typed_api_keeps_the_microtime(
    secure: tuple[APIServer, ClusterClient],
) -> None:
    _server, api = secure
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "node-1", "namespace": "default"},
        "spec": {"holderIdentity": "node-1", "renewTime": "2026-12-04T21:00:00.000000Z"},
    }
    api.create_lease("default", lease)
    api.renew_lease("default", "node-1", {"spec": {"renewTime": "2026-12-04T21:00:10.123456Z"}})
    got = api.get("/apis/coordination.k8s.io/v1/namespaces/default/leases/node-1")
    assert got is not None and got["spec"]["renewTime"] == "2026-12-04T21:00:10.123456Z"
    with pytest.raises(APIError) as caught:  # the typed call's ApiException, mapped
        api.renew_lease("default", "node-9", {"spec": {}})
    assert caught.value.status == 404


def test_rotated_token_is_used_by_the_next_request(
    secure: tuple[APIServer, ClusterClient],
) -> None:
    server, api = secure
    server.set_token("new-token")
    with pytest.raises(APIError) as caught:
        api.get(pod_path("default"))
    assert caught.value.status == 401
    api.token = "new-token"
    assert api.get(pod_path("default")) is not None
    assert api.token == "new-token"  # not put back by the kubeconfig loader


def test_watch_yields_events_and_an_early_exit_frees_the_connection(
    secure: tuple[APIServer, ClusterClient],
) -> None:
    _server, api = secure
    listing = api.request("GET", pod_path("default"))
    rv = str(listing["metadata"]["resourceVersion"])
    api.request("POST", pod_path("default"), pod("w1"))
    api.request("POST", pod_path("default"), pod("w2"))
    seen = []
    for event in api.watch(pod_path("default"), rv, timeout_seconds=30):
        seen.append((event["type"], event["object"]["metadata"]["name"]))
        if len(seen) == 2:
            break  # long before the server's timeout
    assert seen == [("ADDED", "w1"), ("ADDED", "w2")]
    # The pool is still usable at once (the half-read stream was not put back).
    assert api.get(pod_path("default", "w1")) is not None
    with pytest.raises(APIError) as caught:  # refused before the stream starts
        next(iter(api.watch("/api/v1/namespaces/default/nothings", "1", timeout_seconds=1)))
    assert caught.value.status == 404


def test_concurrent_callers_reuse_pooled_connections(
    secure: tuple[APIServer, ClusterClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """8 threads x 10 requests on a pool of 8: at most 8 connections (TLS handshakes)."""
    _server, api = secure
    accepted = []
    serve = ListenerSet._serve_connection

    def counting(self: ListenerSet, *args: Any) -> None:
        accepted.append(1)
        serve(self, *args)

    monkeypatch.setattr(ListenerSet, "_serve_connection", counting)
    api.close()  # drop the fixture's connections: count from zero
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(10):
                api.get(pod_path("default"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert 1 <= len(accepted) <= 8


def test_plain_http_server_without_a_kubeconfig() -> None:
    server = APIServer()
    server.listen("127.0.0.1", 0)
    api = ClusterClient.for_server(server.url())
    try:
        api.create_node({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}})
        assert api.read_node("n1")["metadata"]["name"] == "n1"
        api.patch_node_status("n1", {"status": {"phase": "Running"}})
    finally:
        api.close()
        server.stop()
