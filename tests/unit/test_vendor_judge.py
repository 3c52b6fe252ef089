"""The vendor kit's pure judgements: error shape, VERSION, results vs kernel, leaks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.netstate import Address, Interface, PodNetwork, Route
from harness.vendor import judge
from harness.vendor.judge import Snapshot

NETNS = "/run/netns/ctr"


@pytest.mark.parametrize(
    ("code", "ok"),
    [
        (1, True),
        (7, True),
        (11, True),
        (50, True),
        (51, True),
        (100, True),
        (4242, True),
        (8, True),
        (999, True),
        (0, False),
        (9, False),
        (12, False),
        (99, False),
        (-1, False),
        ("7", False),
        (True, False),
        (None, False),
    ],
)
def test_error_code_validity(code: Any, ok: bool) -> None:
    assert (judge.error_code_problem(code) is None) is ok


@pytest.mark.parametrize(
    ("rc", "stdout", "expected"),
    [
        (1, b'{"cniVersion":"1.0.0","code":7,"msg":"bad"}', []),
        (1, b'{"code":7,"msg":"bad","details":"more"}', []),
        (0, b"{}", ["the plugin exited 0 (success) where it must fail"]),
        (-9, b"", ["the plugin was killed by signal 9 instead of answering with an error"]),
        (2, b"panic: oops", ["stdout is not a JSON error object: panic: oops"]),
        (1, b"[1]", ["stdout is JSON but not an object"]),
        (1, b'{"code":7}', ["msg is missing or empty: the error must say what went wrong"]),
        (1, b'{"code":7,"msg":"x","details":3}', ["details must be a string"]),
    ],
)
def test_error_output_problems(rc: int, stdout: bytes, expected: list[str]) -> None:
    assert judge.error_output_problems(rc, stdout) == expected


def test_error_output_reserved_code_is_named() -> None:
    problems = judge.error_output_problems(1, b'{"code":20,"msg":"x"}')
    assert len(problems) == 1 and problems[0].startswith("code 20 is reserved")


@pytest.mark.parametrize(
    ("output", "wanted", "expected"),
    [
        ({"cniVersion": "1.0.0", "supportedVersions": ["0.4.0", "1.0.0"]}, ["1.0.0"], []),
        (
            {"cniVersion": "1.0.0", "supportedVersions": ["0.4.0", "1.0.0"]},
            ["1.1.0"],
            ["the configuration's cniVersion 1.1.0 is not in supportedVersions ['0.4.0', '1.0.0']"],
        ),
        ({"supportedVersions": ["1.0.0"]}, ["1.0.0"], ["cniVersion is missing or not a string"]),
        (
            {"cniVersion": "1.0.0"},
            ["1.0.0"],
            ["supportedVersions is missing or not a non-empty list"],
        ),
        (
            {"cniVersion": "1.0.0", "supportedVersions": [1]},
            ["1.0.0"],
            ["supportedVersions must be a list of strings"],
        ),
    ],
)
def test_version_problems(output: dict[str, Any], wanted: list[str], expected: list[str]) -> None:
    assert judge.version_problems(output, wanted) == expected


def _result(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "cniVersion": "1.0.0",
        "interfaces": [{"name": "eth0", "mac": "0a:00:00:00:00:01", "sandbox": NETNS}],
        "ips": [{"address": "10.1.0.5/24", "gateway": "10.1.0.1", "interface": 0}],
        "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.0.1"}],
    }
    base.update(over)
    return base


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (_result(), []),
        (
            _result(cniVersion="0.4.0", ips=[{"version": "4", "address": "10.1.0.5/24"}]),
            [
                "cniVersion '0.4.0' is not the request's '1.0.0' (a plugin must answer in the "
                "version it was called with)"
            ],
        ),
        (
            _result(interfaces=[{"name": "eth0", "sandbox": "/run/netns/other"}]),
            [
                "interfaces[0] (eth0) has sandbox '/run/netns/other'; an interface in the "
                "container must name CNI_NETNS '/run/netns/ctr'"
            ],
        ),
        (
            _result(interfaces=[{"name": "net9", "sandbox": NETNS}]),
            ["no interface named CNI_IFNAME 'eth0' in the container (result has ['net9'])"],
        ),
        (
            _result(ips=[{"address": "10.1.0.5/24", "interface": 3}]),
            ["ips[0].interface 3 is not an index into interfaces (it has 1)"],
        ),
        (
            _result(ips=[{"address": "10.1.0.5"}]),
            ["ips[0].address '10.1.0.5' has no prefix length"],
        ),
        (_result(interfaces=None, ips=[{"address": "10.1.0.5/24"}]) | {"interfaces": []}, []),
    ],
)
def test_result_problems(result: dict[str, Any], expected: list[str]) -> None:
    assert judge.result_problems(result, cni_version="1.0.0", netns=NETNS, ifname="eth0") == (
        expected
    )


def _net(*interfaces: Interface, routes: tuple[Route, ...] = ()) -> PodNetwork:
    return PodNetwork(tuple(interfaces), routes)


ETH0 = Interface(
    "eth0",
    "macvlan",
    "0a:00:00:00:00:01",
    1500,
    True,
    (Address("10.1.0.5", 24, 4), Address("fe80::1", 64, 6, "link")),
)
DEFAULT = Route("default", "10.1.0.1", "eth0", 4)


def test_kernel_match() -> None:
    assert (
        judge.kernel_problems(_result(), _net(ETH0, routes=(DEFAULT,)), _net(), ifname="eth0") == []
    )


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (
            _result(interfaces=[{"name": "eth0", "mac": "0a:00:00:00:00:99", "sandbox": NETNS}]),
            "interfaces[0] eth0: result mac 0a:00:00:00:00:99, kernel mac 0a:00:00:00:00:01",
        ),
        (
            _result(
                cniVersion="1.1.0", interfaces=[{"name": "eth0", "mtu": 9000, "sandbox": NETNS}]
            ),
            "interfaces[0] eth0: result mtu 9000, kernel mtu 1500",
        ),
        (
            _result(ips=[{"address": "10.1.0.105/24", "interface": 0}]),
            "ips[0].address 10.1.0.105/24 is not on eth0 in the container (kernel has "
            "['10.1.0.5/24', 'fe80::1/64'])",
        ),
        (
            _result(routes=[{"dst": "192.168.0.0/16"}]),
            "routes[0] 192.168.0.0/16 is in the result but not in any routing table of the "
            "container",
        ),
        (
            _result(routes=[{"dst": "0.0.0.0/0", "gw": "10.1.0.254"}]),
            "routes[0] 0.0.0.0/0: result gw 10.1.0.254, kernel gw ['10.1.0.1']",
        ),
        (
            _result(interfaces=[{"name": "eth0", "sandbox": NETNS}, {"name": "veth1"}]),
            "interfaces[1] 'veth1' is not in the host (node) namespace",
        ),
    ],
)
def test_kernel_mismatch(result: dict[str, Any], expected: str) -> None:
    problems = judge.kernel_problems(result, _net(ETH0, routes=(DEFAULT,)), _net(), ifname="eth0")
    assert problems == [expected]


def test_kernel_legacy_result_checked_on_ifname() -> None:
    legacy = {"cniVersion": "0.2.0", "ip4": {"ip": "10.1.0.6/24"}}
    problems = judge.kernel_problems(legacy, _net(ETH0), _net(), ifname="eth0")
    assert problems == [
        "ips[0].address 10.1.0.6/24 is not on eth0 in the container (kernel has "
        "['10.1.0.5/24', 'fe80::1/64'])"
    ]


def test_kernel_loopback_mac_is_zero() -> None:
    lo = Interface("lo", "loopback", "", 65536, True, (Address("127.0.0.1", 8, 4, "host"),))
    result = {
        "cniVersion": "1.0.0",
        "interfaces": [{"name": "lo", "mac": "00:00:00:00:00:00", "sandbox": NETNS}],
        "ips": [{"address": "127.0.0.1/8", "interface": 0}],
    }
    assert judge.kernel_problems(result, _net(lo), _net(), ifname="lo") == []


def test_passthrough() -> None:
    prev = _result()
    assert judge.passthrough_problems(prev, _result()) == []
    assert judge.passthrough_problems(prev, _result(interfaces=[], ips=[])) == [
        "interface 'eth0' of prevResult is missing",
        "address 10.1.0.5/24 of prevResult is missing",
    ]


def test_leak_problems_lists_only_new_things() -> None:
    before = Snapshot(links=frozenset({"eth0 (veth)"}), rules=frozenset({"a"}))
    after = Snapshot(
        links=frozenset({"eth0 (veth)", "vbr0 (bridge)"}),
        files=frozenset({"/var/lib/cni/networks/n/10.0.0.2"}),
        rules=frozenset({"a", "b"}),
        container_links=frozenset({"ctr: eth0 (macvlan)"}),
    )
    assert judge.leak_problems(before, after) == [
        "file /var/lib/cni/networks/n/10.0.0.2 was not removed",
        "rule left behind: b",
        "container link ctr: eth0 (macvlan) was not removed",
    ]
    assert judge.leak_problems(after, after) == []
    assert judge.shared_links(before, after) == ["vbr0 (bridge)"]
    veth = Snapshot(links=after.links | {"veth1 (veth)"})
    assert judge.leak_problems(before, veth) == ["host link veth1 (veth) was not removed"]


IPTABLES = """# Generated by iptables-save v1.8.9 (nf_tables) on Fri Nov 27 05:18:56 2026
*nat
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [3:180]
:CNI-X - [0:0]
-A POSTROUTING -s 10.0.0.2/32 -j CNI-X
-A CNI-X -j MASQUERADE
COMMIT
# Completed on Fri Nov 27 05:18:56 2026
"""


def test_iptables_rules_ignore_tables_policies_counters_comments() -> None:
    assert judge.iptables_rules(IPTABLES) == {
        "nat: chain CNI-X",
        "nat: -A POSTROUTING -s 10.0.0.2/32 -j CNI-X",
        "nat: -A CNI-X -j MASQUERADE",
    }
    assert judge.iptables_rules("*nat\n:PREROUTING ACCEPT [5:5]\nCOMMIT\n") == set()


@given(st.text())
def test_iptables_rules_never_raise_and_only_report_rules(text: str) -> None:
    for line in judge.iptables_rules(text):
        assert ": -A " in line or ": chain " in line


def test_nft_rules() -> None:
    ruleset = {
        "nftables": [
            {"metainfo": {"version": "1.0.6"}},
            {"table": {"family": "inet", "name": "cni", "handle": 1}},
            {"chain": {"family": "inet", "table": "cni", "name": "base", "hook": "input"}},
            {"chain": {"family": "inet", "table": "cni", "name": "pod1"}},
            {
                "rule": {
                    "family": "inet",
                    "table": "cni",
                    "chain": "pod1",
                    "expr": [{"counter": {"packets": 3, "bytes": 9}}, {"accept": None}],
                }
            },
            {"chain": {"family": "ip", "table": "nat", "name": "CNI-X"}},
        ]
    }
    text = json.dumps(ruleset)
    assert judge.nft_rules(text, skip_iptables=True) == {
        "inet cni: chain pod1",
        'inet cni pod1: [{"accept": null}]',
    }
    assert "ip nat: chain CNI-X" in judge.nft_rules(text, skip_iptables=False)
    assert judge.nft_rules("not json", skip_iptables=True) == set()


def test_distinct_addresses_ignores_loopback() -> None:
    a = _result()
    b = _result(ips=[{"address": "10.1.0.5/24", "interface": 0}])
    lo = {"cniVersion": "1.0.0", "ips": [{"address": "127.0.0.1/8"}]}
    assert judge.distinct_address_problems([a, b]) == ["containers 0 and 1 both got 10.1.0.5"]
    assert judge.distinct_address_problems([lo, lo]) == []


def test_status_ip_problems() -> None:
    entry = {"interface": "net1", "ips": ["10.1.0.5"], "mac": "0A:00:00:00:00:01"}
    net1 = Interface("net1", "macvlan", "0a:00:00:00:00:01", 1500, True, ETH0.addresses)
    assert judge.status_ip_problems(entry, net1) == []
    assert judge.status_ip_problems({**entry, "ips": ["10.1.0.9"]}, net1) == [
        "network-status ips ['10.1.0.9'] differ from the kernel's ['10.1.0.5'] on net1"
    ]
    assert judge.status_ip_problems(entry, None) == [
        "interface 'net1' of network-status is not in the pod"
    ]
