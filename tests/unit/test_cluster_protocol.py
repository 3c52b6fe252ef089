"""Every backend implements the whole Cluster protocol (harness/cluster.py).

The runner never probes a cluster for a method: what a backend cannot do it
refuses with Unsupported. mypy checks the backends against the protocol
where the registry returns them (harness.backends); this test also pins the
parameter names, which mypy's structural check lets drift for positional
callers, and covers the unit tests' own doubles.
"""

from __future__ import annotations

import inspect

import pytest
from fakecluster import FakeCluster

from harness.backends.local.cluster import LocalCluster
from harness.backends.remote import KubectlCluster
from harness.cluster import Cluster

METHODS = sorted(
    name
    for name, value in vars(Cluster).items()
    if not name.startswith("_") and inspect.isfunction(value)
)


def test_the_protocol_names_what_the_runner_used_to_probe_for() -> None:
    probed = {"exec_in_pod", "leak_blind_spots", "read_node_file", "restart_daemon"}
    probed |= {"kill_process", "hotplug", "rotate_token", "run_installer", "cni_call"}
    probed |= {"wiretap_files", "network_configs"}
    assert probed <= set(METHODS)


@pytest.mark.parametrize("backend", [LocalCluster, KubectlCluster, FakeCluster])
@pytest.mark.parametrize("method", METHODS)
def test_backend_implements_the_method(backend: type, method: str) -> None:
    implemented = getattr(backend, method, None)
    assert callable(implemented), f"{backend.__name__} lacks Cluster.{method}"
    want = list(inspect.signature(getattr(Cluster, method)).parameters)[1:]
    have = list(inspect.signature(implemented).parameters)[1:]
    assert have[: len(want)] == want, f"{backend.__name__}.{method}{have} vs Cluster {want}"
