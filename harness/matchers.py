"""Pure comparisons of expected vs actual network state, each returning problems.

An empty list means "matches". Lists are matched by key, never by position:
interfaces by name, network-status entries by name and interface, so an
assertion does not break when an implementation orders things differently.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence
from typing import Any

from harness.netstate import Interface, Route


def address_matches(matcher: dict[str, str], address: str) -> bool:
    """``address`` is an IP with or without prefix; matcher: exact/within/range."""
    ip_text, _, prefix = address.partition("/")
    ip = ipaddress.ip_address(ip_text)
    if "exact" in matcher:
        want_ip, _, want_prefix = matcher["exact"].partition("/")
        if ipaddress.ip_address(want_ip) != ip:
            return False
        return not (want_prefix and prefix and want_prefix != prefix)
    if "within" in matcher:
        network = ipaddress.ip_network(matcher["within"], strict=False)
        return ip.version == network.version and ip in network
    if "range" in matcher:
        low, high = (ipaddress.ip_address(p) for p in matcher["range"].split("-"))
        return ip.version == low.version and low <= ip <= high  # type: ignore[operator]
    raise ValueError(f"unknown address matcher {matcher}")


def describe_matcher(matcher: dict[str, str]) -> str:
    ((kind, value),) = matcher.items()
    return f"{kind} {value}"


def match_addresses(expected: Sequence[dict[str, str]], actual: Sequence[str]) -> list[str]:
    """Each matcher must be satisfied by a distinct actual address."""
    problems: list[str] = []
    remaining = list(actual)
    for matcher in expected:
        hit = next((a for a in remaining if address_matches(matcher, a)), None)
        if hit is None:
            problems.append(
                f"no address {describe_matcher(matcher)} (have {list(actual) or 'none'})"
            )
        else:
            remaining.remove(hit)
    return problems


def match_interface(
    name: str, expected: dict[str, Any] | None, actual: Interface | None
) -> list[str]:
    expected = expected or {}
    if expected.get("absent"):
        return [f"interface {name} exists but should not: {actual.summary()}"] if actual else []
    if actual is None:
        return [f"interface {name} is missing"]
    problems: list[str] = []
    if "kind" in expected and expected["kind"] != actual.kind:
        problems.append(f"interface {name}: kind is {actual.kind}, expected {expected['kind']}")
    if "mtu" in expected and expected["mtu"] != actual.mtu:
        problems.append(f"interface {name}: mtu is {actual.mtu}, expected {expected['mtu']}")
    if "up" in expected and expected["up"] != actual.up:
        problems.append(f"interface {name}: up is {actual.up}, expected {expected['up']}")
    if "mac" in expected and not mac_matches(expected["mac"], actual.mac):
        problems.append(f"interface {name}: mac is {actual.mac}, expected {expected['mac']}")
    if "addressCount" in expected and expected["addressCount"] != len(actual.global_addresses()):
        problems.append(
            f"interface {name}: {len(actual.global_addresses())} global address(es), "
            f"expected {expected['addressCount']}"
        )
    if "addresses" in expected:
        addrs = [a.cidr for a in actual.global_addresses()]
        problems += [
            f"interface {name}: {p}" for p in match_addresses(expected["addresses"], addrs)
        ]
    return problems


def interface_view(actual: Interface | None, expected: dict[str, Any] | None) -> Any:
    """The actual interface in the shape of its expectation, for a readable diff:
    only the keys the scenario asserts on, addresses as CIDRs."""
    if actual is None:
        return {"absent": True}
    keys = list((expected or {}).keys()) or ["kind"]
    view: dict[str, Any] = {}
    for key in keys:
        if key == "addresses":
            view["addresses"] = [a.cidr for a in actual.global_addresses()]
        elif key == "addressCount":
            view["addressCount"] = len(actual.global_addresses())
        elif key == "absent":
            view["absent"] = False
        elif key in ("kind", "mac", "mtu", "up"):
            view[key] = getattr(actual, key)
    return view


def mac_matches(pattern: str, mac: str) -> bool:
    """Exact (case-insensitive) or with ``*`` wildcards per octet: ``0a:58:*:*:*:*``."""
    want = pattern.lower().split(":")
    have = mac.lower().split(":")
    return len(want) == len(have) and all(w in ("*", h) for w, h in zip(want, have, strict=True))


def match_routes(expected: Sequence[dict[str, Any]], actual: Sequence[Route]) -> list[str]:
    problems: list[str] = []
    for want in expected:
        hits = [
            r
            for r in actual
            if r.dst == want["dst"]
            and ("dev" not in want or r.dev == want["dev"])
            and ("via" not in want or r.gateway == want["via"])
        ]
        text = " ".join(f"{k} {want[k]}" for k in ("dst", "via", "dev") if k in want)
        if want.get("absent") and hits:
            problems.append(f"route {text} exists but should not")
        elif not want.get("absent") and not hits:
            have = "; ".join(r.summary() for r in actual) or "none"
            problems.append(f"no route {text} (have {have})")
    return problems


def match_status(
    expected: Sequence[dict[str, Any]], actual: Sequence[dict[str, Any]], exact: bool = True
) -> list[str]:
    """network-status: each expected entry matched by name and interface
    (whichever are given), in any order; with ``exact``, no other entries.
    An entry with ``absent: true`` asserts that no such entry exists."""
    problems: list[str] = []
    remaining = list(actual)
    absent = [w for w in expected if w.get("absent")]
    expected = [w for w in expected if not w.get("absent")]
    for want in absent:
        label = ", ".join(f"{k}={want[k]}" for k in ("name", "interface") if k in want)
        if any(
            all(e.get(k) == want[k] for k in ("name", "interface") if k in want) for e in actual
        ):
            problems.append(f"network-status has an entry with {label}, expected none")
    for want in expected:
        candidates = [
            e
            for e in remaining
            if all(e.get(k) == want[k] for k in ("name", "interface") if k in want)
        ]
        label = ", ".join(f"{k}={want[k]}" for k in ("name", "interface") if k in want) or "any"
        if not candidates:
            problems.append(f"no network-status entry with {label}")
            continue
        entry_problems: list[str] = []
        for entry in candidates:
            entry_problems = status_entry_problems(want, entry)
            if not entry_problems:
                remaining.remove(entry)
                break
        else:
            problems += [f"network-status entry {label}: {p}" for p in entry_problems]
            remaining.remove(candidates[0])
    if exact and len(actual) != len(expected):
        problems.append(f"network-status has {len(actual)} entries, expected {len(expected)}")
    return problems


def status_entry_problems(want: dict[str, Any], entry: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    if "default" in want and bool(entry.get("default", False)) != want["default"]:
        problems.append(f"default is {entry.get('default', False)}, expected {want['default']}")
    for key in ("mac", "mtu", "device-info"):
        if key in want and entry.get(key) != want[key]:
            problems.append(f"{key} is {entry.get(key)!r}, expected {want[key]!r}")
    if "gateway" in want and sorted(entry.get("gateway") or []) != sorted(want["gateway"]):
        problems.append(f"gateway is {entry.get('gateway')}, expected {want['gateway']}")
    if "ips" in want:
        problems += match_addresses(want["ips"], [str(ip) for ip in entry.get("ips") or []])
    if "dns" in want:
        have = entry.get("dns") or {}
        for key, value in want["dns"].items():
            if have.get(key) != value:
                problems.append(f"dns.{key} is {have.get(key)!r}, expected {value!r}")
    return problems


def match_events(want: dict[str, Any], events: Sequence[dict[str, Any]]) -> str | None:
    """An event on the pod with the given reason/type whose message contains the
    text (or, with ``absent``, no such event). Returns the problem, or None."""

    def hit(event: dict[str, Any]) -> bool:
        return (
            ("reason" not in want or event.get("reason") == want["reason"])
            and ("type" not in want or event.get("type") == want["type"])
            and ("contains" not in want or want["contains"] in str(event.get("message", "")))
        )

    label = ", ".join(f"{k} {want[k]!r}" for k in ("reason", "type", "contains") if k in want)
    found = [e for e in events if hit(e)]
    if want.get("absent"):
        return f"an event with {label} exists, expected none" if found else None
    return None if found else f"no event with {label} ({len(events)} event(s) on the pod)"


def diff_text(expected: Any, actual: Any) -> str:
    """A unified diff of two JSON-able values, for failure reports."""
    import difflib

    a = json.dumps(expected, indent=2, sort_keys=True).splitlines()
    b = json.dumps(actual, indent=2, sort_keys=True).splitlines()
    return "\n".join(difflib.unified_diff(a, b, "expected", "actual", lineterm=""))
