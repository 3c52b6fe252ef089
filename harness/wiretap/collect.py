"""Getting a scenario's recorded calls out of a cluster (I/O; the judging is pure).

A cluster offers its record files as ``wiretap_files()`` -> [(node, path)]
(the local backend: each kubelet wraps its node's bin dir), and the configs
its networks declare capabilities in as ``network_configs()`` (both in the
Cluster protocol, harness/cluster.py). A cluster without record files has no
wiretap: its calls are "not checked", never passed.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from harness.wiretap.musts import Declared, declared_from_configs
from harness.wiretap.records import RUNTIME, Call, read_record

if TYPE_CHECKING:
    from harness.cluster import Cluster

#: Networks a runtime calls on its own, not through the meta-plugin: containerd's
#: CRI plugin (go-cni) brings each pod's loopback up with a built-in config of
#: this name (containerd nodes, issue 14). Not the meta-plugin's calls: neither
#: judged nor counted by ``calls:`` expectations.
RUNTIME_OWN_NETWORKS = frozenset({"cni-loopback"})

#: Set to "0" to run without the wiretap (e.g. to measure its overhead).
ENV_SWITCH = "HARNESS_WIRETAP"


def enabled() -> bool:
    return os.environ.get(ENV_SWITCH, "1") != "0"


def record_files(cluster: Cluster) -> list[tuple[str, str]] | None:
    """(node, record file) of every node, or None when the cluster has no wiretap."""
    return list(cluster.wiretap_files()) or None


def calls_since(cluster: Cluster, since: float) -> list[Call] | None:
    """Every node's calls that started at or after ``since`` (wall clock), or None."""
    files = record_files(cluster)
    if files is None:
        return None
    calls: list[Call] = []
    for node, path in files:
        calls += read_record(path, node, since)
    calls = [c for c in calls if not (c.caller == RUNTIME and c.network in RUNTIME_OWN_NETWORKS)]
    calls.sort(key=lambda c: c.start)
    return calls


def declared_capabilities(cluster: Cluster) -> Declared:
    """What each (network, plugin) declares, from the node config dirs and the NADs."""
    return declared_from_configs(list(cluster.network_configs()))
