"""CHECK, STATUS and GC of the real pymultus binary with the real plugins (root).

The scenario format has no CHECK/STATUS/GC step (the simulated kubelet, like
the real one, never sends them), so this drives them by hand: it starts a
one-node local cluster, lets the kubelet create the pods, then runs the
pymultus binary in the node exactly as the kubelet does, with its executor,
its CNI_ARGS and its cached result. The cluster (namespaces, links, leases,
caches) is removed even when a check fails, and the leak check proves it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from harness.cniruntime.config import plugin_conf
from harness.cniruntime.errors import CNIError

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("ip") is None or not os.path.isdir("/usr/lib/cni"),
        reason="needs root, iproute2 and the reference plugins in /usr/lib/cni",
    ),
]

MACVLAN_1_0 = {
    "cniVersion": "1.0.0",
    "name": "macvlan-new",
    "type": "macvlan",
    "master": "eth0",
    "mode": "bridge",
    "ipam": {
        "type": "host-local",
        "subnet": "192.168.7.0/24",
        "rangeStart": "192.168.7.10",
        "rangeEnd": "192.168.7.20",
    },
}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    from harness.backends.local.cluster import LocalCluster

    with LocalCluster(nodes=1, meta_config={"cniVersion": "1.1.0"}) as running:
        running.apply(
            {
                "apiVersion": "k8s.cni.cncf.io/v1",
                "kind": "NetworkAttachmentDefinition",
                "metadata": {"name": "macvlan-new", "namespace": "default"},
                "spec": {"config": json.dumps(MACVLAN_1_0)},
            }
        )
        yield running


def make_pod(cluster: Any, name: str) -> dict[str, Any]:
    cluster.create_pod(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": "default",
                "annotations": {"k8s.v1.cni.cncf.io/networks": "macvlan-new"},
            },
            "spec": {"containers": [{"name": "c", "image": "none"}]},
        }
    )
    outcome = cluster.wait_pod("default", name, 30)
    assert outcome.ready, outcome
    pod = cluster.get_pod("default", name)
    assert pod is not None
    return dict(pod)


def kubelet_of(cluster: Any) -> Any:
    return next(iter(cluster.kubelets.values()))


def call(cluster: Any, command: str, pod: dict[str, Any] | None, **conf_extra: Any) -> None:
    """Run the node's meta-plugin config for ``command`` like the runtime would."""
    kubelet = kubelet_of(cluster)
    ncl = kubelet.network_config()
    prev = None
    if pod is not None:
        sandbox = kubelet.sandbox_for("default", pod["metadata"]["name"])
        request = kubelet.request(command, sandbox, pod)
        cached = kubelet.cache.load(ncl.name, sandbox.container_id, "eth0")
        prev = cached
    else:
        from harness.cniruntime.request import CNIRequest

        request = CNIRequest(command=command, path=("/opt/cni/bin",))
    conf = plugin_conf(ncl, ncl.plugins[0], {}, prev)
    conf.update(conf_extra)
    kubelet.executor()(ncl.plugins[0]["type"], command, conf, request)


def container_id(cluster: Any, name: str) -> str:
    return str(kubelet_of(cluster).sandbox_for("default", name).container_id)


def test_check_status_and_gc(cluster: Any) -> None:
    first = make_pod(cluster, "checked")
    second = make_pod(cluster, "stale")
    try:
        call(cluster, "CHECK", first)
        call(cluster, "STATUS", None)

        # net1 disappears behind the plugins' back: CHECK must say so.
        netns = cluster.pod_netns("default", "checked")
        subprocess.run(["ip", "-n", netns, "link", "del", "net1"], check=True)
        with pytest.raises(CNIError) as err:
            call(cluster, "CHECK", first)
        assert "net1" in err.value.msg

        # GC keeping only the first pod removes the second pod's attachments.
        keep = [{"containerID": container_id(cluster, "checked"), "ifname": "eth0"}]
        stale_ns = cluster.pod_netns("default", "stale")
        call(cluster, "GC", None, **{"cni.dev/valid-attachments": keep})
        links = subprocess.run(
            ["ip", "-n", stale_ns, "-o", "link", "show"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "net1" not in links and "eth0" not in links
    finally:
        for name in ("checked", "stale"):
            cluster.delete_pod("default", name, 30)
    assert second["metadata"]["name"] == "stale"
    assert cluster.leaks() == []
