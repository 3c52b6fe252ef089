"""Containerd nodes (issue 14): a real containerd per node calls the meta-plugin.

Each test starts its own cluster under a private run root in pytest's tmp
dir, removes it in a ``finally`` and checks that nothing of its containerd
is left: no process marked with its dir (containerd, shims), no cgroup, no
mount of the run dir, no network namespace.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.backends.local.apiclient import ClusterClient
from harness.backends.local.cluster import LocalCluster
from harness.backends.local.containerd.check import unavailable_reason
from harness.backends.local.containerd.daemon import cgroup_dirs, processes_marked
from harness.backends.local.owner import READY_PREFIX
from harness.backends.local.runs import list_runs, select_run, take_down
from tests.integration.clusters import netns_of

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network and mount namespaces)"),
    pytest.mark.skipif(not os.path.isdir("/usr/lib/cni"), reason="no CNI plugins in /usr/lib/cni"),
    pytest.mark.skipif(bool(unavailable_reason()), reason=str(unavailable_reason())),
]


def pod(name: str, command: list[str] | None = None) -> dict[str, object]:
    container: dict[str, object] = {"name": "main", "image": "nginx:1.25"}
    if command:
        container["command"] = command
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": {"example.com/note": "kept"}},
        "spec": {"containers": [container]},
    }


def assert_nothing_left(cluster_id: str, run_dir: str) -> None:
    assert netns_of(cluster_id) == []
    assert processes_marked(run_dir) == []
    for node in ("node-1", "node-2"):
        assert processes_marked(f"/run/containerd/{cluster_id}-{node}.sock") == []
        assert cgroup_dirs(f"/harness-{cluster_id}-{node}") == []
    assert run_dir not in Path("/proc/self/mountinfo").read_text()
    assert not os.path.exists(run_dir)


def test_pod_runs_in_containerd_with_exec_logs_and_no_leaks(tmp_path: Path) -> None:
    cluster = LocalCluster(nodes=1, runtime="containerd", run_root=str(tmp_path / "run"))
    cluster.start()
    try:
        cluster.create_pod(pod("web", ["sh", "-c", "echo started-in-busybox; exec sleep 1d"]))
        outcome = cluster.wait_pod("default", "web", 30)
        assert outcome.ready, outcome
        kubelet = cluster.kubelets["node-1"]
        sandbox = kubelet.sandbox_for("default", "web")
        assert sandbox is not None and sandbox.netns.startswith("cni-")
        # The pod netns is the node's own, not one of the host's /run/netns.
        assert not os.path.exists(f"/run/netns/{sandbox.netns}")
        assert os.path.exists(cluster.pod_netns_path("default", "web"))
        network = cluster.pod_network("default", "web")
        eth0 = network.interface("eth0")
        assert eth0 is not None and eth0.addresses
        pod_ip = eth0.addresses[0].ip
        status = cluster.get_pod("default", "web")["status"]  # type: ignore[index]
        assert status["podIP"] == pod_ip  # from PodSandboxStatus
        code, out = kubelet.exec_sync(sandbox.uid, ["ip", "-o", "-4", "addr", "show", "eth0"], 10)
        assert code == 0 and pod_ip in out  # busybox's ip, inside the container
        deadline = time.monotonic() + 10
        while "started-in-busybox" not in kubelet.logs(sandbox.uid):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        # containerd cached the ADD for libcni; its DEL removes it.
        cache = os.listdir(cluster.topology.nodes[0].host_path("/var/lib/cni/results"))
        assert any(name.startswith("pymultus-cni-network-") for name in cache)
        assert cluster.delete_pod("default", "web") is None
        assert cluster.leaks() == []
    finally:
        run_dir = cluster.run_dir
        cluster.close()
    assert_nothing_left(cluster.cluster_id, run_dir)


def test_kill_9_of_the_owner_then_down_removes_containerd_shims_and_cgroups(
    tmp_path: Path,
) -> None:
    run_root = str(tmp_path / "run")
    argv = [sys.executable, "-m", "harness.backends.local.owner", "--nodes", "1"]
    argv += ["--run-root", run_root, "--runtime", "containerd"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, start_new_session=True)
    cluster_id = run_dir = ""
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith(READY_PREFIX), line
        info = json.loads(line[len(READY_PREFIX) :])
        cluster_id = str(info["id"])
        run_dir = os.path.join(run_root, cluster_id)
        api = ClusterClient.from_kubeconfig(str(info["kubeconfig"]), pool=1)
        api.request("POST", "/api/v1/namespaces/default/pods", pod("victim"))
        deadline = time.monotonic() + 30
        shim_mark = f"/run/containerd/{cluster_id}-node-1.sock"
        while not any("containerd-shim" in a for _p, a in processes_marked(shim_mark)):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        while not cgroup_dirs(f"/harness-{cluster_id}-node-1"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        run = select_run(list_runs(run_root), cluster_id)
        assert not run.alive
        assert processes_marked(shim_mark)  # containerd and its shim outlive the owner
        assert "stale" in take_down(run)
        assert_nothing_left(cluster_id, run_dir)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for run in list_runs(run_root):
            take_down(run)


POD_YAML = """
apiVersion: v1
kind: Pod
metadata: {name: demo}
spec:
  nodeName: node-2
  containers: [{name: main, image: nginx, command: [sh, -c, "echo hello-from-demo; exec sleep 1d"]}]
"""


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_cluster_up_with_containerd_serves_kubectl_exec_and_logs() -> None:
    harness = [sys.executable, "-m", "harness.cli"]
    up = subprocess.run(
        [*harness, "cluster", "up", "--runtime", "containerd", "--nodes", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert up.returncode == 0, up.stderr
    match = re.search(r"cluster (hx[0-9a-f]+) up", up.stderr)
    assert match, up.stderr
    cluster_id = match.group(1)
    env = {**os.environ, "KUBECONFIG": f"/run/harness/{cluster_id}/kubeconfig"}

    def kubectl(*args: str, stdin: str | None = None) -> str:
        proc = subprocess.run(
            ["kubectl", *args], input=stdin, capture_output=True, text=True, env=env, timeout=60
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    try:
        assert "containerd://" in kubectl("get", "nodes", "-o", "wide")
        kubectl("apply", "--validate=false", "-f", "-", stdin=POD_YAML)
        deadline = time.monotonic() + 30
        while "Running" not in kubectl("get", "pod", "demo"):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        pod_ip = json.loads(kubectl("get", "pod", "demo", "-o", "json"))["status"]["podIP"]
        cmd = ["exec", "--cluster", cluster_id, "demo", "--", "ip", "-o", "-4", "addr"]
        shown = subprocess.run([*harness, *cmd], capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0 and pod_ip in shown.stdout, shown.stderr
        deadline = time.monotonic() + 10
        while True:
            logs = subprocess.run(
                [*harness, "logs", "--cluster", cluster_id, "demo"],
                capture_output=True,
                text=True,
                timeout=60,
            )
            if "hello-from-demo" in logs.stdout:
                break
            assert time.monotonic() < deadline, logs.stderr
            time.sleep(0.2)
        kubectl("delete", "pod", "demo")
    finally:
        down = subprocess.run(
            [*harness, "cluster", "down", cluster_id], capture_output=True, text=True, timeout=60
        )
    assert down.returncode == 0, down.stderr
    assert_nothing_left(cluster_id, f"/run/harness/{cluster_id}")
