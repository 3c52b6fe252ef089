"""pymultus.podnet: the ip commands for default-route and CHECK, with a fake runner."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from pymultus.cni.errors import CNIError
from pymultus.podnet import (
    argv_for,
    batch_commands,
    list_links,
    parse_link_names,
    set_default_route,
)


@pytest.mark.parametrize(
    ("family", "ifname", "gateway", "expected"),
    [
        (
            4,
            "net1",
            "192.168.1.1",
            "route flush exact 0.0.0.0/0 table main\nroute add default via 192.168.1.1 dev net1\n",
        ),
        (
            6,
            "data0",
            "fd00::1",
            "route flush exact ::/0 table main\nroute add default via fd00::1 dev data0\n",
        ),
    ],
)
def test_batch_commands(family: int, ifname: str, gateway: str, expected: str) -> None:
    assert batch_commands(family, ifname, gateway) == expected


def test_batch_commands_refuses_unknown_families() -> None:
    with pytest.raises(ValueError):
        batch_commands(5, "net1", "10.0.0.1")


class FakeRun:
    def __init__(self, code: int = 0, output: str = "") -> None:
        self.code = code
        self.output = output
        self.calls: list[tuple[list[str], bytes]] = []

    def __call__(self, argv: Sequence[str], stdin: bytes) -> tuple[int, str]:
        self.calls.append((list(argv), stdin))
        return self.code, self.output


def test_set_default_route_runs_one_batch_in_the_netns() -> None:
    run = FakeRun()
    set_default_route("/proc/42/ns/net", 4, "net1", "10.1.1.1", run)
    assert run.calls == [
        (
            ["nsenter", "--net=/proc/42/ns/net", "--", "ip", "-4", "-batch", "-"],
            batch_commands(4, "net1", "10.1.1.1").encode(),
        )
    ]
    assert argv_for("/n", 6)[4] == "-6"


def test_a_refused_route_names_gateway_and_interface() -> None:
    run = FakeRun(2, "Error: Nexthop has invalid gateway.\nCommand failed -:2")
    with pytest.raises(CNIError) as err:
        set_default_route("/n", 4, "net1", "10.9.9.1", run)
    assert err.value.code == 7
    assert "10.9.9.1" in err.value.msg and "net1" in err.value.msg
    assert "invalid gateway" in err.value.details


def test_no_netns_is_a_config_error_without_running_anything() -> None:
    run = FakeRun()
    with pytest.raises(CNIError) as err:
        set_default_route("", 4, "net1", "10.1.1.1", run)
    assert err.value.code == 7 and run.calls == []


IP_LINK = """1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT
2: eth0@if7: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT
3: net1@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT
    link/ether 02:42:c0:a8:01:05 brd ff:ff:ff:ff:ff:ff link-netnsid 0
"""


def test_parse_link_names() -> None:
    assert parse_link_names(IP_LINK) == {"lo", "eth0", "net1"}
    assert parse_link_names("") == set()


def test_list_links_failure_is_an_io_error() -> None:
    with pytest.raises(CNIError) as err:
        list_links("/gone", FakeRun(1, "nsenter: cannot open /gone"))
    assert err.value.code == 5 and "/gone" in err.value.msg
    assert list_links("/n", FakeRun(0, IP_LINK)) == {"lo", "eth0", "net1"}
