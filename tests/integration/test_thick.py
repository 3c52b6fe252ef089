"""Thick mode on the local backend: daemon restarts and crashes around a pod's life.

One single-node cluster in thick mode for the module (needs root: skipped
otherwise). ``LocalCluster.close`` stops the daemons and removes every
namespace and mount, also when a check fails.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from harness.backends.local import thick
from harness.backends.local.cluster import LocalCluster
from harness.backends.local.topology import pid_alive

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(
        os.geteuid() != 0 or not os.path.exists("/usr/lib/cni/macvlan") or not shutil.which("ip"),
        reason="needs root, iproute2 and containernetworking-plugins",
    ),
]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(nodes=1, mode="thick") as c:
        with open(os.path.join(ROOT, "fixtures", "nads", "macvlan-conf.yaml")) as f:
            fixture = yaml.safe_load(f)
        c.apply(
            {
                "apiVersion": "k8s.cni.cncf.io/v1",
                "kind": "NetworkAttachmentDefinition",
                "metadata": {"name": fixture["name"], "namespace": "default"},
                "spec": {"config": json.dumps(fixture["config"])},
            }
        )
        yield c
    assert not [n for n in os.listdir("/run/netns") if n.startswith(c.cluster_id)]


def pod(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "default",
            "annotations": {"k8s.v1.cni.cncf.io/networks": "macvlan-conf"},
        },
        "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "pause"}]},
    }


def start_pod(cluster: LocalCluster, name: str) -> None:
    cluster.create_pod(pod(name))
    outcome = cluster.wait_pod("default", name, 30)
    assert outcome.ready, outcome
    status = cluster.get_pod("default", name)["metadata"]["annotations"][
        "k8s.v1.cni.cncf.io/network-status"
    ]
    assert '"net1"' in status and '"eth0"' in status


def test_node_runs_the_shim_and_its_daemon(cluster: LocalCluster) -> None:
    node = cluster.topology.node("node-1")
    with open(node.host_path(f"/etc/cni/net.d/00-{cluster.meta_name}.conf")) as f:
        conf = f.read()
    assert '"type": "pymultus-shim"' in conf
    pid = thick.daemon_pid(cluster, node)
    assert pid is not None and pid in cluster.topology.state.pids
    assert thick.http_get(thick.socket_path(node), "/readyz")[0] == 200


def test_daemon_restarted_between_add_and_del(cluster: LocalCluster) -> None:
    node = cluster.topology.node("node-1")
    start_pod(cluster, "restarted")
    old = thick.daemon_pid(cluster, node)
    thick.restart_daemon(cluster, node)
    assert thick.daemon_pid(cluster, node) not in (None, old)
    assert cluster.delete_pod("default", "restarted") is None
    assert cluster.leaks() == []


def test_daemon_dead_then_del_succeeds_and_leaves_nothing(cluster: LocalCluster) -> None:
    node = cluster.topology.node("node-1")
    start_pod(cluster, "orphan")
    old = thick.daemon_pid(cluster, node)
    assert old is not None
    thick.kill_daemon(cluster, node)
    assert not pid_alive(old) and old not in cluster.topology.state.pids
    started = time.monotonic()
    try:
        assert cluster.delete_pod("default", "orphan") is None
        # DEL waits DEL_WAIT for a daemon to come back, then cleans up itself.
        assert time.monotonic() - started < 15
        assert cluster.leaks() == []
    finally:
        thick.start_daemon(cluster, node)


def test_metrics_count_the_calls(cluster: LocalCluster) -> None:
    node = cluster.topology.node("node-1")
    start_pod(cluster, "counted")
    assert cluster.delete_pod("default", "counted") is None
    status, text = thick.http_get(thick.socket_path(node), "/metrics")
    assert status == 200
    assert 'pymultus_cni_requests_total{command="ADD",result="success"} 1' in text
    # DEL twice, as containerd does: StopPodSandbox, then RemovePodSandbox (CNI_NETNS="")
    assert 'pymultus_cni_requests_total{command="DEL",result="success"} 2' in text
    assert 'pymultus_cache_lookups_total{kind="nad",outcome="hit"}' in text


def test_hotplug_adds_and_removes_a_second_network(cluster: LocalCluster) -> None:
    node = cluster.topology.node("node-1")
    start_pod(cluster, "hot")
    try:
        status, body = thick.hotplug(
            cluster,
            node,
            {
                "podNamespace": "default",
                "podName": "hot",
                "op": "add",
                "network": "macvlan-conf",
                "interface": "net2",
            },
        )
        assert status == 200, body
        assert json.loads(body)["interfaces"] == ["eth0", "net1", "net2"]
        links = {i.name for i in cluster.pod_network("default", "hot").interfaces}
        assert {"eth0", "net1", "net2"} <= links
        net_status = json.loads(
            cluster.get_pod("default", "hot")["metadata"]["annotations"][
                "k8s.v1.cni.cncf.io/network-status"
            ]
        )
        assert [s["interface"] for s in net_status] == ["eth0", "net1", "net2"]

        status, body = thick.hotplug(
            cluster,
            node,
            {"podNamespace": "default", "podName": "hot", "op": "remove", "interface": "net2"},
        )
        assert status == 200, body
        links = {i.name for i in cluster.pod_network("default", "hot").interfaces}
        assert "net2" not in links and "net1" in links
        net_status = json.loads(
            cluster.get_pod("default", "hot")["metadata"]["annotations"][
                "k8s.v1.cni.cncf.io/network-status"
            ]
        )
        assert [s["interface"] for s in net_status] == ["eth0", "net1"]

        status, body = thick.hotplug(
            cluster,
            node,
            {"podNamespace": "default", "podName": "nobody", "op": "remove", "interface": "net2"},
        )
        assert status == 400 and json.loads(body)["code"] == 3
    finally:
        assert cluster.delete_pod("default", "hot") is None
    assert cluster.leaks() == []


def test_hotplugged_network_is_removed_by_the_pods_del(cluster: LocalCluster) -> None:
    node = cluster.topology.node("node-1")
    start_pod(cluster, "hot2")
    status, body = thick.hotplug(
        cluster,
        node,
        {"podNamespace": "default", "podName": "hot2", "op": "add", "network": "macvlan-conf"},
    )
    assert status == 200, body
    assert json.loads(body)["interfaces"] == ["eth0", "net1", "net2"]  # next free net<N>
    assert cluster.delete_pod("default", "hot2") is None
    assert cluster.leaks() == []
