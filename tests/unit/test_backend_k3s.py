"""The k3s backend up to the tool boundary: a fake K3SContainer, fake docker/kubectl."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.backends import Options, plan_for, unavailable_reason, versions
from harness.backends.k3s import K3S_CONF_DIR, K3sBackend, hostpath_patch, probes
from harness.backends.remote import DryRun, Tools

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fakes"))
from fakeenv import FakeCLI


def daemonset(*paths: str) -> dict[str, Any]:
    volumes = [{"name": f"v{i}", "hostPath": {"path": p}} for i, p in enumerate(paths)]
    volumes.insert(1, {"name": "token", "secret": {"secretName": "x"}})
    return {"metadata": {"name": "pymultus"}, "spec": {"template": {"spec": {"volumes": volumes}}}}


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        (
            ("/etc/cni/net.d", "/opt/cni/bin"),
            [
                (0, K3S_CONF_DIR),
                (2, "/var/lib/rancher/k3s/data/cni"),
            ],
        ),
        (("/var/lib/cni", "/run/pymultus"), []),
        ((), []),
    ],
)
def test_hostpath_patch(paths: tuple[str, ...], expected: list[tuple[int, str]]) -> None:
    ops = hostpath_patch(daemonset(*paths), "/var/lib/rancher/k3s/data/cni")
    assert ops == [
        {"op": "replace", "path": f"/spec/template/spec/volumes/{i}/hostPath/path", "value": v}
        for i, v in expected
    ]


def test_unavailable_without_testcontainers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "testcontainers.community.k3s", None)
    monkeypatch.setitem(sys.modules, "testcontainers.k3s", None)
    reason = unavailable_reason(Options(backend="k3s"))
    assert reason is not None and "pip install 'pymultus[k3s]'" in reason


def test_unknown_k3s_version_is_a_reason() -> None:
    reason = unavailable_reason(Options(backend="k3s", k8s_version="1.20"))
    assert reason is not None and "no k3s image for Kubernetes 1.20" in reason


def test_probes() -> None:
    answers = {need: probe() for need, probe in probes("thin").items()}
    assert answers["macvlan"] is None
    assert "single node" in (answers["eth1"] or "")
    assert answers["ipv6"] and answers["thick"]


def test_dry_run_plan_names_the_image_and_k3s_paths() -> None:
    plan = [c.render() for c in plan_for(Options(backend="k3s", k8s_version="1.31"))]
    assert plan[0] == (
        f"container=$(testcontainers K3SContainer {versions.K3S_IMAGES['1.31']} "
        "--cluster-cidr=10.244.0.0/16)"
    )
    assert any('bindir=$(docker exec "$container" sh -c' in line for line in plan)
    assert any('tar -xzf /tmp/cni-plugins.tgz -C "$bindir"' in line for line in plan)
    assert any("ctr -n k8s.io images import" in line for line in plan)


class FakeContainer:
    """Stands in for testcontainers' K3SContainer (same methods the backend calls)."""

    instances: list[FakeContainer] = []

    def __init__(self, image: str) -> None:
        self.image = image
        self.command = ""
        self.stopped = False
        FakeContainer.instances.append(self)

    def with_command(self, command: str) -> FakeContainer:
        self.command = command
        return self

    def get_container_host_ip(self) -> str:
        return "127.0.0.1"

    def start(self) -> FakeContainer:
        return self

    def get_wrapped_container(self) -> Any:
        class Wrapped:
            id = "c0ffee"

        return Wrapped()

    def config_yaml(self) -> str:
        return "apiVersion: v1\nkind: Config\n"

    def stop(self) -> None:
        self.stopped = True


def test_start_installs_into_k3s_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeCLI(tmp_path, monkeypatch)
    ds = daemonset("/etc/cni/net.d", "/opt/cni/bin")
    fake.rules(
        [
            {"tool": "docker", "args": ["exec", "c0ffee", "sh", "-c"],
             "stdout": "/var/lib/rancher/k3s/data/cni\n"},
            {"tool": "kubectl", "args": ["get", "daemonset"],
             "stdout": json.dumps({"items": [ds]})},
            {"tool": "kubectl", "args": ["get", "nodes"],
             "stdout": json.dumps({"items": [{"metadata": {"name": "c0ffee"}}]})},
        ]
    )  # fmt: skip
    backend = K3sBackend(
        Tools(), k8s_version="1.31", work_dir=str(tmp_path), container_class=FakeContainer
    )
    access = backend.start()
    container = FakeContainer.instances[-1]
    assert container.image == versions.K3S_IMAGES["1.31"]
    assert "--cluster-cidr=10.244.0.0/16" in container.command
    assert (tmp_path / ".cache" / "harness" / "k3s.kubeconfig").read_text().startswith("apiVersion")
    calls = fake.argvs()
    assert [
        "docker", "exec", "c0ffee", "tar", "-xzf", "/tmp/cni-plugins.tgz",
        "-C", "/var/lib/rancher/k3s/data/cni",
    ] in calls  # fmt: skip
    (patch,) = [c for c in calls if "patch" in c]
    ops = json.loads(patch[patch.index("-p") + 1])
    assert [op["value"] for op in ops] == [K3S_CONF_DIR, "/var/lib/rancher/k3s/data/cni"]
    assert calls.index(patch) < next(i for i, c in enumerate(calls) if "rollout" in c)
    assert access.nodes == {"node-1": "c0ffee"}
    backend.finish(failed=False)
    assert container.stopped


def test_dry_run_does_not_start_anything() -> None:
    backend = K3sBackend(DryRun(), container_class=FakeContainer)
    before = len(FakeContainer.instances)
    backend.plan()
    assert len(FakeContainer.instances) == before
