"""The topology picture's decisions, without a browser (the screenshot test is in
tests/integration/test_topology_picture.py)."""

from __future__ import annotations

from harness.report.topology_svg import (
    DEFAULT_COLOUR,
    attachment_key,
    colour_of,
    topology_svg,
    uplinks_of,
)
from harness.runner import nad_wiring, node_links

NETWORKS = {
    "default/mv": {"name": "default/mv", "type": "macvlan", "master": "eth1"},
    "default/br": {"name": "default/br", "type": "bridge", "bridge": "brdata"},
    "default/hd": {"name": "default/hd", "type": "host-device", "device": "eth9"},
}


def test_interfaces_hang_from_their_networks_attachment_point() -> None:
    assert attachment_key({"default": True, "network": "kindnet"}, NETWORKS)[0] == "default"
    assert attachment_key({"network": "default/mv"}, NETWORKS) == (
        "master:eth1",
        "eth1 (macvlan master)",
    )
    assert attachment_key({"network": "default/br"}, NETWORKS)[0] == "bridge:brdata"
    assert attachment_key({"network": "default/hd"}, NETWORKS)[0] == "device:eth9"
    assert attachment_key({"network": "nope"}, NETWORKS)[0] == "unknown"


def test_default_network_is_grey_and_nads_have_their_colour() -> None:
    assert colour_of({"default": True, "network": "x"}, {"x": "#123456"}) == DEFAULT_COLOUR
    assert colour_of({"network": "x"}, {"x": "#123456"}) == "#123456"


def test_uplinks_are_eth_devices_not_enslaved() -> None:
    links = [
        {"name": "lo", "kind": "loopback", "addresses": []},
        {"name": "eth0", "kind": "veth", "addresses": ["172.18.0.11/16"]},
        {"name": "eth1", "kind": "veth", "addresses": []},
        {"name": "eth5", "kind": "veth", "master": "brdata", "addresses": []},
        {"name": "veth12", "kind": "veth", "addresses": []},
    ]
    assert uplinks_of(links) == [("eth0", "172.18.0.11/16"), ("eth1", "")]


def test_nad_wiring_and_node_links_parsing() -> None:
    macvlan = {"spec": {"config": '{"type": "macvlan", "master": "eth1"}'}}
    assert nad_wiring(macvlan) == {"master": "eth1"}
    bridge = {"spec": {"config": '{"plugins": [{"type": "bridge"}, {"type": "tuning"}]}'}}
    assert nad_wiring(bridge) == {"bridge": "cni0"}
    assert nad_wiring({"spec": {"config": "not json"}}) == {}
    text = (
        '[{"ifname": "eth0", "linkinfo": {"info_kind": "veth"}, "addr_info": '
        '[{"local": "172.18.0.11", "prefixlen": 16, "scope": "global"}, '
        '{"local": "fe80::1", "prefixlen": 64, "scope": "link"}]}]'
    )
    assert node_links(text) == [
        {"name": "eth0", "kind": "veth", "master": None, "addresses": ["172.18.0.11/16"]}
    ]
    assert node_links("garbage") == []


def test_traffic_checks_are_arrows_coloured_by_verdict() -> None:
    topology = {
        "nodes": ["node-1"],
        "networks": [NETWORKS["default/mv"]],
        "nodeLinks": {"node-1": [{"name": "eth1", "kind": "veth", "addresses": []}]},
        "pods": {
            name: {
                "namespace": "default",
                "node": "node-1",
                "ready": True,
                "interfaces": [
                    {"name": "net1", "kind": "macvlan", "addresses": [addr],
                     "network": "default/mv"},
                ],
            }
            for name, addr in (("a", "10.1.0.1/24"), ("b", "10.1.0.2/24"))
        },
        "traffic": [
            {"from": "a", "to": "b", "via": "net1", "address": "10.1.0.2", "passed": True},
            {"from": "b", "to": "a", "via": "net1", "address": "10.1.0.1", "passed": False},
            {"from": "a", "to": "192.0.2.1", "via": "eth0", "address": "192.0.2.1",
             "fails": True, "passed": True},
        ],
    }  # fmt: skip
    svg = topology_svg(topology, {"default/mv": "#bf3989"})
    assert svg.count('class="traffic pass"') == 2 and svg.count('class="traffic fail"') == 1
    assert svg.count('class="fabric"') == 1 and svg.count('class="wire"') == 2
    assert "eth1 (macvlan master)" in svg and "net1 10.1.0.1/24" in svg
    assert "(expected to fail): passed" in svg and "via net1: FAILED" in svg
