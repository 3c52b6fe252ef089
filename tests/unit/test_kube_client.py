"""pymultus.kube.client against the embedded API server (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.backends.local.apiserver import APIServer, server_tls_context
from harness.backends.local.pki import make_cluster_pki
from pymultus.cni.errors import (
    DECODE_FAILURE,
    INVALID_CONFIG,
    IO_FAILURE,
    TRY_AGAIN_LATER,
    CNIError,
)
from pymultus.kube.client import KubeAPIError, KubeClient, _quote
from pymultus.kube.kubeconfig import ClusterAccess
from pymultus.kube.transport import split_server as _split_server

NAD_CONFIG = '{"cniVersion": "1.0.0", "type": "macvlan"}'


def pod(name: str, **meta: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, **meta},
        "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "i"}]},
    }


@pytest.fixture
def server() -> Iterator[APIServer]:
    srv = APIServer(token="tok-1")
    srv.listen()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text("tok-1\n")
    return path


@pytest.fixture
def client(server: APIServer, token_file: Path) -> Iterator[KubeClient]:
    with KubeClient(ClusterAccess(server=server.url(), token_file=str(token_file))) as c:
        yield c


# ---- reads ------------------------------------------------------------------------


def test_get_pod_and_nads(server: APIServer, client: KubeClient) -> None:
    assert client.get_pod("default", "a") is None
    created = server.store.create("pods", pod("a"))
    got = client.get_pod("default", "a")
    assert got is not None and got["metadata"]["uid"] == created["metadata"]["uid"]
    server.store.create("namespaces", {"metadata": {"name": "other"}})
    server.store.create(
        "net-attach-def", {"metadata": {"name": "n1"}, "spec": {"config": NAD_CONFIG}}
    )
    server.store.create(
        "net-attach-def", {"metadata": {"name": "n2", "namespace": "other"}, "spec": {}}
    )
    nad = client.get_nad("default", "n1")
    assert nad is not None and nad["spec"]["config"] == NAD_CONFIG
    assert client.get_nad("default", "n2") is None
    assert [n["metadata"]["name"] for n in client.list_nads("default")] == ["n1"]
    assert sorted(n["metadata"]["name"] for n in client.list_nads()) == ["n1", "n2"]
    assert client.list_nads("empty-or-missing") == []


def test_one_keep_alive_connection(server: APIServer, client: KubeClient) -> None:
    client.get_pod("default", "a")
    (conn,) = client.pool.idle()
    assert conn.sock is not None
    sock = conn.sock
    for _ in range(3):
        client.get_pod("default", "a")
    assert client.pool.idle() == [conn] and conn.sock is sock
    assert client.pool.opened == 1
    assert server.count("get", "pods") == 4


def test_reconnects_when_the_server_closed_the_idle_connection(
    server: APIServer, client: KubeClient
) -> None:
    client.get_pod("default", "a")
    server.pause()
    server.resume()  # every connection was cut
    # retry_for=0: no back-off retries, only the free reconnect of a stale connection.
    assert client.get("/api/v1/namespaces/default/pods/a", retry_for=0) is None


# ---- writes -----------------------------------------------------------------------


def test_patch_pod_status_annotations(server: APIServer, client: KubeClient) -> None:
    server.store.create("pods", pod("a", annotations={"other": "keep", "stale": "x"}))
    out = client.patch_pod_status_annotations(
        "default", "a", {"k8s.v1.cni.cncf.io/network-status": "[]", "stale": None}
    )
    assert out is not None
    assert out["metadata"]["annotations"] == {
        "other": "keep",
        "k8s.v1.cni.cncf.io/network-status": "[]",
    }
    assert server.request_counts()[("patch", "pods/status")] == 1
    assert server.count("get") == 0  # no GET+update conflict loop
    assert client.patch_pod_status_annotations("default", "gone", {"x": "1"}) is None


def test_create_event(server: APIServer, client: KubeClient) -> None:
    p = server.store.create("pods", pod("a"))
    client.create_event(
        "default", p, "AddedInterface", "Add net1 [10.1.1.11/24] from default/macvlan-conf",
        host="node-1",
    )  # fmt: skip
    client.create_event("default", {"kind": "Pod", "name": "a"}, "NoNetworkFound", "x", "Warning")
    (event,) = server.store.list_objects(
        "events", "default", field_selector=f"involvedObject.uid={p['metadata']['uid']}"
    )
    assert event["reason"] == "AddedInterface" and event["type"] == "Normal"
    assert event["involvedObject"]["name"] == "a" and event["involvedObject"]["kind"] == "Pod"
    assert event["source"] == {"component": "pymultus", "host": "node-1"}
    assert event["metadata"]["name"].startswith("a.")
    warnings = server.store.list_objects("events", field_selector="type=Warning")
    assert [w["reason"] for w in warnings] == ["NoNetworkFound"]


def test_request_errors_carry_status(server: APIServer, client: KubeClient) -> None:
    body = {"metadata": {"name": "n"}, "spec": {"config": NAD_CONFIG}}
    path = "/apis/k8s.cni.cncf.io/v1/namespaces/default/network-attachment-definitions"
    client.request("POST", path, body)
    with pytest.raises(KubeAPIError) as info:
        client.request("POST", path, body)
    err = info.value
    assert err.code == IO_FAILURE and err.status == 409 and err.reason == "AlreadyExists"
    assert "already exists" in err.msg and "POST" in err.msg
    with pytest.raises(KubeAPIError) as info:
        client.request("DELETE", f"{path}/missing")
    assert info.value.status == 404 and info.value.reason == "NotFound"


def test_non_json_answer_is_decode_failure(client: KubeClient) -> None:
    with pytest.raises(CNIError) as info:
        client.request("GET", "/healthz")
    assert info.value.code == DECODE_FAILURE


# ---- credentials -----------------------------------------------------------------------


def test_token_file_is_reread_so_rotation_just_works(
    server: APIServer, client: KubeClient, token_file: Path
) -> None:
    assert client.get_pod("default", "a") is None
    server.set_token("tok-2")
    token_file.write_text("tok-2")
    assert client.get_pod("default", "a") is None


def test_401_rereads_the_token_once(server: APIServer) -> None:
    class Rotating(KubeClient):
        tokens = ["stale", "tok-1", "tok-1"]

        def _bearer(self) -> str | None:
            return self.tokens.pop(0)

    c = Rotating(ClusterAccess(server=server.url()))
    assert c.get_pod("default", "a") is None
    assert Rotating.tokens == ["tok-1"]
    c.close()


def test_rejected_credentials_are_invalid_config(server: APIServer) -> None:
    access = ClusterAccess(server=server.url(), token="wrong")
    with KubeClient(access) as c, pytest.raises(KubeAPIError) as info:
        c.get_pod("default", "a")
    err = info.value
    assert err.code == INVALID_CONFIG and err.status == 401
    assert "check the kubeconfig / service-account token" in err.msg
    assert server.count() == 2  # the first try and one retry after re-reading the token


def test_unreadable_token_file(server: APIServer, tmp_path: Path) -> None:
    access = ClusterAccess(server=server.url(), token_file=str(tmp_path / "missing"))
    with KubeClient(access) as c, pytest.raises(CNIError) as info:
        c.get_pod("default", "a")
    assert info.value.code == INVALID_CONFIG and "missing" in info.value.msg
    # A static token is the fallback when the file cannot be read.
    access.token = "tok-1"
    with KubeClient(access) as c:
        assert c.get_pod("default", "a") is None


# ---- retries -------------------------------------------------------------------------------


def test_500_then_recovery_within_retry_for(server: APIServer, client: KubeClient) -> None:
    server.set_fault("500", times=3)
    assert client.get_pod("default", "a") is None
    assert server.count("get", "pods") == 4


def test_persistent_503_gives_try_again_later(server: APIServer, token_file: Path) -> None:
    server.set_fault("503")
    access = ClusterAccess(server=server.url(), token_file=str(token_file))
    with KubeClient(access, retry_for=0.3) as c:
        start = time.monotonic()
        with pytest.raises(CNIError) as info:
            c.get_pod("default", "a")
        elapsed = time.monotonic() - start
    assert info.value.code == TRY_AGAIN_LATER
    assert (
        server.url() in info.value.msg and "GET /api/v1/namespaces/default/pods/a" in info.value.msg
    )
    assert elapsed < 1.5


def test_429_honours_retry_after_but_not_beyond_the_budget(
    server: APIServer, token_file: Path
) -> None:
    server.set_fault("429")
    access = ClusterAccess(server=server.url(), token_file=str(token_file))
    with KubeClient(access, retry_for=0.2) as c:
        start = time.monotonic()
        with pytest.raises(CNIError) as info:
            c.get_pod("default", "a")
    assert info.value.code == TRY_AGAIN_LATER
    assert time.monotonic() - start < 0.5  # Retry-After: 1 would overrun: give up at once


def test_connection_refused_then_server_comes_back(server: APIServer, token_file: Path) -> None:
    server.pause()
    threading.Timer(0.3, server.resume).start()
    access = ClusterAccess(server=server.url(), token_file=str(token_file))
    with KubeClient(access, retry_for=3) as c:
        assert c.get_pod("default", "a") is None


def test_unreachable_with_no_retries_fails_fast(server: APIServer, token_file: Path) -> None:
    server.pause()
    access = ClusterAccess(server=server.url(), token_file=str(token_file))
    with KubeClient(access, retry_for=0) as c:
        start = time.monotonic()
        with pytest.raises(CNIError) as info:
            c.get_pod("default", "a")
    assert info.value.code == TRY_AGAIN_LATER and "unreachable" in info.value.msg
    assert time.monotonic() - start < 0.2
    server.resume()


# ---- TLS -------------------------------------------------------------------------------------


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[APIServer, str]]:
    pki = make_cluster_pki(str(tmp_path))
    srv = APIServer(token="tok")
    srv.listen(tls=server_tls_context(pki.server_cert, pki.server_key))
    try:
        yield srv, pki.ca_cert
    finally:
        srv.stop()


def test_tls_with_ca_data_and_ca_file(tls_server: tuple[APIServer, str]) -> None:
    srv, cert = tls_server
    assert srv.url().startswith("https://")
    pem = Path(cert).read_bytes()
    for access in (
        ClusterAccess(server=srv.url(), ca_data=pem, token="tok"),
        ClusterAccess(server=srv.url(), ca_file=cert, token="tok"),
        ClusterAccess(server=srv.url(), insecure=True, token="tok"),
    ):
        with KubeClient(access) as c:
            assert c.get_pod("default", "a") is None
    srv.store.create("pods", pod("w"))
    with KubeClient(ClusterAccess(server=srv.url(), ca_data=pem, token="tok")) as c:
        (event,) = [e for _, e in zip(range(1), c.watch("/api/v1/pods"), strict=False)]
        assert event[1]["metadata"]["name"] == "w"


def test_tls_verification_failure_is_not_retried(tls_server: tuple[APIServer, str]) -> None:
    srv, _ = tls_server
    with KubeClient(ClusterAccess(server=srv.url(), token="tok"), retry_for=5) as c:
        start = time.monotonic()
        with pytest.raises(CNIError) as info:
            c.get_pod("default", "a")
    assert info.value.code == INVALID_CONFIG and "certificate-authority" in str(info.value)
    assert time.monotonic() - start < 1


def test_bad_ca_data_is_invalid_config(tls_server: tuple[APIServer, str]) -> None:
    srv, _ = tls_server
    access = ClusterAccess(server=srv.url(), ca_data=b"not a pem")
    with KubeClient(access) as c, pytest.raises(CNIError) as info:
        c.get_pod("default", "a")
    assert info.value.code == INVALID_CONFIG


# ---- pure helpers and import cost -------------------------------------------------------------


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        ("https://10.96.0.1:443", ("https", "10.96.0.1", 443, "")),
        ("https://api.example.com", ("https", "api.example.com", 443, "")),
        ("http://127.0.0.1:8080/", ("http", "127.0.0.1", 8080, "")),
        ("https://[fd00::1]:6443", ("https", "fd00::1", 6443, "")),
        ("https://[fd00::1]", ("https", "fd00::1", 443, "")),
        ("https://rancher/k8s/clusters/c-1/", ("https", "rancher", 443, "/k8s/clusters/c-1")),
    ],
)
def test_split_server(server: str, expected: tuple[str, str, int, str]) -> None:
    assert _split_server(server) == expected


@pytest.mark.parametrize("bad", ["127.0.0.1:6443", "ftp://x", "https://:443", "https://h:port"])
def test_split_server_rejects(bad: str) -> None:
    with pytest.raises(CNIError) as info:
        _split_server(bad)
    assert info.value.code == INVALID_CONFIG


def test_quote() -> None:
    assert _quote("macvlan-conf.v1") == "macvlan-conf.v1"
    assert _quote("a/b c?") == "a%2Fb%20c%3F"
    assert _quote("é") == "%C3%A9"


def test_import_is_cheap() -> None:
    """Importing the client loads no HTTP, TLS or socket machinery (loaded at first request)."""
    code = (
        "import sys, pymultus.kube.client\n"
        "heavy = {'http.client', 'ssl', 'socket', 'email', 'urllib.parse', 'threading'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True,
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert done.stdout.strip() == "[]"


def test_plain_http_requests_never_load_ssl_or_http_client(server: APIServer) -> None:
    code = (
        "import sys\n"
        "from pymultus.kube.client import KubeClient\n"
        "from pymultus.kube.kubeconfig import ClusterAccess\n"
        f"c = KubeClient(ClusterAccess(server={server.url()!r}, token='tok-1'))\n"
        "assert c.get_pod('default', 'x') is None\n"
        "print(sorted({'http.client', 'ssl', 'email'} & set(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True,
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert done.stdout.strip() == "[]"


def test_kubeconfig_written_by_the_server_loads(server: APIServer, tmp_path: Path) -> None:
    from pymultus.kube.kubeconfig import load_kubeconfig

    path = tmp_path / "kubeconfig"
    path.write_text(server.kubeconfig(namespace="kube-system"))
    access = load_kubeconfig(str(path))
    assert access.token == "tok-1" and access.namespace == "kube-system"
    with KubeClient(access) as c:
        assert c.get_pod("kube-system", "a") is None


def test_tls_kubeconfig_written_by_the_server_loads(
    tls_server: tuple[APIServer, str], tmp_path: Path
) -> None:
    from pymultus.kube.kubeconfig import load_kubeconfig

    srv, cert = tls_server
    path = tmp_path / "kubeconfig"
    path.write_text(srv.kubeconfig(ca_file=cert))
    access = load_kubeconfig(str(path))
    assert access.ca_data == Path(cert).read_bytes() and access.server.startswith("https://")
    with KubeClient(access) as c:
        assert c.get_pod("default", "a") is None
