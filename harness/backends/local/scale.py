"""The ``scale`` subresource of deployments and replicasets (``kubectl scale``).

An ``autoscaling/v1`` Scale is a view of ``spec.replicas``: GET reads it,
PUT and PATCH write it (nothing runs the replicas: workloads are stored,
not run). Registered through :mod:`harness.backends.local.routes`.
"""

from __future__ import annotations

import json

from harness.backends.local.apierrors import APIError, Obj
from harness.backends.local.patches import MERGE_PATCH, apply_patch
from harness.backends.local.resources import DEPLOYMENTS, REPLICASETS
from harness.backends.local.resourcewrites import write_options
from harness.backends.local.routes import Call, Routes


def scale_of(obj: Obj) -> Obj:
    """The Scale view of a workload (pure)."""
    meta = obj["metadata"]
    labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return {
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": int((obj.get("spec") or {}).get("replicas", 1))},
        "status": {
            "replicas": int((obj.get("status") or {}).get("replicas", 0)),
            "selector": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        },
    }


def _handle(call: Call) -> None:
    route = call.route
    assert route is not None and route.name is not None
    rt, ns, name = route.rt, route.namespace, route.name
    current = call.store.get_raw(rt, name, ns)
    if call.method == "GET":
        call.verb = "get"
        call.send_json(200, scale_of(current))
        return
    try:
        body = json.loads(call.body or b"null")
    except ValueError as exc:
        raise APIError.bad_request(f"the Scale body is not JSON: {exc}") from exc
    if call.method == "PATCH":
        call.verb = "patch"
        ctype = (call.headers.get("Content-Type") or MERGE_PATCH).split(";")[0].strip()
        body = apply_patch(scale_of(current), body, ctype, rt)
    else:
        call.verb = "update"
    replicas = (body or {}).get("spec", {}).get("replicas") if isinstance(body, dict) else None
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise APIError.invalid(
            rt, name, [("spec.replicas", "Invalid value: must be a non-negative integer")]
        )
    opts = write_options(call, None)
    done = call.store.patch_raw(
        rt, name, {"spec": {"replicas": replicas}}, MERGE_PATCH, ns, opts=opts
    )
    call.send_json(200, scale_of(done))


def register(routes: Routes) -> None:
    for rt in (DEPLOYMENTS, REPLICASETS):
        routes.add_subresource(
            rt.plural,
            "scale",
            _handle,
            group=rt.group,
            methods=("GET", "PUT", "PATCH"),
            kind="Scale",
            verbs=("get", "patch", "update"),
        )
