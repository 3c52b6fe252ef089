"""Pure comparisons of expected vs actual network state, each returning problems.

An empty list means "matches". Lists are matched EXACTLY (format v2): the same
number of items, each expected item matched by a distinct actual item, in any
order (interfaces by name, network-status entries by name and interface), so
an extra address, route or status entry is a failure. A scenario that means
"at least these" says so: ``{includes: [...]}``; one that means "exactly
these, in this order" says ``{ordered: [...]}``.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from harness.netstate import Interface, Route

EXACT, INCLUDES, ORDERED = "exact", "includes", "ordered"
ADDRESS_KEYS = ("exact", "within", "range")


def list_spec(value: Any) -> tuple[list[Any], str]:
    """A list expectation and how to match it: a bare list is exact,
    ``{includes: [...]}`` at least these, ``{ordered: [...]}`` exactly in order."""
    if isinstance(value, dict) and len(value) == 1:
        ((key, items),) = value.items()
        if key in (INCLUDES, ORDERED) and isinstance(items, list):
            return list(items), key
    if isinstance(value, list):
        return list(value), EXACT
    raise ValueError(f"expected a list, {{includes: [...]}} or {{ordered: [...]}}, got {value!r}")


def _joined(problem: str) -> str:
    """A nested problem after an index: ``[0].x: ...`` or ``[0]: ...``."""
    return problem if problem.startswith((".", "[", ":")) else f": {problem}"


def match_list(
    want: Any,
    actual: Sequence[Any],
    problems_of: Callable[[Any, Any], list[str]],
    describe: Callable[[Any], str] = lambda item: json.dumps(item, sort_keys=True),
    what: str = "item",
) -> list[str]:
    """Match a list expectation against ``actual`` with ``problems_of(expected,
    actual_item)`` (empty: the item matches). Each expected item needs a
    distinct actual item; exact and ordered lists allow no other items."""
    items, mode = list_spec(want)
    problems: list[str] = []
    if mode == ORDERED:
        for i, item in enumerate(items):
            if i >= len(actual):
                problems.append(f"[{i}]: missing, expected {describe(item)}")
                continue
            problems += [f"[{i}]{_joined(p)}" for p in problems_of(item, actual[i])]
        if len(actual) != len(items):
            problems.append(f"{len(actual)} {what}(s), expected exactly {len(items)} in order")
        return problems
    unused = list(range(len(actual)))
    for item in items:
        hit = next((j for j in unused if not problems_of(item, actual[j])), None)
        if hit is None:
            problems.append(f"no {what} matches {describe(item)}")
        else:
            unused.remove(hit)
    if mode == EXACT and len(actual) != len(items):
        problems.append(
            f"{len(actual)} {what}(s), expected exactly {len(items)} (use includes: for at least)"
        )
    return problems


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


def match_addresses(expected: Any, actual: Sequence[str]) -> list[str]:
    """Each matcher satisfied by a distinct actual address; a bare list allows
    no other address, ``{includes: [...]}`` does."""
    items, mode = list_spec(expected)
    problems: list[str] = []
    remaining = list(actual)
    for matcher in items:
        hit = next((a for a in remaining if _address_ok(matcher, a)), None)
        if hit is None:
            problems.append(
                f"no address {describe_matcher(matcher)} (have {list(actual) or 'none'})"
            )
        else:
            remaining.remove(hit)
    if mode != INCLUDES and len(actual) != len(items):
        problems.append(
            f"{len(actual)} address(es) {list(actual)}, expected exactly {len(items)}"
            " (use includes: for at least)"
        )
    return problems


def _address_ok(matcher: dict[str, str], address: str) -> bool:
    try:
        return address_matches(matcher, address)
    except ValueError:
        return False


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


def match_routes(expected: Any, actual: Sequence[Route]) -> list[str]:
    """The pod's routes: a bare list is all of them (same number, each route
    matched by a distinct listed one); ``{includes: [...]}`` at least these.
    Either way an entry with ``absent: true`` asserts no such route."""
    items, mode = list_spec(expected)
    problems: list[str] = []
    present = [w for w in items if not w.get("absent")]
    remaining = list(actual)
    for want in items:
        hits = [r for r in remaining if route_matches(want, r)]
        text = " ".join(f"{k} {want[k]}" for k in ("dst", "via", "dev") if k in want)
        if want.get("absent"):
            if any(route_matches(want, r) for r in actual):
                problems.append(f"route {text} exists but should not")
        elif not hits:
            have = "; ".join(r.summary() for r in actual) or "none"
            problems.append(f"no route {text} (have {have})")
        else:
            remaining.remove(hits[0])
    if mode != INCLUDES and len(actual) != len(present):
        have = "; ".join(r.summary() for r in actual) or "none"
        problems.append(
            f"{len(actual)} route(s), expected exactly {len(present)} (have {have};"
            " use includes: for at least)"
        )
    return problems


def route_matches(want: dict[str, Any], route: Route) -> bool:
    return (
        route.dst == want["dst"]
        and ("dev" not in want or route.dev == want["dev"])
        and ("via" not in want or route.gateway == want["via"])
    )


def match_status(
    expected: Any,
    actual: Sequence[dict[str, Any]],
    exact: bool = True,
    macs: Mapping[str, str] | None = None,
) -> list[str]:
    """network-status: each expected entry matched by name and interface
    (whichever are given) and its fields. A bare list is exact (no other
    entries) unless ``exact=False``; ``{includes: [...]}`` allows others;
    ``{ordered: [...]}`` wants exactly these in this order (the order the
    meta-plugin attached them). An entry with ``absent: true`` asserts that no
    such entry exists. ``macs`` (pod interface -> MAC) answers
    ``mac: {ofInterface: true}``."""
    items, mode = list_spec(expected)
    if mode == EXACT and not exact:
        mode = INCLUDES
    problems: list[str] = []
    absent = [w for w in items if w.get("absent")]
    wanted = [w for w in items if not w.get("absent")]
    for want in absent:
        label = status_label(want)
        if any(status_keys_match(want, e) for e in actual):
            problems.append(f"network-status has an entry with {label}, expected none")
    if mode == ORDERED:
        for i, want in enumerate(wanted):
            if i >= len(actual):
                problems.append(
                    f"network-status entry [{i}] missing, expected {status_label(want)}"
                )
                continue
            entry = actual[i]
            if not status_keys_match(want, entry):
                have = status_label({k: entry.get(k) for k in ("name", "interface")})
                problems.append(
                    f"network-status entry [{i}] is {have}, expected {status_label(want)}"
                )
                continue
            found = status_entry_problems(want, entry, macs)
            problems += [f"network-status entry [{i}]: {p}" for p in found]
        if len(actual) != len(wanted):
            problems.append(
                f"network-status has {len(actual)} entries, expected exactly {len(wanted)} in order"
            )
        return problems
    remaining = list(actual)
    for want in wanted:
        candidates = [e for e in remaining if status_keys_match(want, e)]
        label = status_label(want)
        if not candidates:
            problems.append(f"no network-status entry with {label}")
            continue
        entry_problems: list[str] = []
        for entry in candidates:
            entry_problems = status_entry_problems(want, entry, macs)
            if not entry_problems:
                remaining.remove(entry)
                break
        else:
            problems += [f"network-status entry {label}: {p}" for p in entry_problems]
            remaining.remove(candidates[0])
    if mode == EXACT and len(actual) != len(wanted):
        problems.append(f"network-status has {len(actual)} entries, expected {len(wanted)}")
    return problems


def status_keys_match(want: dict[str, Any], entry: dict[str, Any]) -> bool:
    return all(entry.get(k) == want[k] for k in ("name", "interface") if k in want)


def status_label(want: dict[str, Any]) -> str:
    return ", ".join(f"{k}={want[k]}" for k in ("name", "interface") if k in want) or "any"


def status_entry_problems(
    want: dict[str, Any], entry: dict[str, Any], macs: Mapping[str, str] | None = None
) -> list[str]:
    """One network-status entry's fields. ``default`` is optional in NPWG 5.3.5
    and false when absent, so an entry without it matches ``default: false``.
    ``mac: {ofInterface: true}``: the entry's mac is the MAC of the pod
    interface it names (NPWG 5.3.4), looked up in ``macs``."""
    problems: list[str] = []
    if "default" in want and bool(entry.get("default", False)) != want["default"]:
        problems.append(f"default is {entry.get('default', False)}, expected {want['default']}")
    want_mac = want.get("mac")
    if isinstance(want_mac, dict) and want_mac.get("ofInterface"):
        want = {k: v for k, v in want.items() if k != "mac"}
        ifname = str(entry.get("interface", ""))
        itf_mac = (macs or {}).get(ifname)
        if itf_mac is None:
            problems.append(f"mac: the pod has no interface {ifname!r} to compare with")
        elif str(entry.get("mac", "")).lower() != itf_mac.lower():
            problems.append(f"mac is {entry.get('mac')!r}, but interface {ifname} has {itf_mac}")
    for key in ("mac", "mtu", "device-info"):
        if key in want:
            problems += [f"{key}{p}" for p in value_problems(want[key], entry.get(key, MISSING))]
    if "gateway" in want:
        have = entry.get("gateway") or []
        found = match_list(want["gateway"], have, _equal, what="gateway")
        problems += [f"gateway: {p}" for p in found]
    if "ips" in want:
        problems += match_addresses(want["ips"], [str(ip) for ip in entry.get("ips") or []])
    if "dns" in want:
        problems += [f"dns{p}" for p in value_problems(want["dns"], entry.get("dns") or {})]
    return problems


def _equal(want: Any, have: Any) -> list[str]:
    return [] if want == have else [f"is {have!r}, expected {want!r}"]


class _Missing:
    """The value of a key an object does not have (distinct from null)."""

    def __repr__(self) -> str:
        return "(missing)"


MISSING: Any = _Missing()


def is_address_matcher(want: Any) -> bool:
    return isinstance(want, dict) and len(want) == 1 and next(iter(want)) in ADDRESS_KEYS


def is_presence(want: Any) -> bool:
    return isinstance(want, dict) and len(want) == 1 and next(iter(want)) in ("present", "absent")


def value_problems(want: Any, actual: Any, path: str = "") -> list[str]:
    """``want`` holds for ``actual`` (a JSON value, e.g. a raw CNI result).

    Objects by key (keys not named are not asserted; ``{}`` matches only an
    empty object, so it is not a check that cannot fail); lists exactly, in
    any order, unless ``{includes: [...]}`` or ``{ordered: [...]}``; scalars by
    equality; ``{present: true}``/``{absent: true}`` only that a key exists or
    not; ``{exact|within|range: ...}`` an address string or an object's
    ``address``. Returns problems prefixed with their JSON path."""
    if is_presence(want):
        exists = actual is not MISSING
        if want.get("present") and not exists:
            return [f"{path}: missing"]
        if want.get("absent") and exists:
            return [f"{path}: is {json.dumps(actual)}, expected no such key"]
        return []
    if actual is MISSING:
        return [f"{path}: missing"]
    if is_address_matcher(want):
        address = actual.get("address") if isinstance(actual, dict) else actual
        if isinstance(address, str) and _address_ok(want, address):
            return []
        return [f"{path}: {address!r} is not {describe_matcher(want)}"]
    if isinstance(want, dict) and not _is_list_spec(want):
        if not isinstance(actual, dict):
            return [f"{path}: is {json.dumps(actual)}, expected an object"]
        if not want and actual:
            return [f"{path}: is {json.dumps(actual, sort_keys=True)}, expected {{}}"]
        problems: list[str] = []
        for key, value in want.items():
            problems += value_problems(value, actual.get(key, MISSING), f"{path}.{key}")
        return problems
    if isinstance(want, list) or _is_list_spec(want):
        if not isinstance(actual, list):
            return [f"{path}: is {json.dumps(actual)}, expected a list"]
        return [
            f"{path}{p if p.startswith('[') else ': ' + p}"
            for p in match_list(want, actual, lambda w, a: value_problems(w, a))
        ]
    if want != actual:
        return [f"{path}: is {json.dumps(actual)}, expected {json.dumps(want)}"]
    return []


def _is_list_spec(want: Any) -> bool:
    return (
        isinstance(want, dict)
        and len(want) == 1
        and next(iter(want)) in (INCLUDES, ORDERED)
        and isinstance(next(iter(want.values())), list)
    )


def codes_of(want: Any) -> list[int]:
    return [int(c) for c in want] if isinstance(want, list) else [int(want)]


def error_problems(want: dict[str, Any], code: int | None, message: str) -> list[str]:
    """A CNI error against an error expectation: the code (one, or those the
    spec allows), the objects the message must name, and (extension scenarios
    only) wording it must contain."""
    problems: list[str] = []
    if "code" in want and code not in codes_of(want["code"]):
        allowed = " or ".join(str(c) for c in codes_of(want["code"]))
        problems.append(f"CNI error code {code}, expected {allowed}")
    for name in want.get("names") or []:
        if str(name) not in message:
            problems.append(f"the error does not name {name!r}")
    if "contains" in want and str(want["contains"]) not in message:
        problems.append(f"the error lacks {want['contains']!r}")
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
