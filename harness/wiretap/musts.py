"""The CNI spec's MUSTs, checked on every recorded call of a scenario.

Pure functions over linked :class:`~harness.wiretap.records.Call` lists; each
returns :class:`Violation` s naming the call and the clause. The runner fails
a scenario on any of them whether or not the scenario asks (a meta-plugin
that breaks the protocol towards its caller or its delegates is wrong in
every scenario). The meta-plugin is judged, not its delegates: the answer
checks (result, error) apply to what the runtime called, the request checks
(DEL order, prevResult, runtimeConfig, env) to what the meta-plugin sends
(and to the runtime's own requests). A fault a scenario injects in a
delegate on purpose is therefore never blamed on anyone. What the wire
cannot show is not judged: a call whose
plugin's declared capabilities are unknown is not checked for
``runtimeConfig``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.cniruntime.resultshape import result_shape_problems
from harness.cniruntime.version import at_least
from harness.wiretap.records import RUNTIME, Call

#: Clause id (the catalogue's, harness/scenario/clauses.yaml) -> where the spec says it.
CLAUSES = {
    "cni-add": "SPEC.md Section 5 'Success': ADD prints a valid result in the config's cniVersion",
    "cni-errors": "SPEC.md Section 5 'Error': a failure prints error JSON, a valid code, a msg",
    "cni-del": "SPEC.md Section 4: DEL of an attachment set runs in reverse order of its ADD",
    "cni-prevresult": "SPEC.md Section 3/4: from 0.4.0, CHECK and DEL get the ADD's prevResult",
    "cni-capabilities": "SPEC.md Section 4: runtimeConfig carries only declared capabilities",
    "cni-env": "SPEC.md Section 2/4: the required CNI_* variables, the caller's CNI_ARGS kept",
}
#: Codes the spec defines (1-7, 11; 50, 51 from 1.1.0), the reference library's 8
#: and 999, and the plugin's own from 100 (SPEC.md Section 5, "Error").
KNOWN_CODES = frozenset({1, 2, 3, 4, 5, 6, 7, 8, 11, 50, 51, 999})
ATTACHMENT = ("ADD", "DEL", "CHECK")
#: CNI_ARGS keys a runtime passes that a delegate must see with the same value.
POD_ARGS = ("K8S_POD_NAMESPACE", "K8S_POD_NAME", "K8S_POD_INFRA_CONTAINER_ID", "K8S_POD_UID")
#: (network name, plugin type) -> the runtimeConfig keys that plugin may get, or None.
Declared = Callable[[str, str], "set[str] | None"]


@dataclass(frozen=True)
class Violation:
    call: str  # the call's id
    clause: str
    message: str
    described: str  # the call in one line

    def render(self) -> str:
        return f"{self.described}: {self.clause} ({CLAUSES[self.clause]}): {self.message}"


def _v(call: Call, clause: str, message: str) -> Violation:
    return Violation(call.id, clause, message, call.describe())


def result_violations(call: Call) -> list[Violation]:
    """A successful ADD's result: JSON, valid for its version, in the config's version."""
    if call.command != "ADD" or not call.ok:
        return []
    conf = call.conf
    if conf is None:
        return []  # not a CNI config on stdin: nothing to compare with
    out = call.output
    if out is None:
        return [
            _v(call, "cni-add", f"exit 0 but stdout is not a JSON result: {call.stdout[:200]!r}")
        ]
    want, got = conf.get("cniVersion"), out.get("cniVersion")
    found = []
    if got != want:
        found.append(_v(call, "cni-add", f"result cniVersion {got!r} is not the config's {want!r}"))
    problems = result_shape_problems(out)
    if problems and got == want:
        found.append(_v(call, "cni-add", "invalid result: " + "; ".join(problems[:3])))
    return found


def error_violations(call: Call) -> list[Violation]:
    """A failed call's stdout: an error object with a valid code and a message."""
    if call.ok or not call.command:
        return []
    out = call.output
    if out is None:
        return [
            _v(
                call,
                "cni-errors",
                f"exit {call.exit} without error JSON on stdout: {call.stdout[:200]!r}",
            )
        ]
    code = out.get("code")
    if not isinstance(code, int) or isinstance(code, bool):
        return [_v(call, "cni-errors", f"error code {code!r} is not an integer")]
    if code not in KNOWN_CODES and code < 100:
        return [_v(call, "cni-errors", f"error code {code} is reserved by the spec")]
    if not isinstance(out.get("msg"), str) or not out["msg"]:
        return [_v(call, "cni-errors", "error msg is missing or empty")]
    return []


def _key(call: Call) -> tuple[str, str, str]:
    return (call.ifname, call.network, call.plugin)


def _in_reverse(adds: list[Call], dels: list[Call]) -> bool:
    """The attachments ``dels`` removes come in the reverse order of ``adds``."""
    order = _firsts([_key(c) for c in adds])
    first = _firsts([_key(c) for c in dels if _key(c) in order])  # a retry counts once
    wanted = [k for k in reversed(order) if k in first]
    return first == wanted


def _firsts(keys: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """``keys`` with repeats dropped, each where it first came."""
    out: list[tuple[str, str, str]] = []
    for key in keys:
        if key not in out:
            out.append(key)
    return out


def del_order_violations(calls: list[Call]) -> list[Violation]:
    """A DEL (or a failed ADD's rollback) deletes its delegates in reverse ADD order."""
    by_id = {c.id: c for c in calls}
    found = []
    last_add: dict[tuple[str, str, str], Call] = {}
    for call in calls:
        kids = [by_id[k] for k in call.children if k in by_id]
        adds = [k for k in kids if k.command == "ADD" and k.ok]
        key = (call.node, call.plugin, call.container_id)
        if call.command == "ADD":
            rollback = [k for k in kids if k.command == "DEL"]
            if adds and rollback and not _in_reverse(adds, rollback):
                found.append(
                    _v(
                        call,
                        "cni-del",
                        "the failed ADD's rollback deletes "
                        f"{_order(rollback)}, not the reverse of {_order(adds)}",
                    )
                )
            if call.ok and adds:
                last_add[key] = call
        elif call.command == "DEL" and key in last_add:
            dels = [k for k in kids if k.command == "DEL"]
            add_kids = [by_id[k] for k in last_add[key].children if k in by_id]
            added = [k for k in add_kids if k.command == "ADD" and k.ok]
            if dels and not _in_reverse(added, dels):
                found.append(
                    _v(
                        call,
                        "cni-del",
                        f"deletes {_order(dels)}, not the reverse of the "
                        f"ADD's {_order(added)} ({last_add[key].id})",
                    )
                )
    return found


def _order(calls: list[Call]) -> str:
    return "[" + ", ".join(f"{c.plugin}/{c.ifname}" for c in calls) + "]"


def prev_result_violations(calls: list[Call]) -> list[Violation]:
    """From 0.4.0, CHECK and the first DEL after a successful ADD carry prevResult.

    Only where the caller has a result to give: after a successful ADD of the
    same plugin, container, ifname and network, and before a DEL of it
    succeeded (libcni forgets the result then, so a repeated DEL has none);
    and, for a call made by a plugin, only when that plugin got a prevResult
    itself (an IPAM plugin gets its caller's stdin: it can pass only that).
    """
    by_id = {c.id: c for c in calls}
    found = []
    added: set[tuple[str, str, str, str, str]] = set()
    for call in calls:
        key = (call.node, call.plugin, call.container_id, call.ifname, call.network)
        if call.command == "ADD" and call.ok:
            added.add(key)
            continue
        if call.command not in ("DEL", "CHECK") or key not in added:
            continue
        conf = call.conf or {}
        version = str(conf.get("cniVersion", ""))
        parent = by_id.get(call.parent)
        caller_had = parent is None or isinstance((parent.conf or {}).get("prevResult"), dict)
        if (
            caller_had
            and at_least(version, "0.4.0")
            and not isinstance(conf.get("prevResult"), dict)
        ):
            found.append(
                _v(
                    call,
                    "cni-prevresult",
                    f"cniVersion {version} {call.command} of an "
                    "attachment ADDed before has no prevResult",
                )
            )
        if call.command == "DEL" and call.ok:
            added.discard(key)
    return found


def capability_violations(call: Call, declared: Declared | None = None) -> list[Violation]:
    conf = call.conf or {}
    runtime = conf.get("runtimeConfig")
    if not isinstance(runtime, dict) or not runtime:
        return []
    caps = conf.get("capabilities")
    if isinstance(caps, dict):
        allowed: set[str] | None = {k for k, v in caps.items() if v is True}
    else:
        allowed = declared(call.network, call.plugin) if declared else None
    if allowed is None:
        return []  # the plugin's declaration is not known here: not judged
    extra = sorted(set(runtime) - allowed)
    if not extra:
        return []
    return [
        _v(
            call,
            "cni-capabilities",
            f"runtimeConfig has {extra}, which the plugin does not "
            f"declare (capabilities: {sorted(allowed)})",
        )
    ]


def env_violations(call: Call, root: Call | None) -> list[Violation]:
    """A delegate's environment: the required variables, the runtime's CNI_ARGS."""
    if root is None or call.command not in ATTACHMENT:
        return []
    env = call.env
    missing = [n for n in ("CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH") if not env.get(n)]
    if call.command != "DEL" and not env.get("CNI_NETNS"):
        missing.append("CNI_NETNS")
    found = []
    if missing:
        found.append(_v(call, "cni-env", f"{', '.join(missing)} not set"))
    if root.container_id and call.container_id and call.container_id != root.container_id:
        found.append(
            _v(
                call,
                "cni-env",
                f"CNI_CONTAINERID {call.container_id[:12]} is not the "
                f"runtime's {root.container_id[:12]} ({root.id})",
            )
        )
    want, got = root.cni_args(), call.cni_args()
    lost = [k for k in POD_ARGS if k in want and got.get(k) != want[k]]
    if lost:
        found.append(
            _v(call, "cni-env", f"CNI_ARGS lacks the runtime's {', '.join(lost)} ({root.id})")
        )
    return found


def violations(calls: list[Call], declared: Declared | None = None) -> list[Violation]:
    """Every violation in the calls of one or more nodes (linked, start order)."""
    by_id = {c.id: c for c in calls}

    def root_of(call: Call) -> Call | None:
        if not call.parent:
            return None
        node = call
        while node.parent and node.parent in by_id:
            node = by_id[node.parent]
        return node if node is not call else None

    found: list[Violation] = []
    nodes = sorted({c.node for c in calls})
    for node in nodes:
        mine = [c for c in calls if c.node == node]
        for call in mine:
            if call.caller == RUNTIME:  # the meta-plugin's answers
                found += result_violations(call)
                found += error_violations(call)
            found += capability_violations(call, declared)
            found += env_violations(call, root_of(call))
        found += del_order_violations(mine)
        found += prev_result_violations(mine)
    return found


def declared_from_configs(configs: list[Any]) -> Declared:
    """A :data:`Declared` from network configs (files, NAD configs): for each
    (name, type) the union of declared capabilities and the plugin's own
    ``runtimeConfig`` keys over every config of that name."""
    table: dict[tuple[str, str], set[str]] = {}
    for conf in configs:
        if not isinstance(conf, dict):
            continue
        listed = conf.get("plugins")
        plugins: list[Any] = listed if isinstance(listed, list) else [conf]
        for plugin in plugins:
            if not isinstance(plugin, dict):
                continue
            key = (str(conf.get("name", "")), str(plugin.get("type", "")))
            allowed = table.setdefault(key, set())
            caps = plugin.get("capabilities")
            if isinstance(caps, dict):
                allowed |= {k for k, v in caps.items() if v is True}
            own = plugin.get("runtimeConfig")
            if isinstance(own, dict):
                allowed |= set(own)

    def lookup(name: str, plugin: str) -> set[str] | None:
        return table.get((name, plugin))

    return lookup
