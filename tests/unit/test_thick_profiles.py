"""The thick installer's pure parts, driven by a profile: the daemon's config,
command line and environment, and the shim's config (no root, no daemon)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from harness.backends.local import thick
from harness.backends.local.topology import Node
from harness.profiles import Binaries, Profile, builtin

NODE = Node(
    name="node-1",
    index=1,
    netns="hx1-node-1",
    mount_ns="/run/harness/hx1/node-1.mnt",
    root="/run/harness/hx1/nodes/node-1",
    address="172.18.0.11/16",
    pod_cidr="10.244.1.0/24",
)
THIN = {
    "cniVersion": "1.0.0",
    "name": "multus-cni-network",
    "type": "multus-shim",
    "kubeconfig": "/etc/cni/net.d/multus.d/multus.kubeconfig",
    "cniDir": "/var/lib/cni/multus",
    "clusterNetwork": "/etc/cni/net.d/10-kindnet.conflist",
}


@dataclass
class FakeCluster:
    profile: Profile
    binaries: Binaries = field(default_factory=Binaries)
    node_server: str = "https://127.0.0.1:6443"
    cluster_id: str = "hx1"


def test_multus_daemon_config_is_the_daemonsets_with_node_paths() -> None:
    cluster = FakeCluster(builtin("multus-thick"))
    conf = thick.daemon_config(THIN, NODE, cluster.profile, cluster)
    assert "kubeconfig" not in conf and "type" not in conf  # in-cluster client
    assert conf["cniDir"] == "/var/lib/cni/multus" and conf["cniVersion"] == "1.0.0"
    assert conf["multusConfigFile"] == "auto"
    assert conf["socketDir"] == conf["daemonSocketDir"] == f"{NODE.root}/run/multus"


def test_multus_daemon_command_line_and_environment() -> None:
    binaries = Binaries(daemon=("/bin/multus-daemon",), shim="/bin/multus-shim")
    cluster = FakeCluster(builtin("multus-thick"), binaries)
    argv = thick.daemon_argv(cluster, NODE)
    assert argv[: len(NODE.exec_prefix())] == NODE.exec_prefix()
    assert argv[len(NODE.exec_prefix()) :] == [
        "/bin/multus-daemon",
        "-config",
        "/etc/cni/net.d/multus.d/daemon-config.json",
    ]
    env = thick.daemon_env(cluster, NODE)
    assert env["MULTUS_NODE_NAME"] == "node-1"
    assert (env["KUBERNETES_SERVICE_HOST"], env["KUBERNETES_SERVICE_PORT"]) == ("127.0.0.1", "6443")
    assert "KUBECONFIG" not in env
    assert thick.socket_path(NODE, cluster.profile) == f"{NODE.root}/run/multus/multus.sock"


def test_a_foreign_profile_without_its_daemon_is_never_given_pymultus() -> None:
    cluster = FakeCluster(builtin("multus-thick"))
    with pytest.raises(RuntimeError, match="--daemon"):
        thick.daemon_argv(cluster, NODE)


def test_pymultus_thick_defaults() -> None:
    cluster = FakeCluster(builtin("pymultus-thick"))
    argv = thick.daemon_argv(cluster, NODE, node_name="elsewhere")
    assert argv[-6:-4] == ["-m", "pymultus.daemon"] and argv[-2:] == ["--node-name", "elsewhere"]
    shim = thick.shim_config(
        {**THIN, "capabilities": {"ips": True}}, NODE, cluster.profile, cluster
    )
    assert shim["type"] == "pymultus-shim"
    assert shim["daemonSocketDir"] == f"{NODE.root}/run/pymultus"
    assert shim["daemonConfig"] == "/etc/cni/pymultus/daemon-config.json"
    assert shim["capabilities"] == {"ips": True}
