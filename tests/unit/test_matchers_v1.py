"""Matchers added in format v1: events, status absent/exact/dns, address counts."""

from __future__ import annotations

import pytest

from harness.matchers import interface_view, match_events, match_interface, match_status
from harness.netstate import Address, Interface

ITF = Interface(
    "net1",
    "macvlan",
    "02:00:00:00:00:01",
    1400,
    True,
    (Address("192.168.1.5", 24, 4), Address("fd00::5", 64, 6), Address("fe80::1", 64, 6, "link")),
)
EVENTS = [
    {"type": "Normal", "reason": "AddedInterface", "message": "Add net1 [192.168.1.5/24]"},
    {"type": "Warning", "reason": "FailedKillPod", "message": "error killing pod"},
]


@pytest.mark.parametrize(
    ("want", "problem"),
    [
        ({"pod": "p", "reason": "AddedInterface"}, None),
        ({"pod": "p", "reason": "AddedInterface", "contains": "net1", "type": "Normal"}, None),
        ({"pod": "p", "reason": "AddedInterface", "type": "Warning"}, "no event with"),
        ({"pod": "p", "contains": "net2"}, "no event with contains 'net2' (2 event(s)"),
        ({"pod": "p", "reason": "NoNetworkFound", "absent": True}, None),
        ({"pod": "p", "reason": "FailedKillPod", "absent": True}, "exists, expected none"),
    ],
)
def test_match_events(want: dict[str, object], problem: str | None) -> None:
    got = match_events(want, EVENTS)
    assert (got is None) if problem is None else (got is not None and problem in got)


def test_address_count_counts_global_addresses_only() -> None:
    assert match_interface("net1", {"addressCount": 2}, ITF) == []
    assert match_interface("net1", {"addressCount": 3}, ITF) == [
        "interface net1: 2 global address(es), expected 3"
    ]


def test_interface_view_has_the_expected_keys_only() -> None:
    assert interface_view(ITF, {"kind": "x", "addresses": []}) == {
        "kind": "macvlan",
        "addresses": ["192.168.1.5/24", "fd00::5/64"],
    }
    assert interface_view(None, {"kind": "x"}) == {"absent": True}


STATUS = [
    {"name": "kindnet", "interface": "eth0", "default": True},
    {"name": "ns/a", "interface": "net1", "dns": {"nameservers": ["1.1.1.1"]}},
]


def test_status_absent_and_not_exact() -> None:
    assert match_status([{"name": "ns/b", "absent": True}], STATUS, exact=False) == []
    assert match_status([{"name": "ns/a", "absent": True}], STATUS, exact=False) == [
        "network-status has an entry with name=ns/a, expected none"
    ]
    assert match_status([{"interface": "eth0"}], STATUS) == [
        "network-status has 2 entries, expected 1"
    ]
    assert match_status([{"interface": "eth0"}], STATUS, exact=False) == []


def test_status_dns() -> None:
    ok = [{"interface": "eth0"}, {"name": "ns/a", "dns": {"nameservers": ["1.1.1.1"]}}]
    assert match_status(ok, STATUS) == []
    bad = [{"interface": "eth0"}, {"name": "ns/a", "dns": {"search": ["x"]}}]
    assert match_status(bad, STATUS) == ["network-status entry name=ns/a: dns.search: missing"]
