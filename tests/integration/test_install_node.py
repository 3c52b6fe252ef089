"""``pymultus install`` on a simulated node: the config it writes is what the
node's runtime uses; token rotation, master replacement and uninstall.

One single-node thin cluster (root needed, skipped otherwise); the installer
runs in this process against the node's conf dir, as the DaemonSet would
against the host's. ``LocalCluster.close`` removes everything.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from harness.backends.local.cluster import LocalCluster
from pymultus.install.generate import InstallOptions
from pymultus.install.main import Installer, main

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(
        os.geteuid() != 0 or not os.path.exists("/usr/lib/cni/macvlan") or not shutil.which("ip"),
        reason="needs root, iproute2 and containernetworking-plugins",
    ),
]

NAD = {
    "apiVersion": "k8s.cni.cncf.io/v1",
    "kind": "NetworkAttachmentDefinition",
    "metadata": {"name": "mv", "namespace": "default"},
    "spec": {
        "config": json.dumps(
            {"cniVersion": "0.3.1", "type": "macvlan", "master": "eth1", "mode": "bridge",
             "ipam": {"type": "host-local", "subnet": "192.168.30.0/24"}}
        )
    },
}  # fmt: skip


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(nodes=1) as c:
        c.apply(NAD)
        yield c


@pytest.fixture
def installer(cluster: LocalCluster, tmp_path: Any) -> Iterator[Installer]:
    node = cluster.topology.node("node-1")
    conf_dir = node.host_path("/etc/cni/net.d")
    for name in os.listdir(conf_dir):  # start from a node without pymultus
        if name.startswith("00-"):
            os.unlink(os.path.join(conf_dir, name))
    token = tmp_path / "token"
    token.write_text(cluster.token)
    inst = Installer(
        InstallOptions(cni_dir="/var/lib/cni/pymultus"),
        conf_dir,
        token_file=str(token),
        ca_file=cluster.ca_file,
        server=cluster.node_server,
    )
    yield inst
    inst.remove_config()
    for name in os.listdir(conf_dir):
        if name.startswith("05-"):
            os.unlink(os.path.join(conf_dir, name))


def run_pod(cluster: LocalCluster, name: str, networks: str = "mv") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default"}
    if networks:
        meta["annotations"] = {"k8s.v1.cni.cncf.io/networks": networks}
    cluster.create_pod(
        {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
         "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "pause"}]}}
    )  # fmt: skip
    outcome = cluster.wait_pod("default", name, 30)
    assert outcome.ready, outcome
    pod = cluster.get_pod("default", name)
    assert pod is not None
    annotations = pod["metadata"].get("annotations") or {}
    status: list[dict[str, Any]] = json.loads(
        annotations.get("k8s.v1.cni.cncf.io/network-status", "[]")
    )
    assert cluster.delete_pod("default", name) is None
    return {"status": status}


def test_generated_config_attaches_pods(cluster: LocalCluster, installer: Installer) -> None:
    assert "00-pymultus.conflist written for master 10-kindnet.conflist" in installer.sync()
    status = run_pod(cluster, "first")["status"]
    assert {(s["name"], s["interface"]) for s in status} == {
        ("kindnet", "eth0"),
        ("default/mv", "net1"),
    }
    assert cluster.leaks() == []


def test_token_rotated_next_add_authenticates(cluster: LocalCluster, installer: Installer) -> None:
    installer.sync()
    new = secrets.token_urlsafe(24)
    cluster.api_server.set_token(new)  # the old token is refused from now on
    cluster.token = new
    cluster.client().token = new  # the harness's own client (and the kubelet's)
    with open(installer.token_file, "w") as f:
        f.write(new + "\n")  # the kubelet rotates the projected token file
    assert "kubeconfig written" in installer.sync()
    assert run_pod(cluster, "rotated")["status"][1]["name"] == "default/mv"
    assert cluster.leaks() == []


def test_master_replaced_regenerates(cluster: LocalCluster, installer: Installer) -> None:
    installer.sync()
    conf_dir = installer.conf_dir
    with open(os.path.join(conf_dir, "10-kindnet.conflist")) as f:
        master = json.load(f)
    master["name"] = "kindnet2"
    with open(os.path.join(conf_dir, "05-kindnet2.conflist"), "w") as f:
        json.dump(master, f)
    assert "written for master 05-kindnet2.conflist" in installer.sync()
    status = run_pod(cluster, "remastered", networks="")["status"]
    assert [(s["name"], s["interface"]) for s in status] == [("kindnet2", "eth0")]


def test_installer_removed_leaves_no_config(cluster: LocalCluster, installer: Installer) -> None:
    stop = threading.Event()
    argv = [
        "--cni-conf-dir", installer.conf_dir, "--host-conf-dir", "/etc/cni/net.d",
        "--skip-binaries", "--interval", "0.05", "--token-file", installer.token_file,
        "--server", cluster.node_server, "--ca-file", cluster.ca_file,
    ]  # fmt: skip
    thread = threading.Thread(target=main, args=(argv, stop))
    thread.start()
    try:
        target = os.path.join(installer.conf_dir, "00-pymultus.conflist")
        for _ in range(200):
            if os.path.exists(target):
                break
            threading.Event().wait(0.05)
        assert os.path.exists(target)
    finally:
        stop.set()
        thread.join(10)
    assert not [n for n in os.listdir(installer.conf_dir) if n.startswith("00-")]
    # The node falls back to its default network: new pods are not blocked.
    status = run_pod(cluster, "after-uninstall", networks="mv")["status"]
    assert status == []  # ptp alone writes no network-status
    assert cluster.leaks() == []
