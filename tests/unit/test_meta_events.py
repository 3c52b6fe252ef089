"""pymultus.events: the event texts, in the reference's wording."""

from __future__ import annotations

from typing import Any

import pytest

from pymultus.events import added_interface_message, no_network_found_message, result_addresses


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (None, []),
        (
            {"ips": [{"address": "10.1.1.11/24"}, {"address": "fd00::b/64"}]},
            ["10.1.1.11/24", "fd00::b/64"],
        ),
        (
            {"ip4": {"ip": "10.1.1.11/24"}, "ip6": {"ip": "fd00::b/64"}},
            ["10.1.1.11/24", "fd00::b/64"],
        ),
        ({"ips": [{"gateway": "10.1.1.1"}, "junk"]}, []),
        ({"cniVersion": "1.0.0"}, []),
    ],
)
def test_result_addresses(result: Any, expected: list[str]) -> None:
    assert result_addresses(result) == expected


def test_added_interface_message() -> None:
    message = added_interface_message("net1", "default/macvlan-conf", ["10.1.1.11/24"])
    assert message == "Add net1 [10.1.1.11/24] from default/macvlan-conf"
    assert added_interface_message("net2", "ns/x", []) == "Add net2 [] from ns/x"


def test_no_network_found_message() -> None:
    text = no_network_found_message("default", "nope", "not found")
    assert text == (
        "cannot find a network-attachment-definition (nope) in namespace (default): not found"
    )
