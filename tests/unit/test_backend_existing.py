"""The kubectl-driven cluster (harness.backends.remote) and the existing backend.

A scenario written for the local backend runs unchanged through fake kubectl
replaying recorded output; the run touches only namespaces it created.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.backends import Options, unavailable_reason
from harness.backends.existing import ExistingBackend, has_ipv6, pod_nodes
from harness.backends.remote import (
    RUN_LABEL,
    STATUS_ANNOTATION,
    ClusterAccess,
    Completed,
    KubectlCluster,
    NamespaceMap,
    Tools,
    map_networks_annotation,
    map_status_annotation,
    parse_cni_code,
)
from harness.cluster import Unsupported
from harness.runner import run_scenario
from harness.scenario.loader import load_scenario

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fakes"))
from fakeenv import FakeCLI

REPO = Path(__file__).resolve().parents[2]
RUN = "hxt1"
NS = f"{RUN}-default"

# ------------------------------------------------------------ pure mapping
names = st.from_regex(r"[a-z]([-a-z0-9]{0,40}[a-z0-9])?", fullmatch=True)


@given(names)
def test_namespace_mapping_round_trips(namespace: str) -> None:
    mapping = NamespaceMap(RUN)
    mapped = mapping.to_cluster(namespace)
    assert len(mapped) <= 63
    assert mapping.to_scenario(mapped) == namespace
    if namespace != "kube-system":
        assert mapped.startswith(f"{RUN}-")


def test_long_namespaces_are_hashed_into_a_label() -> None:
    mapping = NamespaceMap(RUN)
    long = "n" * 63
    mapped = mapping.to_cluster(long)
    assert len(mapped) <= 63 and mapped != f"{RUN}-{long}"
    assert mapping.to_scenario(mapped) == long


def test_shared_namespaces_are_not_mapped() -> None:
    assert NamespaceMap(RUN).to_cluster("kube-system") == "kube-system"


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        ("macvlan-conf", "macvlan-conf"),
        ("default/macvlan-conf", f"{NS}/macvlan-conf"),
        ("a, other/b@data0", f"a,{RUN}-other/b@data0"),
        ("bad/na me@", f"{RUN}-bad/na me@"),
        ("kube-system/x", "kube-system/x"),
        (
            '[{"name": "m", "namespace": "default", "interface": "x"}]',
            json.dumps([{"name": "m", "namespace": NS, "interface": "x"}]),
        ),
        ('[{"name": "m"}]', json.dumps([{"name": "m"}])),
        ("[not json", "[not json"),
    ],
)
def test_networks_annotation_namespaces_are_mapped(annotation: str, expected: str) -> None:
    assert map_networks_annotation(annotation, NamespaceMap(RUN).to_cluster) == expected


def test_status_annotation_maps_back() -> None:
    status = [{"name": "kindnet", "interface": "eth0"}, {"name": f"{NS}/m", "interface": "net1"}]
    mapping = NamespaceMap(RUN)
    mapping.to_cluster("default")
    out = json.loads(map_status_annotation(json.dumps(status), mapping.to_scenario))
    assert [e["name"] for e in out] == ["kindnet", "default/m"]
    assert map_status_annotation("{broken", mapping.to_scenario) == "{broken"


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ('plugin type="pymultus" failed (add): {"code":7,"msg":"bad"}', 7),
        ("CNI error code 4: missing CNI_NETNS", 4),
        ('failed (add): networks annotation "x": invalid', None),
    ],
)
def test_cni_code_from_events(message: str, code: int | None) -> None:
    assert parse_cni_code(message) == code


# --------------------------------------------------------- existing backend
def node(name: str, ready: bool = True, **extra: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": extra.get("labels", {})},
        "spec": {"podCIDRs": extra.get("cidrs", ["10.244.1.0/24"]), **extra.get("spec", {})},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


NODES = {
    "items": [
        node("cp", labels={"node-role.kubernetes.io/control-plane": ""}),
        node("w2"),
        node("w1", cidrs=["10.244.2.0/24", "fd00:10:244:2::/64"]),
        node("down", ready=False),
        node("cordoned", spec={"unschedulable": True}),
    ]
}


def test_pod_nodes_are_ready_schedulable_workers() -> None:
    assert pod_nodes(NODES) == ["w1", "w2"]
    assert has_ipv6(NODES) is True
    assert has_ipv6({"items": [node("a")]}) is False


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeCLI:
    return FakeCLI(tmp_path, monkeypatch)


def test_existing_backend_start(fake: FakeCLI) -> None:
    fake.rules([{"tool": "kubectl", "args": ["get", "nodes"], "stdout": json.dumps(NODES)}])
    backend = ExistingBackend(Tools(), kubeconfig="/k/config", context="staging")
    access = backend.start()
    assert access.nodes == {"node-1": "w1", "node-2": "w2"}
    assert access.node_exec is None
    assert access.probes["ipv6"]() is None
    assert "eth1" in (access.probes["eth1"]() or "")
    assert fake.argvs()[0] == [
        "kubectl", "--kubeconfig", "/k/config", "--context", "staging",
        "get", "crd", "network-attachment-definitions.k8s.cni.cncf.io", "-o", "name",
    ]  # fmt: skip
    backend.finish(failed=False)  # never tears anything down
    assert len(fake.argvs()) == 2


def test_existing_backend_without_the_crd_fails_clearly(fake: FakeCLI) -> None:
    fake.rules([{"tool": "kubectl", "args": ["get", "crd"], "rc": 1, "stderr": "NotFound\n"}])
    with pytest.raises(RuntimeError, match="NotFound"):
        ExistingBackend(Tools()).start()


def test_existing_unavailable_without_kubectl(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert "kubectl" in (unavailable_reason(Options(backend="existing")) or "")


# ------------------------------------------------------ a scenario, end to end
def recorded_pod(name: str, ready: bool = True) -> str:
    status = [
        # the MACs of pod-ip-addr.json's interfaces, as a meta-plugin reports them
        {
            "name": "kindnet",
            "interface": "eth0",
            "ips": ["10.244.1.5"],
            "mac": "46:4e:39:6a:73:90",
            "default": True,
        },
        {
            "name": f"{NS}/macvlan-conf",
            "interface": "net1",
            "ips": ["192.168.1.200"],
            "mac": "8a:67:58:d0:5c:b6",
        },
    ]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NS,
            "annotations": {STATUS_ANNOTATION: json.dumps(status)},
        },
        "spec": {"nodeName": "w1"},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }
    return json.dumps(pod)


def access(node_exec: Any = None) -> ClusterAccess:
    return ClusterAccess(
        name="fake",
        kubectl=("kubectl", "--kubeconfig", "/k"),
        nodes={"node-1": "w1", "node-2": "w2"},
        tools=Tools(),
        node_exec=node_exec,
        poll=0.0,
        sleep=lambda _s: None,
    )


POD_RULES: list[dict[str, Any]] = [
    {"tool": "kubectl", "args": ["get", "pod", "samplepod"], "before": ["delete", "pod"],
     "stdout": recorded_pod("samplepod")},
    {"tool": "kubectl", "args": ["exec", "--", "ip", "-d", "-j", "addr"],
     "stdout_file": "pod-ip-addr.json"},
    {"tool": "kubectl", "args": ["exec", "--", "ip", "-6", "-j", "route"],
     "stdout_file": "pod-ip6-route.json"},
    {"tool": "kubectl", "args": ["exec", "--", "ip", "-j", "route"],
     "stdout_file": "pod-ip-route.json"},
]  # fmt: skip


def test_quickstart_runs_unchanged_through_kubectl(fake: FakeCLI) -> None:
    fake.rules(POD_RULES)
    scenario = load_scenario(str(REPO / "scenarios" / "quickstart.yaml"))
    cluster = KubectlCluster(access(), RUN)
    result = run_scenario(scenario, lambda _s: cluster)
    assert result.status == "passed", result.report()
    # Without a shell on the nodes the leak check sees only that pods are gone:
    # the rest is "not checked", never "passed".
    (leak_check,) = [c for c in result.checks if c.kind == "cleanup leaks"]
    assert leak_check.status == "not checked" and "only pod deletion" in leak_check.note
    calls = fake.calls()
    applied = [json.loads(c["stdin"]) for c in calls if c["argv"][2:4] == ["apply", "-f"]]
    assert applied[0]["kind"] == "Namespace" and applied[0]["metadata"]["name"] == NS
    assert applied[0]["metadata"]["labels"] == {RUN_LABEL: RUN}
    assert applied[1]["kind"] == "NetworkAttachmentDefinition"
    assert applied[1]["metadata"]["namespace"] == NS
    (created,) = [json.loads(c["stdin"]) for c in calls if "create" in c["argv"]]
    assert created["metadata"]["namespace"] == NS
    assert created["spec"]["containers"][0]["command"] == ["sleep", "infinity"]
    # only what it created is deleted: its own namespace, at the end
    deletes = [c["argv"] for c in calls if "delete" in c["argv"]]
    assert deletes[0][3:6] == ["pod", "samplepod", "-n"]
    assert deletes[-1][3:6] == ["namespace", NS, "--ignore-not-found"]
    assert all("default" not in argv[4:6] for argv in deletes)


def test_a_sandbox_error_comes_from_the_kubelet_event(fake: FakeCLI) -> None:
    event = {
        "reason": "FailedCreatePodSandBox",
        "message": 'failed to setup network for sandbox "abc": plugin type="pymultus" '
        'failed (add): {"code":7,"msg":"networks annotation"}',
    }
    fake.rules(
        [
            {"tool": "kubectl", "args": ["get", "pod"], "stdout": recorded_pod("p", ready=False)},
            {
                "tool": "kubectl",
                "args": ["get", "events"],
                "stdout": json.dumps({"items": [event]}),
            },
        ]
    )
    outcome = KubectlCluster(access(), RUN).wait_pod("default", "p", 30)
    assert not outcome.ready
    assert outcome.error is not None and outcome.error.code == 7
    assert "networks annotation" in outcome.error.message


def test_wait_pod_times_out(fake: FakeCLI) -> None:
    fake.rules([{"tool": "kubectl", "args": ["get", "pod"], "stdout": recorded_pod("p", False)}])
    ticks = iter([0.0, 0.0, 5.0, 11.0])
    cluster = KubectlCluster(access(), RUN)
    cluster.access.clock = lambda: next(ticks)
    outcome = cluster.wait_pod("default", "p", 10)
    assert not outcome.ready and outcome.error is None and outcome.seconds == 11.0


def test_pods_on_unknown_nodes_are_unsupported(fake: FakeCLI) -> None:
    cluster = KubectlCluster(access(), RUN)
    pod = {"metadata": {"name": "p"}, "spec": {"nodeName": "node-3"}}
    with pytest.raises(Unsupported, match="node-3"):
        cluster.pod_manifest(pod)


def test_no_node_shell_means_node_files_are_unsupported() -> None:
    cluster = KubectlCluster(access(), RUN)
    with pytest.raises(Unsupported, match="no shell on the nodes"):
        cluster.write_node_file("node-1", "/etc/cni/net.d/x.conf", "{}")
    with pytest.raises(Unsupported):
        cluster.stop_api()


def test_node_leaks_are_what_appeared_since_the_scenario_began(fake: FakeCLI) -> None:
    links = json.loads((REPO / "tests" / "fakes" / "recordings" / "node-ip-link.json").read_text())
    state = {"links": links, "files": "/var/lib/cni/networks/kindnet/lock\n"}
    seen: list[tuple[str, list[str], str | None]] = []

    def node_exec(node_name: str, argv: Any, stdin: str | None) -> Completed:
        seen.append((node_name, list(argv), stdin))
        if argv[0] == "ip":
            return Completed(0, json.dumps(state["links"]), "")
        if argv[0] == "sh" and "find" in argv[2]:
            return Completed(0, str(state["files"]), "")
        return Completed(0, "", "")

    cluster = KubectlCluster(access(node_exec), RUN)
    cluster.snapshot()
    assert cluster.leaks() == []
    state["links"] = [*links, {"ifname": "veth1234", "linkinfo": {"info_kind": "veth"}}]
    state["files"] = (
        "cni-5f2e\n/var/lib/cni/networks/macvlan-conf/192.168.1.200\n"
        "/var/lib/cni/networks/macvlan-conf/last_reserved_ip.0\n"
    )
    assert sorted(cluster.leaks()) == sorted(
        [
            "node-1 (w1): link veth1234 (veth)",
            "node-2 (w2): link veth1234 (veth)",
            "node-1 (w1): network namespace cni-5f2e",
            "node-2 (w2): network namespace cni-5f2e",
            "node-1 (w1): file /var/lib/cni/networks/macvlan-conf/192.168.1.200",
            "node-2 (w2): file /var/lib/cni/networks/macvlan-conf/192.168.1.200",
        ]
    )
    cluster.write_node_file("node-2", "/etc/cni/net.d/a b.conf", "{}")
    script = "mkdir -p /etc/cni/net.d && cat > '/etc/cni/net.d/a b.conf'"
    assert seen[-1] == ("w2", ["sh", "-c", script], "{}")
