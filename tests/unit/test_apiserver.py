"""The embedded API server over real HTTP on 127.0.0.1 (no root needed)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from harness.backends.local.apiserver import APIServer, human_duration

POD_PATH = "/api/v1/namespaces/default/pods"
NAD_PATH = "/apis/k8s.cni.cncf.io/v1/namespaces/default/network-attachment-definitions"


def pod(name: str, node: str | None = "node-1", **meta: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, **meta}, "spec": spec}


def nad(name: str, config: str = '{"cniVersion":"1.0.0","type":"bridge"}') -> dict[str, Any]:
    return {
        "apiVersion": "k8s.cni.cncf.io/v1",
        "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": name},
        "spec": {"config": config},
    }


class HTTP:
    """A tiny urllib client that returns (status, decoded body) and never raises on 4xx/5xx."""

    def __init__(self, base: str, token: str | None = None) -> None:
        self.base = base
        self.token = token

    def __call__(
        self,
        method: str,
        path: str,
        body: Any = None,
        ctype: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", ctype)
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                raw = resp.read()
                status = resp.status
        except urllib.error.HTTPError as err:
            raw = err.read()
            status = err.code
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode()


@pytest.fixture
def server() -> Iterator[APIServer]:
    srv = APIServer()
    srv.listen("127.0.0.1", 0)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def http(server: APIServer) -> HTTP:
    return HTTP(server.url())


# ---- discovery -----------------------------------------------------------------


def test_discovery_documents(http: HTTP) -> None:
    status, api = http("GET", "/api")
    assert status == 200 and api["kind"] == "APIVersions" and api["versions"] == ["v1"]
    status, core = http("GET", "/api/v1")
    assert core["kind"] == "APIResourceList" and core["groupVersion"] == "v1"
    by_name = {r["name"]: r for r in core["resources"]}
    assert set(by_name) >= {"namespaces", "nodes", "pods", "pods/status", "events"}
    assert by_name["pods"]["namespaced"] is True and by_name["pods"]["shortNames"] == ["po"]
    assert by_name["nodes"]["namespaced"] is False
    assert by_name["pods/status"]["verbs"] == ["get", "patch", "update"]
    assert "watch" in by_name["pods"]["verbs"]
    _, groups = http("GET", "/apis")
    assert groups["kind"] == "APIGroupList"
    names = {g["name"]: g for g in groups["groups"]}
    assert set(names) >= {
        "k8s.cni.cncf.io",
        "apiextensions.k8s.io",
        "apps",
        "rbac.authorization.k8s.io",
    }
    assert names["k8s.cni.cncf.io"]["preferredVersion"]["groupVersion"] == "k8s.cni.cncf.io/v1"
    _, group = http("GET", "/apis/k8s.cni.cncf.io")
    assert group["kind"] == "APIGroup" and group["versions"][0]["version"] == "v1"
    _, gv = http("GET", "/apis/k8s.cni.cncf.io/v1")
    (res,) = gv["resources"]
    assert res["name"] == "network-attachment-definitions"
    assert res["shortNames"] == ["net-attach-def"] and res["kind"] == "NetworkAttachmentDefinition"
    _, crds = http("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
    assert [c["metadata"]["name"] for c in crds["items"]] == [
        "network-attachment-definitions.k8s.cni.cncf.io"
    ]
    assert crds["items"][0]["spec"]["names"]["shortNames"] == ["net-attach-def"]


def test_version_and_health(http: HTTP) -> None:
    status, version = http("GET", "/version")
    assert status == 200 and version["gitVersion"] == "v1.31.0-pymultus-embedded"
    for path in ("/healthz", "/readyz", "/livez"):
        assert http("GET", path) == (200, "ok")


def test_unknown_paths_are_status_404(http: HTTP) -> None:
    for path in ("/nope", "/api/v2", "/api/v1/widgets", "/apis/x.io/v1", "/api/v1/pods/x"):
        status, body = http("GET", path)
        assert status == 404, path
        assert body["kind"] == "Status" and body["reason"] == "NotFound"


# ---- CRUD ------------------------------------------------------------------------


def test_create_get_list_and_metadata(http: HTTP) -> None:
    status, created = http("POST", POD_PATH, pod("a", labels={"app": "x"}))
    assert status == 201
    meta = created["metadata"]
    assert meta["namespace"] == "default" and meta["generation"] == 1
    assert len(meta["uid"]) == 36 and meta["creationTimestamp"].endswith("Z")
    assert created["status"] == {"phase": "Pending"}
    status, got = http("GET", f"{POD_PATH}/a")
    assert status == 200 and got == created
    http("POST", POD_PATH, pod("b"))
    status, lst = http("GET", POD_PATH)
    assert lst["kind"] == "PodList" and lst["apiVersion"] == "v1"
    assert [p["metadata"]["name"] for p in lst["items"]] == ["a", "b"]
    assert int(lst["metadata"]["resourceVersion"]) >= int(meta["resourceVersion"])
    _, all_ns = http("GET", "/api/v1/pods")
    assert len(all_ns["items"]) == 2


def test_resource_versions_increase_and_uids_differ(http: HTTP) -> None:
    _, a = http("POST", POD_PATH, pod("a"))
    _, b = http("POST", POD_PATH, pod("b"))
    assert int(b["metadata"]["resourceVersion"]) > int(a["metadata"]["resourceVersion"])
    assert a["metadata"]["uid"] != b["metadata"]["uid"]


def test_create_conflicts_and_validation(http: HTTP) -> None:
    http("POST", POD_PATH, pod("a"))
    status, body = http("POST", POD_PATH, pod("a"))
    assert status == 409 and body["reason"] == "AlreadyExists"
    assert body["details"] == {"name": "a", "kind": "pods"}
    assert body["message"] == 'pods "a" already exists'
    status, body = http("POST", POD_PATH, pod("Bad_Name"))
    assert status == 422 and body["reason"] == "Invalid"
    assert body["details"]["causes"][0]["field"] == "metadata.name"
    status, body = http("POST", POD_PATH, {"metadata": {"name": "x"}, "spec": {}})
    assert status == 422 and "spec.containers" in body["message"]
    status, body = http("POST", "/api/v1/namespaces/nowhere/pods", pod("a"))
    assert status == 404 and body["message"] == 'namespaces "nowhere" not found'
    status, body = http("POST", POD_PATH, b"{not json")
    assert status == 400 and body["reason"] == "BadRequest"
    # protobuf: garbage is a 400; a Pod (only its metadata is decoded) cannot be created.
    status, body = http("POST", POD_PATH, b"\x08\x01", ctype="application/vnd.kubernetes.protobuf")
    assert status == 400 and "protobuf" in body["message"]
    pod_pb = b"k8s\x00" + b"\x0a\x09\x0a\x02v1\x12\x03Pod" + b"\x12\x05\x0a\x03\x0a\x01x"
    status, body = http("POST", POD_PATH, pod_pb, ctype="application/vnd.kubernetes.protobuf")
    assert status == 415 and "only metadata" in body["message"]
    bad_ns = pod("a", namespace="other")
    status, body = http("POST", POD_PATH, bad_ns)
    assert status == 400 and "does not match the namespace" in body["message"]
    status, body = http("POST", POD_PATH, {**pod("k"), "kind": "Node"})
    assert status == 400
    status, body = http("POST", POD_PATH, pod("n", annotations={"x": 5}))
    assert status == 400 and "metadata.annotations" in body["message"]


def test_generate_name(http: HTTP) -> None:
    body = pod("")
    body["metadata"] = {"generateName": "web-"}
    status, created = http("POST", POD_PATH, body)
    name = created["metadata"]["name"]
    assert status == 201 and name.startswith("web-") and len(name) == len("web-") + 5


def test_yaml_bodies_are_accepted(http: HTTP) -> None:
    text = (
        b"apiVersion: v1\nkind: Pod\nmetadata: {name: y}\n"
        b"spec:\n  containers:\n  - {name: c, image: i}\n"
    )
    status, created = http("POST", POD_PATH, text, ctype="application/yaml")
    assert status == 201 and created["metadata"]["name"] == "y"


def test_put_replaces_with_optimistic_concurrency(http: HTTP) -> None:
    _, created = http("POST", NAD_PATH, nad("n1"))
    changed = dict(created, spec={"config": '{"type":"macvlan"}'})
    status, updated = http("PUT", f"{NAD_PATH}/n1", changed)
    assert status == 200 and updated["spec"]["config"] == '{"type":"macvlan"}'
    assert updated["metadata"]["generation"] == 2
    assert updated["metadata"]["uid"] == created["metadata"]["uid"]
    # The stale resourceVersion of `created` now conflicts.
    status, body = http("PUT", f"{NAD_PATH}/n1", created)
    assert status == 409 and body["reason"] == "Conflict"
    assert "the object has been modified" in body["message"]
    # No resourceVersion: an unconditional update.
    unconditional = json.loads(json.dumps(created))
    del unconditional["metadata"]["resourceVersion"]
    unconditional["metadata"]["labels"] = {"l": "1"}
    status, body = http("PUT", f"{NAD_PATH}/n1", unconditional)
    assert status == 200 and body["metadata"]["labels"] == {"l": "1"}
    assert body["metadata"]["generation"] == 3  # spec went back to the original
    status, body = http("PUT", f"{NAD_PATH}/missing", nad("missing"))
    assert status == 404
    status, body = http("PUT", f"{NAD_PATH}/n1", nad("other"))
    assert status == 400 and "does not match the name on the URL" in body["message"]


def test_noop_update_keeps_resource_version(http: HTTP) -> None:
    _, created = http("POST", NAD_PATH, nad("n1"))
    status, same = http("PUT", f"{NAD_PATH}/n1", created)
    assert status == 200
    assert same["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_status_subresource_isolation(http: HTTP) -> None:
    _, created = http("POST", POD_PATH, pod("a"))
    # Main resource: status changes are ignored, spec/labels accepted.
    body = json.loads(json.dumps(created))
    body["status"] = {"phase": "Running"}
    body["metadata"]["labels"] = {"x": "1"}
    _, main = http("PUT", f"{POD_PATH}/a", body)
    assert main["status"] == {"phase": "Pending"} and main["metadata"]["labels"] == {"x": "1"}
    # Status subresource: status and annotations change, spec does not.
    body = json.loads(json.dumps(main))
    body["status"] = {"phase": "Running", "podIP": "10.0.0.5"}
    body["metadata"]["annotations"] = {"k8s.v1.cni.cncf.io/network-status": "[]"}
    body["spec"]["containers"][0]["image"] = "nginx"
    status, st = http("PUT", f"{POD_PATH}/a/status", body)
    assert status == 200
    assert st["status"]["podIP"] == "10.0.0.5"
    assert st["metadata"]["annotations"] == {"k8s.v1.cni.cncf.io/network-status": "[]"}
    assert st["spec"]["containers"][0]["image"] == "busybox"
    # PATCH on the main resource never touches status either.
    _, patched = http(
        "PATCH", f"{POD_PATH}/a", {"status": {"phase": "Failed"}}, "application/merge-patch+json"
    )
    assert patched["status"]["phase"] == "Running"
    # PATCH on /status: status and metadata only.
    _, patched = http(
        "PATCH",
        f"{POD_PATH}/a/status",
        {"status": {"phase": "Succeeded"}, "spec": {"nodeName": "elsewhere"}},
        "application/merge-patch+json",
    )
    assert patched["status"]["phase"] == "Succeeded" and patched["spec"]["nodeName"] == "node-1"
    status, got = http("GET", f"{POD_PATH}/a/status")
    assert status == 200 and got["status"]["phase"] == "Succeeded"


def test_pod_spec_is_immutable_but_image_is_not(http: HTTP) -> None:
    http("POST", POD_PATH, pod("a"))
    status, body = http(
        "PATCH", f"{POD_PATH}/a", {"spec": {"nodeName": "node-2"}}, "application/merge-patch+json"
    )
    assert status == 422 and "pod updates may not change" in body["message"]
    status, body = http(
        "PATCH",
        f"{POD_PATH}/a",
        {"spec": {"containers": [{"name": "c", "image": "nginx"}]}},
        "application/strategic-merge-patch+json",
    )
    assert status == 200 and body["spec"]["containers"][0]["image"] == "nginx"


def test_patch_kinds(http: HTTP) -> None:
    http("POST", POD_PATH, pod("a", annotations={"keep": "1", "drop": "2"}))
    status, merged = http(
        "PATCH",
        f"{POD_PATH}/a",
        {"metadata": {"annotations": {"drop": None, "new": "3"}}},
        "application/merge-patch+json",
    )
    assert status == 200 and merged["metadata"]["annotations"] == {"keep": "1", "new": "3"}
    status, smp = http(
        "PATCH",
        f"{POD_PATH}/a",
        {"metadata": {"labels": {"a": "b"}, "annotations": {"keep": None}}},
        "application/strategic-merge-patch+json",
    )
    assert status == 200
    assert smp["metadata"]["annotations"] == {"new": "3"} and smp["metadata"]["labels"] == {
        "a": "b"
    }
    status, jp = http(
        "PATCH",
        f"{POD_PATH}/a",
        [
            {"op": "test", "path": "/metadata/labels/a", "value": "b"},
            {"op": "add", "path": "/metadata/labels/c~1d", "value": "e"},
            {"op": "remove", "path": "/metadata/annotations/new"},
        ],
        "application/json-patch+json",
    )
    assert status == 200 and jp["metadata"]["labels"] == {"a": "b", "c/d": "e"}
    assert "annotations" not in jp["metadata"] or jp["metadata"]["annotations"] == {}
    status, body = http(
        "PATCH",
        f"{POD_PATH}/a",
        [{"op": "test", "path": "/metadata/labels/a", "value": "zzz"}],
        "application/json-patch+json",
    )
    assert status == 422
    status, body = http("PATCH", f"{POD_PATH}/a", {"x": 1}, "text/plain")
    assert status == 415
    status, body = http("PATCH", f"{POD_PATH}/missing", {}, "application/merge-patch+json")
    assert status == 404
    # Strategic merge patch does not apply to custom resources (as the real API).
    http("POST", NAD_PATH, nad("n"))
    status, body = http(
        "PATCH", f"{NAD_PATH}/n", {"spec": {}}, "application/strategic-merge-patch+json"
    )
    assert status == 415 and "merge-patch+json" in body["message"]
    status, _ = http(
        "PATCH",
        f"{POD_PATH}/a",
        {"metadata": {"resourceVersion": "1"}},
        "application/merge-patch+json",
    )
    assert status == 409


# ---- delete ---------------------------------------------------------------------


def test_bound_pod_delete_is_graceful(http: HTTP, server: APIServer) -> None:
    http("POST", POD_PATH, pod("a", node="node-1"))
    status, body = http("DELETE", f"{POD_PATH}/a")
    assert status == 200 and body["kind"] == "Pod"
    meta = body["metadata"]
    assert meta["deletionTimestamp"] and meta["deletionGracePeriodSeconds"] == 30
    status, still = http("GET", f"{POD_PATH}/a")
    assert status == 200 and still["metadata"]["deletionTimestamp"] == meta["deletionTimestamp"]
    # Deleting again changes nothing; the kubelet's grace-0 delete removes it.
    status, again = http("DELETE", f"{POD_PATH}/a")
    assert again["metadata"]["resourceVersion"] == meta["resourceVersion"]
    status, gone = http("DELETE", f"{POD_PATH}/a?gracePeriodSeconds=0")
    assert status == 200 and gone["metadata"]["name"] == "a"
    assert http("GET", f"{POD_PATH}/a")[0] == 404
    assert http("DELETE", f"{POD_PATH}/a")[0] == 404


def test_grace_from_delete_options_body_and_unbound_pods(http: HTTP) -> None:
    http("POST", POD_PATH, pod("a"))
    http("POST", POD_PATH, pod("b", node=None))
    _, marked = http("DELETE", f"{POD_PATH}/a", {"kind": "DeleteOptions", "gracePeriodSeconds": 5})
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 5
    http("DELETE", f"{POD_PATH}/a", {"gracePeriodSeconds": 0})
    assert http("GET", f"{POD_PATH}/a")[0] == 404
    status, unbound = http("DELETE", f"{POD_PATH}/b")
    assert status == 200 and http("GET", f"{POD_PATH}/b")[0] == 404
    assert "deletionTimestamp" not in unbound["metadata"]


def test_delete_preconditions(http: HTTP) -> None:
    http("POST", NAD_PATH, nad("n"))
    status, body = http("DELETE", f"{NAD_PATH}/n", {"preconditions": {"uid": "not-it"}})
    assert status == 409 and "Precondition failed" in body["message"]


def test_delete_returns_status_for_non_pods(http: HTTP) -> None:
    _, created = http("POST", NAD_PATH, nad("n"))
    status, body = http("DELETE", f"{NAD_PATH}/n")
    assert status == 200 and body["kind"] == "Status" and body["status"] == "Success"
    assert body["details"]["uid"] == created["metadata"]["uid"]


def test_finalizers_hold_deletion(http: HTTP) -> None:
    body = nad("n")
    body["metadata"]["finalizers"] = ["example.com/hold"]
    http("POST", NAD_PATH, body)
    status, held = http("DELETE", f"{NAD_PATH}/n")
    assert status == 200 and held["metadata"]["deletionTimestamp"]
    assert http("GET", f"{NAD_PATH}/n")[0] == 200
    http(
        "PATCH", f"{NAD_PATH}/n", {"metadata": {"finalizers": None}}, "application/merge-patch+json"
    )
    assert http("GET", f"{NAD_PATH}/n")[0] == 404


def test_namespace_lifecycle(http: HTTP) -> None:
    status, ns = http("POST", "/api/v1/namespaces", {"metadata": {"name": "team"}})
    assert status == 201 and ns["status"] == {"phase": "Active"}
    http("POST", "/api/v1/namespaces/team/pods", pod("bound"))
    http("POST", "/api/v1/namespaces/team/pods", pod("free", node=None))
    status, terminating = http("DELETE", "/api/v1/namespaces/team")
    assert status == 200 and terminating["status"]["phase"] == "Terminating"
    # The unbound pod went at once; the bound one waits for its kubelet.
    assert http("GET", "/api/v1/namespaces/team/pods/free")[0] == 404
    status, body = http("POST", "/api/v1/namespaces/team/pods", pod("late"))
    assert status == 403 and "being terminated" in body["message"]
    http("DELETE", "/api/v1/namespaces/team/pods/bound?gracePeriodSeconds=0")
    assert http("GET", "/api/v1/namespaces/team")[0] == 404
    status, body = http("DELETE", "/api/v1/namespaces/default")
    assert status == 403


def test_delete_collection(http: HTTP) -> None:
    for name, app in (("a", "x"), ("b", "y"), ("c", "x")):
        http("POST", NAD_PATH, {**nad(name), "metadata": {"name": name, "labels": {"app": app}}})
    status, body = http("DELETE", f"{NAD_PATH}?labelSelector=app%3Dx")
    assert status == 200 and sorted(i["metadata"]["name"] for i in body["items"]) == ["a", "c"]
    _, rest = http("GET", NAD_PATH)
    assert [i["metadata"]["name"] for i in rest["items"]] == ["b"]


def test_binding_subresource(http: HTTP) -> None:
    http("POST", POD_PATH, pod("a", node=None))
    target = {"apiVersion": "v1", "kind": "Binding", "target": {"kind": "Node", "name": "n2"}}
    status, _ = http("POST", f"{POD_PATH}/a/binding", target)
    assert status == 201
    assert http("GET", f"{POD_PATH}/a")[1]["spec"]["nodeName"] == "n2"
    status, _ = http("POST", f"{POD_PATH}/a/binding", target)
    assert status == 409


# ---- selectors and paging ------------------------------------------------------


def test_label_and_field_selectors(http: HTTP) -> None:
    http("POST", POD_PATH, pod("a", node="n1", labels={"app": "web", "tier": "fe"}))
    http("POST", POD_PATH, pod("b", node="n2", labels={"app": "web"}))
    http("POST", POD_PATH, pod("c", node=None, labels={"app": "db"}))

    def names(query: str) -> list[str]:
        status, body = http("GET", f"{POD_PATH}?{query}")
        assert status == 200, body
        return [i["metadata"]["name"] for i in body["items"]]

    assert names("labelSelector=app%3Dweb") == ["a", "b"]
    assert names("labelSelector=app%3Dweb,tier") == ["a"]
    assert names("labelSelector=app!%3Dweb") == ["c"]
    assert names("labelSelector=app+in+(db,other)") == ["c"]
    assert names("labelSelector=!tier") == ["b", "c"]
    assert names("fieldSelector=spec.nodeName%3Dn2") == ["b"]
    assert names("fieldSelector=spec.nodeName%3D") == ["c"]
    assert names("fieldSelector=metadata.name%3Da") == ["a"]
    assert names("fieldSelector=metadata.name!%3Da,spec.nodeName!%3Dn2") == ["c"]
    status, body = http("GET", f"{POD_PATH}?fieldSelector=spec.bogus%3D1")
    assert status == 400 and "field label not supported" in body["message"]
    status, body = http("GET", f"{POD_PATH}?labelSelector=%3D%3D%3D")
    assert status == 400


def test_list_paging_with_limit_and_continue(http: HTTP) -> None:
    for i in range(5):
        http("POST", NAD_PATH, nad(f"n{i}"))
    seen: list[str] = []
    query = "limit=2"
    pages = 0
    while True:
        _, body = http("GET", f"{NAD_PATH}?{query}")
        pages += 1
        seen += [i["metadata"]["name"] for i in body["items"]]
        token = body["metadata"].get("continue")
        if not token:
            break
        assert body["metadata"]["remainingItemCount"] == 5 - len(seen)
        query = f"limit=2&continue={token}"
    assert seen == [f"n{i}" for i in range(5)] and pages == 3


# ---- kubectl's needs ------------------------------------------------------------


def test_table_output_for_kubectl(http: HTTP) -> None:
    http("POST", POD_PATH, pod("a"))
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    status, table = http("GET", POD_PATH, headers={"Accept": accept})
    assert status == 200 and table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]][:5] == [
        "Name",
        "Ready",
        "Status",
        "Restarts",
        "Age",
    ]
    (row,) = table["rows"]
    assert row["cells"][:4] == ["a", "0/1", "Pending", 0]
    assert row["object"]["kind"] == "PartialObjectMetadata"
    assert row["object"]["metadata"]["name"] == "a"
    _, one = http("GET", f"{POD_PATH}/a", headers={"Accept": accept})
    assert one["kind"] == "Table" and one["rows"][0]["cells"][0] == "a"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(5, "5s"), (119, "119s"), (125, "2m5s"), (600, "10m"), (3 * 3600 + 60, "3h1m"),
     (30 * 3600, "30h"), (3 * 86400 + 3600, "3d1h"), (40 * 86400, "40d"),
     (3 * 365 * 86400, "3y"), (-5, "<invalid>")],
)  # fmt: skip
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


# ---- auth, faults, request log ------------------------------------------------------


def test_bearer_token_and_rotation() -> None:
    srv = APIServer(token="t1")
    srv.listen()
    try:
        anon = HTTP(srv.url())
        status, body = anon("GET", POD_PATH)
        assert status == 401 and body["reason"] == "Unauthorized"
        assert anon("GET", "/healthz") == (200, "ok")
        assert HTTP(srv.url(), "t1")("GET", POD_PATH)[0] == 200
        assert HTTP(srv.url(), "wrong")("GET", POD_PATH)[0] == 401
        srv.set_token("t2")
        assert HTTP(srv.url(), "t1")("GET", POD_PATH)[0] == 401
        assert HTTP(srv.url(), "t2")("GET", POD_PATH)[0] == 200
    finally:
        srv.stop()


@pytest.mark.parametrize(("kind", "reason"), [("500", "InternalError"),
                                              ("503", "ServiceUnavailable"),
                                              ("429", "TooManyRequests")])  # fmt: skip
def test_faults(http: HTTP, server: APIServer, kind: str, reason: str) -> None:
    server.set_fault(kind)
    status, body = http("GET", POD_PATH)
    assert status == int(kind) and body["reason"] == reason
    assert http("GET", "/healthz") == (200, "ok")
    server.set_fault(None)
    assert http("GET", POD_PATH)[0] == 200


def test_fault_times_and_delay(http: HTTP, server: APIServer) -> None:
    server.set_fault("500", times=2)
    assert [http("GET", POD_PATH)[0] for _ in range(3)] == [500, 500, 200]
    server.set_fault(None, delay=0.2)
    start = time.monotonic()
    http("GET", POD_PATH)
    assert time.monotonic() - start >= 0.2
    with pytest.raises(ValueError):
        server.set_fault("404")


def test_pause_refuses_connections_and_resume_reopens(server: APIServer, http: HTTP) -> None:
    host, port, _ = server.addresses[0]
    server.pause()
    with pytest.raises(ConnectionRefusedError), socket.create_connection((host, port), timeout=2):
        pass
    server.resume()
    assert server.addresses[0][1] == port
    assert http("GET", "/api")[0] == 200


def test_request_counts(http: HTTP, server: APIServer) -> None:
    http("POST", POD_PATH, pod("a"))
    http("GET", f"{POD_PATH}/a")
    http("GET", f"{POD_PATH}/a")
    http("GET", POD_PATH)
    http("PATCH", f"{POD_PATH}/a/status", {"status": {}}, "application/merge-patch+json")
    counts = server.request_counts()
    assert counts[("create", "pods")] == 1
    assert counts[("get", "pods")] == 2
    assert counts[("list", "pods")] == 1
    assert counts[("patch", "pods/status")] == 1
    assert server.count("get") == 2 and server.count(resource="pods") == 4
    assert server.requests[-1].code == 200
    server.reset_requests()
    assert server.request_counts() == {}


def test_stop_is_idempotent_and_closes_everything() -> None:
    before = {t.ident for t in threading.enumerate()}
    srv = APIServer()
    host, port = srv.listen()
    HTTP(srv.url())("GET", "/api")
    srv.stop()
    srv.stop()
    with pytest.raises(OSError), socket.create_connection((host, port), timeout=2):
        pass
    time.sleep(0.05)
    leftover = [
        t for t in threading.enumerate() if t.ident not in before and t.name.startswith("apiserver")
    ]
    assert leftover == []
    with pytest.raises(RuntimeError):
        srv.listen()


def test_listen_twice_serves_both(server: APIServer) -> None:
    host, port = server.listen("127.0.0.1", 0)
    assert len(server.addresses) == 2
    assert HTTP(f"http://{host}:{port}")("GET", "/api")[0] == 200
    assert HTTP(server.url(0))("GET", "/api")[0] == 200


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_get_apply_delete(server: APIServer, tmp_path: Any) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(server.kubeconfig())
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "apiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\n"
        'metadata: {name: macvlan-conf}\nspec:\n  config: \'{"type": "macvlan"}\'\n'
    )

    def kubectl(*args: str) -> str:
        done = subprocess.run(
            ["kubectl", f"--kubeconfig={kubeconfig}", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "created" in kubectl("apply", "-f", str(manifest))
    assert "unchanged" in kubectl("apply", "-f", str(manifest))
    assert "macvlan-conf" in kubectl("get", "net-attach-def")
    assert "Config:" in kubectl("describe", "net-attach-def", "macvlan-conf")
    assert "deleted" in kubectl("delete", "net-attach-def", "macvlan-conf")
    assert server.store.get("network-attachment-definitions", "macvlan-conf") is None


@pytest.mark.parametrize(
    ("method", "path"),
    [("PUT", "/api"), ("POST", "/version"), ("POST", "/api/v1/pods"), ("PATCH", POD_PATH),
     ("PUT", f"{POD_PATH}/a/binding"), ("DELETE", f"{POD_PATH}/a/status")],
)  # fmt: skip
def test_method_not_allowed(http: HTTP, method: str, path: str) -> None:
    http("POST", POD_PATH, pod("a"))
    status, body = http(method, path, pod("a"), ctype="application/merge-patch+json"
                        if method == "PATCH" else "application/json")  # fmt: skip
    assert status == 405 and body["reason"] == "MethodNotAllowed"
