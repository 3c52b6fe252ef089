"""Unit tests for pymultus.model.status: building and (de)coding network-status."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymultus.cni.errors import DECODE_FAILURE, CNIError
from pymultus.model.status import (
    LEGACY_NETWORK_STATUS_ANNOTATION,
    NETWORK_STATUS_ANNOTATION,
    apply_default_route,
    canonical_entry,
    decode_status,
    default_route_gateways,
    drop_default_route_gateways,
    encode_status,
    set_default_route_gateway,
    status_entry,
)

NETNS = "/var/run/netns/pod-a"

# What the bridge plugin returns: the host veth (no sandbox), the bridge, the pod end.
BRIDGE_RESULT: dict[str, Any] = {
    "cniVersion": "1.0.0",
    "interfaces": [
        {"name": "cni0", "mac": "0a:58:0a:f4:00:01"},
        {"name": "veth1234", "mac": "ee:ee:ee:ee:ee:ee"},
        {"name": "eth0", "mac": "0a:58:0a:f4:00:05", "mtu": 1450, "sandbox": NETNS},
    ],
    "ips": [
        {"address": "10.244.0.5/24", "gateway": "10.244.0.1", "interface": 2},
        {"address": "fd00:10:244::5/64", "gateway": "fd00:10:244::1", "interface": 2},
    ],
    # ipam "routes": [{"dst": "0.0.0.0/0"}]: no gw, the plugin uses the ips gateway
    "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0", "gw": "fd00:10:244::1"}],
    "dns": {"nameservers": ["10.96.0.10"], "search": ["svc.cluster.local"], "options": []},
}

MACVLAN_RESULT: dict[str, Any] = {
    "cniVersion": "0.4.0",
    "interfaces": [{"name": "net1", "mac": "aa:bb:cc:dd:ee:01", "sandbox": NETNS}],
    "ips": [{"version": "4", "address": "192.168.1.200/24", "interface": 0}],
    "dns": {},
}


def test_annotation_names() -> None:
    assert NETWORK_STATUS_ANNOTATION == "k8s.v1.cni.cncf.io/network-status"
    assert LEGACY_NETWORK_STATUS_ANNOTATION == "k8s.v1.cni.cncf.io/networks-status"


def test_default_network_entry() -> None:
    entry = status_entry("ptp", "eth0", BRIDGE_RESULT, default=True, sandbox=NETNS)
    assert entry == {
        "name": "ptp",
        "interface": "eth0",
        "ips": ["10.244.0.5", "fd00:10:244::5"],
        "mac": "0a:58:0a:f4:00:05",
        "mtu": 1450,
        "default": True,
        "dns": {"nameservers": ["10.96.0.10"], "search": ["svc.cluster.local"]},
        "gateway": ["10.244.0.1", "fd00:10:244::1"],
    }
    assert list(entry) == ["name", "interface", "ips", "mac", "mtu", "default", "dns", "gateway"]


def test_secondary_entry_without_optional_fields() -> None:
    entry = status_entry(
        "default/macvlan-conf", "net1", MACVLAN_RESULT, default=False, sandbox=NETNS
    )
    assert entry == {
        "name": "default/macvlan-conf",
        "interface": "net1",
        "ips": ["192.168.1.200"],
        "mac": "aa:bb:cc:dd:ee:01",
        "dns": {},
    }
    assert "gateway" not in entry and "mtu" not in entry


def test_status_bytes_match_the_reference_where_the_spec_leaves_them_open() -> None:
    """Multus (NetworkStatus JSON tags) writes ``"dns": {}`` always and omits a false default.

    NPWG v1.3 5.3: ``default`` is optional (absent means false), ``dns`` optional.
    """
    secondary = encode_status(
        [status_entry("ns/n", "net1", MACVLAN_RESULT, default=False, sandbox=NETNS)]
    )
    assert '"default"' not in secondary and '"dns":{}' in secondary
    primary = encode_status([status_entry("ptp", "eth0", {}, default=True, sandbox=NETNS)])
    assert primary == '[{"name":"ptp","interface":"eth0","default":true,"dns":{}}]'


def test_device_info_is_included() -> None:
    info = {"type": "pci", "version": "1.1.0", "pci": {"pci-address": "0000:03:00.1"}}
    entry = status_entry(
        "ns/sriov", "net1", MACVLAN_RESULT, default=False, sandbox=NETNS, device_info=info
    )
    assert entry["device-info"] == info
    assert list(entry)[-1] == "device-info"


@pytest.mark.parametrize(
    ("result", "ifname", "sandbox", "expected_ips", "expected_mac"),
    [
        # ips of other interfaces (here the host side) are not the pod's
        (
            {
                "interfaces": [
                    {"name": "host0", "mac": "01"},
                    {"name": "net1", "mac": "02", "sandbox": NETNS},
                ],
                "ips": [
                    {"address": "10.0.0.1/24", "interface": 0},
                    {"address": "10.0.0.2/24", "interface": 1},
                ],
            },
            "net1",
            NETNS,
            ["10.0.0.2"],
            "02",
        ),
        # no interfaces at all: every ip
        (
            {"ips": [{"address": "10.0.0.1/24", "interface": 3}, {"address": "10.0.0.9/24"}]},
            "net1",
            NETNS,
            ["10.0.0.1", "10.0.0.9"],
            None,
        ),
        # interfaces, none in a sandbox: the ips without an interface index
        (
            {
                "interfaces": [{"name": "host0"}],
                "ips": [{"address": "10.0.0.1/24", "interface": 0}, {"address": "10.0.0.2/24"}],
            },
            "net1",
            NETNS,
            ["10.0.0.2"],
            None,
        ),
        # two sandbox interfaces: the one named ifname in our sandbox wins
        (
            {
                "interfaces": [
                    {"name": "net1", "mac": "0a", "sandbox": "/other"},
                    {"name": "net1", "mac": "0b", "sandbox": NETNS},
                    {"name": "net2", "mac": "0c", "sandbox": NETNS},
                ],
                "ips": [
                    {"address": "10.0.0.1/24", "interface": 0},
                    {"address": "10.0.0.2/24", "interface": 1},
                    {"address": "10.0.0.3/24", "interface": 2},
                ],
            },
            "net1",
            NETNS,
            ["10.0.0.2"],
            "0b",
        ),
        # sandbox path reported differently: the name still matches
        (
            {
                "interfaces": [
                    {"name": "other", "mac": "0a", "sandbox": "/proc/1/ns/net"},
                    {"name": "net1", "mac": "0b", "sandbox": "/proc/1/ns/net"},
                ],
                "ips": [{"address": "10.0.0.2/24", "interface": 1}],
            },
            "net1",
            NETNS,
            ["10.0.0.2"],
            "0b",
        ),
        # renamed by the plugin: the first sandbox interface (NPWG 5.3.2.1)
        (
            {
                "interfaces": [{"name": "x"}, {"name": "ib0", "mac": "0c", "sandbox": NETNS}],
                "ips": [{"address": "10.0.0.2/24", "interface": 1}],
            },
            "net1",
            None,
            ["10.0.0.2"],
            "0c",
        ),
        # an ip without an index next to the chosen interface is kept
        (
            {
                "interfaces": [{"name": "net1", "sandbox": NETNS}],
                "ips": [{"address": "10.0.0.2/24"}, {"address": "10.0.0.3/24", "interface": -1}],
            },
            "net1",
            NETNS,
            ["10.0.0.2", "10.0.0.3"],
            None,
        ),
        # junk entries are skipped, not fatal
        (
            {
                "interfaces": ["x", {"name": "net1", "sandbox": NETNS, "mtu": True}],
                "ips": ["x", {"address": 5}, {"address": "10.0.0.2/24", "interface": True}],
                "routes": "none",
                "dns": [],
            },
            "net1",
            NETNS,
            ["10.0.0.2"],
            None,
        ),
    ],
)
def test_interface_and_ip_selection(
    result: dict[str, Any],
    ifname: str,
    sandbox: str | None,
    expected_ips: list[str],
    expected_mac: str | None,
) -> None:
    entry = status_entry("ns/n", ifname, result, default=False, sandbox=sandbox)
    assert entry["interface"] == ifname
    assert entry.get("ips", []) == expected_ips
    assert entry.get("mac") == expected_mac
    assert "mtu" not in entry


@pytest.mark.parametrize("result", [None, {}, {"cniVersion": "1.0.0"}])
def test_minimal_entry_without_result(result: dict[str, Any] | None) -> None:
    # NPWG 5.1.1: no result still gives a minimal status map.
    assert status_entry("ns/n", "net1", result, default=False, sandbox=NETNS) == {
        "name": "ns/n",
        "interface": "net1",
        "dns": {},
    }


def test_legacy_result_020() -> None:
    result = {
        "cniVersion": "0.2.0",
        "ip4": {
            "ip": "10.1.0.5/16",
            "gateway": "10.1.0.1",
            "routes": [{"dst": "0.0.0.0/0"}, {"dst": "10.2.0.0/16", "gw": "10.1.0.254"}],
        },
        "ip6": {"ip": "fd00::5/64", "routes": [{"dst": "::/0", "gw": "fd00::1"}]},
        "dns": {"nameservers": ["10.96.0.10"], "domain": "cluster.local"},
    }
    assert status_entry("flannel", "eth0", result, default=True, sandbox=NETNS) == {
        "name": "flannel",
        "interface": "eth0",
        "ips": ["10.1.0.5", "fd00::5"],
        "default": True,
        "dns": {"nameservers": ["10.96.0.10"], "domain": "cluster.local"},
        "gateway": ["10.1.0.1", "fd00::1"],
    }


@pytest.mark.parametrize(
    ("routes", "ips", "expected"),
    [
        ([], [], []),
        ([{"dst": "10.0.0.0/8", "gw": "10.0.0.1"}], [], []),
        ([{"dst": "0.0.0.0/0", "gw": "10.0.0.1"}], [], ["10.0.0.1"]),
        ([{"dst": "0.0.0.0/0"}], [], []),  # never "<nil>"
        (
            [{"dst": "0.0.0.0/0", "gw": ""}],
            [{"address": "10.0.0.5/24", "gateway": "10.0.0.1"}],
            ["10.0.0.1"],
        ),
        ([{"dst": "0.0.0.0/0"}], [{"address": "fd00::5/64", "gateway": "fd00::1"}], []),
        ([{"dst": "::/0"}], [{"address": "fd00::5/64", "gateway": "fd00::1"}], ["fd00::1"]),
        (
            [{"dst": "0.0.0.0/0", "gw": "10.0.0.1"}, {"dst": "0.0.0.0/0", "gw": "10.0.0.1"}],
            [],
            ["10.0.0.1"],
        ),
        ([{"dst": "bogus", "gw": "10.0.0.1"}, {"gw": "10.0.0.2"}, "x"], [], []),
    ],
)
def test_default_route_gateways(
    routes: list[Any], ips: list[dict[str, Any]], expected: list[str]
) -> None:
    assert default_route_gateways(routes, ips) == expected


def test_set_and_drop_gateways() -> None:
    entry = {"name": "a", "interface": "eth0", "default": True, "gateway": ["10.0.0.1", "fd00::1"]}
    moved = set_default_route_gateway(entry, ["192.168.1.1"])
    assert moved["gateway"] == ["fd00::1", "192.168.1.1"]
    assert entry["gateway"] == ["10.0.0.1", "fd00::1"]  # the input is not changed
    assert drop_default_route_gateways(entry, [4]) == {
        "name": "a",
        "interface": "eth0",
        "default": True,
        "gateway": ["fd00::1"],
    }
    assert "gateway" not in drop_default_route_gateways(entry, [4, 6])
    assert set_default_route_gateway({"name": "b", "default": False}, ["10.1.1.1"]) == {
        "name": "b",
        "default": False,
        "gateway": ["10.1.1.1"],
    }


def test_apply_default_route_moves_ipv4_to_net1() -> None:
    eth0 = status_entry("ptp", "eth0", BRIDGE_RESULT, default=True, sandbox=NETNS)
    net1 = status_entry("default/macvlan", "net1", MACVLAN_RESULT, default=False, sandbox=NETNS)
    updated = apply_default_route([eth0, net1], {4: (1, "192.168.1.1")})
    # eth0 keeps its IPv6 default route, loses IPv4; net1 names the new gateway.
    assert updated[0]["gateway"] == ["fd00:10:244::1"]
    assert updated[1]["gateway"] == ["192.168.1.1"]
    assert updated[0]["default"] is True  # "default" marks the cluster network, not the route
    assert list(updated[1]) == ["name", "interface", "ips", "mac", "dns", "gateway"]
    both = apply_default_route([eth0, net1], {4: (1, "192.168.1.1"), 6: (1, "fd01::1")})
    assert "gateway" not in both[0]
    assert both[1]["gateway"] == ["192.168.1.1", "fd01::1"]
    with pytest.raises(IndexError):
        apply_default_route([eth0], {4: (3, "10.0.0.1")})


def test_encode_is_compact_and_ordered() -> None:
    entry = {"default": False, "x-extra": 1, "interface": "net1", "name": "ns/a", "a-extra": 2}
    assert canonical_entry(entry) == {
        "name": "ns/a",
        "interface": "net1",
        "default": False,
        "a-extra": 2,
        "x-extra": 1,
    }
    text = encode_status([entry])
    assert text == ('[{"name":"ns/a","interface":"net1","default":false,"a-extra":2,"x-extra":1}]')
    assert encode_status([]) == "[]"


def test_round_trip() -> None:
    entries = [
        status_entry("ptp", "eth0", BRIDGE_RESULT, default=True, sandbox=NETNS),
        status_entry("default/macvlan", "net1", MACVLAN_RESULT, default=False, sandbox=NETNS),
    ]
    assert decode_status(encode_status(entries)) == entries


@pytest.mark.parametrize(("text", "expected"), [("", []), ("  ", []), ("null", [])])
def test_decode_empty(text: str, expected: list[Any]) -> None:
    assert decode_status(text) == expected


def test_decode_multus_pretty_output() -> None:
    # Multus writes MarshalIndent output with an empty "dns" and no "interface".
    text = (
        '[{\n    "name": "",\n    "ips": [\n        "10.118.207.24"\n    ],\n'
        '    "default": true,\n    "dns": {}\n}]'
    )
    assert decode_status(text) == [
        {"name": "", "ips": ["10.118.207.24"], "default": True, "dns": {}}
    ]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("{", "is not valid JSON"), ('{"name": "a"}', "must be a JSON list"), ("[1]", "element 0")],
)
def test_decode_errors(text: str, fragment: str) -> None:
    with pytest.raises(CNIError) as excinfo:
        decode_status(text)
    assert excinfo.value.code == DECODE_FAILURE
    assert NETWORK_STATUS_ANNOTATION in excinfo.value.msg
    assert fragment in excinfo.value.msg


RESULT_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "interfaces",
                    "ips",
                    "routes",
                    "dns",
                    "ip4",
                    "ip6",
                    "name",
                    "sandbox",
                    "address",
                    "interface",
                    "gateway",
                    "gw",
                    "dst",
                    "mac",
                    "mtu",
                    "nameservers",
                ]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(RESULT_JSON)
def test_status_entry_never_crashes(result: Any) -> None:
    if not isinstance(result, dict):
        result = {"ips": result}
    entry = status_entry("ns/n", "net1", result, default=False, sandbox=NETNS)
    assert entry["name"] == "ns/n" and entry["interface"] == "net1"
    assert all(isinstance(ip, str) and "/" not in ip for ip in entry.get("ips", []))
    assert decode_status(encode_status([entry])) == [json.loads(json.dumps(entry))]
