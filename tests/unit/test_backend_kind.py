"""The kind backend up to the tool boundary: pinned commands, fakes on PATH.

No kind or Docker here: the real-cluster results come from GitHub Actions.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml

from harness.backends import Options, plan_for, unavailable_reason, versions
from harness.backends.kind import KindBackend, KindSettings, probes, settings_from
from harness.backends.remote import DryRun, ToolError, Tools
from harness.cli import main as harness_main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fakes"))
from fakeenv import FakeCLI

REPO = Path(__file__).resolve().parents[2]
IMAGE_131 = versions.KIND_IMAGES["1.31"]
K = "kubectl --kubeconfig /src/.cache/harness/pymultus-1-31-thin-ipv4.kubeconfig"
C = "pymultus-1-31-thin-ipv4"
TGZ = "cni-plugins-linux-amd64-v1.6.2.tgz"
URL = f"https://github.com/containernetworking/plugins/releases/download/v1.6.2/{TGZ}"

# The exact commands of `harness run --backend kind --k8s-version 1.31` (thin, IPv4).
EXPECTED_131_THIN_IPV4 = [
    "kind get clusters",
    "mkdir -p /src/.cache/harness",
    f"kind create cluster --name {C} --image {IMAGE_131} --config /src/ci/kind/ipv4.yaml "
    f"--kubeconfig /src/.cache/harness/{C}.kubeconfig --wait 300s",
    f"pid1=$(docker inspect --format '{{{{.State.Pid}}}}' {C}-worker)",
    f"pid2=$(docker inspect --format '{{{{.State.Pid}}}}' {C}-worker2)",
    "docker run --rm --privileged --pid=host --network=host --entrypoint ip "
    f'{IMAGE_131} link add eth1 netns "$pid1" type veth peer name eth1 netns "$pid2"',
    f"docker exec {C}-worker ip link set eth1 up",
    f"docker exec {C}-worker2 ip link set eth1 up",
    f"curl -fsSL --retry 3 -o /src/.cache/harness/{TGZ} {URL}",
    f"curl -fsSL --retry 3 -o /src/.cache/harness/{TGZ}.sha256 {URL}.sha256",
    f"(cd /src/.cache/harness && sha256sum -c {TGZ}.sha256)",
    f"docker cp /src/.cache/harness/{TGZ} {C}-control-plane:/tmp/cni-plugins.tgz",
    f"docker exec {C}-control-plane tar -xzf /tmp/cni-plugins.tgz -C /opt/cni/bin",
    f"docker cp /src/.cache/harness/{TGZ} {C}-worker:/tmp/cni-plugins.tgz",
    f"docker exec {C}-worker tar -xzf /tmp/cni-plugins.tgz -C /opt/cni/bin",
    f"docker cp /src/.cache/harness/{TGZ} {C}-worker2:/tmp/cni-plugins.tgz",
    f"docker exec {C}-worker2 tar -xzf /tmp/cni-plugins.tgz -C /opt/cni/bin",
    "docker build -t localhost/pymultus:harness -f /src/deploy/Dockerfile /src",
    f"kind load docker-image localhost/pymultus:harness --name {C}",
    "docker pull docker.io/nicolaka/netshoot:v0.13",
    f"kind load docker-image docker.io/nicolaka/netshoot:v0.13 --name {C}",
    f"{K} wait --for=condition=Ready nodes --all --timeout=300s",
    f"{K} apply -k /src/deploy/thin",
    f"{K} -n kube-system set image daemonset -l app=pymultus '*=localhost/pymultus:harness'",
    f"{K} -n kube-system rollout status daemonset -l app=pymultus --timeout=300s",
    f"kind delete cluster --name {C} --kubeconfig /src/.cache/harness/{C}.kubeconfig",
]


def settings(**overrides: object) -> KindSettings:
    base: dict[str, object] = {
        "k8s_version": "1.31",
        "work_dir": "/src",
        "report_dir": "/src/reports",
        "arch": "amd64",
    }
    base.update(overrides)
    return KindSettings(**base)  # type: ignore[arg-type]


def rendered(backend: KindBackend) -> list[str]:
    return [c.render() for c in backend.plan()]


def test_dry_run_commands_are_pinned() -> None:
    assert rendered(KindBackend(settings(), DryRun())) == EXPECTED_131_THIN_IPV4


def test_keep_cluster_plans_no_deletion() -> None:
    plan = rendered(KindBackend(settings(), DryRun(), keep=True))
    assert plan == EXPECTED_131_THIN_IPV4[:-1]


@pytest.mark.parametrize(
    ("overrides", "present", "absent"),
    [
        (
            {"ip_family": "dual", "mode": "thick"},
            ["--config /src/ci/kind/dual.yaml", "apply -k /src/deploy/thick"],
            ["deploy/thin"],
        ),
        (
            {"k8s_version": "v1.33.1"},
            [versions.KIND_IMAGES["1.33"], "--name pymultus-1-33-thin-ipv4"],
            [IMAGE_131],
        ),
        (
            {"manifest": "https://example.invalid/multus.yml", "selector": "app=multus"},
            [
                "apply -f https://example.invalid/multus.yml",
                "rollout status daemonset -l app=multus",
            ],
            ["docker build", "set image", "deploy/thin"],
        ),
    ],
)
def test_plan_variants(overrides: dict[str, object], present: list[str], absent: list[str]) -> None:
    text = "\n" + "\n".join(rendered(KindBackend(settings(**overrides), DryRun())))
    for needle in present:
        assert needle in text
    for needle in absent:
        assert needle not in text


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("k8s_version", "1.12", "no kindest/node image for Kubernetes 1.12 (known: 1.30"),
        ("k8s_version", "latest", "expected a version like 1.31"),
        ("ip_family", "ipv6", "--ip-family 'ipv6'"),
        ("mode", "thicker", "--mode 'thicker'"),
    ],
)
def test_bad_settings_are_named(field: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=None) as info:
        settings(**{field: value})
    assert message in str(info.value)


def test_cli_dry_run_prints_the_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code = harness_main(["run", "--backend", "kind", "--k8s-version", "1.31", "--dry-run"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[0].startswith("# harness run --backend kind")
    expected = settings_from(Options(backend="kind", k8s_version="1.31"))
    assert expected.work_dir == str(tmp_path)
    assert out[1:] == [c.render() for c in KindBackend(expected, DryRun()).plan()]
    assert any(
        line.startswith(f"kind create cluster --name {C} --image {IMAGE_131}") for line in out
    )


def test_cli_dry_run_unknown_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code = harness_main(["run", "--backend", "kind", "--k8s-version", "1.12", "--dry-run"])
    assert code == 2
    assert "known: 1.30, 1.31, 1.32, 1.33" in capsys.readouterr().err


def test_plan_for_options_uses_the_reference_selector_with_a_manifest() -> None:
    plan = [c.render() for c in plan_for(Options(backend="kind", deploy="multus.yml"))]
    assert any("rollout status daemonset -l app=multus" in line for line in plan)


def test_probes_follow_the_settings() -> None:
    v4 = probes(settings())
    dual = probes(settings(ip_family="dual", mode="thick"))
    assert v4["eth1"]() is None
    assert "IPv4 only" in (v4["ipv6"]() or "")
    assert "thin mode" in (v4["thick"]() or "")
    assert dual["ipv6"]() is None and dual["thick"]() is None


def test_unavailable_without_the_tools(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    reason = unavailable_reason(Options(backend="kind"))
    assert reason is not None and "kind, kubectl, docker" in reason


@pytest.mark.parametrize("name", ["ipv4.yaml", "dual.yaml"])
def test_kind_configs_have_one_control_plane_and_two_workers(name: str) -> None:
    config = yaml.safe_load((REPO / "ci" / "kind" / name).read_text())
    assert config["kind"] == "Cluster"
    assert [n["role"] for n in config["nodes"]] == ["control-plane", "worker", "worker"]
    family = config["networking"]["ipFamily"]
    assert family == name.removesuffix(".yaml")
    subnets = config["networking"]["podSubnet"].split(",")
    assert subnets[0] == "10.244.0.0/16"  # the scenarios' eth0 expectations
    assert len(subnets) == (2 if family == "dual" else 1)


# ------------------------------------------------------------ with the fakes
@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeCLI:
    return FakeCLI(tmp_path, monkeypatch)


def test_start_runs_the_plan_and_substitutes_node_pids(fake: FakeCLI, tmp_path: Path) -> None:
    fake.rules(
        [
            {"tool": "docker", "args": ["inspect", f"{C}-worker"], "stdout": "4242\n"},
            {"tool": "docker", "args": ["inspect", f"{C}-worker2"], "stdout": "4343\n"},
        ]
    )
    s = settings(work_dir=str(tmp_path), report_dir=str(tmp_path / "reports"))
    backend = KindBackend(s, Tools())
    access = backend.start()
    calls = fake.argvs()
    assert calls[0] == ["kind", "get", "clusters"]
    assert [
        "docker", "run", "--rm", "--privileged", "--pid=host", "--network=host",
        "--entrypoint", "ip", IMAGE_131, "link", "add", "eth1", "netns", "4242", "type", "veth",
        "peer", "name", "eth1", "netns", "4343",
    ] in calls  # fmt: skip
    # every planned command ran, in order (placeholders resolved)
    values = {"<pid1>": "4242", "<pid2>": "4343"}
    planned = [
        [values.get(a, a) for a in c.argv] for c in backend.setup_commands() if c.argv[0] != "mkdir"
    ]
    assert calls[1:] == planned  # mkdir is the only real one
    assert (tmp_path / ".cache" / "harness").is_dir()
    assert access.nodes == {"node-1": f"{C}-worker", "node-2": f"{C}-worker2"}
    backend.finish(failed=False)
    assert fake.argvs()[-1][:3] == ["kind", "delete", "cluster"]


def test_existing_kept_cluster_is_reused(fake: FakeCLI, tmp_path: Path) -> None:
    fake.rules([{"tool": "kind", "args": ["get", "clusters"], "stdout": f"other\n{C}\n"}])
    backend = KindBackend(settings(work_dir=str(tmp_path)), Tools(), keep=True)
    backend.start()
    calls = fake.argvs()
    assert not any(c[:3] == ["kind", "create", "cluster"] for c in calls)
    assert any(c[:2] == ["docker", "build"] for c in calls)
    backend.finish(failed=False)
    assert not any(c[:3] == ["kind", "delete", "cluster"] for c in fake.argvs())


def test_failed_setup_collects_logs_and_deletes(fake: FakeCLI, tmp_path: Path) -> None:
    fake.rules(
        [
            {"tool": "kubectl", "args": ["rollout", "status"], "rc": 1, "stderr": "timed out\n"},
            {"tool": "kubectl", "args": ["logs"], "stdout": "pymultus: ADD failed\n"},
        ]
    )
    reports = tmp_path / "reports"
    backend = KindBackend(settings(work_dir=str(tmp_path), report_dir=str(reports)), Tools())
    with pytest.raises(ToolError, match="rollout status") as info:
        backend.start()
    assert "timed out" in str(info.value)
    assert (reports / "pymultus.log").read_text() == "pymultus: ADD failed\n"
    calls = fake.argvs()
    assert ["kind", "export", "logs", str(reports / "kind-logs"), "--name", C] in calls
    assert calls[-1][:3] == ["kind", "delete", "cluster"]


def test_node_exec_goes_through_docker(fake: FakeCLI, tmp_path: Path) -> None:
    backend = KindBackend(settings(work_dir=str(tmp_path)), Tools())
    backend.node_exec(f"{C}-worker", ["sh", "-c", "cat > /etc/x"], "content")
    (call,) = fake.calls()
    assert [call["tool"], *call["argv"]] == [
        "docker", "exec", "-i", f"{C}-worker", "sh", "-c", "cat > /etc/x",
    ]  # fmt: skip
    assert call["stdin"] == "content"


def test_fakes_are_on_path(fake: FakeCLI) -> None:
    for tool in ("kind", "kubectl", "docker", "curl", "sha256sum", "ip"):
        found = [d for d in os.environ["PATH"].split(os.pathsep) if os.path.exists(f"{d}/{tool}")]
        assert found and found[0].endswith("tests/fakes/bin")


def test_cli_runs_a_scenario_unchanged_on_kind(
    fake: FakeCLI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`harness run --backend kind` end to end: setup, the quickstart, teardown."""
    import json

    run_ns = f"hx{os.getpid() % 100000:05d}s1-default"
    status = [
        # the MACs of the recorded pod-ip-addr.json, as a meta-plugin reports them
        {
            "name": "kindnet",
            "interface": "eth0",
            "ips": ["10.244.1.5"],
            "mac": "46:4e:39:6a:73:90",
            "default": True,
        },
        {
            "name": f"{run_ns}/macvlan-conf",
            "interface": "net1",
            "ips": ["192.168.1.200"],
            "mac": "8a:67:58:d0:5c:b6",
        },
    ]
    pod = {
        "metadata": {
            "name": "samplepod",
            "namespace": run_ns,
            "annotations": {"k8s.v1.cni.cncf.io/network-status": json.dumps(status)},
        },
        "spec": {"nodeName": f"{C}-worker"},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }
    fake.rules(
        [
            {"tool": "docker", "args": ["inspect", f"{C}-worker"], "stdout": "4242\n"},
            {"tool": "docker", "args": ["inspect", f"{C}-worker2"], "stdout": "4343\n"},
            {"tool": "kubectl", "args": ["get", "pod", "samplepod"],
             "before": ["delete", "pod"], "stdout": json.dumps(pod)},
            {"tool": "kubectl", "args": ["exec", "--", "ip", "-d", "-j", "addr"],
             "stdout_file": "pod-ip-addr.json"},
            {"tool": "kubectl", "args": ["exec", "--", "ip", "-6", "-j", "route"],
             "stdout_file": "pod-ip6-route.json"},
            {"tool": "kubectl", "args": ["exec", "--", "ip", "-j", "route"],
             "stdout_file": "pod-ip-route.json"},
        ]
    )  # fmt: skip
    monkeypatch.chdir(tmp_path)
    scenario = str(REPO / "scenarios" / "quickstart.yaml")
    code = harness_main(["run", scenario, "--backend", "kind", "--k8s-version", "1.31"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "1 passed, 0 failed" in out
    calls = fake.argvs()
    assert calls[0] == ["kind", "get", "clusters"]
    assert calls[1][:3] == ["kind", "create", "cluster"]
    created = [c for c in calls if c[:1] == ["kubectl"] and "create" in c]
    assert len(created) == 1
    assert calls[-1][:3] == ["kind", "delete", "cluster"]
    assert not (tmp_path / "reports" / "pymultus.log").exists()  # logs only on failure
