"""The resource verbs over HTTP: get, list, watch, create, update, patch, delete.

Parses resource URLs (``/api/v1/namespaces/NS/pods/NAME/status``), decodes
bodies (JSON, YAML, the metadata of protobuf), and answers from the store
with the real API's shapes: list kinds with ``continue`` tokens, chunked
watch streams, Tables for ``kubectl get``, Status objects for deletes.
Subresources registered in :mod:`harness.backends.local.routes` (exec, logs,
...) are handed to their handler here, after the URL is resolved.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

from harness.backends.local import discovery, resourcewrites
from harness.backends.local.apierrors import APIError, Obj
from harness.backends.local.resources import PODS, ResourceType
from harness.backends.local.routes import (
    Call,
    Done,
    ResourceRoute,
    json_bytes,
    not_found,
)
from harness.backends.local.tables import table_for, wants_table
from harness.backends.local.watchhub import WatchEvent

_PROTOBUF = "application/vnd.kubernetes.protobuf"
_PROTOBUF_PARTIAL = "__protobufPartial"  # harness.backends.local.protobuf.PARTIAL
_DEFAULT_WATCH_TIMEOUT = 1800  # the real API's --min-request-timeout


def serve(call: Call) -> None:
    """Answer a request under /api or /apis: group and resource lists, or a resource."""
    segs = call.segments
    method = call.method
    groups = call.store.registry_groups()
    if len(segs) == 2 and segs[0] == "apis" and segs[1] in groups:
        call.only("GET", "HEAD")
        doc = discovery.api_group(segs[1], groups[segs[1]])
        call.send_json(200, {"kind": "APIGroup", "apiVersion": "v1", **doc})
        return
    if len(segs) >= 2 and segs[0] == "api":
        group, version, rest = "", segs[1], segs[2:]
    elif len(segs) >= 3 and segs[0] == "apis":
        group, version, rest = segs[1], segs[2], segs[3:]
    else:
        raise not_found()
    if not rest:
        resources = discovery.resource_list(call.store.served(), call.api.routes, group, version)
        if resources is None:
            raise not_found()
        call.only("GET", "HEAD")
        call.send_json(200, resources)
        return
    route = _parse_resource_path(call, group, version, rest)
    call.route = route
    if route.subresource is not None:
        extra = call.api.routes.for_subresource(route.rt, route.subresource)
        if extra is not None:
            call.only(*extra.methods)
            call.verb = call.verb or method.lower()
            extra.handler(call)
            return
    _serve_resource(call, method, route, call.query, call.body)


def classify(call: Call) -> None:
    """Name the request's (verb, resource) before anything can fail, for the request log."""
    method, query = call.method, call.query
    segs = call.segments
    if len(segs) >= 3 and segs[0] == "api":
        group, version, rest = "", segs[1], segs[2:]
    elif len(segs) >= 4 and segs[0] == "apis":
        group, version, rest = segs[1], segs[2], segs[3:]
    else:
        return
    try:
        route = _parse_resource_path(call, group, version, rest)
    except APIError:
        return
    watch = route.legacy_watch or query.get("watch", "").lower() in ("true", "1")
    if method in ("GET", "HEAD"):
        call.verb = "watch" if watch else ("get" if route.name else "list")
    elif method == "POST":
        call.verb = "create"
    elif method == "PUT":
        call.verb = "update"
    elif method == "PATCH":
        call.verb = "patch"
    elif method == "DELETE":
        call.verb = "delete" if route.name else "deletecollection"


def _parse_resource_path(call: Call, group: str, version: str, rest: list[str]) -> ResourceRoute:
    legacy_watch = False
    if rest[0] == "watch":
        legacy_watch, rest = True, rest[1:]
        if not rest:
            raise not_found()
    namespace: str | None = None
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
        namespace, rest = rest[1], rest[2:]
    if len(rest) > 3:
        raise not_found()
    plural = rest[0]
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    rt = call.store.find(group, version, plural)
    if rt is None or (namespace is not None and not rt.namespaced):
        raise not_found()
    if rt.namespaced and namespace is None and name is not None:
        raise not_found()
    if sub is not None and not (
        (sub == "status" and rt.status_subresource)
        or (sub == "binding" and rt is PODS)
        or call.api.routes.for_subresource(rt, sub) is not None
    ):
        raise not_found()
    call.resource = rt.plural + (f"/{sub}" if sub else "")
    call.namespace, call.name = namespace, name
    return ResourceRoute(rt, namespace, name, sub, legacy_watch)


def _serve_resource(
    call: Call, method: str, route: ResourceRoute, query: dict[str, str], body: bytes
) -> None:
    store = call.store
    rt, ns, name, _sub = route.rt, route.namespace, route.name, route.subresource
    watch = route.legacy_watch or query.get("watch", "").lower() in ("true", "1")
    if method in ("GET", "HEAD"):
        if name is not None and not watch:
            call.verb = "get"
            send_object(call, 200, store.get_raw(rt, name, ns))
            return
        field_selector = query.get("fieldSelector") or ""
        if name is not None:  # /watch/.../pods/NAME
            field_selector = ",".join(x for x in (field_selector, f"metadata.name={name}") if x)
        if watch:
            call.verb = "watch"
            _serve_watch(call, rt, ns, query, field_selector)
        else:
            call.verb = "list"
            _serve_list(call, rt, ns, query, field_selector)
        return
    resourcewrites.serve_write(call, route)


def send_object(call: Call, code: int, obj: Obj) -> None:
    if call.verb == "get" and wants_table(call.headers.get("Accept")):
        meta = {"resourceVersion": obj["metadata"].get("resourceVersion", "")}
        call.send_json(
            code,
            table_for(obj["kind"], [obj], meta, include_object=include_object(call)),
        )
        return
    call.send_json(code, obj)


def include_object(call: Call) -> str:
    return call.query.get("includeObject") or "Metadata"


def _serve_list(
    call: Call, rt: ResourceType, ns: str | None, query: dict[str, str], fsel: str
) -> None:
    items, rv = call.store.list_raw(
        rt, ns, label_selector=query.get("labelSelector"), field_selector=fsel
    )
    meta: Obj = {"resourceVersion": rv}
    token = query.get("continue")
    if token:
        try:
            state = json.loads(base64.urlsafe_b64decode(token.encode()))
            start = (str(state["start"][0]), str(state["start"][1]))
            meta["resourceVersion"] = rv = str(state["rv"])
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise APIError.bad_request(f"invalid continue token {token!r}") from exc
        items = [
            o for o in items if (o["metadata"].get("namespace", ""), o["metadata"]["name"]) > start
        ]
    limit_raw = query.get("limit")
    if limit_raw:
        try:
            limit = int(limit_raw)
        except ValueError as exc:
            raise APIError.bad_request(f"invalid limit {limit_raw!r}") from exc
        if 0 < limit < len(items):
            last = items[limit - 1]["metadata"]
            state = {"rv": rv, "start": [last.get("namespace", ""), last["name"]]}
            meta["continue"] = base64.urlsafe_b64encode(json_bytes(state)).decode()
            meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
    if wants_table(call.headers.get("Accept")):
        table = table_for(rt.kind, items, meta, include_object=include_object(call))
        call.send_json(200, table)
        return
    head = json_bytes({"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": meta})[:-1]
    body = head + b',"items":[' + b",".join(json_bytes(o) for o in items) + b"]}"
    call.send(200, body)


def _serve_watch(
    call: Call, rt: ResourceType, ns: str | None, query: dict[str, str], fsel: str
) -> None:
    api = call.api
    timeout_raw = query.get("timeoutSeconds")
    try:
        timeout = float(timeout_raw) if timeout_raw else float(_DEFAULT_WATCH_TIMEOUT)
    except ValueError as exc:
        raise APIError.bad_request(f"invalid timeoutSeconds {timeout_raw!r}") from exc
    send_initial = query.get("sendInitialEvents")
    stop = api._watch_should_stop()
    events: Iterator[WatchEvent] = api.store.watch(
        rt,
        ns,
        label_selector=query.get("labelSelector"),
        field_selector=fsel,
        resource_version=query.get("resourceVersion"),
        timeout=timeout,
        send_initial_events=None if send_initial is None else send_initial == "true",
        allow_bookmarks=query.get("allowWatchBookmarks") == "true",
        should_stop=lambda: stop() or call.client_gone(),
    )
    call.write_head(200, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
    as_table = wants_table(call.headers.get("Accept"))
    first = True
    try:
        for event in events:
            if as_table and event.type in ("ADDED", "MODIFIED", "DELETED"):
                table = table_for(
                    rt.kind,
                    [event.raw],
                    {"resourceVersion": event.raw["metadata"].get("resourceVersion", "")},
                    include_object=include_object(call),
                    headers=first,
                )
                first = False
                event = WatchEvent(event.type, table)
            line = event.line()
            call.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
        call.wfile.write(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError, OSError):
        call.close_after()
    if stop():
        call.close_after()
    raise Done()
