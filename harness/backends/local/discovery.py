"""Discovery documents: /version, /api, /apis, the group and resource lists.

kubectl and client-go build their REST mappings from these (API concepts,
"Discovery API"); the lists follow the store's registry, so a CRD's
resources appear once it is created, and subresources registered in
:mod:`harness.backends.local.routes` are listed with their resource.
"""

from __future__ import annotations

from harness.backends.local.apierrors import Obj
from harness.backends.local.resources import PODS, ResourceType
from harness.backends.local.routes import Call, Routes

GIT_VERSION = "v1.31.0-pymultus-embedded"


def version_info() -> Obj:
    return {
        "major": "1",
        "minor": "31",
        "gitVersion": GIT_VERSION,
        "gitCommit": "0" * 40,
        "gitTreeState": "clean",
        "buildDate": "2024-08-13T00:00:00Z",
        "goVersion": "go1.22.5",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def api_group(name: str, versions: list[str]) -> Obj:
    gvs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": gvs, "preferredVersion": gvs[0]}


def _entry(rt: ResourceType) -> Obj:
    entry: Obj = {
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    return entry


def _sub(rt: ResourceType, name: str, kind: str, verbs: list[str]) -> Obj:
    return {
        "name": f"{rt.plural}/{name}",
        "singularName": "",
        "namespaced": rt.namespaced,
        "kind": kind,
        "verbs": verbs,
    }


def resource_list(
    types: tuple[ResourceType, ...], routes: Routes, group: str, version: str
) -> Obj | None:
    """The APIResourceList of one group version, or None when nothing is served there."""
    resources: list[Obj] = []
    for rt in types:
        if rt.group != group or rt.version != version:
            continue
        resources.append(_entry(rt))
        if rt.status_subresource:
            resources.append(_sub(rt, "status", rt.kind, ["get", "patch", "update"]))
        if rt is PODS:
            resources.append(_sub(rt, "binding", "Binding", ["create"]))
        for extra in routes.subresources_of(rt):
            resources.append(_sub(rt, extra.subresource, extra.kind or rt.kind, list(extra.verbs)))
    if not resources:
        return None
    doc: Obj = {
        "kind": "APIResourceList",
        "groupVersion": f"{group}/{version}" if group else version,
    }
    if group:
        doc["apiVersion"] = "v1"
    doc["resources"] = resources
    return doc


def _version(call: Call) -> None:
    call.only("GET", "HEAD")
    call.send_json(200, version_info())


def _api(call: Call) -> None:
    call.only("GET", "HEAD")
    host = call.headers.get("Host") or "{}:{}".format(*call.connection.getsockname()[:2])
    call.send_json(
        200,
        {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
        },
    )


def _apis(call: Call) -> None:
    call.only("GET", "HEAD")
    groups = call.store.registry_groups()
    call.send_json(
        200,
        {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [api_group(g, vs) for g, vs in groups.items()],
        },
    )


def register(routes: Routes) -> None:
    # Any method reaches these handlers, so that a POST is 405 rather than 404.
    every = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
    routes.add_path("/version", _version, methods=every)
    routes.add_path("/api", _api, methods=every)
    routes.add_path("/apis", _apis, methods=every)
