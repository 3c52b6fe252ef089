"""The simulated device plugin: allocation and its pod-resources answer.

The answer (hand-encoded by the harness) is decoded with pymultus's messages
generated from its own api.proto, so the two sides of the protocol, which
share no code, are checked against each other.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.backends.local.devices import DevicePlugin, requested
from pymultus.podresources.client import decode_response
from pymultus.podresources.client import pod_devices as pod_devices_of


def pod_devices(answer: bytes, namespace: str, name: str) -> dict[str, list[str]]:
    return pod_devices_of(decode_response(answer), namespace, name)


def pod(name: str, *counts: int, resource: str = "example.com/sriov") -> dict[str, Any]:
    containers = [
        {"name": f"c{i}", "resources": {"limits": {resource: str(n)}} if n else {}}
        for i, n in enumerate(counts)
    ]
    return {"metadata": {"namespace": "default", "name": name}, "spec": {"containers": containers}}


def plugin(count: int = 3) -> DevicePlugin:
    return DevicePlugin(2, {"example.com/sriov": count}, "/nonexistent.sock", "/nonexistent")


def test_requested_counts_per_container() -> None:
    assert requested(pod("p", 1, 0, 2), {"example.com/sriov": 4}) == {
        "example.com/sriov": [1, 0, 2]
    }


def test_allocation_is_reported_through_pod_resources() -> None:
    devices = plugin()
    devices.allocate(pod("a", 1))
    devices.allocate(pod("b", 0, 2))
    answer = devices.list()
    assert pod_devices(answer, "default", "a") == {"example.com/sriov": ["0000:02:00.0"]}
    assert pod_devices(answer, "default", "b") == {
        "example.com/sriov": ["0000:02:00.1", "0000:02:00.2"]
    }


def test_release_returns_devices_and_too_many_is_refused_without_taking_any() -> None:
    devices = plugin(2)
    devices.allocate(pod("a", 2))
    with pytest.raises(RuntimeError, match=r"insufficient example\.com/sriov"):
        devices.allocate(pod("b", 1))
    devices.release("default", "a")
    devices.allocate(pod("b", 1, 1))
    assert pod_devices(devices.list(), "default", "b") == {
        "example.com/sriov": ["0000:02:00.0", "0000:02:00.1"]
    }
