"""Checks that cannot fail are load errors (format v2).

A verdict is only worth something if the check behind it can fail. These
rules run when a scenario is loaded (so ``harness validate`` reports them
with ``file:line``) and reject:

- a value that is only wildcards (``mac: "*:*:*:*:*:*"``) or an address
  matcher that takes every address (``within: 0.0.0.0/0``);
- a text needle (an error's ``names``/``contains``, an event's ``contains``)
  that is part of a pod's name or contains one: an error message usually
  starts with the pod's name, so such a needle matches any failure of that pod;
- wording (``contains`` on an error) outside ``class: extension``: only
  pymultus promises its sentences, a spec or reference scenario asserts the
  structured facts (the code, the objects the message names);
- a failure expected without a code (``ok: false`` alone);
- v1 leftovers whose meaning changed (``beyond-reference``, ``networkStatusExact``).

Each rule is a small pure function over the scenario's data returning
``(pointer, message)`` problems; :func:`check_strict` raises the first one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

from harness.scenario.loader import Pointer, Scenario, ScenarioError

Problem = tuple[Pointer, str]


def check_strict(scenario: Scenario) -> None:
    for pointer, message in problems(scenario.data):
        raise ScenarioError(scenario.path, scenario.line(*pointer), message)


def problems(data: dict[str, Any]) -> list[Problem]:
    """Every strictness problem of a scenario's data, in file order."""
    out: list[Problem] = []
    out += legacy_problems(data)
    out += wildcard_problems(data)
    out += needle_problems(data)
    out += error_problems(data)
    return out


def legacy_problems(data: dict[str, Any]) -> list[Problem]:
    out: list[Problem] = []
    for i, tag in enumerate(data.get("tags", [])):
        if tag == "beyond-reference":
            out.append((("tags", i), "the beyond-reference tag is replaced by `class: extension`"))
    return out


# ------------------------------------------------------------------ walking
def walk(value: Any, pointer: Pointer = ()) -> Iterator[tuple[Pointer, Any]]:
    """Every (pointer, value) pair in a YAML document, depth first."""
    yield pointer, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from walk(item, (*pointer, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk(item, (*pointer, index))


def is_only_wildcards(text: str) -> bool:
    """``*``, ``*:*:*:*:*:*``, ``**``: matches anything, so it asserts nothing."""
    parts = text.replace("-", ":").split(":")
    return bool(parts) and all(p.strip("*") == "" for p in parts)


def takes_every_address(matcher: dict[str, Any]) -> bool:
    if "within" in matcher:
        try:
            return ipaddress.ip_network(str(matcher["within"]), strict=False).prefixlen == 0
        except ValueError:
            return False
    if "range" in matcher:
        low, _, high = str(matcher["range"]).partition("-")
        try:
            lo, hi = ipaddress.ip_address(low), ipaddress.ip_address(high)
        except ValueError:
            return False
        full = {4: ("0.0.0.0", "255.255.255.255"), 6: ("::", "ffff:" * 7 + "ffff")}[lo.version]
        return (lo, hi) == tuple(ipaddress.ip_address(a) for a in full)
    return False


def wildcard_problems(data: dict[str, Any]) -> list[Problem]:
    out: list[Problem] = []
    for section in ("expect", "steps"):
        for pointer, value in walk(data.get(section, []), (section,)):
            key = pointer[-1] if pointer else None
            if key == "mac" and isinstance(value, str) and is_only_wildcards(value):
                out.append(
                    (
                        pointer,
                        f"mac {value!r} matches any MAC, so it cannot fail: give the "
                        "octets that matter (e.g. 0a:58:*:*:*:*) or drop the key",
                    )
                )
            if isinstance(value, dict) and len(value) == 1 and takes_every_address(value):
                out.append(
                    (pointer, f"address matcher {value} matches every address, so it cannot fail")
                )
    return out


# ------------------------------------------------------------------ needles
def pod_names(data: dict[str, Any]) -> list[str]:
    return [str(p["name"]) for p in data.get("pods", []) if "name" in p]


def needle_clash(needle: str, pods: list[str]) -> str | None:
    """The pod whose name the needle is part of, or that the needle contains."""
    low = needle.lower()
    for pod in pods:
        if low in pod.lower() or pod.lower() in low:
            return pod
    return None


def error_specs(data: dict[str, Any]) -> Iterator[tuple[Pointer, dict[str, Any]]]:
    """Every error expectation: a pod's ``error``, a ``cni`` step's
    ``expect.error``, a ``deleteError`` that is not ``none``."""
    for pointer, value in walk(data.get("expect", []), ("expect",)):
        yield from _error_at(pointer, value)
    for pointer, value in walk(data.get("steps", []), ("steps",)):
        yield from _error_at(pointer, value)


def _error_at(pointer: Pointer, value: Any) -> Iterator[tuple[Pointer, dict[str, Any]]]:
    if not isinstance(value, dict):
        return
    if "pod" in value and isinstance(value.get("error"), dict) and len(pointer) >= 2:
        yield (*pointer, "error"), value["error"]
    want = value.get("expect") or {}
    if pointer and pointer[-1] == "cni" and isinstance(want.get("error"), dict):
        yield (*pointer, "expect", "error"), value["expect"]["error"]
    if pointer and pointer[-1] == "deleteError" and not value.get("none"):
        yield pointer, value


def needle_problems(data: dict[str, Any]) -> list[Problem]:
    pods = pod_names(data)
    out: list[Problem] = []

    def check(pointer: Pointer, needle: Any) -> None:
        pod = needle_clash(str(needle), pods)
        if pod is not None:
            out.append(
                (
                    pointer,
                    f"needle {needle!r} is part of pod name {pod!r} or contains it: a message "
                    "naming the pod would match whatever went wrong; rename the pod or "
                    "name another object",
                )
            )

    for pointer, spec in error_specs(data):
        for i, name in enumerate(spec.get("names") or []):
            check((*pointer, "names", i), name)
        if "contains" in spec:
            check((*pointer, "contains"), spec["contains"])
    for section in ("expect", "steps"):
        for pointer, value in walk(data.get(section, []), (section,)):
            is_event = bool(pointer) and pointer[-1] == "event" and isinstance(value, dict)
            if is_event and "contains" in value:
                check((*pointer, "contains"), value["contains"])
    return out


# ------------------------------------------------------------------- errors
def error_problems(data: dict[str, Any]) -> list[Problem]:
    out: list[Problem] = []
    extension = data.get("class") == "extension"
    for pointer, spec in error_specs(data):
        if "contains" in spec and not extension:
            out.append(
                (
                    (*pointer, "contains"),
                    "error wording (contains) is asserted only in class: extension scenarios; "
                    "assert the code and the objects the message names (names: [...])",
                )
            )
    for pointer, value in walk(data.get("steps", []), ("steps",)):
        if pointer and pointer[-1] == "cni" and isinstance(value, dict):
            want = value.get("expect") or {}
            if want.get("ok") is False and "error" not in want:
                out.append(
                    (
                        (*pointer, "expect", "ok"),
                        "ok: false without error: {code: N} accepts any failure; state the code",
                    )
                )
    return out
