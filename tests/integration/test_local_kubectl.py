"""Issue 4 acceptance with the real tools: `harness cluster up`, kubectl, `harness exec`.

A two-node cluster is started exactly as a user would (``harness cluster
up``), a NAD (macvlan on ``eth1``, static IPAM with addresses from the
annotation) and two pods on different nodes are applied with kubectl, then:
the network-status shows in ``kubectl get pod -o yaml``, ``harness exec``
shows net1 with its address, pings cross the nodes over net1 and over eth0,
and ``kubectl delete`` removes interfaces and leases. The cluster is removed
by ``harness cluster down`` in a ``finally``, and the test checks that no
namespace or run directory of it is left.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import yaml

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network and mount namespaces)"),
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
    pytest.mark.skipif(not os.path.isdir("/usr/lib/cni"), reason="no CNI plugins in /usr/lib/cni"),
]

HARNESS = [sys.executable, "-m", "harness.cli"]
STATUS = "k8s.v1.cni.cncf.io/network-status"

MANIFESTS = """
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata:
  name: macvlan-eth1
spec:
  config: '{"cniVersion": "0.3.1", "type": "macvlan", "master": "eth1", "mode": "bridge",
    "capabilities": {"ips": true}, "ipam": {"type": "static"}}'
---
apiVersion: v1
kind: Pod
metadata:
  name: pod-a
  annotations:
    k8s.v1.cni.cncf.io/networks: '[{"name": "macvlan-eth1", "ips": ["192.168.2.11/24"]}]'
spec:
  nodeName: node-1
  containers: [{name: main, image: busybox}]
---
apiVersion: v1
kind: Pod
metadata:
  name: pod-b
  annotations:
    k8s.v1.cni.cncf.io/networks: '[{"name": "macvlan-eth1", "ips": ["192.168.2.12/24"]}]'
spec:
  nodeName: node-2
  containers: [{name: main, image: busybox}]
"""


def run(argv: list[str], env: dict[str, str] | None = None, timeout: float = 30.0) -> str:
    proc = subprocess.run(
        argv, capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
    assert proc.returncode == 0, f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr}"
    return proc.stdout


@pytest.fixture
def cluster(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[dict[str, str]]:
    """A cluster started by `harness cluster up`; always taken down, leaks checked."""
    argv = [*HARNESS, "cluster", "up", "--nodes", "2"]
    meta = request.config.getoption("--meta-plugin", default=None)
    if meta:
        argv += ["--meta-plugin", str(meta)]
    out = run(argv, timeout=60)
    match = re.search(r"export KUBECONFIG=(\S+)", out)
    assert match, out
    kubeconfig = match.group(1)
    cluster_id = os.path.basename(os.path.dirname(kubeconfig))
    env = {**os.environ, "KUBECONFIG": kubeconfig}
    try:
        yield {"id": cluster_id, "kubeconfig": kubeconfig, **env}
    finally:
        down = subprocess.run(
            [*HARNESS, "cluster", "down", cluster_id], capture_output=True, text=True, check=False
        )
        left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert down.returncode == 0, down.stderr
        assert cluster_id not in left, f"namespaces left behind:\n{left}"
        assert not os.path.exists(os.path.dirname(kubeconfig))


def kubectl(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    proc = subprocess.run(
        ["kubectl", *args], input=stdin, capture_output=True, text=True, env=env, timeout=30
    )
    assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr}"
    return proc.stdout


def wait_running(env: dict[str, str], name: str, timeout: float = 20.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        pod = json.loads(kubectl(env, "get", "pod", name, "-o", "json"))
        if pod.get("status", {}).get("phase") == "Running":
            return dict(pod)
        assert time.monotonic() < deadline, f"pod {name} not Running: {pod.get('status')}"
        time.sleep(0.1)


def harness_exec(env: dict[str, str], pod: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HARNESS, "exec", pod, "--cluster", env["id"], "--", *argv],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_kubectl_nad_pods_ping_and_delete(cluster: dict[str, str]) -> None:
    env = cluster
    applied = kubectl(env, "apply", "-f", "-", stdin=MANIFESTS)
    assert "networkattachmentdefinition.k8s.cni.cncf.io/macvlan-eth1 created" in applied
    pod_a = wait_running(env, "pod-a")
    pod_b = wait_running(env, "pod-b")

    # kubectl get -o yaml shows the network-status the meta-plugin wrote.
    as_yaml = yaml.safe_load(kubectl(env, "get", "pod", "pod-b", "-o", "yaml"))
    status = json.loads(as_yaml["metadata"]["annotations"][STATUS])
    by_interface = {entry["interface"]: entry for entry in status}
    assert by_interface["net1"]["name"] == "default/macvlan-eth1"
    assert by_interface["net1"]["ips"] == ["192.168.2.12"]
    assert by_interface["eth0"]["default"] is True
    assert as_yaml["spec"]["nodeName"] == "node-2"

    # harness exec shows net1 with its address.
    shown = harness_exec(env, "pod-b", "ip", "-j", "addr", "show", "net1")
    assert shown.returncode == 0, shown.stderr
    addresses = [a["local"] for link in json.loads(shown.stdout) for a in link["addr_info"]]
    assert "192.168.2.12" in addresses

    # Cross-node pings: net1 (macvlan on eth1) and eth0 (ptp, routed between nodes).
    over_net1 = harness_exec(env, "pod-a", "ping", "-n", "-c", "1", "-W", "2", "192.168.2.12")
    assert over_net1.returncode == 0, over_net1.stdout + over_net1.stderr
    ip_b = str(pod_b["status"]["podIP"])  # type: ignore[index]
    ip_a = str(pod_a["status"]["podIP"])  # type: ignore[index]
    assert ip_a.startswith("10.244.1.") and ip_b.startswith("10.244.2.")
    over_eth0 = harness_exec(env, "pod-a", "ping", "-n", "-c", "1", "-W", "2", "-I", "eth0", ip_b)
    assert over_eth0.returncode == 0, over_eth0.stdout + over_eth0.stderr

    # kubectl delete removes the interfaces, sandboxes and leases.
    kubectl(env, "delete", "-f", "-", "--wait=true", stdin=MANIFESTS)
    assert kubectl(env, "get", "pods", "-o", "name").strip() == ""
    gone = harness_exec(env, "pod-a", "true")
    assert gone.returncode == 1 and "no running sandbox" in gone.stderr
    run_dir = os.path.dirname(env["kubeconfig"])
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    pod_namespaces = [
        line.split()[0]
        for line in namespaces.splitlines()
        if line.startswith(env["id"] + "-")
        and not re.search(r"-(node-\d+|fabric)$", line.split()[0])
    ]
    assert pod_namespaces == []
    for node in ("node-1", "node-2"):
        links = json.loads(run(["ip", "-n", f"{env['id']}-{node}", "-j", "link", "show"]))
        assert sorted(link["ifname"] for link in links) == ["eth0", "eth1", "lo"]
        lib = os.path.join(run_dir, "nodes", node, "var-lib-cni")
        files = [
            os.path.relpath(os.path.join(d, f), lib)
            for d, _, fs in os.walk(lib)
            for f in fs
            if f != "lock" and not f.startswith("last_reserved")
        ]
        assert files == [], f"{node} left {files}"


def test_unbound_pods_are_scheduled_and_listed(cluster: dict[str, str]) -> None:
    env = cluster
    pods = "\n---\n".join(
        f"apiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}}}\n"
        "spec: {containers: [{name: main, image: busybox}]}"
        for i in range(4)
    )
    kubectl(env, "apply", "-f", "-", stdin=pods)
    nodes = [str(wait_running(env, f"p{i}")["spec"]["nodeName"]) for i in range(4)]  # type: ignore[index]
    assert sorted(nodes) == ["node-1", "node-1", "node-2", "node-2"]
    table = kubectl(env, "get", "pods")
    assert re.search(r"p0\s+1/1\s+Running", table), table
    events = kubectl(env, "get", "events")
    assert "Successfully assigned default/p0 to node-" in events
    status = json.loads(run([*HARNESS, "cluster", "status", "--json"]))
    mine = [s for s in status if s["id"] == env["id"]]
    assert mine and mine[0]["alive"] and mine[0]["pods"] == 4
    kubectl(env, "delete", "pod", "--all", "--wait=true")
