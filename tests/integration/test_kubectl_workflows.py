"""The local cluster as real clients see it (issue 17): kubectl and the official
Python client against `harness cluster up`, with no extra flags.

One two-node cluster (``harness cluster up``) serves every test of this module
and is taken down in a ``finally`` that proves no namespace of it is left.
Each test cleans up the objects it made. What is checked: the Multus
quickstart's manifests applied verbatim (validation on, as kubectl defaults),
``kubectl diff`` and ``--dry-run=server`` change nothing, ``apply
--server-side`` with its conflicts, ``explain``, ``edit`` through
``KUBE_EDITOR``, the Python client's ``list_node()``, events counted instead
of copied, a Killing event on delete, and ``kubectl apply`` of deploy/.
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
from pathlib import Path
from typing import Any

import pytest

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network and mount namespaces)"),
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
    pytest.mark.skipif(not os.path.isdir("/usr/lib/cni"), reason="no CNI plugins in /usr/lib/cni"),
]

HARNESS = [sys.executable, "-m", "harness.cli"]
REPO = Path(__file__).resolve().parents[2]
STATUS = "k8s.v1.cni.cncf.io/network-status"

# The Multus quickstart (docs/quickstart.md of the reference), verbatim.
QUICKSTART_NAD = """\
apiVersion: "k8s.cni.cncf.io/v1"
kind: NetworkAttachmentDefinition
metadata:
  name: macvlan-conf
spec:
  config: '{
      "cniVersion": "0.3.0",
      "type": "macvlan",
      "master": "eth0",
      "mode": "bridge",
      "ipam": {
        "type": "host-local",
        "subnet": "192.168.1.0/24",
        "rangeStart": "192.168.1.200",
        "rangeEnd": "192.168.1.216",
        "routes": [
          { "dst": "0.0.0.0/0" }
        ],
        "gateway": "192.168.1.1"
      }
    }'
"""
SAMPLEPOD = """\
apiVersion: v1
kind: Pod
metadata:
  name: samplepod
  annotations:
    k8s.v1.cni.cncf.io/networks: {networks}
spec:
  containers:
  - name: samplepod
    command: ["/bin/ash", "-c", "trap : TERM INT; sleep infinity & wait"]
    image: alpine
"""


def run(argv: list[str], env: dict[str, str] | None = None, timeout: float = 60.0) -> str:
    proc = subprocess.run(
        argv, capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
    assert proc.returncode == 0, f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def env() -> Iterator[dict[str, str]]:
    out = run([*HARNESS, "cluster", "up", "--nodes", "2"])
    match = re.search(r"export KUBECONFIG=(\S+)", out)
    assert match, out
    kubeconfig = match.group(1)
    cluster_id = os.path.basename(os.path.dirname(kubeconfig))
    try:
        yield {**os.environ, "KUBECONFIG": kubeconfig, "CLUSTER_ID": cluster_id}
    finally:
        down = subprocess.run(
            [*HARNESS, "cluster", "down", cluster_id], capture_output=True, text=True, check=False
        )
        left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert down.returncode == 0, down.stderr
        assert cluster_id not in left, f"namespaces left behind:\n{left}"


def kubectl(
    env: dict[str, str], *args: str, stdin: str | None = None, ok: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["kubectl", *args], input=stdin, capture_output=True, text=True, env=env, timeout=60
    )
    if ok:
        assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr}"
    return proc


def get(env: dict[str, str], *args: str) -> dict[str, Any]:
    return dict(json.loads(kubectl(env, "get", *args, "-o", "json").stdout))


def wait_for(what: str, probe: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def running(env: dict[str, str], name: str) -> dict[str, Any]:
    return dict(
        wait_for(
            f"pod {name} Running",
            lambda: (p := get(env, "pod", name))["status"].get("phase") == "Running" and p,
        )
    )


def interfaces(env: dict[str, str], pod: str) -> set[str]:
    proc = subprocess.run(
        [*HARNESS, "exec", pod, "--cluster", env["CLUSTER_ID"], "--", "ip", "-j", "link"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return {link["ifname"] for link in json.loads(proc.stdout)}


def delete(env: dict[str, str], *what: str) -> None:
    kubectl(env, "delete", "--ignore-not-found", "--wait=true", "--timeout=60s", *what)


def test_quickstart_verbatim(env: dict[str, str]) -> None:
    try:
        assert "created" in kubectl(env, "create", "-f", "-", stdin=QUICKSTART_NAD).stdout
        assert "macvlan-conf" in kubectl(env, "get", "network-attachment-definitions").stdout
        described = kubectl(env, "describe", "network-attachment-definitions", "macvlan-conf")
        assert "192.168.1.200" in described.stdout
        kubectl(env, "create", "-f", "-", stdin=SAMPLEPOD.format(networks="macvlan-conf"))
        running(env, "samplepod")
        assert {"lo", "eth0", "net1"} <= interfaces(env, "samplepod")
        # The quickstart's own check, through the API (pods/exec over WebSocket).
        shown = kubectl(env, "exec", "samplepod", "--", "ip", "a").stdout
        assert {"lo", "eth0", "net1"} <= set(re.findall(r"^\d+: ([\w.-]+)[@:]", shown, re.M))
        assert STATUS in kubectl(env, "describe", "pod", "samplepod").stdout
        delete(env, "pod", "samplepod")
        two = SAMPLEPOD.format(networks="macvlan-conf,macvlan-conf")
        kubectl(env, "create", "-f", "-", stdin=two)
        running(env, "samplepod")
        assert {"lo", "eth0", "net1", "net2"} <= interfaces(env, "samplepod")
    finally:
        delete(env, "pod", "samplepod")
        delete(env, "network-attachment-definitions", "macvlan-conf")


def test_diff_and_server_dry_run_change_nothing(env: dict[str, str], tmp_path: Path) -> None:
    manifest = tmp_path / "nad.yaml"
    manifest.write_text(QUICKSTART_NAD)
    try:
        kubectl(env, "apply", "-f", str(manifest))
        before = get(env, "net-attach-def", "macvlan-conf")
        assert kubectl(env, "diff", "-f", str(manifest), ok=False).returncode == 0
        manifest.write_text(QUICKSTART_NAD.replace('"bridge"', '"vepa"'))
        diff = kubectl(env, "diff", "-f", str(manifest), ok=False)
        assert diff.returncode == 1, diff.stderr
        assert re.search(r'^\+.*"vepa"', diff.stdout, re.M) and re.search(
            r'^-.*"bridge"', diff.stdout, re.M
        )
        dry = kubectl(env, "apply", "--dry-run=server", "-f", str(manifest)).stdout
        assert "(server dry run)" in dry
        after = get(env, "net-attach-def", "macvlan-conf")
        assert after["spec"] == before["spec"]
        assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    finally:
        delete(env, "net-attach-def", "macvlan-conf")


def test_apply_server_side_with_conflicts(env: dict[str, str], tmp_path: Path) -> None:
    manifest = tmp_path / "nad.yaml"
    manifest.write_text(QUICKSTART_NAD)
    try:
        out = kubectl(env, "apply", "--server-side", "-f", str(manifest)).stdout
        assert "serverside-applied" in out
        nad = get(env, "net-attach-def", "macvlan-conf", "--show-managed-fields")
        assert [(e["manager"], e["operation"]) for e in nad["metadata"]["managedFields"]] == [
            ("kubectl", "Apply")
        ]
        changed = QUICKSTART_NAD.replace('"bridge"', '"private"')
        other = kubectl(
            env, "apply", "--server-side", "--field-manager=other", "-f", "-",
            stdin=changed, ok=False,
        )  # fmt: skip
        assert other.returncode != 0 and "conflict" in other.stderr.lower()
        assert '"bridge"' in get(env, "net-attach-def", "macvlan-conf")["spec"]["config"]
        kubectl(
            env, "apply", "--server-side", "--field-manager=other", "--force-conflicts",
            "-f", "-", stdin=changed,
        )  # fmt: skip
        assert '"private"' in get(env, "net-attach-def", "macvlan-conf")["spec"]["config"]
    finally:
        delete(env, "net-attach-def", "macvlan-conf")


def test_explain_builtin_and_crd(env: dict[str, str]) -> None:
    pod = kubectl(env, "explain", "pod").stdout
    assert "KIND:" in pod and "Pod" in pod and "spec" in pod and "status" in pod
    containers = kubectl(env, "explain", "pod.spec.containers").stdout
    assert "image" in containers
    nad = kubectl(env, "explain", "network-attachment-definitions.spec.config").stdout
    assert "string" in nad and "CNI" in nad


def test_edit_through_kube_editor(env: dict[str, str]) -> None:
    try:
        kubectl(env, "apply", "-f", "-", stdin=QUICKSTART_NAD)
        editor = {**env, "KUBE_EDITOR": "sed -i s/192.168.1.216/192.168.1.220/"}
        out = kubectl(editor, "edit", "net-attach-def", "macvlan-conf").stdout
        assert "edited" in out
        assert "192.168.1.220" in get(env, "net-attach-def", "macvlan-conf")["spec"]["config"]
        typo = {**env, "KUBE_EDITOR": "sed -i s/^spec:/specc:/"}
        refused = kubectl(typo, "edit", "net-attach-def", "macvlan-conf", ok=False)
        assert refused.returncode != 0 and "specc" in refused.stderr
    finally:
        delete(env, "net-attach-def", "macvlan-conf")


def test_python_client_lists_nodes_and_leases(env: dict[str, str]) -> None:
    kubernetes = pytest.importorskip("kubernetes")
    kubernetes.config.load_kube_config(env["KUBECONFIG"])
    core = kubernetes.client.CoreV1Api()
    nodes = core.list_node().items
    assert sorted(n.metadata.name for n in nodes) == ["node-1", "node-2"]
    for n in nodes:
        assert n.status.node_info.boot_id and n.status.node_info.machine_id
        assert n.status.allocatable["cpu"] and n.status.allocatable["memory"]
        ready = next(c for c in n.status.conditions if c.type == "Ready")
        assert ready.status == "True" and ready.last_heartbeat_time is not None
    leases = kubernetes.client.CoordinationV1Api().list_namespaced_lease("kube-node-lease")
    assert sorted(item.metadata.name for item in leases.items) == ["node-1", "node-2"]
    # The client's watch with a server-side timeout ends by itself, and sees a pod.
    watch = kubernetes.watch.Watch()
    kubectl(env, "apply", "-f", "-", stdin=SAMPLEPOD.format(networks="'[]'")
            .replace("name: samplepod", "name: watched", 1))  # fmt: skip
    try:
        seen = {
            e["object"].metadata.name
            for e in watch.stream(core.list_namespaced_pod, "default", timeout_seconds=2)
        }
        assert "watched" in seen
    finally:
        delete(env, "pod", "watched")
    described = kubectl(env, "describe", "node", "node-1").stdout
    assert "Failed to get lease" not in described and "0001" not in described


def node_ip(env: dict[str, str], *args: str) -> None:
    """``ip`` inside node-1's network namespace (the cluster's own, never the root's)."""
    run(["ip", "-n", f"{env['CLUSTER_ID']}-node-1", *args])


def test_failing_add_names_the_interface_at_fault(env: dict[str, str]) -> None:
    bad = QUICKSTART_NAD.replace("macvlan-conf", "broken-conf").replace('"eth0"', '"eth9"')
    try:
        kubectl(env, "apply", "-f", "-", stdin=bad)
        kubectl(env, "apply", "-f", "-", stdin=SAMPLEPOD.format(networks="broken-conf")
                .replace("name: samplepod", "name: failing", 1))  # fmt: skip

        def adds() -> list[str]:
            items = get(env, "events", "--field-selector", "involvedObject.name=failing")["items"]
            return [e["message"] for e in items if e["reason"] == "FailedCreatePodSandBox"]

        messages = wait_for("a FailedCreatePodSandBox event", adds)
        assert all("default/broken-conf as net1" in m for m in messages), messages
        assert all("(master eth9)" in m for m in messages), messages  # the interface at fault
        assert not any("macvlan: macvlan:" in m or "pymultus: pymultus:" in m for m in messages)
    finally:
        delete(env, "pod", "failing")
        delete(env, "net-attach-def", "broken-conf")


def test_events_are_counted_and_deletes_are_killing(env: dict[str, str]) -> None:
    """A pod whose macvlan master vanished: its DEL answers "Link not found",
    which containerd's CNI library (go-cni ``Remove``) takes as done, and so
    does the simulated kubelet: no FailedKillPod, no event written twice;
    deleting it is a Killing event."""
    nad = QUICKSTART_NAD.replace("macvlan-conf", "vanishing").replace('"eth0"', '"h7gone"')
    pod = SAMPLEPOD.format(networks="vanishing").replace("name: samplepod", "name: stranded", 1)
    pod = pod.replace("spec:\n", "spec:\n  nodeName: node-1\n", 1)
    node_ip(env, "link", "add", "h7gone", "type", "veth", "peer", "name", "h7peer")
    try:
        node_ip(env, "link", "set", "h7gone", "up")
        kubectl(env, "apply", "-f", "-", stdin=nad)
        kubectl(env, "apply", "-f", "-", stdin=pod)
        running(env, "stranded")
        node_ip(env, "link", "del", "h7gone")  # takes the pod's net1 with it
        delete(env, "pod", "stranded")
        items = get(env, "events", "--field-selector", "involvedObject.name=stranded")["items"]
        keys = [(e["reason"], e["message"]) for e in items]
        assert len(keys) == len(set(keys)), f"an identical event was written twice: {keys}"
        # (FailedKillPod counting and wording: test_events_recorder.py, and
        # test_kubelet_failed_cleanup.py for a DEL that keeps failing.)
        assert [e for e in items if e["reason"] == "FailedKillPod"] == []
        killing = [e["message"] for e in items if e["reason"] == "Killing"]
        assert killing == ["Stopping container samplepod"]
    finally:
        delete(env, "pod", "stranded")
        delete(env, "net-attach-def", "vanishing")
        subprocess.run(
            ["ip", "-n", f"{env['CLUSTER_ID']}-node-1", "link", "del", "h7gone"],
            capture_output=True,
            check=False,
        )


def test_apply_every_manifest_of_deploy(env: dict[str, str]) -> None:
    files = sorted(p for p in (REPO / "deploy").rglob("*.yaml") if p.name != "kustomization.yaml")
    try:
        for target in ("deploy", "deploy/thick"):
            out = kubectl(env, "apply", "-k", str(REPO / target)).stdout
            assert "daemonset.apps/pymultus" in out, out
        for path in files:
            kubectl(env, "apply", "-f", str(path))
        (ds,) = get(env, "daemonsets", "-n", "kube-system")["items"]
        assert ds["metadata"]["name"] == "pymultus" and ds["spec"]["template"]["spec"]
        assert get(env, "clusterrole", "pymultus")["rules"]
        assert get(env, "clusterrolebinding", "pymultus")["subjects"]
        assert get(env, "serviceaccount", "-n", "kube-system", "pymultus")["metadata"]["uid"]
        assert get(env, "configmap", "-n", "kube-system", "pymultus-daemon-config")["data"]
        assert kubectl(env, "auth", "can-i", "create", "pods").stdout.strip() == "yes"
        for kind in ("svc", "configmaps", "secrets", "serviceaccounts", "deployments"):
            kubectl(env, "get", kind, "-A")
        assert "is running at" in kubectl(env, "cluster-info").stdout
    finally:
        kubectl(env, "delete", "--ignore-not-found", "-n", "kube-system",
                "daemonset/pymultus", "configmap/pymultus-daemon-config",
                "serviceaccount/pymultus", ok=False)  # fmt: skip
        kubectl(env, "delete", "--ignore-not-found", "clusterrole/pymultus",
                "clusterrolebinding/pymultus", ok=False)  # fmt: skip
