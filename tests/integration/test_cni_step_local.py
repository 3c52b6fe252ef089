"""LocalCluster.cni_call: the harness as the node's runtime for one CNI call.

One one-node cluster per test under a private run root, closed in a
``finally`` that also asserts none of its namespaces is left.
"""

from __future__ import annotations

import os

import pytest

from harness.backends.local.cluster import LocalCluster
from harness.cluster import CNICall
from tests.integration.clusters import netns_of

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network and mount namespaces)"),
    pytest.mark.skipif(not os.path.isdir("/usr/lib/cni"), reason="no CNI plugins in /usr/lib/cni"),
]

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "p", "namespace": "default"},
    "spec": {"containers": [{"name": "main", "image": "busybox"}]},
}


@pytest.fixture
def cluster(local_cluster: LocalCluster) -> LocalCluster:
    return local_cluster


def test_new_sandbox_add_is_made_and_undone_without_touching_the_kubelet(
    cluster: LocalCluster,
) -> None:
    cluster.create_pod(POD)
    assert cluster.wait_pod("default", "p", 30).ready
    sandbox = cluster.sandbox_id("default", "p")
    before = sorted(netns_of(cluster.cluster_id))

    outcome = cluster.cni_call(CNICall("ADD", pod="p", new_sandbox=True))

    assert outcome.ok, outcome.error
    assert outcome.links == ("eth0",)
    assert outcome.result is not None and outcome.result["cniVersion"] == "1.0.0"
    assert outcome.result["ips"][0]["address"].startswith("10.244.")
    env = dict(outcome.env)
    assert env["CNI_COMMAND"] == "ADD" and env["CNI_CONTAINERID"] != sandbox
    assert "K8S_POD_NAME=p" in env["CNI_ARGS"]
    assert sorted(netns_of(cluster.cluster_id)) == before  # its namespace is gone again
    assert cluster.sandbox_id("default", "p") == sandbox  # the kubelet's own is untouched
    assert cluster.cni_call(CNICall("CHECK", pod="p")).ok
    assert cluster.delete_pod("default", "p", 30) is None
    assert cluster.leaks() == []


def test_del_after_the_kubelet_uses_the_last_sandbox(cluster: LocalCluster) -> None:
    cluster.create_pod(POD)
    assert cluster.wait_pod("default", "p", 30).ready
    sandbox = cluster.sandbox_id("default", "p")
    assert cluster.delete_pod("default", "p", 30) is None

    outcome = cluster.cni_call(CNICall("DEL", pod="p"))

    assert outcome.ok, outcome.error
    assert dict(outcome.env)["CNI_CONTAINERID"] == sandbox
    assert cluster.leaks() == []


def test_wrong_uid_and_overrides_reach_the_plugin(cluster: LocalCluster) -> None:
    cluster.create_pod(POD)
    assert cluster.wait_pod("default", "p", 30).ready
    call = CNICall(
        "ADD", pod="p", new_sandbox=True, ifname="eth0", args=(("K8S_POD_UID", "not-it"),)
    )

    outcome = cluster.cni_call(call)

    assert outcome.error is not None and outcome.error.code == 3
    assert "UID not-it" in outcome.error.message
    assert outcome.links == ()
    assert "K8S_POD_UID=not-it" in dict(outcome.env)["CNI_ARGS"]
    assert cluster.delete_pod("default", "p", 30) is None
    assert cluster.leaks() == []


def test_node_calls_and_unknown_targets(cluster: LocalCluster) -> None:
    version = cluster.cni_call(CNICall("VERSION", node="node-1", cni_version="0.4.0"))
    assert version.result is not None
    assert version.result["cniVersion"] == "0.4.0"
    assert "1.1.0" in version.result["supportedVersions"]
    status = cluster.cni_call(CNICall("STATUS", node="node-1"))
    assert status.ok and "needs 1.1.0" in status.skipped  # the node config is 1.0.0
    with pytest.raises(LookupError, match="never had a sandbox"):
        cluster.cni_call(CNICall("CHECK", pod="ghost"))
    with pytest.raises(LookupError, match="no node 'node-9'"):
        cluster.cni_call(CNICall("VERSION", node="node-9"))
