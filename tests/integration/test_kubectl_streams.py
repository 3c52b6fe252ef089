"""kubectl exec, logs, attach and port-forward against the embedded API server.

The real kubectl speaks the WebSocket ``v5.channel.k8s.io`` protocol to the
embedded server, which hands the request to the pod's simulated node: the
command runs in the pod's network namespace, so ``kubectl exec samplepod --
ip a`` lists what the meta-plugin made (the Multus quickstart's own check).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest

from harness.backends.local.cluster import LocalCluster
from tests.integration.clusters import echo_through, free_port

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network and mount namespaces)"),
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
    pytest.mark.skipif(not os.path.isdir("/usr/lib/cni"), reason="no CNI plugins in /usr/lib/cni"),
]

# The quickstart's NAD, on the simulated node's eth1 (the fabric) instead of eth0.
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


def pod(name: str, networks: str | None = None, node: str | None = None) -> dict[str, object]:
    meta: dict[str, object] = {"name": name, "namespace": "default"}
    if networks:
        meta["annotations"] = {"k8s.v1.cni.cncf.io/networks": networks}
    spec: dict[str, object] = {"containers": [{"name": "main", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def run_kubectl(
    cluster: LocalCluster,
    *args: str,
    stdin: str | None = None,
    timeout: float = 30,
    websockets: str | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": cluster.kubeconfig}
    env.pop("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", None)  # kubectl's default: WebSocket
    if websockets is not None:  # "false": SPDY, kubectl's fallback (and before 1.30)
        env["KUBECTL_REMOTE_COMMAND_WEBSOCKETS"] = websockets
    return subprocess.run(
        ["kubectl", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def running(cluster: LocalCluster, name: str) -> None:
    outcome = cluster.wait_pod("default", name, timeout=20)
    assert outcome.ready, outcome


@pytest.mark.parametrize("websockets", ["true", "false"])  # v5.channel.k8s.io, SPDY
def test_exec_shows_the_pods_interfaces_and_exit_codes(
    local_cluster: LocalCluster, websockets: str
) -> None:
    c = local_cluster
    c.apply(NAD)
    c.create_pod(pod("samplepod", "macvlan-conf"))
    running(c, "samplepod")

    def kubectl(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return run_kubectl(c, *args, stdin=stdin, websockets=websockets)

    shown = kubectl("exec", "samplepod", "--", "ip", "a")
    assert shown.returncode == 0, shown.stderr
    names = {
        line.split(":")[1].strip().split("@")[0]
        for line in shown.stdout.splitlines()
        if line[:1].isdigit()
    }
    assert names == {"lo", "eth0", "net1"}, shown.stdout
    assert "192.168.1.200" in shown.stdout

    # The interfaces are the pod's own: the same as the harness reads with pyroute2.
    net1 = kubectl("exec", "samplepod", "-c", "main", "--", "ip", "-j", "addr", "show", "net1")
    assert net1.returncode == 0, net1.stderr
    assert json.loads(net1.stdout)[0]["ifname"] == "net1"

    # Exit codes, stderr and stdin travel as in a real cluster.
    failed = kubectl("exec", "samplepod", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert failed.returncode == 3, failed
    assert failed.stdout == "out\n" and "err" in failed.stderr
    echoed = kubectl("exec", "-i", "samplepod", "--", "cat", stdin="through stdin\n")
    assert (echoed.returncode, echoed.stdout) == (0, "through stdin\n"), echoed.stderr
    big = "x" * 400_000  # many frames; the end of stdin comes after all of them
    counted = kubectl("exec", "-i", "samplepod", "--", "wc", "-c", stdin=big)
    assert counted.stdout.strip() == "400000", counted

    # The quickstart's own `kubectl exec -it`: on a terminal (script(1) gives kubectl
    # one), the command gets a pseudo-terminal of the size kubectl sends.
    if shutil.which("script"):
        line = "kubectl exec -it samplepod -- sh -c 'tty; stty size; ip a'"
        env = {
            **os.environ,
            "KUBECONFIG": c.kubeconfig,
            "KUBECTL_REMOTE_COMMAND_WEBSOCKETS": websockets,
        }
        tty = subprocess.run(
            ["script", "-qec", f"stty cols 91 rows 33; {line}", "/dev/null"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=30,
            check=False,
        )  # fmt: skip
        assert tty.returncode == 0, tty.stdout + tty.stderr
        assert "/dev/pts/" in tty.stdout and "net1" in tty.stdout, tty.stdout

    # Wrong container: the API's 400 with the container named.
    wrong = kubectl("exec", "samplepod", "-c", "nope", "--", "true")
    assert wrong.returncode != 0 and "container nope is not valid" in wrong.stderr


def test_logs_are_the_kubelets_record_and_follow_stops(local_cluster: LocalCluster) -> None:
    c = local_cluster
    c.create_pod(pod("logged"))  # no nodeName: the scheduler binds it and records that
    running(c, "logged")
    logs = run_kubectl(c, "logs", "logged")
    assert logs.returncode == 0, logs.stderr
    assert "Scheduled" in logs.stdout and "AddedInterface" in logs.stdout
    stamped = run_kubectl(c, "logs", "logged", "--timestamps", "--tail=1")
    assert stamped.returncode == 0 and len(stamped.stdout.splitlines()) == 1
    assert stamped.stdout[:4].isdigit() and "Z " in stamped.stdout

    # -f ends when the pod is deleted (the kubelet's Killing record may come last).
    follower = subprocess.Popen(
        ["kubectl", "logs", "-f", "logged"],
        env={**os.environ, "KUBECONFIG": c.kubeconfig},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(0.5)
        assert c.delete_pod("default", "logged") is None
        out, err = follower.communicate(timeout=15)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    assert follower.returncode == 0, err
    assert "Scheduled" in out


ECHO_SERVER = """
import socket, sys
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 7007)); srv.listen(4); print("listening", flush=True)
while True:
    conn, _ = srv.accept()
    while True:
        data = conn.recv(65536)
        if not data:
            break
        conn.sendall(data)
    conn.close()
"""


@pytest.mark.parametrize("websockets", ["true", "false"])  # tunnelled SPDY, plain SPDY
def test_port_forward_reaches_a_port_inside_the_pod(
    local_cluster: LocalCluster, websockets: str
) -> None:
    c = local_cluster
    c.create_pod(pod("server"))
    running(c, "server")
    env = {**os.environ, "KUBECONFIG": c.kubeconfig, "KUBECTL_PORT_FORWARD_WEBSOCKETS": websockets}
    procs: list[subprocess.Popen[str]] = []
    try:
        server = subprocess.Popen(
            ["kubectl", "exec", "server", "--", "python3", "-c", ECHO_SERVER],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        procs.append(server)
        assert server.stdout is not None and server.stdout.readline() == "listening\n"
        local = free_port()
        forward = subprocess.Popen(
            ["kubectl", "port-forward", "server", f"{local}:7007"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        procs.append(forward)
        payload = os.urandom(1 << 20)  # beyond SPDY's 64 KiB window: flow control works
        assert echo_through(local, payload, timeout=10) == payload
        assert echo_through(local, b"again", timeout=10) == b"again"  # a second connection
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def test_attach_and_closed_ports_say_why(local_cluster: LocalCluster) -> None:
    c = local_cluster
    c.create_pod(pod("plain"))
    running(c, "plain")
    attach = run_kubectl(c, "attach", "plain", timeout=20)
    assert attach.returncode != 0
    assert "no process to attach to" in attach.stderr and "kubectl exec" in attach.stderr

    local = free_port()
    env = {**os.environ, "KUBECONFIG": c.kubeconfig}
    forward = subprocess.Popen(
        ["kubectl", "port-forward", "plain", f"{local}:7999"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert echo_through(local, b"x", timeout=10) == b""  # nothing listens on 7999 in the pod
        _, err = forward.communicate(timeout=15)
    finally:
        if forward.poll() is None:
            forward.kill()
            forward.wait()
    assert "error forwarding port 7999 to pod default/plain" in err
    assert "Connection refused" in err

    # A pod that has no sandbox (its node is not in the cluster): no traceback, a 400.
    c.create_pod(pod("nowhere", node="node-9"))
    missing = run_kubectl(c, "exec", "nowhere", "--", "true")
    assert missing.returncode != 0 and "node-9" in missing.stderr
