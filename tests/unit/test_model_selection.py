"""Unit tests for pymultus.model.selection: the networks and default-network annotations."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymultus.cni.errors import INVALID_CONFIG, CNIError
from pymultus.model.selection import (
    ANNOTATION,
    DEFAULT_NETWORK_ANNOTATION,
    NetworkSelection,
    default_route_gateways_by_family,
    ip_version,
    is_valid_ifname,
    parse_default_network_annotation,
    parse_networks,
)

SPEC_CODES = {1, 2, 3, 4, 5, 6, 7, 8, 11, 50, 51, 999}
POD_NS = "pod-ns"


def brief(selections: list[NetworkSelection]) -> list[tuple[str, str, str | None]]:
    return [(s.namespace, s.name, s.interface) for s in selections]


def test_annotation_names() -> None:
    assert ANNOTATION == "k8s.v1.cni.cncf.io/networks"
    assert DEFAULT_NETWORK_ANNOTATION == "v1.multus-cni.io/default-network"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("   \n\t", []),
        ("net-a", [(POD_NS, "net-a", None)]),
        (
            "net-a,net-b,other-ns/net-c",
            [(POD_NS, "net-a", None), (POD_NS, "net-b", None), ("other-ns", "net-c", None)],
        ),
        (
            " net-a , ns/net-b@data0 ,net-c@eth9 ",
            [(POD_NS, "net-a", None), ("ns", "net-b", "data0"), (POD_NS, "net-c", "eth9")],
        ),
        ("ns / net @ if0", [("ns", "net", "if0")]),
        ("net-a,net-a", [(POD_NS, "net-a", None), (POD_NS, "net-a", None)]),  # NPWG 4.2
        ("my.net", [(POD_NS, "my.net", None)]),
        ("a@x" + "y" * 13, [(POD_NS, "a", "x" + "y" * 13)]),
    ],
)
def test_comma_format(text: str, expected: list[tuple[str, str, str | None]]) -> None:
    assert brief(parse_networks(text, POD_NS)) == expected


def test_comma_format_raw_and_defaults() -> None:
    [selection] = parse_networks("ns/net@if0", POD_NS)
    assert selection == NetworkSelection(
        name="net",
        namespace="ns",
        interface="if0",
        raw={"name": "net", "namespace": "ns", "interface": "if0"},
    )
    assert selection.ref == "ns/net"
    [plain] = parse_networks("net", POD_NS)
    assert plain.raw == {"name": "net"}
    assert (plain.ips, plain.mac, plain.default_route, plain.port_mappings) == ((), None, (), ())


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (
            "bad/na me@",
            '"bad/na me@": network name "na me" is not a valid DNS-1123 '
            "NetworkAttachmentDefinition name",
        ),
        ("a,,b", "item 1 is empty"),
        ("a,", "item 1 is empty"),
        ("a/b/c", "\"a/b/c\": more than one '/'"),
        ("a@b@c", "more than one '@'"),
        ("/net", "the namespace before '/' is empty"),
        ("ns/", "the network name is empty"),
        ("ns/@if", "the network name is empty"),
        ("net@", "the interface name after '@' is empty"),
        ("Net", 'network name "Net" is not a valid'),
        ("NS/net", 'namespace "NS" is not a valid DNS-1123 label'),
        ("my.ns/net", 'namespace "my.ns" is not a valid DNS-1123 label'),
        ("net@" + "x" * 16, "is not a valid Linux interface name"),
        ("net@a:b", 'interface name "a:b" is not a valid Linux interface name'),
        ("net@..", 'interface name ".." is not'),
    ],
)
def test_comma_format_errors(text: str, fragment: str) -> None:
    with pytest.raises(CNIError) as excinfo:
        parse_networks(text, POD_NS)
    assert excinfo.value.code == INVALID_CONFIG
    assert excinfo.value.msg.startswith(f"invalid {ANNOTATION} annotation: ")
    assert fragment in excinfo.value.msg


def test_custom_annotation_name_in_errors() -> None:
    with pytest.raises(CNIError) as excinfo:
        parse_networks("A", POD_NS, annotation="example.com/nets")
    assert excinfo.value.msg.startswith("invalid example.com/nets annotation: ")


FULL_ELEMENT: dict[str, Any] = {
    "name": "net-b",
    "namespace": "other",
    "interface": "data0",
    "ips": ["10.2.2.42/24", "2001:db8::5"],
    "mac": "02:23:45:67:89:01",
    "cni-args": {"foo": "bar"},
    "portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "TCP"}],
    "bandwidth": {"ingressRate": 1000, "ingressBurst": 100, "egressRate": 0},
    "default-route": ["10.2.2.1"],
    "infiniband-guid": "00:11:22:33:44:55:66:77",
    "deviceID": "0000:03:00.1",
    "org.example.extension": {"kept": True},
}


def test_json_full_element() -> None:
    [selection] = parse_networks(json.dumps([FULL_ELEMENT]), POD_NS)
    assert selection == NetworkSelection(
        name="net-b",
        namespace="other",
        interface="data0",
        ips=("10.2.2.42/24", "2001:db8::5"),
        mac="02:23:45:67:89:01",
        cni_args={"foo": "bar"},
        port_mappings=({"hostPort": 8080, "containerPort": 80, "protocol": "TCP"},),
        bandwidth={"ingressRate": 1000, "ingressBurst": 100, "egressRate": 0},
        default_route=("10.2.2.1",),
        infiniband_guid="00:11:22:33:44:55:66:77",
        ipam_claim_reference=None,
        raw=FULL_ELEMENT,
        device_id="0000:03:00.1",
    )


@pytest.mark.parametrize(
    ("element", "attribute", "expected"),
    [
        ({"name": "n"}, "namespace", POD_NS),
        ({"name": "n", "namespace": ""}, "namespace", POD_NS),
        ({"name": "n", "namespace": None}, "namespace", POD_NS),
        ({"name": "n", "interface": ""}, "interface", None),
        ({"name": "n", "interfaceRequest": "old0"}, "interface", "old0"),
        ({"name": "n", "interface": "new0", "interfaceRequest": "old0"}, "interface", "new0"),
        ({"Name": "n", "Interface": "cased0"}, "interface", "cased0"),
        ({"name": "n", "ips": []}, "ips", ()),
        ({"name": "n", "ips": None}, "ips", ()),
        ({"name": "n", "ips": [" 10.0.0.1 "]}, "ips", ("10.0.0.1",)),
        ({"name": "n", "mac": "AA-BB-CC-DD-EE-FF"}, "mac", "AA-BB-CC-DD-EE-FF"),
        ({"name": "n", "mac": "aabb.ccdd.eeff"}, "mac", "aabb.ccdd.eeff"),
        (
            {"name": "n", "mac": ":".join(["80"] + ["11"] * 19)},
            "mac",
            ":".join(["80"] + ["11"] * 19),
        ),
        ({"name": "n", "mac": ""}, "mac", None),
        ({"name": "n", "cni-args": None}, "cni_args", None),
        ({"name": "n", "cni-args": {}}, "cni_args", {}),
        ({"name": "n", "default-route": []}, "default_route", ()),
        ({"name": "n", "default-route": ["fd00::1"]}, "default_route", ("fd00::1",)),
        ({"name": "n", "ipam-claim-reference": "vm1.net"}, "ipam_claim_reference", "vm1.net"),
        ({"name": "n", "ipam-claim-reference": "c", "ips": []}, "ipam_claim_reference", "c"),
        (
            {"name": "n", "infiniband-guid": "00:11:22:33:44:55"},
            "infiniband_guid",
            "00:11:22:33:44:55",
        ),
        (
            {"name": "n", "portMappings": [{"hostPort": 1, "containerPort": 65535}]},
            "port_mappings",
            ({"hostPort": 1, "containerPort": 65535},),
        ),
        (
            {
                "name": "n",
                "portMappings": [
                    {"hostPort": 1, "containerPort": 2, "protocol": "sctp", "hostIP": "10.0.0.1"}
                ],
            },
            "port_mappings",
            ({"hostPort": 1, "containerPort": 2, "protocol": "sctp", "hostIP": "10.0.0.1"},),
        ),
        ({"name": "n", "bandwidth": {}}, "bandwidth", {}),
        (
            {"name": "n", "bandwidth": {"egressRate": 5, "egressBurst": 6}},
            "bandwidth",
            {"egressRate": 5, "egressBurst": 6},
        ),
    ],
)
def test_json_fields(element: dict[str, Any], attribute: str, expected: object) -> None:
    [selection] = parse_networks(json.dumps([element]), POD_NS)
    assert getattr(selection, attribute) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[", "not valid JSON"),
        ('"net-a"', "the JSON format is a list of selection elements, got string"),
        ('{"name": "net-a"}', "wrap the object in [ ]"),
        ("[1]", "element 0: must be an object, got number"),
        ('[{"name": "a"}, {}]', 'element 1: has no "name"'),
        ('[{"name": ""}]', 'element 0 (""): has no "name"'),
        ('[{"name": 5}]', 'element 0: field "name" must be a string, got number'),
        ('[{"name": "A"}]', 'element 0 ("A"): network name "A" is not a valid'),
        ('[{"name": "a", "namespace": "x y"}]', 'namespace "x y" is not a valid DNS-1123 label'),
        ('[{"name": "a", "namespace": 1}]', 'field "namespace" must be a string'),
        ('[{"name": "a", "interface": "a/b"}]', 'interface name "a/b" is not a valid Linux'),
        ('[{"name": "a", "interface": "has space"}]', "is not a valid Linux interface name"),
        ('[{"name": "a", "interface": "0123456789abcdef"}]', "is not a valid Linux interface"),
        ('[{"name": "a", "interface": "."}]', "is not a valid Linux interface"),
        (
            '[{"name": "a", "ips": "10.0.0.1"}]',
            'field "ips" must be an array of strings, got string',
        ),
        ('[{"name": "a", "ips": [1]}]', 'field "ips"[0] must be a string, got number'),
        ('[{"name": "a", "ips": ["10.0.0.300"]}]', '"10.0.0.300" is not an IP address or CIDR'),
        ('[{"name": "a", "ips": ["10.0.0.1/33"]}]', '"10.0.0.1/33" is not an IP address or CIDR'),
        ('[{"name": "a", "ips": ["10.0.0.1/x"]}]', "is not an IP address or CIDR"),
        ('[{"name": "a", "ips": ["fe80::1%eth0"]}]', "is not an IP address or CIDR"),
        ('[{"name": "a", "ips": ["10.0.0.1/255.0.0.0"]}]', "is not an IP address or CIDR"),
        (
            '[{"name": "a", "mac": "aa:bb:cc:dd:ee"}]',
            'field "mac": "aa:bb:cc:dd:ee" is not a 6-byte',
        ),
        ('[{"name": "a", "mac": "aa:bb:cc:dd:ee:gg"}]', 'field "mac"'),
        ('[{"name": "a", "mac": "aa:bb-cc:dd:ee:ff"}]', 'field "mac"'),
        ('[{"name": "a", "mac": "00:11:22:33:44:55:66:77"}]', 'field "mac"'),
        ('[{"name": "a", "mac": 1}]', 'field "mac" must be a string'),
        ('[{"name": "a", "infiniband-guid": "zz"}]', 'field "infiniband-guid": "zz" is not'),
        ('[{"name": "a", "cni-args": []}]', 'field "cni-args" must be an object, got array'),
        ('[{"name": "a", "portMappings": {}}]', 'field "portMappings" must be an array'),
        ('[{"name": "a", "portMappings": [1]}]', 'field "portMappings"[0] must be an object'),
        ('[{"name": "a", "portMappings": [{"hostPort": 1}]}]', 'has no "containerPort"'),
        (
            '[{"name": "a", "portMappings": [{"hostPort": 0, "containerPort": 1}]}]',
            '"hostPort" must be an integer from 1 to 65535, got 0',
        ),
        (
            '[{"name": "a", "portMappings": [{"hostPort": 1, "containerPort": 65536}]}]',
            '"containerPort" must be an integer from 1 to 65535',
        ),
        (
            '[{"name": "a", "portMappings": [{"hostPort": 1.0, "containerPort": 1}]}]',
            '"hostPort" must be an integer',
        ),
        (
            '[{"name": "a", "portMappings": [{"hostPort": true, "containerPort": 1}]}]',
            '"hostPort" must be an integer',
        ),
        (
            '[{"name": "a", "portMappings": '
            '[{"hostPort": 1, "containerPort": 1, "protocol": "icmp"}]}]',
            '"protocol" must be tcp, udp or sctp',
        ),
        (
            '[{"name": "a", "portMappings": [{"hostPort": 1, "containerPort": 1, "hostIP": "x"}]}]',
            '"hostIP" must be an IP address',
        ),
        ('[{"name": "a", "bandwidth": 5}]', 'field "bandwidth" must be an object'),
        (
            '[{"name": "a", "bandwidth": {"ingressRate": -1}}]',
            '"ingressRate" must be a non-negative',
        ),
        (
            '[{"name": "a", "bandwidth": {"egressRate": "1M"}}]',
            '"egressRate" must be a non-negative',
        ),
        ('[{"name": "a", "bandwidth": {"ingressBurst": 10}}]', '"ingressBurst" is set without'),
        (
            '[{"name": "a", "bandwidth": {"egressRate": 0, "egressBurst": 1}}]',
            '"egressBurst" is set',
        ),
        ('[{"name": "a", "default-route": "10.0.0.1"}]', 'field "default-route" must be an array'),
        ('[{"name": "a", "default-route": ["10.0.0.0/8"]}]', '"10.0.0.0/8" is not an IP address'),
        ('[{"name": "a", "ipam-claim-reference": 3}]', 'field "ipam-claim-reference" must be a'),
        (
            '[{"name": "a", "ips": ["10.0.0.1"], "ipam-claim-reference": "c"}]',
            '"ipam-claim-reference" cannot be combined with "ips"',
        ),
        ("[" * 50000, "not valid JSON"),
    ],
)
def test_json_format_errors(text: str, fragment: str) -> None:
    with pytest.raises(CNIError) as excinfo:
        parse_networks(text, POD_NS)
    assert excinfo.value.code == INVALID_CONFIG
    assert excinfo.value.msg.startswith(f"invalid {ANNOTATION} annotation: ")
    assert fragment in excinfo.value.msg


def test_json_empty_list_and_bare_null() -> None:
    assert parse_networks("[]", POD_NS) == []
    assert parse_networks(" [ ] ", POD_NS) == []
    # Without '[', '{' or '"' the text is the comma format: a NAD named "null".
    assert brief(parse_networks("null", POD_NS)) == [(POD_NS, "null", None)]


def test_json_detection_by_quote() -> None:
    # A quote alone makes the text JSON (Multus: strings.ContainsAny(text, `[{"`)).
    with pytest.raises(CNIError) as excinfo:
        parse_networks('net-a,"net-b"', POD_NS)
    assert "not valid JSON" in excinfo.value.msg


def test_error_names_element_index_and_name() -> None:
    text = json.dumps([{"name": "ok"}, {"name": "bad-mac", "mac": "nope"}])
    with pytest.raises(CNIError) as excinfo:
        parse_networks(text, POD_NS)
    assert 'element 1 ("bad-mac"): field "mac": "nope"' in excinfo.value.msg


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("eth0", True),
        ("net1", True),
        ("a" * 15, True),
        ("a" * 16, False),
        ("é" * 7, True),  # 14 bytes
        ("é" * 8, False),  # 16 bytes: the kernel counts bytes
        ("", False),
        (".", False),
        ("..", False),
        ("...", True),
        ("a/b", False),
        ("a:b", False),
        ("a b", False),
        ("a\tb", False),
        ("a\u00a0b", False),
    ],
)
def test_is_valid_ifname(name: str, valid: bool) -> None:
    assert is_valid_ifname(name) is valid


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("10.0.0.1", 4),
        ("2001:db8::1", 6),
        ("::ffff:1.2.3.4", 6),
        ("10.0.0.1/8", None),
        ("fe80::1%eth0", None),
        ("x", None),
        ("01.2.3.4", None),
    ],
)
def test_ip_version(text: str, version: int | None) -> None:
    assert ip_version(text) == version


def sel(name: str, *gateways: str) -> NetworkSelection:
    return NetworkSelection(name=name, namespace="ns", default_route=gateways)


def test_default_route_by_family() -> None:
    selections = [sel("a"), sel("b", "10.0.0.1"), sel("c", "fd00::1"), sel("d")]
    assert default_route_gateways_by_family(selections) == {4: (1, "10.0.0.1"), 6: (2, "fd00::1")}
    assert default_route_gateways_by_family([sel("a", "10.0.0.1", "fd00::1")]) == {
        4: (0, "10.0.0.1"),
        6: (0, "fd00::1"),
    }
    assert default_route_gateways_by_family([]) == {}


@pytest.mark.parametrize(
    ("selections", "fragment"),
    [
        (
            [sel("a", "10.0.0.1"), sel("b"), sel("c", "10.1.0.1")],
            'more than one IPv4 default-route gateway: "10.0.0.1" (element 0, ns/a) and '
            '"10.1.0.1" (element 2, ns/c)',
        ),
        ([sel("a", "fd00::1", "fd00::2")], 'IPv6 default-route gateway: "fd00::1" (element 0'),
        ([sel("a", "nonsense")], '"nonsense" is not an IP address'),
    ],
)
def test_default_route_ecmp_is_an_error(selections: list[NetworkSelection], fragment: str) -> None:
    with pytest.raises(CNIError) as excinfo:
        default_route_gateways_by_family(selections)
    assert excinfo.value.code == INVALID_CONFIG
    assert fragment in excinfo.value.msg


def test_default_route_from_annotation() -> None:
    text = json.dumps([{"name": "a", "default-route": ["10.0.0.1"]}, {"name": "b"}])
    assert default_route_gateways_by_family(parse_networks(text, POD_NS)) == {4: (0, "10.0.0.1")}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", None),
        ("  ", None),
        ("calico", ("kube-system", "calico", None)),
        ("other/calico", ("other", "calico", None)),
        (
            '[{"name": "ovn", "namespace": "ovn-kubernetes", "mac": "02:03:04:05:06:07"}]',
            ("ovn-kubernetes", "ovn", None),
        ),
        ('[{"name": "ovn"}]', ("kube-system", "ovn", None)),
    ],
)
def test_default_network_annotation(text: str, expected: tuple[str, str, None] | None) -> None:
    result = parse_default_network_annotation(text, POD_NS)
    if expected is None:
        assert result is None
    else:
        assert result is not None
        assert (result.namespace, result.name, result.interface) == expected


def test_default_network_annotation_uses_multus_namespace() -> None:
    result = parse_default_network_annotation("calico", POD_NS, multus_namespace="multus")
    assert result is not None and result.ref == "multus/calico"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a,b", "it names 2 networks; a pod in namespace pod-ns has exactly one"),
        ("[]", "it names no networks"),
        ("Bad", 'network name "Bad" is not a valid'),
        ('{"name": "x"}', "wrap the object in [ ]"),
    ],
)
def test_default_network_annotation_errors(text: str, fragment: str) -> None:
    with pytest.raises(CNIError) as excinfo:
        parse_default_network_annotation(text, POD_NS)
    assert excinfo.value.code == INVALID_CONFIG
    assert excinfo.value.msg.startswith(f"invalid {DEFAULT_NETWORK_ANNOTATION} annotation: ")
    assert fragment in excinfo.value.msg


# --- property tests: parsers return a value or a CNIError, nothing else --------------

ELEMENT_KEYS = st.sampled_from(
    [
        "name",
        "namespace",
        "interface",
        "ips",
        "mac",
        "cni-args",
        "portMappings",
        "bandwidth",
        "default-route",
        "infiniband-guid",
        "ipam-claim-reference",
        "interfaceRequest",
        "Name",
    ]
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(ELEMENT_KEYS | st.text(max_size=6), children, max_size=5)
    ),
    max_leaves=25,
)


def check_parse(text: str) -> None:
    try:
        selections = parse_networks(text, POD_NS)
    except CNIError as exc:
        assert exc.code in SPEC_CODES
        assert exc.msg.startswith(f"invalid {ANNOTATION} annotation: ")
        return
    for selection in selections:
        assert selection.name
        assert selection.namespace
        assert selection.interface is None or is_valid_ifname(selection.interface)
    try:
        default_route_gateways_by_family(selections)
    except CNIError as exc:
        assert exc.code == INVALID_CONFIG


@settings(max_examples=400, deadline=None)
@given(st.text())
def test_parse_networks_arbitrary_text(text: str) -> None:
    check_parse(text)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet='ab-./@, \t[]{}":0', max_size=30))
def test_parse_networks_syntax_heavy_text(text: str) -> None:
    check_parse(text)


@settings(max_examples=400, deadline=None)
@given(JSON)
def test_parse_networks_arbitrary_json(value: Any) -> None:
    check_parse(json.dumps(value))
    check_parse(json.dumps([value]))


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_parse_default_network_arbitrary_text(text: str) -> None:
    try:
        parse_default_network_annotation(text, POD_NS)
    except CNIError as exc:
        assert exc.code in SPEC_CODES
