"""The ``calls:`` expectation: assertions on a scenario's recorded CNI calls.

Shape (docs/scenarios.md, "calls: the CNI wiretap")::

    - calls:
        caller: runtime        # who called: runtime, meta (any non-runtime caller
                               # that the runtime called), or a plugin type
        plugin: macvlan        # the callee's type (a file name in the bin dir)
        command: ADD
        pod: web               # CNI_ARGS K8S_POD_NAME
        ifname: net1
        network: macvlan-conf  # "name" of the config on stdin
        ok: true               # exit 0 (false: failed)
        count: 1               # exactly this many matching calls (default: at least one)
        result: {cniVersion: "0.3.1"}   # every match's stdout contains this
        error: {code: 7}       # every match failed with this code (a list: any of them)
        stdin: {prevResult: {cniVersion: "1.0.0"}}  # every match's config contains this
        undone: true           # every match (an ADD) is DELeted again inside its parent call
        order: [net2, net1]    # the matches' ifnames in start order, exactly

``result``/``stdin`` match like the cni step's ``result``: objects by key,
scalars by equality, lists exactly unless wrapped in ``{includes: [...]}``.
"""

from __future__ import annotations

import json
from typing import Any

from harness.wiretap.records import RUNTIME, Call

FILTERS = ("caller", "plugin", "command", "pod", "ifname", "network", "ok", "node")


def _caller_matches(want: str, call: Call, calls: dict[str, Call]) -> bool:
    if want == "meta":  # called by something the runtime called
        parent = calls.get(call.parent)
        return parent is not None and parent.caller == RUNTIME
    return call.caller == want


def select(spec: dict[str, Any], calls: list[Call]) -> list[Call]:
    by_id = {c.id: c for c in calls}
    out = []
    for call in calls:
        if "caller" in spec and not _caller_matches(str(spec["caller"]), call, by_id):
            continue
        if "plugin" in spec and call.plugin != spec["plugin"]:
            continue
        if "command" in spec and call.command != spec["command"]:
            continue
        if "pod" in spec and call.cni_args().get("K8S_POD_NAME") != spec["pod"]:
            continue
        if "ifname" in spec and call.ifname != spec["ifname"]:
            continue
        if "network" in spec and call.network != spec["network"]:
            continue
        if "node" in spec and call.node != spec["node"]:
            continue
        if "ok" in spec and call.ok != bool(spec["ok"]):
            continue
        out.append(call)
    return out


def contains(want: Any, actual: Any, path: str = "") -> list[str]:
    """``want`` in ``actual``: objects by key, lists exactly (``{includes: [...]}``: at
    least these), each wanted item matched by a distinct actual item; ``{present: b}``."""
    if isinstance(want, dict) and set(want) == {"present"}:
        return (
            []
            if (actual is not None) == bool(want["present"])
            else [f"{path}: {'missing' if actual is None else 'present'}"]
        )
    if isinstance(want, dict) and set(want) == {"includes"}:
        return _list(want["includes"], actual, path, exact=False)
    if isinstance(want, dict):
        if not isinstance(actual, dict):
            return [f"{path}: is {json.dumps(actual)}, expected an object"]
        problems = []
        for key, value in want.items():
            sub = actual.get(key)
            if sub is None and not (isinstance(value, dict) and set(value) == {"present"}):
                problems.append(f"{path}.{key}: missing")
            else:
                problems += contains(value, sub, f"{path}.{key}")
        return problems
    if isinstance(want, list):
        return _list(want, actual, path, exact=True)
    if want != actual:
        return [f"{path}: is {json.dumps(actual)}, expected {json.dumps(want)}"]
    return []


def _list(want: list[Any], actual: Any, path: str, exact: bool) -> list[str]:
    if not isinstance(actual, list):
        return [f"{path}: is {json.dumps(actual)}, expected a list"]
    if exact and len(actual) != len(want):
        return [f"{path}: has {len(actual)} items, expected {len(want)}: {json.dumps(actual)}"]
    unused = list(range(len(actual)))
    problems = []
    for i, item in enumerate(want):
        hit = next((j for j in unused if not contains(item, actual[j])), None)
        if hit is None:
            problems.append(f"{path}[{i}]: no item matches {json.dumps(item)}")
        else:
            unused.remove(hit)
    return problems


def _undone(call: Call, calls: dict[str, Call]) -> bool:
    parent = calls.get(call.parent)
    if parent is None:
        return False
    for kid in parent.children:
        other = calls.get(kid)
        if (
            other is not None
            and other.command == "DEL"
            and other.start >= call.end - 1e-3
            and (other.plugin, other.ifname, other.container_id)
            == (call.plugin, call.ifname, call.container_id)
        ):
            return True
    return False


def describe(spec: dict[str, Any]) -> str:
    parts = [f"{k}={spec[k]}" for k in FILTERS if k in spec]
    return "calls(" + ", ".join(parts) + ")"


def problems(spec: dict[str, Any], calls: list[Call]) -> list[str]:
    """Every way the recorded ``calls`` miss ``spec`` (empty: they match)."""
    matched = select(spec, calls)
    by_id = {c.id: c for c in calls}
    what = describe(spec)
    found: list[str] = []
    if "count" in spec:
        if len(matched) != int(spec["count"]):
            found.append(f"{what}: {len(matched)} recorded, expected {spec['count']}")
    elif not matched:
        found.append(f"{what}: no such call recorded ({len(calls)} calls in all)")
    for call in matched:
        if "result" in spec:
            found += [
                f"{call.describe()}: stdout{p}" for p in contains(spec["result"], call.output)
            ]
        if "stdin" in spec:
            found += [f"{call.describe()}: stdin{p}" for p in contains(spec["stdin"], call.conf)]
        if "error" in spec:
            codes = spec["error"].get("code")
            allowed = codes if isinstance(codes, list) else [codes]
            got = (call.output or {}).get("code")
            if call.ok:
                found.append(f"{call.describe()}: succeeded, expected error code {codes}")
            elif got not in allowed:
                found.append(f"{call.describe()}: error code {got!r}, expected {codes}")
        if spec.get("undone") and not _undone(call, by_id):
            found.append(f"{call.describe()}: never DELeted again by its caller (no rollback)")
    if "order" in spec:
        got_order = [c.ifname for c in matched]
        if got_order != list(spec["order"]):
            found.append(f"{what}: ifnames in order {got_order}, expected {spec['order']}")
    return found


def render_calls(calls: list[Call], limit: int = 40) -> str:
    """The calls as indented lines (parent before children), for failure details."""
    by_id = {c.id: c for c in calls}
    depth: dict[str, int] = {}
    lines = []
    for call in calls:
        depth[call.id] = depth.get(call.parent, -1) + 1 if call.parent in by_id else 0
        lines.append("  " * depth[call.id] + call.describe())
    if len(lines) > limit:
        lines = [*lines[:limit], f"... {len(lines) - limit} more"]
    return "\n".join(lines)
