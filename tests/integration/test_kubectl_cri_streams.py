"""kubectl exec, attach and logs on a containerd node go through CRI (issue 17).

The Multus quickstart's own check, ``kubectl exec samplepod -- ip a``, on a
node that runs a real containerd: the API server asks the node's runtime for
an Exec URL and speaks the remotecommand protocol to containerd's streaming
server, so the command runs inside the runc container (the busybox image's
root, the container's own PID namespace), not on the host in the pod's
netns as on simulated nodes. ``kubectl logs`` reads the container's CRI log
file. Each test starts its own cluster and proves nothing of it is left.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from harness.backends.local.cluster import LocalCluster
from harness.backends.local.containerd.check import unavailable_reason
from tests.integration.clusters import echo_through, free_port, netns_of

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network and mount namespaces)"),
    pytest.mark.skipif(not os.path.isdir("/usr/lib/cni"), reason="no CNI plugins in /usr/lib/cni"),
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
    pytest.mark.skipif(bool(unavailable_reason()), reason=str(unavailable_reason())),
]

# The quickstart's NAD, on the node's eth1 (the fabric) instead of eth0.
NAD = {
    "apiVersion": "k8s.cni.cncf.io/v1",
    "kind": "NetworkAttachmentDefinition",
    "metadata": {"name": "macvlan-conf", "namespace": "default"},
    "spec": {
        "config": json.dumps(
            {
                "cniVersion": "0.3.0",
                "type": "macvlan",
                "master": "eth1",
                "mode": "bridge",
                "ipam": {
                    "type": "host-local",
                    "subnet": "192.168.1.0/24",
                    "rangeStart": "192.168.1.200",
                    "rangeEnd": "192.168.1.216",
                    "gateway": "192.168.1.1",
                },
            }
        )
    },
}
# The quickstart's samplepod command; it also writes to its log, both streams.
SAMPLEPOD_COMMAND = [
    "/bin/ash",
    "-c",
    "echo hello-from-samplepod; echo to-stderr >&2; trap : TERM INT; sleep infinity & wait",
]


def samplepod() -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "samplepod",
            "namespace": "default",
            "annotations": {"k8s.v1.cni.cncf.io/networks": "macvlan-conf"},
        },
        "spec": {
            "containers": [{"name": "samplepod", "image": "alpine", "command": SAMPLEPOD_COMMAND}]
        },
    }


@pytest.fixture
def cri_cluster(tmp_path: Path) -> object:
    cluster = LocalCluster(nodes=1, runtime="containerd", run_root=str(tmp_path / "run"))
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.close()
        assert netns_of(cluster.cluster_id) == []


def kubectl(
    cluster: LocalCluster, *args: str, stdin: str | None = None, websockets: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": cluster.kubeconfig}
    env.pop("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", None)
    if websockets is not None:
        env["KUBECTL_REMOTE_COMMAND_WEBSOCKETS"] = websockets
    return subprocess.run(
        ["kubectl", *args], input=stdin, capture_output=True, text=True, env=env, timeout=60,
        check=False,
    )  # fmt: skip


def interface_names(ip_a: str) -> set[str]:
    return {
        line.split(":")[1].strip().split("@")[0] for line in ip_a.splitlines() if line[:1].isdigit()
    }


def test_exec_attach_and_logs_go_through_cri(cri_cluster: LocalCluster) -> None:
    c = cri_cluster
    c.apply(NAD)
    c.create_pod(samplepod())
    outcome = c.wait_pod("default", "samplepod", timeout=60)
    assert outcome.ready, outcome

    for websockets in ("true", "false"):  # v5.channel.k8s.io to us, SPDY to us
        shown = kubectl(c, "exec", "samplepod", "--", "ip", "a", websockets=websockets)
        assert shown.returncode == 0, shown.stderr
        assert interface_names(shown.stdout) == {"lo", "eth0", "net1"}, shown.stdout
        assert "192.168.1.200" in shown.stdout

    # Proof that it is CRI, not the host in the pod's netns: the command runs in
    # the container's mount and PID namespaces (not the host's), with the busybox
    # image as its root, the pod's hostname, beside the container's own process.
    for ns in ("mnt", "pid"):
        seen = kubectl(c, "exec", "samplepod", "--", "readlink", f"/proc/self/ns/{ns}")
        assert seen.returncode == 0, seen.stderr
        assert seen.stdout.strip().startswith(f"{ns}:[")
        assert seen.stdout.strip() != os.readlink(f"/proc/self/ns/{ns}"), ns
    uid = str((c.get_pod("default", "samplepod") or {})["metadata"]["uid"])
    cgroup = kubectl(c, "exec", "samplepod", "--", "cat", "/proc/self/cgroup")
    assert f"/pod{uid}/" in cgroup.stdout, cgroup.stdout  # the pod's cgroup, below the node's
    root = kubectl(c, "exec", "samplepod", "--", "ls", "/")
    assert root.returncode == 0 and "usr" not in root.stdout.split(), root.stdout
    assert kubectl(c, "exec", "samplepod", "--", "hostname").stdout.strip() == "samplepod"
    ps = kubectl(c, "exec", "samplepod", "--", "ps", "-o", "args")
    assert "/bin/ash -c echo hello-from-samplepod" in ps.stdout, ps.stdout

    # Exit codes, stderr, stdin and its end travel through containerd's stream.
    failed = kubectl(c, "exec", "samplepod", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert failed.returncode == 3, failed
    assert failed.stdout == "out\n" and "err" in failed.stderr
    for websockets in ("true", "false"):
        argv = ("exec", "-i", "samplepod", "--", "cat")
        echoed = kubectl(c, *argv, stdin="through stdin\n", websockets=websockets)
        assert (echoed.returncode, echoed.stdout) == (0, "through stdin\n"), echoed.stderr
    counted = kubectl(c, "exec", "-i", "samplepod", "--", "wc", "-c", stdin="x" * 400_000)
    assert counted.stdout.strip() == "400000", counted
    # A command the container does not have: containerd's own Status, kubectl's failure.
    missing = kubectl(c, "exec", "samplepod", "--", "no-such-command")
    assert missing.returncode != 0 and "no-such-command" in missing.stderr, missing

    # kubectl exec -it: a pseudo-terminal in the container, of the size kubectl sends.
    # containerd applies the size once the process runs (the resize stream is read
    # after the start, as on any CRI node): the command reads it a moment later.
    if shutil.which("script"):
        line = "kubectl exec -it samplepod -- sh -c 'tty; sleep 1; stty size; ip a'"
        env = {**os.environ, "KUBECONFIG": c.kubeconfig}
        tty = subprocess.run(
            ["script", "-qec", f"stty cols 91 rows 33; {line}", "/dev/null"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=60,
            check=False,
        )  # fmt: skip
        assert tty.returncode == 0, tty.stdout + tty.stderr
        assert "/dev/pts/" in tty.stdout and "33 91" in tty.stdout, tty.stdout
        assert "net1" in tty.stdout, tty.stdout

    # kubectl logs: the container's output (both streams), from its CRI log file.
    deadline = time.monotonic() + 20
    while True:
        logs = kubectl(c, "logs", "samplepod")
        if "to-stderr" in logs.stdout:
            break
        assert time.monotonic() < deadline, logs
        time.sleep(0.2)
    # stdout and stderr reach the file through two pipes: their order is the runtime's.
    lines = ["hello-from-samplepod", "to-stderr"]
    assert sorted(logs.stdout.splitlines()[:2]) == lines, logs.stdout
    stamped = kubectl(c, "logs", "samplepod", "--timestamps", "--tail=1")
    assert stamped.returncode == 0 and len(stamped.stdout.splitlines()) == 1, stamped
    assert stamped.stdout[:4].isdigit(), stamped.stdout
    assert stamped.stdout.split("Z ", 1)[1].strip() == logs.stdout.splitlines()[-1], stamped
    assert "hello-from-samplepod" in kubectl(c, "logs", "samplepod", "--since=1h").stdout
    time.sleep(1.1)  # samplepod wrote only when it started, seconds ago
    assert kubectl(c, "logs", "samplepod", "--since=1s").stdout == ""
    assert kubectl(c, "logs", "samplepod", "--limit-bytes=5").stdout == logs.stdout[:5]

    # kubectl attach: the container's own output from now on; -f of logs sees it too.
    c.create_pod(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "ticker", "namespace": "default"},
            "spec": {
                "containers": [
                    {
                        "name": "ticker",
                        "image": "busybox",
                        "command": ["sh", "-c", "while true; do echo tick; sleep 0.2; done"],
                    }
                ]
            },
        }
    )
    assert c.wait_pod("default", "ticker", timeout=60).ready
    env = {**os.environ, "KUBECONFIG": c.kubeconfig}
    for argv in (["attach", "ticker"], ["logs", "-f", "ticker"]):
        watcher = subprocess.Popen(
            ["kubectl", *argv], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            assert watcher.stdout is not None
            assert watcher.stdout.readline() == "tick\n", argv
        finally:
            watcher.kill()
            watcher.wait()


def test_port_forward_goes_through_cri(cri_cluster: LocalCluster) -> None:
    c = cri_cluster
    c.create_pod(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "echo", "namespace": "default"},
            "spec": {
                "containers": [
                    {
                        "name": "echo",
                        "image": "busybox",
                        "command": ["nc", "-ll", "-p", "7007", "-e", "cat"],
                    }
                ]
            },
        }
    )
    assert c.wait_pod("default", "echo", timeout=60).ready
    for websockets in ("true", "false"):  # tunnelled in a WebSocket, plain SPDY
        env = {
            **os.environ,
            "KUBECONFIG": c.kubeconfig,
            "KUBECTL_PORT_FORWARD_WEBSOCKETS": websockets,
        }
        local, closed = free_port(), free_port()
        forward = subprocess.Popen(
            ["kubectl", "port-forward", "echo", f"{local}:7007", f"{closed}:7999"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            payload = os.urandom(1 << 20)  # beyond SPDY's 64 KiB window
            assert echo_through(local, payload) == payload
            assert echo_through(local, b"again") == b"again"  # a second connection
            # Nothing listens on 7999 in the pod: containerd's own error reaches kubectl.
            assert echo_through(closed, b"x") == b""
        finally:
            forward.kill()
            _, err = forward.communicate(timeout=15)
        assert "7999" in err and "connection refused" in err.lower(), err
        # ... in containerd's words: the session went to its streaming server (CRI).
        assert "failed to execute portforward in network namespace" in err, err
