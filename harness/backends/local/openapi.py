"""/openapi/v2 and /openapi/v3: the schemas kubectl validates, patches and explains with.

kubectl downloads /openapi/v2 (as gnostic protobuf) before any validating
write, asks /openapi/v3 whether PATCH of a kind takes ``fieldValidation``
(it does here, so kubectl leaves validation to the server: see
:mod:`harness.backends.local.fieldcheck`), reads patch strategies from v3 for
``kubectl apply``, and renders ``kubectl explain`` from v3. Built-in kinds
come from :mod:`harness.backends.local.schemas`; every served CRD version
from its ``openAPIV3Schema``, as the apiextensions server publishes it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from harness.backends.local import openapi_pb, schemas
from harness.backends.local.apierrors import Obj, clone
from harness.backends.local.resources import CRDS, ResourceType
from harness.backends.local.routes import Call, Routes, json_bytes, not_found
from harness.backends.local.store import Store

_V2_PROTO = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
_QUERY_PARAMS = ("dryRun", "fieldManager", "fieldValidation", "force", "pretty")


def crd_schema(store: Store, rt: ResourceType) -> Obj | None:
    """The published schema of a CRD-served type (None when the CRD has none)."""
    crd = store.get(CRDS, rt.qualified)
    if crd is None:
        return None
    for v in (crd.get("spec") or {}).get("versions") or []:
        if isinstance(v, dict) and v.get("name") == rt.version:
            raw = ((v.get("schema") or {}).get("openAPIV3Schema")) or {
                "type": "object",
                schemas.PRESERVE: True,
            }
            out = clone(raw)
            props = out.setdefault("properties", {})
            props["apiVersion"] = schemas.string("APIVersion of this object.")
            props["kind"] = schemas.string("Kind of this object.")
            props["metadata"] = schemas.ref(
                schemas.META + "ObjectMeta", "Standard object's metadata."
            )
            out["x-kubernetes-group-version-kind"] = [
                {"group": rt.group, "version": rt.version, "kind": rt.kind}
            ]
            return out
    return None


def all_schemas(store: Store) -> dict[str, Obj]:
    """Every component: built-in definitions plus one per served CRD version."""
    out = schemas.builtin_schemas()
    for rt in store.served():
        if rt.custom:
            schema = crd_schema(store, rt)
            if schema is not None:
                out[schemas.component_name(rt)] = schema
    return out


def schema_for(store: Store, rt: ResourceType) -> tuple[Obj | None, dict[str, Obj]]:
    """The schema of one kind and the components its ``$ref``s point into."""
    comps = all_schemas(store)
    return comps.get(schemas.component_name(rt)), comps


def _gv_path(rt: ResourceType) -> str:
    return f"apis/{rt.group}/{rt.version}" if rt.group else f"api/{rt.version}"


def _paths(rt: ResourceType) -> dict[str, Obj]:
    base = "/" + _gv_path(rt)
    gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
    coll = (
        f"{base}/namespaces/{{namespace}}/{rt.plural}" if rt.namespaced else f"{base}/{rt.plural}"
    )
    comp = schemas.component_name(rt)
    body = {"content": {"application/json": {"schema": schemas.ref(comp)}}}
    params = [{"name": p, "in": "query", "schema": {"type": "string"}} for p in _QUERY_PARAMS]

    def op(action: str, with_body: bool = False) -> Obj:
        out: Obj = {
            "operationId": f"{action}{rt.kind}",
            "parameters": params,
            "responses": {"200": {"description": "OK", **body}},
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk,
        }
        if with_body:
            out["requestBody"] = body
        return out

    item: Obj = {"get": op("get")}
    if "patch" in rt.verbs:
        item.update(put=op("put", True), patch=op("patch", True), delete=op("delete"))
    coll_item: Obj = {"post": op("post", True)}
    if "list" in rt.verbs:
        coll_item["get"] = op("list")
    return {coll: coll_item, f"{coll}/{{name}}": item}


def _hash(doc: Obj) -> str:
    return hashlib.sha256(json_bytes(doc)).hexdigest()[:32].upper()


def v3_group_doc(store: Store, gv_path: str) -> Obj | None:
    types = [rt for rt in store.served() if _gv_path(rt) == gv_path]
    if not types:
        return None
    comps = all_schemas(store)
    paths: dict[str, Obj] = {}
    for rt in types:
        paths.update(_paths(rt))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.31.0"},
        "paths": paths,
        "components": {"schemas": comps},
    }


def v3_root(store: Store) -> Obj:
    out: dict[str, Obj] = {}
    for gv in sorted({_gv_path(rt) for rt in store.served()}):
        doc = v3_group_doc(store, gv)
        assert doc is not None
        out[gv] = {"serverRelativeURL": f"/openapi/v3/{gv}?hash={_hash(doc)}"}
    return {"paths": out}


def _to_v2(value: Any) -> Any:
    if isinstance(value, dict):
        out = {k: _to_v2(v) for k, v in value.items()}
        ref = out.get("$ref")
        if isinstance(ref, str):
            out["$ref"] = ref.replace("#/components/schemas/", "#/definitions/")
        return out
    if isinstance(value, list):
        return [_to_v2(v) for v in value]
    return value


def v2_doc(store: Store) -> Obj:
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.31.0"},
        "paths": {},
        "definitions": _to_v2(all_schemas(store)),
    }


def _serve_v2(call: Call) -> None:
    call.only("GET", "HEAD")
    doc = v2_doc(call.store)
    accept = call.headers.get("Accept") or ""
    if "protobuf" in accept and "json" not in accept.split(",")[0]:
        call.send(200, openapi_pb.encode_document(doc), _V2_PROTO)
        return
    call.send_json(200, doc)


def _serve_v3(call: Call) -> None:
    call.only("GET", "HEAD")
    segs = call.segments[2:]  # after openapi, v3
    if not segs:
        call.send_json(200, v3_root(call.store))
        return
    doc = v3_group_doc(call.store, "/".join(segs))
    if doc is None:
        raise not_found()
    call.send(200, json.dumps(doc).encode(), "application/json")


def register(routes: Routes) -> None:
    routes.add_path("/openapi/v2", _serve_v2)
    routes.add_path("/openapi/v3", _serve_v3, prefix=True)
