"""Field ownership (``metadata.managedFields``) and server-side apply, as pure functions.

Server-side apply (API concepts, "Server-Side Apply"): every write records
which manager set which fields (``fieldsV1`` sets such as
``{"f:spec": {"f:config": {}}}``). An apply (``PATCH`` with
``application/apply-patch+yaml``) sends the manager's whole intent: fields it
applied before and no longer sends are removed (unless another manager owns
them too), the sent fields are merged into the live object, and a sent field
another manager owns with a different value is a 409 conflict unless
``force=true``, which takes the field over. Updates (create, PUT, PATCH)
take ownership of the fields they change without conflicts.

Lists merge by key where the type says so (containers by name, ...: the
strategic merge keys); other lists are atomic (owned and replaced whole).
"""

from __future__ import annotations

import json
from typing import Any

from harness.backends.local.apierrors import APIError, Obj, clone
from harness.backends.local.patches import STRATEGIC_MERGE_KEYS
from harness.backends.local.resources import ResourceType

Path = tuple[str, ...]
# Metadata the server owns: never part of a manager's field set.
_SERVER_META = frozenset(
    {
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
        "selfLink",
        "generateName",
    }
)


def _item_key(item: Any, key: str) -> str | None:
    if isinstance(item, dict) and key in item:
        return "k:" + json.dumps({key: item[key]}, separators=(",", ":"))
    return None


def _walk(value: Any, prefix: Path, out: set[Path], parent: str | None = None) -> None:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            _walk(v, (*prefix, f"f:{k}"), out, k)
        return
    merge_key = STRATEGIC_MERGE_KEYS.get(parent or "")
    if (
        isinstance(value, list)
        and value
        and merge_key
        and all(_item_key(i, merge_key) for i in value)
    ):
        for item in value:
            here = (*prefix, str(_item_key(item, merge_key)))
            out.add((*here, "."))
            for k, v in item.items():
                _walk(v, (*here, f"f:{k}"), out, k)
        return
    out.add(prefix)


def field_set(obj: Obj, subresource: str | None = None) -> set[Path]:
    """The leaf fields an object sets (what a manager owns when it sent ``obj``)."""
    out: set[Path] = set()
    for k, v in obj.items():
        if k in ("apiVersion", "kind"):
            continue
        if k == "metadata" and isinstance(v, dict):
            for mk, mv in v.items():
                if mk not in _SERVER_META:
                    _walk(mv, ("f:metadata", f"f:{mk}"), out, mk)
            continue
        if (subresource == "status") != (k == "status"):
            continue
        _walk(v, (f"f:{k}",), out, k)
    return out


def value_at(obj: Any, path: Path) -> Any:
    """The value at a field path, or a sentinel-free None when absent."""
    cur = obj
    for el in path:
        if el == ".":
            return cur
        if el.startswith("f:"):
            if not isinstance(cur, dict):
                return None
            cur = cur.get(el[2:])
        elif el.startswith("k:"):
            want = json.loads(el[2:])
            if not isinstance(cur, list):
                return None
            cur = next(
                (
                    i
                    for i in cur
                    if isinstance(i, dict) and all(i.get(k) == v for k, v in want.items())
                ),
                None,
            )
        else:
            return None
    return cur


def to_fields_v1(paths: set[Path]) -> Obj:
    root: Obj = {}
    for path in sorted(paths):
        node = root
        for el in path:
            node = node.setdefault(el, {})
    return root


def from_fields_v1(tree: Any, prefix: Path = ()) -> set[Path]:
    out: set[Path] = set()
    if not isinstance(tree, dict) or not tree:
        if prefix:
            out.add(prefix)
        return out
    for k, v in tree.items():
        out |= from_fields_v1(v, (*prefix, k))
    return out


def _entries(obj: Obj) -> list[Obj]:
    got = (obj.get("metadata") or {}).get("managedFields")
    return [e for e in got if isinstance(e, dict)] if isinstance(got, list) else []


def _entry(
    manager: str, operation: str, api_version: str, now: str, paths: set[Path], sub: str | None
) -> Obj:
    e: Obj = {
        "manager": manager,
        "operation": operation,
        "apiVersion": api_version,
        "time": now,
        "fieldsType": "FieldsV1",
        "fieldsV1": to_fields_v1(paths),
    }
    if sub:
        e["subresource"] = sub
    return e


def _same_owner(e: Obj, manager: str, operation: str, sub: str | None) -> bool:
    return (
        e.get("manager") == manager
        and e.get("operation") == operation
        and e.get("subresource") == sub
    )


def record_update(
    old: Obj | None,
    new: Obj,
    manager: str,
    api_version: str,
    now: str,
    subresource: str | None = None,
    operation: str = "Update",
    owned: set[Path] | None = None,
    taken: set[Path] | None = None,
) -> list[Obj]:
    """The managedFields of ``new`` after ``manager`` wrote it over ``old``.

    ``owned``: the manager's new field set (apply); default: the fields whose
    value changed (update). ``taken`` (default: ``owned``) are removed from
    the other managers; an apply without conflicts shares fields instead.
    """
    new_set = field_set(new, subresource)
    if owned is None:
        owned = {p for p in new_set if old is None or value_at(old, p) != value_at(new, p)}
    if taken is None:
        taken = owned
    entries = _entries(old) if old is not None else []
    out: list[Obj] = []
    mine: set[Path] = set(owned)
    for e in entries:
        fields = from_fields_v1(e.get("fieldsV1"))
        if _same_owner(e, manager, operation, subresource):
            if operation == "Update":
                mine |= fields & new_set
            continue
        fields = {p for p in fields if p not in taken and _present(new, p)}
        if fields:
            out.append({**e, "fieldsV1": to_fields_v1(fields)})
    if mine:
        out.append(_entry(manager, operation, api_version, now, mine, subresource))
    return out


def _present(obj: Obj, path: Path) -> bool:
    parent = value_at(obj, path[:-1]) if len(path) > 1 else obj
    last = path[-1]
    if last == ".":
        return value_at(obj, path[:-1]) is not None
    if last.startswith("f:"):
        return isinstance(parent, dict) and last[2:] in parent
    return value_at(obj, path) is not None


# ---- apply -------------------------------------------------------------------


def _merge(live: Any, config: Any, parent: str | None = None) -> Any:
    if isinstance(live, dict) and isinstance(config, dict):
        out = dict(live)
        for k, v in config.items():
            out[k] = _merge(live.get(k), v, k)
        return out
    key = STRATEGIC_MERGE_KEYS.get(parent or "")
    if key and isinstance(live, list) and isinstance(config, list):
        result = list(live)
        for item in config:
            idx = next(
                (
                    i
                    for i, cur in enumerate(result)
                    if isinstance(cur, dict)
                    and isinstance(item, dict)
                    and cur.get(key) == item.get(key)
                ),
                None,
            )
            if idx is None:
                result.append(item)
            else:
                result[idx] = _merge(result[idx], item)
        return result
    return clone(config)


def _remove(obj: Any, path: Path) -> None:
    if path and path[-1] == ".":
        path = path[:-1]
        parent = value_at(obj, path[:-1])
        want = json.loads(path[-1][2:]) if path[-1].startswith("k:") else None
        if isinstance(parent, list) and want is not None:
            parent[:] = [
                i
                for i in parent
                if not (isinstance(i, dict) and all(i.get(k) == v for k, v in want.items()))
            ]
        return
    parent = value_at(obj, path[:-1]) if len(path) > 1 else obj
    if isinstance(parent, dict) and path[-1].startswith("f:"):
        parent.pop(path[-1][2:], None)


def _conflict_message(conflicts: list[tuple[str, Path]], api_version: str) -> str:
    lines = [
        f'conflict with "{m}" using {api_version}: .{".".join(_show(p))}' for m, p in conflicts
    ]
    n = len(conflicts)
    return f"Apply failed with {n} conflict{'s' if n > 1 else ''}: " + "\n".join(lines)


def _show(path: Path) -> list[str]:
    return [el[2:] if el.startswith("f:") else el for el in path if el != "."]


def apply(
    rt: ResourceType,
    live: Obj,
    config: Obj,
    manager: str,
    force: bool,
    now: str,
    subresource: str | None = None,
) -> Obj:
    """The object after ``manager`` applied ``config`` over ``live`` (409 on conflicts)."""
    applied = field_set(config, subresource)
    entries = _entries(live)
    previous: set[Path] = set()
    others: dict[Path, list[str]] = {}
    for e in entries:
        fields = from_fields_v1(e.get("fieldsV1"))
        if _same_owner(e, manager, "Apply", subresource):
            previous = fields
            continue
        for p in fields:
            others.setdefault(p, []).append(str(e.get("manager", "")))
    conflicts = [
        (m, p)
        for p in sorted(applied)
        for m in others.get(p, [])
        if value_at(live, p) != value_at(config, p)
    ]
    if conflicts and not force:
        raise APIError(
            409,
            "Conflict",
            _conflict_message(conflicts, rt.api_version),
            name=str(live.get("metadata", {}).get("name", "")),
            kind=rt.plural,
            group=rt.group,
            causes=[
                {
                    "reason": "FieldManagerConflict",
                    "message": f'conflict with "{m}"',
                    "field": "." + ".".join(_show(p)),
                }
                for m, p in conflicts
            ],
        )
    new = clone(live)
    for p in sorted(previous - applied, key=len, reverse=True):
        if p not in others:
            _remove(new, p)
    body = {k: v for k, v in config.items() if k not in ("apiVersion", "kind")}
    meta = {k: v for k, v in (body.pop("metadata", None) or {}).items() if k not in _SERVER_META}
    new = _merge(new, body)
    new["metadata"] = _merge(new.get("metadata") or {}, meta)
    taken = {p for _, p in conflicts}
    new["metadata"]["managedFields"] = record_update(
        live, new, manager, rt.api_version, now, subresource, "Apply", applied, taken
    )
    return new  # type: ignore[no-any-return]
