"""The embedded API's writes as kubectl uses them: dry-run, field validation,
field managers and server-side apply, access reviews, OpenAPI, CRD-served types,
and the handler registry."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from harness.backends.local import managedfields, openapi_pb
from harness.backends.local.apiserver import APIServer
from harness.backends.local.protobuf import fields
from harness.backends.local.routes import Call, Routes, default_routes
from tests.unit.test_apiserver import HTTP, NAD_PATH, POD_PATH, nad, pod

APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"


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


# ---- dry run -------------------------------------------------------------------


def test_dry_run_create_answers_and_stores_nothing(http: HTTP, server: APIServer) -> None:
    rv = server.store.resource_version
    status, body = http("POST", f"{POD_PATH}?dryRun=All", pod("a"))
    assert status == 201 and body["metadata"]["name"] == "a"
    assert body["spec"]["restartPolicy"] == "Always"  # defaulted as for real
    assert http("GET", f"{POD_PATH}/a")[0] == 404
    assert server.store.resource_version == rv


def test_dry_run_patch_update_and_delete_change_nothing(http: HTTP) -> None:
    http("POST", NAD_PATH, nad("n"))
    _, before = http("GET", f"{NAD_PATH}/n")
    status, body = http(
        "PATCH", f"{NAD_PATH}/n?dryRun=All", {"spec": {"config": "{}"}}, ctype=MERGE
    )
    assert status == 200 and body["spec"]["config"] == "{}"
    changed = dict(before, spec={"config": "{}"})
    assert http("PUT", f"{NAD_PATH}/n?dryRun=All", changed)[0] == 200
    assert http("DELETE", f"{NAD_PATH}/n?dryRun=All")[0] == 200
    assert http("GET", f"{NAD_PATH}/n")[1] == before


def test_dry_run_directive_other_than_all_is_400(http: HTTP) -> None:
    status, body = http("POST", f"{POD_PATH}?dryRun=Some", pod("a"))
    assert status == 400 and "dry run" in body["message"]


# ---- field validation -------------------------------------------------------------


def test_strict_field_validation_names_the_unknown_field(http: HTTP) -> None:
    bad = nad("n")
    bad["spec"]["confg"] = "typo"
    status, body = http("POST", f"{NAD_PATH}?fieldValidation=Strict", bad)
    assert status == 400 and 'unknown field "spec.confg"' in body["message"]
    status, body = http("POST", f"{POD_PATH}?fieldValidation=Strict", {**pod("p"), "specs": {}})
    assert status == 400 and 'unknown field "specs"' in body["message"]
    # Fields of a type described in part are never refused.
    ok = pod("q")
    ok["spec"]["containers"][0]["livenessProbe"] = {"exec": {"command": ["true"]}}
    assert http("POST", f"{POD_PATH}?fieldValidation=Strict", ok)[0] == 201
    assert http("POST", f"{NAD_PATH}?fieldValidation=Ignore", bad)[0] == 201


def test_field_validation_value_is_checked(http: HTTP) -> None:
    status, _ = http("POST", f"{POD_PATH}?fieldValidation=Loose", pod("a"))
    assert status == 400


# ---- field managers and server-side apply -------------------------------------------


def test_updates_record_their_field_manager(http: HTTP) -> None:
    http("POST", f"{NAD_PATH}?fieldManager=creator", nad("n"))
    http(
        "PATCH",
        f"{NAD_PATH}/n?fieldManager=labeler",
        {"metadata": {"labels": {"a": "b"}}},
        ctype=MERGE,
    )
    _, got = http("GET", f"{NAD_PATH}/n")
    owners = {e["manager"]: e["fieldsV1"] for e in got["metadata"]["managedFields"]}
    assert owners["creator"] == {"f:spec": {"f:config": {}}}
    assert owners["labeler"] == {"f:metadata": {"f:labels": {"f:a": {}}}}


def test_apply_creates_then_conflicts_then_forces(http: HTTP) -> None:
    cfg = nad("n", "one")
    status, body = http("PATCH", f"{NAD_PATH}/n?fieldManager=alice", cfg, ctype=APPLY)
    assert status == 201 and body["spec"]["config"] == "one"
    status, body = http("PATCH", f"{NAD_PATH}/n?fieldManager=bob", nad("n", "two"), ctype=APPLY)
    assert status == 409 and body["reason"] == "Conflict"
    assert body["details"]["causes"][0] == {
        "reason": "FieldManagerConflict",
        "message": 'conflict with "alice"',
        "field": ".spec.config",
    }
    # The same value is shared ownership, not a conflict.
    status, shared = http("PATCH", f"{NAD_PATH}/n?fieldManager=bob", cfg, ctype=APPLY)
    assert status == 200
    assert {e["manager"] for e in shared["metadata"]["managedFields"]} == {"alice", "bob"}
    again = http("PATCH", f"{NAD_PATH}/n?fieldManager=bob", cfg, ctype=APPLY)[1]
    assert again["metadata"]["resourceVersion"] == shared["metadata"]["resourceVersion"]
    status, body = http(
        "PATCH", f"{NAD_PATH}/n?fieldManager=bob&force=true", nad("n", "two"), ctype=APPLY
    )
    assert status == 200 and body["spec"]["config"] == "two"
    managers = {e["manager"] for e in body["metadata"]["managedFields"]}
    assert managers == {"bob"}


def test_apply_removes_fields_the_manager_stopped_sending(http: HTTP) -> None:
    cfg = nad("n")
    cfg["metadata"]["labels"] = {"keep": "1", "drop": "2"}
    http("PATCH", f"{NAD_PATH}/n?fieldManager=m", cfg, ctype=APPLY)
    cfg["metadata"]["labels"] = {"keep": "1"}
    _, body = http("PATCH", f"{NAD_PATH}/n?fieldManager=m", cfg, ctype=APPLY)
    assert body["metadata"]["labels"] == {"keep": "1"}


def test_apply_needs_a_field_manager_and_a_kind(http: HTTP) -> None:
    no_kind: dict[str, Any] = {"metadata": {"name": "n"}, "spec": {}}
    status, body = http("PATCH", f"{NAD_PATH}/n?fieldManager=m", no_kind, ctype=APPLY)
    assert status == 400 and "apiVersion and kind" in body["message"]


def test_field_sets_key_lists_by_merge_key() -> None:
    obj = {"spec": {"containers": [{"name": "c", "image": "x"}], "args": ["a"]}}
    got = managedfields.to_fields_v1(managedfields.field_set(obj))
    assert got == {
        "f:spec": {
            "f:args": {},
            "f:containers": {'k:{"name":"c"}': {".": {}, "f:image": {}, "f:name": {}}},
        }
    }


# ---- reviews, OpenAPI, CRDs ---------------------------------------------------------


def test_self_subject_access_review_is_answered_not_stored(http: HTTP) -> None:
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": "create", "resource": "pods"}},
    }
    status, body = http("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review)
    assert status == 201 and body["status"]["allowed"] is True
    status, _ = http("GET", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
    assert status == 405


def test_openapi_v3_lists_every_group_and_takes_field_validation(http: HTTP) -> None:
    _, root = http("GET", "/openapi/v3")
    assert {"api/v1", "apis/apps/v1", "apis/k8s.cni.cncf.io/v1"} <= set(root["paths"])
    _, doc = http("GET", root["paths"]["apis/k8s.cni.cncf.io/v1"]["serverRelativeURL"])
    item = doc["paths"][f"{NAD_PATH.replace('default', '{namespace}')}/{{name}}"]
    assert any(p["name"] == "fieldValidation" for p in item["patch"]["parameters"])
    schema = doc["components"]["schemas"]["io.cncf.cni.k8s.v1.NetworkAttachmentDefinition"]
    assert schema["properties"]["spec"]["properties"]["config"]["type"] == "string"


def test_openapi_v2_protobuf_is_a_gnostic_document(http: HTTP, server: APIServer) -> None:
    import urllib.request

    req = urllib.request.Request(server.url() + "/openapi/v2")
    req.add_header("Accept", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf")
    with urllib.request.urlopen(req, timeout=10) as resp:
        raw = resp.read()
    top = {num: value for num, _, value in fields(raw)}
    assert top[1] == b"2.0"  # swagger
    definitions = [v for num, _, v in fields(top[9])]
    names = {next(v for n, _, v in fields(d) if n == 1) for d in definitions}
    assert b"io.k8s.api.core.v1.Pod" in names
    assert openapi_pb.encode_schema({"type": "string"}) == b"\xb2\x01\x08\x0a\x06string"


def test_a_new_crd_is_served_and_goes_with_its_crd(http: HTTP) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Cluster",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": True, "storage": True}],
        },
    }
    assert http("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)[0] == 201
    w = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert http("POST", "/apis/example.com/v1/widgets", w)[0] == 201
    _, groups = http("GET", "/apis")
    assert "example.com" in {g["name"] for g in groups["groups"]}
    http("DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com")
    assert http("GET", "/apis/example.com/v1/widgets/w")[0] == 404


# ---- the handler registry --------------------------------------------------------------


def test_registered_subresource_is_routed_and_discovered() -> None:
    seen: list[tuple[str | None, str | None]] = []

    def echo(call: Call) -> None:
        assert call.route is not None
        seen.append((call.route.namespace, call.route.name))
        call.send_json(200, {"sub": call.route.subresource})

    routes: Routes = default_routes()
    routes.add_subresource("pods", "echo", echo, methods=("GET",), verbs=("get",))
    srv = APIServer(routes=routes)
    srv.listen("127.0.0.1", 0)
    try:
        http = HTTP(srv.url())
        http("POST", POD_PATH, pod("a"))
        assert http("GET", f"{POD_PATH}/a/echo") == (200, {"sub": "echo"})
        assert seen == [("default", "a")]
        assert http("POST", f"{POD_PATH}/a/echo", {})[0] == 405
        _, core = http("GET", "/api/v1")
        assert "pods/echo" in {r["name"] for r in core["resources"]}
    finally:
        srv.stop()


def test_watch_from_a_compacted_version_is_410_gone(server: APIServer) -> None:
    events = list(server.store.watch("pods", resource_version="1", timeout=1))
    assert [e.type for e in events] == ["ERROR"]
    assert events[0].raw["code"] == 410 and events[0].raw["reason"] == "Expired"
    current = server.store.resource_version
    assert list(server.store.watch("pods", resource_version=current, timeout=0.2)) == []


def test_scale_subresource_reads_and_writes_replicas(http: HTTP) -> None:
    path = "/apis/apps/v1/namespaces/default/deployments"
    deploy = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": {}},
    }
    assert http("POST", path, deploy)[0] == 201
    status, scale = http("GET", f"{path}/web/scale")
    assert status == 200 and scale["kind"] == "Scale" and scale["spec"]["replicas"] == 1
    assert scale["status"]["selector"] == "app=web"
    status, scale = http("PATCH", f"{path}/web/scale", {"spec": {"replicas": 3}}, ctype=MERGE)
    assert status == 200 and scale["spec"]["replicas"] == 3
    assert http("GET", f"{path}/web")[1]["spec"]["replicas"] == 3
    bad = http("PATCH", f"{path}/web/scale", {"spec": {"replicas": -1}}, ctype=MERGE)
    assert bad[0] == 422


def test_services_get_a_stable_cluster_ip(http: HTTP) -> None:
    path = "/api/v1/namespaces/default/services"
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
           "spec": {"ports": [{"port": 53, "protocol": "UDP"}]}}  # fmt: skip
    status, made = http("POST", path, svc)
    assert status == 201 and made["spec"]["type"] == "ClusterIP"
    ip = made["spec"]["clusterIP"]
    assert ip.startswith("10.") and made["spec"]["clusterIPs"] == [ip]
    assert made["spec"]["ports"][0]["targetPort"] == 53
    replaced = dict(
        svc, metadata={"name": "s", "resourceVersion": made["metadata"]["resourceVersion"]}
    )
    assert http("PUT", f"{path}/s", replaced)[1]["spec"]["clusterIP"] == ip


def test_custom_resources_are_pruned_of_unknown_fields(http: HTTP) -> None:
    extra = nad("n")
    extra["spec"]["confg"] = "typo"
    extra["status"] = {"x": 1}
    status, made = http("POST", NAD_PATH, extra)
    assert status == 201 and made["spec"] == {"config": nad("n")["spec"]["config"]}
    assert "status" not in made
    status, warned = http(
        "PATCH", f"{NAD_PATH}/n?fieldValidation=Warn", {"spec": {"other": 1}}, ctype=MERGE
    )
    assert status == 200 and "other" not in warned["spec"]
