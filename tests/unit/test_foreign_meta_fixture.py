"""The foreign-meta fixture behaves like a client-go plugin towards the API:
no token over plain http, TLS verified against the CA. And it is not pymultus."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from harness.backends.local.apiserver import APIServer, server_tls_context
from harness.backends.local.pki import make_cluster_pki

FIXTURE = Path(__file__).resolve().parents[1] / "plugins" / "foreign-meta" / "foreignmeta.py"


def fixture_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("foreignmeta", FIXTURE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fixture_imports_only_the_standard_library() -> None:
    import sys

    tree = ast.parse(FIXTURE.read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    assert roots - set(sys.stdlib_module_names) == set()


def test_no_token_over_plain_http() -> None:
    fm = fixture_module()
    srv = APIServer(token="tok")
    host, port = srv.listen()
    try:
        api = fm.API(f"http://{host}:{port}", "tok", "")
        assert api.token == ""  # never sent: the request goes unauthenticated
        status, _ = api.request("GET", "/api/v1/namespaces/default/pods")
        assert status == 401
        with pytest.raises(fm.CNIFail) as info:
            api.get("/api/v1/namespaces/default/pods")
        assert info.value.code == 11
    finally:
        srv.stop()


def test_https_verified_against_the_cluster_ca(tmp_path: Path) -> None:
    fm = fixture_module()
    pki = make_cluster_pki(str(tmp_path))
    srv = APIServer(token="tok")
    host, port = srv.listen(tls=server_tls_context(pki.server_cert, pki.server_key))
    try:
        ca = Path(pki.ca_cert).read_text()
        api = fm.API(f"https://{host}:{port}", "tok", ca)
        assert api.request("GET", "/api/v1/namespaces/default/pods")[0] == 200
        (tmp_path / "other").mkdir()
        other = make_cluster_pki(str(tmp_path / "other"), cluster_name="other")
        stranger = fm.API(f"https://{host}:{port}", "tok", Path(other.ca_cert).read_text())
        with pytest.raises(fm.CNIFail, match="CERTIFICATE_VERIFY_FAILED"):
            stranger.request("GET", "/api/v1/namespaces/default/pods")
    finally:
        srv.stop()
