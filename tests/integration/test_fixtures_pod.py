"""The pytest plugin's fixtures (`cluster`, `nad`, `pod`) as a plugin author uses them."""

from __future__ import annotations

from typing import Any

import pytest

MACVLAN = {
    "cniVersion": "0.3.1",
    "type": "macvlan",
    "master": "eth0",
    "mode": "bridge",
    "ipam": {"type": "host-local", "subnet": "192.168.1.0/24"},
}


@pytest.mark.cluster(nodes=1)
def test_pod_gets_the_requested_network(cluster: Any, nad: Any, pod: Any) -> None:
    nad("macvlan-conf", MACVLAN)
    p = pod("fixturepod", networks="macvlan-conf")
    assert p.ready
    p.expect(
        interfaces={"eth0": {"kind": "veth"}, "net1": {"kind": "macvlan"}},
        network_status=[
            {"interface": "eth0", "default": True},
            {"name": "default/macvlan-conf", "interface": "net1"},
        ],
    )
    assert [e["reason"] for e in p.events()].count("AddedInterface") == 2
    p.delete()


@pytest.mark.cluster(nodes=1)
def test_failed_expect_shows_diff_addresses_and_events(cluster: Any, nad: Any, pod: Any) -> None:
    nad("macvlan-conf", MACVLAN)
    p = pod("wrongpod", networks="macvlan-conf")
    with pytest.raises(AssertionError) as info:
        p.expect(interfaces={"net1": {"kind": "vlan", "mtu": 9000}})
    text = str(info.value)
    assert "interface net1: kind is macvlan, expected vlan" in text
    assert '-      "kind": "vlan"' in text and '+      "kind": "macvlan"' in text  # the diff
    assert "routes:" in text and "192.168.1." in text  # addresses and routes
    assert "AddedInterface" in text  # recent events


@pytest.mark.cluster(nodes=1)
def test_cni_error_is_observable(cluster: Any, pod: Any) -> None:
    p = pod("lostpod", networks="no-such-nad")
    p.expect(error={"code": 7, "contains": "no-such-nad"})
