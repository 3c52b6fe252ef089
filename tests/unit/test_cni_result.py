"""Result conversion between every pair of versions, validation, empty results."""

from __future__ import annotations

import copy
import itertools
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymultus.cni.errors import DECODE_FAILURE, INCOMPATIBLE_VERSION, CNIError
from pymultus.cni.result import convert_result, empty_result, validate_result
from pymultus.cni.version import SUPPORTED_VERSIONS

LEGACY = ["0.1.0", "0.2.0"]
RICH = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]
WITH_IP_VERSION = ["0.3.0", "0.3.1", "0.4.0"]

# --- a hand-written example in every shape ----------------------------------------

RESULT_100: dict[str, Any] = {
    "cniVersion": "1.0.0",
    "interfaces": [
        {"name": "cni0", "mac": "00:11:22:33:44:55"},
        {"name": "eth0", "mac": "99:88:77:66:55:44", "sandbox": "/run/netns/blue"},
    ],
    "ips": [
        {"address": "10.1.0.5/16", "gateway": "10.1.0.1", "interface": 1},
        {"address": "fd00::5/64", "gateway": "fd00::1", "interface": 1},
    ],
    "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0", "gw": "fd00::1"}],
    "dns": {"nameservers": ["10.1.0.1"], "search": ["svc.local"]},
}

RESULT_040 = copy.deepcopy(RESULT_100)
RESULT_040["cniVersion"] = "0.4.0"
RESULT_040["ips"] = [
    {"version": "4", "address": "10.1.0.5/16", "gateway": "10.1.0.1", "interface": 1},
    {"version": "6", "address": "fd00::5/64", "gateway": "fd00::1", "interface": 1},
]

RESULT_020: dict[str, Any] = {
    "cniVersion": "0.2.0",
    "ip4": {"ip": "10.1.0.5/16", "gateway": "10.1.0.1", "routes": [{"dst": "0.0.0.0/0"}]},
    "ip6": {"ip": "fd00::5/64", "gateway": "fd00::1", "routes": [{"dst": "::/0", "gw": "fd00::1"}]},
    "dns": {"nameservers": ["10.1.0.1"], "search": ["svc.local"]},
}


def test_100_to_040_adds_ip_version() -> None:
    assert convert_result(RESULT_100, "0.4.0") == RESULT_040


def test_040_to_100_drops_ip_version() -> None:
    assert convert_result(RESULT_040, "1.0.0") == RESULT_100


def test_100_to_020() -> None:
    assert convert_result(RESULT_100, "0.2.0") == RESULT_020


def test_020_to_100_has_no_interfaces() -> None:
    expected = {k: v for k, v in RESULT_100.items() if k != "interfaces"}
    expected["ips"] = [{k: v for k, v in ip.items() if k != "interface"} for ip in expected["ips"]]
    assert convert_result(RESULT_020, "1.0.0") == expected


def test_same_version_is_an_untouched_copy() -> None:
    with_extension = {**RESULT_100, "x-vendor": {"a": 1}}
    out = convert_result(with_extension, "1.0.0")
    assert out == with_extension
    out["ips"].append("mutated")
    assert len(with_extension["ips"]) == 2  # a deep copy


def test_conversion_does_not_modify_input() -> None:
    before = copy.deepcopy(RESULT_100)
    for v in SUPPORTED_VERSIONS:
        convert_result(RESULT_100, v)
    assert before == RESULT_100


def test_11_only_fields_are_dropped_going_down_and_kept_going_up() -> None:
    r110 = copy.deepcopy(RESULT_100)
    r110["cniVersion"] = "1.1.0"
    r110["interfaces"][1].update({"mtu": 1400, "socketPath": "/s", "pciID": "0000:00:01.0"})
    r110["routes"][0].update({"mtu": 1300, "advmss": 1260, "priority": 5, "table": 100, "scope": 0})
    assert convert_result(r110, "1.0.0") == RESULT_100
    assert convert_result(r110, "0.4.0") == RESULT_040
    # 1.0.0 results produced by newer libraries may carry them already: keep on the way up.
    r100_extra = {**copy.deepcopy(r110), "cniVersion": "1.0.0"}
    assert convert_result(r100_extra, "1.1.0") == r110


def test_unknown_fields_are_dropped_on_conversion() -> None:
    r = copy.deepcopy(RESULT_100)
    r["x-top"] = 1
    r["ips"][0]["x-ip"] = 2
    r["interfaces"][0]["x-if"] = 3
    assert convert_result(r, "1.1.0") == {**RESULT_100, "cniVersion": "1.1.0"}


def test_to_legacy_keeps_first_ip_per_family_and_drops_orphan_routes() -> None:
    r = {
        "cniVersion": "1.0.0",
        "interfaces": [{"name": "eth0"}],
        "ips": [
            {"address": "10.0.0.2/24", "interface": 0},
            {"address": "10.0.0.3/24", "gateway": "10.0.0.1", "interface": 0},
        ],
        "routes": [{"dst": "10.9.0.0/16", "gw": "10.0.0.1"}, {"dst": "fd00::/8"}],
    }
    assert convert_result(r, "0.1.0") == {
        "cniVersion": "0.1.0",
        "ip4": {"ip": "10.0.0.2/24", "routes": [{"dst": "10.9.0.0/16", "gw": "10.0.0.1"}]},
    }


@pytest.mark.parametrize("target", LEGACY + WITH_IP_VERSION)
def test_unparseable_address_cannot_be_versioned(target: str) -> None:
    r = {"cniVersion": "1.0.0", "ips": [{"address": "not-an-ip"}]}
    with pytest.raises(CNIError) as exc:
        convert_result(r, target)
    assert exc.value.code == DECODE_FAILURE
    assert "ips[0].address" in exc.value.msg


def test_missing_cni_version_is_decode_failure() -> None:
    with pytest.raises(CNIError) as exc:
        convert_result({"ips": []}, "1.0.0")
    assert exc.value.code == DECODE_FAILURE
    assert "cniVersion" in exc.value.msg


@pytest.mark.parametrize(
    ("result", "target", "code"),
    [
        ({"cniVersion": "0.9.0"}, "1.0.0", INCOMPATIBLE_VERSION),
        ({"cniVersion": "1.0.0"}, "2.0.0", INCOMPATIBLE_VERSION),
        ({"cniVersion": "1.0.0", "ips": "x"}, "0.4.0", DECODE_FAILURE),
        ({"cniVersion": "0.2.0", "ip4": []}, "1.0.0", DECODE_FAILURE),
        ({"cniVersion": "0.2.0", "ip4": {"gateway": "1.2.3.4"}}, "1.0.0", DECODE_FAILURE),
        ({"cniVersion": "1.0.0", "dns": []}, "0.4.0", DECODE_FAILURE),
    ],
)
def test_conversion_errors(result: dict[str, Any], target: str, code: int) -> None:
    with pytest.raises(CNIError) as exc:
        convert_result(result, target)
    assert exc.value.code == code


@pytest.mark.parametrize("v", SUPPORTED_VERSIONS)
def test_empty_result_is_valid_and_converts_everywhere(v: str) -> None:
    r = empty_result(v)
    assert r["cniVersion"] == v
    assert validate_result(r) == []
    for target in SUPPORTED_VERSIONS:
        assert validate_result(convert_result(r, target)) == []


def test_empty_result_shapes() -> None:
    assert empty_result("0.2.0") == {"cniVersion": "0.2.0", "dns": {}}
    assert empty_result("1.0.0") == {
        "cniVersion": "1.0.0",
        "interfaces": [],
        "ips": [],
        "routes": [],
        "dns": {},
    }


# --- validation ---------------------------------------------------------------------


@pytest.mark.parametrize("r", [RESULT_100, RESULT_040, RESULT_020])
def test_examples_are_valid(r: dict[str, Any]) -> None:
    assert validate_result(r) == []


def _with(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(base)
    *parents, last = path.split(".")
    node: Any = out
    for p in parents:
        node = node[int(p)] if p.isdigit() else node[p]
    if value is _DELETE:
        del node[int(last) if last.isdigit() else last]
    elif last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return out


_DELETE = object()

VALIDATION_CASES: list[tuple[dict[str, Any], str]] = [
    (_with(RESULT_100, "cniVersion", _DELETE), "cniVersion is missing"),
    (_with(RESULT_100, "cniVersion", "7.0.0"), "cniVersion '7.0.0'"),
    (_with(RESULT_100, "ips.0.address", "10.1.0.5"), "ips[0].address"),
    (_with(RESULT_100, "ips.0.address", "banana/24"), "ips[0].address"),
    (_with(RESULT_100, "ips.0.address", _DELETE), "ips[0].address is missing"),
    (_with(RESULT_100, "ips.0.interface", 2), "ips[0].interface 2 is out of range"),
    (_with(RESULT_100, "ips.0.interface", -1), "ips[0].interface must be"),
    (_with(RESULT_100, "ips.0.interface", True), "ips[0].interface must be"),
    (_with(RESULT_100, "ips.0.gateway", "gw"), "ips[0].gateway 'gw' is not an IP"),
    (_with(RESULT_100, "ips.0.gateway", "fd00::1"), "ips[0].gateway 'fd00::1' is not of the same"),
    (_with(RESULT_100, "ips.0.version", "4"), "ips[0].version is not part of a CNI 1.0.0"),
    (_with(RESULT_040, "ips.0.version", _DELETE), 'ips[0].version must be "4" or "6"'),
    (_with(RESULT_040, "ips.0.version", "6"), "ips[0].version '6' does not match"),
    (_with(RESULT_100, "routes.0.dst", "0.0.0.0"), "routes[0].dst '0.0.0.0' is not a CIDR"),
    (_with(RESULT_100, "routes.0.dst", _DELETE), "routes[0].dst is missing"),
    (_with(RESULT_100, "routes.1.gw", "x"), "routes[1].gw 'x' is not an IP"),
    (_with(RESULT_100, "routes.1.gw", "10.0.0.1"), "routes[1].gw '10.0.0.1' is not of the same"),
    (_with(RESULT_100, "interfaces.0.name", _DELETE), "interfaces[0].name is missing"),
    (_with(RESULT_100, "interfaces.0.name", ""), "interfaces[0].name is missing"),
    (_with(RESULT_100, "interfaces.0.mac", "zz"), "interfaces[0].mac 'zz'"),
    (_with(RESULT_100, "interfaces", {}), "interfaces must be a list"),
    (_with(RESULT_100, "dns.nameservers", ["x"]), "dns.nameservers[0] 'x'"),
    (_with(RESULT_100, "dns.search", "a"), "dns.search must be a list of strings"),
    (_with(RESULT_100, "dns", []), "dns must be an object"),
    (_with(RESULT_100, "ip4", {"ip": "1.2.3.4/8"}), "ip4 is not part of a CNI 1.0.0"),
    (_with(RESULT_020, "ip4.ip", "fd00::1/64"), "ip4.ip 'fd00::1/64' is not an IPv4"),
    (_with(RESULT_020, "ip6.gateway", "10.0.0.1"), "ip6.gateway '10.0.0.1' is not an IPv6"),
    (_with(RESULT_020, "ip4.routes.0.dst", "nope"), "ip4.routes[0].dst 'nope'"),
    (_with(RESULT_020, "ips", []), "ips is not part of a CNI 0.2.0"),
    ({**RESULT_100, "cniVersion": "1.1.0", "routes": [{"dst": "::/0", "mtu": -1}]}, "mtu must be"),
    ({**RESULT_100, "cniVersion": "1.1.0", "routes": [{"dst": "::/0", "table": "x"}]}, "table"),
]


@pytest.mark.parametrize(("result", "fragment"), VALIDATION_CASES)
def test_validate_result_names_the_problem(result: dict[str, Any], fragment: str) -> None:
    problems = validate_result(result)
    assert any(fragment in p for p in problems), problems


def test_validate_non_object() -> None:
    assert validate_result([]) == ["the result must be a JSON object, got list"]  # type: ignore[arg-type]


# --- property tests: every pair of versions -----------------------------------------

Family = Literal[4, 6]
FAMILIES: list[Family] = [4, 6]

_mac = st.lists(st.integers(0, 255), min_size=6, max_size=6).map(
    lambda bs: ":".join(f"{b:02x}" for b in bs)
)


@st.composite
def _ip_with_prefix(draw: st.DrawFn, family: Family) -> str:
    addr = draw(st.ip_addresses(v=family))
    return f"{addr}/{draw(st.integers(0, 32 if family == 4 else 128))}"


@st.composite
def _route(draw: st.DrawFn, family: Family, v11: bool) -> dict[str, Any]:
    r: dict[str, Any] = {"dst": draw(_ip_with_prefix(family))}
    if draw(st.booleans()):
        r["gw"] = str(draw(st.ip_addresses(v=family)))
    if v11:
        for key in ("mtu", "advmss", "priority", "table", "scope"):
            if draw(st.booleans()):
                r[key] = draw(st.integers(0, 5000))
    return r


@st.composite
def _dns(draw: st.DrawFn) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if draw(st.booleans()):
        d["nameservers"] = [str(a) for a in draw(st.lists(st.ip_addresses(), max_size=3))]
    if draw(st.booleans()):
        d["domain"] = draw(st.text(max_size=10))
    if draw(st.booleans()):
        d["search"] = draw(st.lists(st.text(max_size=8), max_size=3))
    if draw(st.booleans()):
        d["options"] = draw(st.lists(st.text(max_size=8), max_size=3))
    return d


@st.composite
def rich_110(draw: st.DrawFn, v11: bool = True) -> dict[str, Any]:
    """A valid 1.1.0 result (``v11=False``: only fields every rich version has)."""
    interfaces = []
    for _ in range(draw(st.integers(0, 3))):
        iface: dict[str, Any] = {"name": draw(st.text(min_size=1, max_size=15))}
        if draw(st.booleans()):
            iface["mac"] = draw(_mac)
        if draw(st.booleans()):
            iface["sandbox"] = draw(st.text(max_size=20))
        if v11:
            if draw(st.booleans()):
                iface["mtu"] = draw(st.integers(0, 9000))
            if draw(st.booleans()):
                iface["socketPath"] = draw(st.text(max_size=10))
            if draw(st.booleans()):
                iface["pciID"] = draw(st.text(max_size=10))
        interfaces.append(iface)
    ips = []
    for _ in range(draw(st.integers(0, 4))):
        family = draw(st.sampled_from(FAMILIES))
        ip: dict[str, Any] = {"address": draw(_ip_with_prefix(family))}
        if draw(st.booleans()):
            ip["gateway"] = str(draw(st.ip_addresses(v=family)))
        if len(interfaces) > 0 and draw(st.booleans()):
            ip["interface"] = draw(st.integers(0, len(interfaces) - 1))
        ips.append(ip)
    routes = draw(st.lists(st.sampled_from(FAMILIES).flatmap(lambda f: _route(f, v11)), max_size=4))
    r: dict[str, Any] = {"cniVersion": "1.1.0"}
    fields: list[tuple[str, list[dict[str, Any]]]] = [
        ("interfaces", interfaces),
        ("ips", ips),
        ("routes", routes),
    ]
    for key, value in fields:
        if len(value) > 0 or draw(st.booleans()):
            r[key] = value
    if draw(st.booleans()):
        r["dns"] = draw(_dns())
    return r


def _family(cidr: str) -> str:
    return "6" if ":" in cidr else "4"


def rich_as(r: dict[str, Any], version: str) -> dict[str, Any]:
    """Test oracle: a common-field rich result written in ``version``."""
    out = copy.deepcopy(r)
    out["cniVersion"] = version
    if version in WITH_IP_VERSION and "ips" in out:
        out["ips"] = [{"version": _family(ip["address"]), **ip} for ip in out["ips"]]
    return out


@settings(max_examples=150)
@given(rich_110(v11=False))
def test_rich_versions_convert_both_ways_between_every_pair(r: dict[str, Any]) -> None:
    for a, b in itertools.permutations(RICH, 2):
        assert convert_result(rich_as(r, a), b) == rich_as(r, b), (a, b)


@settings(max_examples=150)
@given(rich_110())
def test_every_conversion_is_valid_for_its_target(r: dict[str, Any]) -> None:
    assert validate_result(r) == []
    for target in SUPPORTED_VERSIONS:
        out = convert_result(r, target)
        assert out["cniVersion"] == target
        assert validate_result(out) == [], (target, out)


@settings(max_examples=150)
@given(rich_110())
def test_down_then_up_keeps_the_common_fields(r: dict[str, Any]) -> None:
    for low in RICH[:-1]:
        down = convert_result(r, low)
        up = convert_result(down, "1.1.0")
        assert convert_result(up, low) == down


@st.composite
def legacy(draw: st.DrawFn) -> dict[str, Any]:
    r: dict[str, Any] = {"cniVersion": draw(st.sampled_from(LEGACY))}
    blocks: list[tuple[Family, str]] = [(4, "ip4"), (6, "ip6")]
    for family, key in blocks:
        if draw(st.booleans()):
            block: dict[str, Any] = {"ip": draw(_ip_with_prefix(family))}
            if draw(st.booleans()):
                block["gateway"] = str(draw(st.ip_addresses(v=family)))
            routes = draw(st.lists(_route(family, False), max_size=3))
            if routes:
                block["routes"] = routes
            r[key] = block
    if draw(st.booleans()):
        r["dns"] = draw(_dns())
    return r


def legacy_as_rich(r: dict[str, Any], version: str) -> dict[str, Any]:
    """Test oracle: what a legacy result is in a rich version."""
    out: dict[str, Any] = {"cniVersion": version}
    ips, routes = [], []
    for key in ("ip4", "ip6"):
        if key in r:
            ip = {"address": r[key]["ip"]}
            if "gateway" in r[key]:
                ip["gateway"] = r[key]["gateway"]
            ips.append(ip)
            routes.extend(r[key].get("routes", []))
    if ips:
        out["ips"] = ips
    if routes:
        out["routes"] = routes
    if "dns" in r:
        out["dns"] = r["dns"]
    return rich_as(out, version)


@settings(max_examples=150)
@given(legacy())
def test_legacy_converts_to_every_version_and_back(r: dict[str, Any]) -> None:
    assert validate_result(r) == []
    for target in RICH:
        rich = convert_result(r, target)
        assert rich == legacy_as_rich(r, target)
        assert convert_result(rich, r["cniVersion"]) == r
    for other in LEGACY:
        assert convert_result(r, other) == {**r, "cniVersion": other}


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
        max_leaves=10,
    ),
    st.sampled_from(SUPPORTED_VERSIONS),
    st.sampled_from(SUPPORTED_VERSIONS),
)
def test_garbage_fields_give_cni_errors_not_tracebacks(junk: Any, src: str, dst: str) -> None:
    for key in ("ips", "interfaces", "routes", "dns", "ip4", "ip6"):
        r = {"cniVersion": src, key: junk}
        try:
            convert_result(r, dst)
        except CNIError as e:
            assert e.code == DECODE_FAILURE
        assert isinstance(validate_result(r), list)
