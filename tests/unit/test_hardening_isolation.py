"""namespaceIsolation cannot be bypassed: not by the ``namespace`` field, not by the
default-network annotation, not by a conf file name.

With ``namespaceIsolation`` on, a pod may attach NetworkAttachmentDefinitions
of its own namespace or of ``globalNamespaces`` only (Multus configuration
reference, "namespaceIsolation"). The engine runs here under fakes that
record every NAD the engine *looks up*: isolation holds only if a forbidden
NAD is never even fetched, and no delegate runs.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pymultus.cni.errors import INVALID_CONFIG, CNIError
from pymultus.cni.request import CNIRequest
from pymultus.engine import Engine
from pymultus.log import Logger
from pymultus.model.config import parse_config
from pymultus.state import DelegateCache

POD_NS = "tenant-a"
GLOBAL = "shared"
MULTUS_NS = "kube-system"


class RecordingKube:
    """Every NAD exists (so a lookup that should not happen would succeed)."""

    def __init__(self, annotations: dict[str, str]) -> None:
        self.annotations = annotations
        self.nad_lookups: list[tuple[str, str]] = []

    def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        meta = {"name": name, "namespace": namespace, "uid": "u", "annotations": self.annotations}
        return {"metadata": meta}

    def get_nad(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.nad_lookups.append((namespace, name))
        conf = {"cniVersion": "1.0.0", "name": name, "type": "bridge"}
        return {
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"config": json.dumps(conf)},
        }

    def patch_pod_status_annotations(
        self, namespace: str, name: str, annotations: dict[str, str | None]
    ) -> dict[str, Any] | None:
        return self.get_pod(namespace, name)

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


class RecordingExecutor:
    def __init__(self) -> None:
        self.confs: list[dict[str, Any]] = []

    def __call__(
        self, plugin_type: str, command: str, conf: dict[str, Any], request: CNIRequest
    ) -> dict[str, Any]:
        self.confs.append(conf)
        if command == "ADD":
            return {
                "cniVersion": conf["cniVersion"],
                "interfaces": [{"name": request.ifname, "sandbox": request.netns}],
                "ips": [{"address": "10.0.0.2/24", "interface": 0}],
            }
        return {}


def run_add(
    tmp_path: Any, annotations: dict[str, str], **extra: Any
) -> tuple[RecordingKube, RecordingExecutor, dict[str, Any] | CNIError]:
    conf = {
        "cniVersion": "1.0.0",
        "name": "multus",
        "clusterNetwork": "default-net",
        "multusNamespace": MULTUS_NS,
        "namespaceIsolation": True,
        "globalNamespaces": GLOBAL,
        "cniDir": str(tmp_path / "cache"),
        "confDir": str(tmp_path / "confd"),
        **extra,
    }
    kube = RecordingKube(annotations)
    execute = RecordingExecutor()
    engine = Engine(
        cfg=parse_config(conf),
        execute=execute,
        cache=DelegateCache(str(tmp_path / "cache")),
        kube=kube,
        log=Logger("error", "", False),
    )
    request = CNIRequest(
        command="ADD",
        container_id="c1",
        netns="/var/run/netns/p",
        ifname="eth0",
        args=(("K8S_POD_NAMESPACE", POD_NS), ("K8S_POD_NAME", "p"), ("K8S_POD_UID", "u")),
    )
    try:
        return kube, execute, engine.add(request)
    except CNIError as exc:
        return kube, execute, exc


NETWORKS = "k8s.v1.cni.cncf.io/networks"
DEFAULT_NETWORK = "v1.multus-cni.io/default-network"


@pytest.mark.parametrize(
    "annotation",
    [
        "other/net-x",
        "kube-system/net-x",
        "net-a, other/net-x",
        '[{"name": "net-x", "namespace": "other"}]',
        # Go-style key matching: the last spelling wins, for the check and the lookup alike.
        '[{"name": "net-x", "namespace": "tenant-a", "NAMESPACE": "other"}]',
        '[{"name": "net-x", "Namespace": "other"}]',
    ],
)
def test_networks_annotation_cannot_reach_another_namespace(tmp_path: Any, annotation: str) -> None:
    kube, execute, outcome = run_add(tmp_path, {NETWORKS: annotation})
    assert isinstance(outcome, CNIError)
    assert outcome.code == INVALID_CONFIG
    assert "namespace isolation" in outcome.msg
    assert not [ns for ns, _ in kube.nad_lookups if ns not in (POD_NS, GLOBAL, MULTUS_NS)]
    assert execute.confs == []  # nothing ran, not even the default network


@pytest.mark.parametrize(
    "annotation",
    [
        "../other/net-x",
        "other/../tenant-a/net-x",
        "/etc/cni/net.d/10-secret.conf",
        "net-x@../eth0",
        "..",
        '[{"name": "../other/net-x"}]',
        '[{"name": "net-x", "namespace": "../other"}]',
        '[{"name": "/etc/cni/net.d/10-secret.conf"}]',
    ],
)
def test_paths_in_the_networks_annotation_are_refused(tmp_path: Any, annotation: str) -> None:
    kube, execute, outcome = run_add(tmp_path, {NETWORKS: annotation})
    assert isinstance(outcome, CNIError) and outcome.code == INVALID_CONFIG
    assert kube.nad_lookups == []
    assert execute.confs == []


def test_allowed_namespaces_still_work(tmp_path: Any) -> None:
    kube, execute, outcome = run_add(tmp_path, {NETWORKS: f"net-a, {GLOBAL}/net-b"})
    assert isinstance(outcome, dict), outcome
    assert (POD_NS, "net-a") in kube.nad_lookups
    assert (GLOBAL, "net-b") in kube.nad_lookups
    assert [c["name"] for c in execute.confs] == ["default-net", "net-a", "net-b"]


@pytest.mark.parametrize(
    "annotation",
    ["../../etc/cni/net.d/x", "/etc/cni/net.d/10-secret.conf", "a/b/c", "x.conf/../y"],
)
def test_default_network_annotation_cannot_name_a_file(tmp_path: Any, annotation: str) -> None:
    """The override names a NAD, never a file path (unlike clusterNetwork, an admin's setting)."""
    secret = tmp_path / "10-secret.conf"
    secret.write_text(json.dumps({"cniVersion": "1.0.0", "name": "secret", "type": "bridge"}))
    kube, execute, outcome = run_add(
        tmp_path, {DEFAULT_NETWORK: annotation.replace("/etc/cni/net.d", str(tmp_path))}
    )
    assert isinstance(outcome, CNIError) and outcome.code == INVALID_CONFIG
    assert kube.nad_lookups == []
    assert execute.confs == []


def test_default_network_annotation_cannot_reach_another_namespace(tmp_path: Any) -> None:
    kube, execute, outcome = run_add(tmp_path, {DEFAULT_NETWORK: "other/net-x"})
    assert isinstance(outcome, CNIError) and outcome.code == INVALID_CONFIG
    assert ("other", "net-x") not in kube.nad_lookups
    assert execute.confs == []


def test_default_network_annotation_without_namespace_uses_multus_namespace(
    tmp_path: Any,
) -> None:
    """A pod cannot shadow the admin's default network by a NAD of the same name."""
    kube, _, outcome = run_add(tmp_path, {DEFAULT_NETWORK: "net-x"})
    assert isinstance(outcome, dict), outcome
    assert kube.nad_lookups[0] == (MULTUS_NS, "net-x")


_piece = st.sampled_from(
    [POD_NS, GLOBAL, "other", "kube-system", "net-a", "/", ",", "@", "..", "net1", " "]
)
_json_element = st.fixed_dictionaries(
    {"name": st.sampled_from(["net-a", "net-b", "../x"])},
    optional={
        "namespace": st.sampled_from([POD_NS, GLOBAL, "other", "", "../other"]),
        "Namespace": st.sampled_from([POD_NS, "other"]),
        "NAMESPACE": st.sampled_from([GLOBAL, "other"]),
    },
)
_annotation = st.lists(_piece, max_size=8).map("".join) | st.lists(
    _json_element, min_size=1, max_size=3
).map(json.dumps)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks=_annotation)
def test_no_annotation_makes_the_engine_fetch_outside_the_allowed_namespaces(
    tmp_path_factory: pytest.TempPathFactory, networks: str
) -> None:
    tmp_path = tmp_path_factory.mktemp("iso")
    kube, execute, outcome = run_add(tmp_path, {NETWORKS: networks})
    looked_up = {ns for ns, _ in kube.nad_lookups}
    # clusterNetwork is the admin's and is looked up in multusNamespace.
    assert looked_up <= {POD_NS, GLOBAL, MULTUS_NS}, (networks, kube.nad_lookups)
    selected = [ns for ns, name in kube.nad_lookups if name != "default-net"]
    assert MULTUS_NS not in selected
    if isinstance(outcome, CNIError):
        assert outcome.code == INVALID_CONFIG
        assert execute.confs == []
