"""The write verbs over HTTP: create, update, patch, server-side apply, delete.

Every write takes ``dryRun=All`` (validate and answer, store nothing: what
``kubectl diff`` and ``--dry-run=server`` rely on), ``fieldManager`` (who
owns the written fields; default from the User-Agent, as the real server
derives it) and ``fieldValidation`` (see :mod:`fieldcheck`). ``PATCH`` with
``application/apply-patch+yaml`` is server-side apply (``force`` takes
conflicting fields over).
"""

from __future__ import annotations

import json
from typing import Any

from harness.backends.local import fieldcheck, openapi
from harness.backends.local.apierrors import APIError, Obj, clone
from harness.backends.local.objecttable import WriteOptions
from harness.backends.local.patches import JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH
from harness.backends.local.resources import ResourceType
from harness.backends.local.routes import Call, ResourceRoute, method_not_allowed

_PROTOBUF = "application/vnd.kubernetes.protobuf"
_PROTOBUF_PARTIAL = "__protobufPartial"  # harness.backends.local.protobuf.PARTIAL
APPLY_PATCH = "application/apply-patch+yaml"


def write_options(call: Call, sub: str | None) -> WriteOptions:
    """dryRun and fieldManager of a write request (400 for values the API refuses)."""
    q = call.query
    dry = q.get("dryRun", "")
    if dry not in ("", "All"):
        raise APIError.bad_request(f'invalid dry run directive {dry!r}: only "All" is supported')
    manager = q.get("fieldManager") or ""
    if len(manager) > 128:
        raise APIError.bad_request("fieldManager: Too long: may not be longer than 128")
    if not manager:
        agent = call.headers.get("User-Agent") or ""
        manager = agent.split("/")[0][:128] or "unknown"
    return WriteOptions(manager=manager, dry_run=dry == "All", subresource=sub)


def _validate_fields(call: Call, rt: ResourceType, data: Any) -> tuple[Any, list[str]]:
    """The body to write and the warnings: Strict refuses unknown fields; a custom
    resource's unknown fields are pruned otherwise, as apiextensions does."""
    how = fieldcheck.directive(call.query)
    if not isinstance(data, dict) or (how == "Ignore" and not rt.custom):
        return data, []
    schema, comps = openapi.schema_for(call.store, rt)
    warnings = fieldcheck.check(rt.kind, data, schema, comps, how)
    if rt.custom and schema is not None:
        data = fieldcheck.prune(data, schema, comps)
    return data, warnings


def _warnings(messages: list[str]) -> dict[str, str] | None:
    if not messages:
        return None
    return {"Warning": ", ".join(f'299 - "{m}"' for m in messages)}


def _decode_body(call: Call, method: str, body: bytes) -> tuple[Any, str]:
    ctype = (call.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if ctype == _PROTOBUF:
        if method not in ("POST", "PUT"):
            raise APIError(
                415,
                "UnsupportedMediaType",
                f"{_PROTOBUF} is accepted for create and update only",
            )
        from harness.backends.local import protobuf

        try:
            return protobuf.decode_body(body), ctype
        except protobuf.ProtobufError as exc:
            raise APIError.bad_request(f"the protobuf body could not be decoded: {exc}") from exc
    if method == "PATCH":
        if ctype == APPLY_PATCH:
            ctype = "application/yaml"  # the applied configuration: YAML (or JSON)
        elif ctype not in (MERGE_PATCH, STRATEGIC_MERGE_PATCH, JSON_PATCH):
            raise APIError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format ({ctype or 'none'}) - "
                f"accepted media types include: {JSON_PATCH}, {MERGE_PATCH}, "
                f"{STRATEGIC_MERGE_PATCH}, {APPLY_PATCH}",
            )
    elif ctype not in ("", "application/json", "*/*", "application/yaml", "text/plain"):
        raise APIError(
            415,
            "UnsupportedMediaType",
            f"the body of the request was in an unknown format ({ctype}) - accepted media "
            "types include: application/json, application/yaml",
        )
    if not body.strip():
        return None, ctype
    if ctype == "application/yaml":
        import yaml  # the harness may use PyYAML; only loaded for YAML bodies

        try:
            return yaml.safe_load(body), ctype
        except yaml.YAMLError as exc:
            raise APIError.bad_request(f"the body is not valid YAML: {exc}") from exc
    try:
        return json.loads(body), ctype
    except (ValueError, UnicodeDecodeError) as exc:
        raise APIError.bad_request(
            f"the body of the request could not be decoded as JSON: {exc}"
        ) from exc


def _apply_partial(
    call: Call, method: str, rt: ResourceType, ns: str | None, name: str | None, data: Obj
) -> Obj:
    """An update of which only metadata was decoded from protobuf, applied
    onto the stored object: its labels, annotations, owner references,
    finalizers and resourceVersion (the precondition) replace the stored
    ones; spec and status stay as stored."""
    if method != "PUT" or name is None:
        raise APIError(
            415,
            "UnsupportedMediaType",
            f"only metadata of {data.get('kind')} objects is decoded from {_PROTOBUF}: "
            "it can update an object, not create one; send application/json",
        )
    current = clone(call.store.get_raw(rt, name, ns))
    meta = current.setdefault("metadata", {})
    incoming = data.get("metadata") or {}
    for key in ("labels", "annotations", "ownerReferences", "finalizers", "resourceVersion"):
        if key in incoming:
            meta[key] = incoming[key]
        else:
            meta.pop(key, None)
    return current


def serve_write(call: Call, route: ResourceRoute) -> None:
    """POST, PUT, PATCH or DELETE on a resource URL."""
    method, query, body = call.method, call.query, call.body
    store = call.store
    rt, ns, name, sub = route.rt, route.namespace, route.name, route.subresource
    raw_ctype = (call.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    data, ctype = _decode_body(call, method, body)
    if isinstance(data, dict) and data.pop(_PROTOBUF_PARTIAL, False):
        data = _apply_partial(call, method, rt, ns, name, data)
    opts = write_options(call, sub)
    warnings: list[str] = []
    if method != "DELETE" and ctype != JSON_PATCH and sub is None:
        data, warnings = _validate_fields(call, rt, data)
    if method == "POST":
        if name is None:
            call.verb = "create"
            if not isinstance(data, dict):
                raise APIError.bad_request(f"the body must be a {rt.kind} object")
            if ns is None and rt.namespaced:
                raise method_not_allowed(method)
            _send_written(call, 201, store.create(rt, data, ns, opts), warnings)
        elif sub == "binding":
            call.verb = "create"
            target = (data or {}).get("target") or {}
            node = target.get("name") if isinstance(target, dict) else None
            if not node:
                raise APIError.bad_request("a Binding needs target.name (the node)")
            assert ns is not None
            if not opts.dry_run:
                store.bind_pod(ns, name, node)
            call.send_json(
                201,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "code": 201,
                },
            )
        else:
            raise method_not_allowed(method)
        return
    if name is None and method != "DELETE":
        raise method_not_allowed(method)
    if method == "PUT":
        call.verb = "update"
        if sub == "binding":
            raise method_not_allowed(method)
        if not isinstance(data, dict):
            raise APIError.bad_request(f"the body must be a {rt.kind} object")
        done = store.update_raw(rt, data, ns, name=name, subresource=sub, opts=opts)
        _send_written(call, 200, done, warnings)
        return
    if method == "PATCH":
        call.verb = "patch"
        if sub == "binding":
            raise method_not_allowed(method)
        assert name is not None
        if data is None:
            raise APIError.bad_request("the patch body is empty")
        if raw_ctype == APPLY_PATCH:
            force = query.get("force", "").lower() == "true"
            done, created = store.apply_raw(
                rt, name, data, ns, force=force, subresource=sub, opts=opts
            )
            _send_written(call, 201 if created else 200, done, warnings)
            return
        done = store.patch_raw(rt, name, data, ctype, ns, subresource=sub, opts=opts)
        _send_written(call, 200, done, warnings)
        return
    if method == "DELETE":
        _serve_delete(call, rt, ns, name, sub, query, data)
        return
    raise method_not_allowed(method)


def _serve_delete(
    call: Call,
    rt: ResourceType,
    ns: str | None,
    name: str | None,
    sub: str | None,
    query: dict[str, str],
    data: Any,
) -> None:
    store = call.store
    opts = data if isinstance(data, dict) else {}
    grace_raw = query.get("gracePeriodSeconds", opts.get("gracePeriodSeconds"))
    grace: int | None = None
    if grace_raw not in (None, ""):
        try:
            grace = int(grace_raw)
        except (TypeError, ValueError) as exc:
            raise APIError.bad_request(f"invalid gracePeriodSeconds {grace_raw!r}") from exc
    if sub is not None:
        raise method_not_allowed("DELETE")
    if name is None:
        call.verb = "deletecollection"
        if query.get("dryRun") == "All":
            items, rv = store.list_raw(
                rt,
                ns,
                label_selector=query.get("labelSelector"),
                field_selector=query.get("fieldSelector"),
            )
            call.send_json(200, {"kind": rt.list_kind, "apiVersion": rt.api_version,
                                 "metadata": {"resourceVersion": rv}, "items": items})  # fmt: skip
            return
        items = store.delete_collection(
            rt,
            ns,
            label_selector=query.get("labelSelector"),
            field_selector=query.get("fieldSelector"),
            grace_period_seconds=grace,
        )
        call.send_json(
            200,
            {
                "kind": rt.list_kind,
                "apiVersion": rt.api_version,
                "metadata": {"resourceVersion": store.resource_version},
                "items": items,
            },
        )
        return
    call.verb = "delete"
    pre = opts.get("preconditions") if isinstance(opts.get("preconditions"), dict) else None
    dry = query.get("dryRun") == "All" or opts.get("dryRun") == ["All"]
    obj, removed = store.delete_raw(
        rt, name, ns, grace_period_seconds=grace, preconditions=pre, dry_run=dry
    )
    if rt.return_deleted_object or not removed:
        _send_written(call, 200, obj)
        return
    call.send_json(
        200,
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {
                "name": name,
                "group": rt.group,
                "kind": rt.plural,
                "uid": obj["metadata"].get("uid", ""),
            },
        },
    )


def _send_written(call: Call, code: int, obj: Obj, warnings: list[str] | None = None) -> None:
    call.send_json(code, obj, _warnings(warnings or []))
