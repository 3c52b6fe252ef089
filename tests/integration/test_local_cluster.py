"""The local backend's machinery: crash cleanup, sandbox retries, API faults by scope.

Each test makes its own cluster (one node, a fraction of a second) under a
private run root in pytest's tmp dir and removes it in a ``finally``; the
final assertion of each is that none of its namespaces is left.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.backends.local.apiclient import ClusterClient
from harness.backends.local.cluster import LocalCluster
from harness.backends.local.owner import READY_PREFIX
from harness.backends.local.runs import list_runs, select_run, take_down
from harness.backends.local.topology import NETNS_DIR
from tests.integration.clusters import netns_of

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network and mount namespaces)"),
    pytest.mark.skipif(not os.path.isdir("/usr/lib/cni"), reason="no CNI plugins in /usr/lib/cni"),
]

BROKEN_CONF = {"cniVersion": "1.0.0", "name": "broken", "type": "no-such-plugin"}


def pod(name: str, node: str | None = None) -> dict[str, object]:
    spec: dict[str, object] = {"containers": [{"name": "main", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


@pytest.fixture
def cluster(local_cluster: LocalCluster) -> LocalCluster:
    return local_cluster


def test_kill_9_of_the_owner_then_down_removes_everything(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    run_root = str(tmp_path / "run")
    argv = [sys.executable, "-m", "harness.backends.local.owner", "--nodes", "2"]
    argv += ["--run-root", run_root]
    meta = request.config.getoption("--meta-plugin", default=None)
    if meta:
        argv += ["--meta-plugin", str(meta)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, start_new_session=True)
    info: dict[str, object] = {}
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith(READY_PREFIX), line
        info = json.loads(line[len(READY_PREFIX) :])
        cluster_id = str(info["id"])
        api = ClusterClient.from_kubeconfig(str(info["kubeconfig"]), pool=1)
        api.request("POST", "/api/v1/namespaces/default/pods", pod("victim"))
        deadline = time.monotonic() + 15
        while len(netns_of(cluster_id)) < 4:  # fabric, 2 nodes, the pod
            assert time.monotonic() < deadline, netns_of(cluster_id)
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        runs = list_runs(run_root)
        run = select_run(runs, cluster_id)
        assert not run.alive and run.persistent
        assert "stale" in take_down(run)
        assert netns_of(cluster_id) == []
        assert not os.path.exists(run.run_dir)
        mounts = Path("/proc/self/mountinfo").read_text()
        assert run.run_dir not in mounts
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for run in list_runs(run_root):
            take_down(run)


def test_failed_sandbox_is_retried_with_backoff_until_the_config_is_fixed(
    cluster: LocalCluster,
) -> None:
    node = cluster.topology.nodes[0]
    # A first config that cannot work: the runtime calls it, not the meta-plugin.
    cluster.write_node_file(node.name, "/etc/cni/net.d/0-broken.conf", json.dumps(BROKEN_CONF))
    cluster.create_pod(pod("retried"))
    outcome = cluster.wait_pod("default", "retried", 10)
    assert outcome.error is not None and "no-such-plugin" in outcome.error.message
    # Its cleanup DEL fails too (no such plugin): as on containerd the sandbox is
    # kept, netns and all, and each retry (the first after 1 s) stops it first and
    # makes no new sandbox while that fails.
    first = cluster._sandbox("default", "retried")
    assert first is not None and first.cleanup_error is not None
    deadline = time.monotonic() + 10
    while kill_failures(cluster, "retried") < 2:  # the 1 s retry happened
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert cluster._sandbox("default", "retried") is first
    assert os.path.exists(f"/var/run/netns/{first.netns}")
    status = (cluster.get_pod("default", "retried") or {})["status"]
    assert status["phase"] == "Pending"
    assert status["containerStatuses"][0]["state"] == {"waiting": {"reason": "ContainerCreating"}}
    cluster.remove_node_file(node.name, "/etc/cni/net.d/0-broken.conf")
    deadline = time.monotonic() + 10  # next retry 2 s after the last failure
    while (cluster.get_pod("default", "retried") or {})["status"].get("phase") != "Running":
        assert time.monotonic() < deadline, failed_events(cluster, "retried")
        time.sleep(0.05)
    sandbox = cluster._sandbox("default", "retried")
    assert sandbox is not None and sandbox.ready and sandbox.attempt >= 2
    # The kept one was stopped (DEL with the fixed config) before the new one was made.
    assert cluster.kubelets[node.name].stale == {} and first.teardown_error is None
    assert cluster.delete_pod("default", "retried", 10) is None
    assert cluster.leaks() == []


def test_deleting_a_pod_whose_sandbox_keeps_failing(cluster: LocalCluster) -> None:
    node = cluster.topology.nodes[0]
    cluster.write_node_file(node.name, "/etc/cni/net.d/0-broken.conf", json.dumps(BROKEN_CONF))
    cluster.create_pod(pod("doomed"))
    assert cluster.wait_pod("default", "doomed", 10).error is not None
    sandbox = cluster._sandbox("default", "doomed")
    assert sandbox is not None
    # DEL keeps failing (no such plugin): the kubelet gives up after its bounded
    # retries, the pod goes, and what DEL could not remove is a leak, as on containerd.
    error = cluster.delete_pod("default", "doomed", 10)
    assert error is not None and "no-such-plugin" in error.message
    kubelet = cluster.kubelets[node.name]
    assert kubelet.retries == {}  # the pending retry was cancelled
    time.sleep(1.2)  # past the first back-off: no attempt may resurrect it
    assert cluster.get_pod("default", "doomed") is None
    assert cluster.leaks() == [f"network namespace {sandbox.netns}"]


def test_stop_api_for_nodes_only(cluster: LocalCluster) -> None:
    node = cluster.topology.nodes[0]
    port = int(cluster.node_server.rsplit(":", 1)[1])
    probe = (
        "import socket,sys\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {port}), timeout=2).close()\n"
        "except OSError:\n"
        "    sys.exit(1)\n"
    )
    in_node = ["nsenter", f"--net={NETNS_DIR}/{node.netns}", "--", sys.executable, "-c", probe]
    assert subprocess.run(in_node, check=False).returncode == 0
    cluster.stop_api(scope="nodes")
    try:
        assert subprocess.run(in_node, check=False).returncode == 1
        assert cluster.client().get("/api/v1/nodes/node-1") is not None  # harness still served
        cluster.create_pod(pod("while-down"))  # the kubelet still sees pods
        outcome = cluster.wait_pod("default", "while-down", 10)
        assert outcome.error is not None  # the meta-plugin on the node cannot reach the API
    finally:
        cluster.start_api()
    assert subprocess.run(in_node, check=False).returncode == 0
    assert cluster.delete_pod("default", "while-down", 10) is None
    assert cluster.leaks() == []


def failed_events(cluster: LocalCluster, name: str) -> list[dict[str, object]]:
    return [e for e in cluster.events("default", name) if e["reason"] == "FailedCreatePodSandBox"]


def kill_failures(cluster: LocalCluster, name: str) -> int:
    """FailedKillPod occurrences (the recorder counts a repeated event)."""
    events = [e for e in cluster.events("default", name) if e["reason"] == "FailedKillPod"]
    return sum(int(str(e.get("count") or 1)) for e in events)


def test_thick_mode_hook_is_called(
    cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`mode="thick"` hands each node to harness.backends.local.thick (lazily imported)."""
    calls: list[tuple[str, str]] = []

    class FakeThick:
        @staticmethod
        def install(c: LocalCluster, node: object, conf: dict[str, object]) -> None:
            assert conf["cniDir"] == "/var/lib/cni/pymultus"  # what the daemon is given
            calls.append(("install", node.name))  # type: ignore[attr-defined]

        @staticmethod
        def uninstall(c: LocalCluster, node: object) -> None:
            calls.append(("uninstall", node.name))  # type: ignore[attr-defined]

    import harness.backends.local.clusterbase as module

    monkeypatch.setattr(module, "thick_module", lambda: FakeThick)
    thick = LocalCluster(
        nodes=2, meta_plugin=cluster.meta_plugin, mode="thick", run_root=str(tmp_path / "t")
    )
    thick.start()
    try:
        assert calls == [("install", "node-1"), ("install", "node-2")]
    finally:
        thick.close()
    assert calls[2:] == [("uninstall", "node-2"), ("uninstall", "node-1")]
    assert netns_of(thick.cluster_id) == []
    assert shutil.which("nsenter")
