"""Pure decisions of the simulated kubelet and scheduler: back-off, capability args,
container statuses, node choice."""

from __future__ import annotations

from typing import Any

import pytest

from harness.backends.local.kubelet import (
    BACKOFF_CAP,
    backoff_delay,
    container_statuses,
    plugin_type,
    runtime_config,
)
from harness.backends.local.scheduler import LeastPods, pods_per_node
from harness.cniruntime.config import NetworkConfigList


@pytest.mark.parametrize(
    ("failures", "expected"),
    [
        (0, 0.0),
        (1, 1.0),
        (2, 2.0),
        (3, 4.0),
        (4, 8.0),
        (5, 16.0),
        (6, BACKOFF_CAP),
        (99, BACKOFF_CAP),
    ],
)
def test_backoff_doubles_from_one_second_and_is_capped(failures: int, expected: float) -> None:
    assert backoff_delay(failures) == expected


def test_backoff_with_own_initial_and_cap() -> None:
    assert [backoff_delay(n, initial=0.2, cap=0.5) for n in (1, 2, 3)] == [0.2, 0.4, 0.5]


def pod_with_ports(*ports: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"containers": [{"name": "c", "image": "i", "ports": list(ports)}]}}


@pytest.mark.parametrize(
    ("pod", "expected"),
    [
        ({"spec": {}}, {}),
        (pod_with_ports({"containerPort": 80}), {}),
        (
            pod_with_ports({"containerPort": 80, "hostPort": 8080}),
            {"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]},
        ),
        (
            pod_with_ports(
                {"containerPort": 53, "hostPort": 5353, "protocol": "UDP"},
                {"containerPort": 81},
            ),
            {"portMappings": [{"hostPort": 5353, "containerPort": 53, "protocol": "udp"}]},
        ),
    ],
)
def test_runtime_config_maps_host_ports_like_containerd(
    pod: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert runtime_config(pod) == expected


def test_container_statuses_running_and_waiting() -> None:
    pod = {"spec": {"containers": [{"name": "a", "image": "busybox"}, {"name": "b"}]}}
    running = container_statuses(pod, running_since="2026-01-01T00:00:00Z")
    assert [(s["name"], s["ready"], s["state"]) for s in running] == [
        ("a", True, {"running": {"startedAt": "2026-01-01T00:00:00Z"}}),
        ("b", True, {"running": {"startedAt": "2026-01-01T00:00:00Z"}}),
    ]
    waiting = container_statuses(pod, running_since=None)
    assert {s["name"]: s["state"] for s in waiting} == {
        "a": {"waiting": {"reason": "ContainerCreating"}},
        "b": {"waiting": {"reason": "ContainerCreating"}},
    }
    assert all(s["ready"] is False for s in waiting)


def test_plugin_type_names_the_first_plugin() -> None:
    assert plugin_type(None) == "unknown"
    ncl = NetworkConfigList(
        name="n",
        cni_version="1.0.0",
        plugins=({"type": "ptp"}, {"type": "portmap"}),
        disable_check=False,
        disable_gc=False,
        raw={},
    )
    assert plugin_type(ncl) == "ptp"


def bound(node: str | None, deleting: bool = False, phase: str = "Running") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "p"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {
        "metadata": meta,
        "spec": {"nodeName": node} if node else {},
        "status": {"phase": phase},
    }


def test_pods_per_node_counts_only_live_bound_pods() -> None:
    pods = [
        bound("node-1"),
        bound("node-1"),
        bound("node-2"),
        bound(None),
        bound("node-2", deleting=True),
        bound("node-2", phase="Succeeded"),
        bound("node-3", phase="Failed"),
    ]
    assert pods_per_node(pods) == {"node-1": 2, "node-2": 1}


def test_least_pods_spreads_and_breaks_ties_round_robin() -> None:
    policy = LeastPods(["node-1", "node-2", "node-3"])
    counts: dict[str, int] = {}
    picks = []
    for _ in range(6):
        node = policy.pick(counts)
        counts[node] = counts.get(node, 0) + 1
        picks.append(node)
    assert picks == ["node-1", "node-2", "node-3", "node-1", "node-2", "node-3"]


def test_least_pods_prefers_the_emptiest_node() -> None:
    policy = LeastPods(["node-1", "node-2", "node-3"])
    assert policy.pick({"node-1": 5, "node-2": 0, "node-3": 1}) == "node-2"
    # explicit placements (counted by the caller) steer the next choices too
    assert policy.pick({"node-1": 1, "node-2": 1, "node-3": 0}) == "node-3"


def test_least_pods_needs_nodes() -> None:
    with pytest.raises(ValueError, match="at least one node"):
        LeastPods([])


def test_del_errors_containerd_takes_as_done() -> None:
    from harness.backends.local.podnetwork import del_error_ignored
    from harness.cniruntime.errors import CNIError

    # go-cni's Remove: "not found" anywhere in the error, case-sensitive ...
    assert del_error_ignored(CNIError(999, "DelegateDel: Link not found"), "/var/run/netns/x")
    assert del_error_ignored(CNIError(7, "failed", "network not found"), "/var/run/netns/x")
    assert not del_error_ignored(CNIError(7, "Not Found"), "/var/run/netns/x")
    # ... not a missing plugin binary ("failed to find plugin")
    assert not del_error_ignored(CNIError(7, 'failed to find plugin "x" in path'), "")
    # "no such file or directory" only with an empty netns path
    assert del_error_ignored(CNIError(11, "open /x: no such file or directory"), "")
    assert not del_error_ignored(CNIError(11, "open /x: no such file or directory"), "/n")
