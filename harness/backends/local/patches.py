"""The patch types of the PATCH verb: JSON merge, strategic merge and JSON patch.

Merge patch is RFC 7386; JSON patch is RFC 6902 through the ``jsonpatch``
library; strategic merge patch is Kubernetes's own (the ``patchMergeKey``
and ``patchStrategy`` tags of the types we serve, and the ``$patch``
directives ``kubectl apply`` sends). Server-side apply lives in
:mod:`harness.backends.local.apply`.
"""

from __future__ import annotations

from typing import Any

import jsonpatch
import jsonpointer

from harness.backends.local.apierrors import APIError, Obj, clone
from harness.backends.local.resources import ResourceType

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
PATCH_TYPES = {
    "merge": MERGE_PATCH,
    "strategic": STRATEGIC_MERGE_PATCH,
    "json": JSON_PATCH,
    MERGE_PATCH: MERGE_PATCH,
    STRATEGIC_MERGE_PATCH: STRATEGIC_MERGE_PATCH,
    JSON_PATCH: JSON_PATCH,
}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge recursively, ``null`` deletes a key."""
    if not isinstance(patch, dict):
        return patch
    result: Obj = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# Lists that strategic merge patch merges by a key instead of replacing
# (patchMergeKey tags of the core/v1 and meta/v1 types we serve).
STRATEGIC_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "ports": "containerPort",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "volumes": "name",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "ownerReferences": "uid",
    "conditions": "type",
    "addresses": "type",
    "resourceClaims": "name",
    "podIPs": "ip",
    "hostIPs": "ip",
    "topologySpreadConstraints": "topologyKey",
    "readinessGates": "conditionType",
}
# Primitive lists with patchStrategy "merge" (union, not replace).
STRATEGIC_MERGE_PRIMITIVES = frozenset({"finalizers"})

_DELETE = object()


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [
            _strip_directives(v) for v in value if not (isinstance(v, dict) and v.get("$patch"))
        ]
    return value


def _merge_keyed_list(current: list[Any], patch: list[Any], key: str) -> list[Any]:
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [_strip_directives(i) for i in patch if not (isinstance(i, dict) and "$patch" in i)]
    result = list(current)
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            result.append(_strip_directives(item))
            continue
        idx = next(
            (
                i
                for i, cur in enumerate(result)
                if isinstance(cur, dict) and cur.get(key) == item[key]
            ),
            None,
        )
        if item.get("$patch") == "delete":
            if idx is not None:
                del result[idx]
            continue
        if idx is None:
            result.append(_strip_directives(item))
        else:
            result[idx] = strategic_merge_patch(result[idx], item)
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Kubernetes strategic merge patch, for the types we serve.

    A merge patch (``null`` deletes) plus: lists named in
    :data:`STRATEGIC_MERGE_KEYS` merge item by item on their key, ``finalizers``
    is a set union, and the directives ``$patch`` (replace/delete/merge),
    ``$retainKeys``, ``$deleteFromPrimitiveList/<f>`` and
    ``$setElementOrder/<f>`` (accepted, used only to order) are honoured, so
    that what ``kubectl apply`` sends works.
    """
    if not isinstance(patch, dict):
        return _strip_directives(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return _strip_directives(patch)
    if directive == "delete":
        return _DELETE
    if directive not in (None, "merge"):
        raise APIError(
            422, "Invalid", f"unknown strategic merge patch directive $patch={directive}"
        )
    result: Obj = dict(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain or k in patch}
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys"):
            continue
        if key.startswith("$setElementOrder/"):
            if isinstance(value, list):
                orders[key.split("/", 1)[1]] = value
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            cur = result.get(name)
            if isinstance(cur, list) and isinstance(value, list):
                result[name] = [x for x in cur if x not in value]
            continue
        if value is None:
            result.pop(key, None)
            continue
        cur = result.get(key)
        if isinstance(value, dict):
            merged = strategic_merge_patch(cur, value)
            if merged is _DELETE:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list) and isinstance(cur, list) and key in STRATEGIC_MERGE_KEYS:
            result[key] = _merge_keyed_list(cur, value, STRATEGIC_MERGE_KEYS[key])
        elif (
            isinstance(value, list) and isinstance(cur, list) and key in STRATEGIC_MERGE_PRIMITIVES
        ):
            result[key] = cur + [x for x in value if x not in cur]
        else:
            result[key] = _strip_directives(value)
    for name, order in orders.items():
        items = result.get(name)
        mkey = STRATEGIC_MERGE_KEYS.get(name)
        if not isinstance(items, list):
            continue

        def rank(item: Any, order: list[Any] = order, mkey: str | None = mkey) -> int:
            probe = item.get(mkey) if (mkey and isinstance(item, dict)) else item
            for i, o in enumerate(order):
                if (o.get(mkey) if (mkey and isinstance(o, dict)) else o) == probe:
                    return i
            return len(order)

        result[name] = sorted(items, key=rank)
    return result


def json_patch(doc: Any, ops: Any) -> Any:
    """RFC 6902 JSON patch (add, remove, replace, move, copy, test), by ``jsonpatch``.

    Failures are 422 Invalid naming the operation, as the real API answers.
    """
    if not isinstance(ops, list):
        raise APIError.bad_request("a JSON patch must be a JSON array of operations")
    for n, op in enumerate(ops):
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise APIError.bad_request(f"JSON patch operation {n} needs 'op' and 'path'")
        if op["op"] in ("add", "replace", "test") and "value" not in op:
            raise APIError.bad_request(f"JSON patch operation {n} ({op['op']}) needs 'value'")
        if op["op"] not in ("add", "remove", "replace", "move", "copy", "test"):
            raise APIError.bad_request(f"JSON patch operation {n}: unknown op {op['op']!r}")
    try:
        return jsonpatch.JsonPatch(ops).apply(doc, in_place=False)
    except jsonpatch.JsonPatchTestFailed as exc:
        raise APIError(422, "Invalid", f"JSON patch test failed: {exc}") from exc
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        raise APIError(422, "Invalid", f"JSON patch could not be applied: {exc}") from exc
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        raise APIError(422, "Invalid", f"JSON patch could not be applied: {exc!r}") from exc


def apply_patch(target: Obj, patch: Any, patch_type: str, rt: ResourceType) -> Any:
    kind = PATCH_TYPES.get(patch_type)
    if kind is None:
        raise APIError(
            415,
            "UnsupportedMediaType",
            f"the body of the request was in an unknown format - accepted media types include: "
            f"{MERGE_PATCH}, {STRATEGIC_MERGE_PATCH}, {JSON_PATCH} (got {patch_type!r})",
        )
    if kind == STRATEGIC_MERGE_PATCH and rt.custom:
        raise APIError(
            415,
            "UnsupportedMediaType",
            f"strategic merge patch is not supported for custom resources ({rt.qualified}): "
            f"use {MERGE_PATCH}",
        )
    if kind == JSON_PATCH:
        return json_patch(clone(target), patch)
    if not isinstance(patch, dict):
        raise APIError.bad_request("a merge patch must be a JSON object")
    if kind == STRATEGIC_MERGE_PATCH:
        merged = strategic_merge_patch(target, patch)
        return {} if merged is _DELETE else clone(merged)
    return clone(merge_patch(target, patch))
