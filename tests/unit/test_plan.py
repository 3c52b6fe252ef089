"""Table-driven tests of planning: config + pod + NADs -> the exact delegates."""

from __future__ import annotations

from typing import Any

import pytest

from pymultus.cni.errors import INVALID_CONFIG, CNIError
from pymultus.model.config import parse_config
from pymultus.plan import (
    CLUSTER,
    CLUSTER_OVERRIDE,
    DEFAULT_NETWORKS,
    INLINE,
    SELECTION,
    NetworkRef,
    ResolvedNetwork,
    build_plan,
    requested_networks,
    status_name_for,
    with_cni_args,
)

MACVLAN = {"cniVersion": "1.0.0", "name": "macvlan-conf", "type": "macvlan", "master": "eth0"}
WITH_IPS = {
    "cniVersion": "1.0.0",
    "name": "static-conf",
    "plugins": [
        {
            "type": "macvlan",
            "master": "eth0",
            "ipam": {"type": "static"},
            "capabilities": {"ips": True, "mac": True},
        },
    ],
}
DEFAULT = {"cniVersion": "1.0.0", "name": "kindnet", "type": "ptp"}


def config(**extra: Any) -> Any:
    base: dict[str, Any] = {
        "cniVersion": "1.0.0",
        "name": "multus",
        "type": "pymultus",
        "clusterNetwork": "kindnet",
    }
    base.update(extra)
    return parse_config(base)


def pod(annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": "default", "annotations": annotations or {}}}


NETWORKS = "k8s.v1.cni.cncf.io/networks"


@pytest.mark.parametrize(
    ("cfg_extra", "annotations", "namespace", "expected"),
    [
        ({}, {}, "default", [(CLUSTER, "kube-system/kindnet")]),
        (
            {},
            {NETWORKS: "macvlan-conf"},
            "default",
            [(CLUSTER, "kube-system/kindnet"), (SELECTION, "default/macvlan-conf")],
        ),
        (
            {},
            {NETWORKS: "other/a@foo, b"},
            "default",
            [(CLUSTER, "kube-system/kindnet"), (SELECTION, "other/a"), (SELECTION, "default/b")],
        ),
        (
            {"defaultNetworks": ["extra"]},
            {NETWORKS: "b"},
            "default",
            [
                (CLUSTER, "kube-system/kindnet"),
                (DEFAULT_NETWORKS, "kube-system/extra"),
                (SELECTION, "default/b"),
            ],
        ),
        # systemNamespaces get no defaultNetworks
        ({"defaultNetworks": ["extra"]}, {}, "kube-system", [(CLUSTER, "kube-system/kindnet")]),
        (
            {},
            {"v1.multus-cni.io/default-network": "alt"},
            "default",
            [(CLUSTER_OVERRIDE, "kube-system/alt")],
        ),
    ],
)
def test_requested_networks(
    cfg_extra: dict[str, Any],
    annotations: dict[str, str],
    namespace: str,
    expected: list[tuple[str, str]],
) -> None:
    refs = requested_networks(config(**cfg_extra), pod(annotations), namespace)
    assert [(r.source, r.key) for r in refs] == expected


def test_delegates_mode_uses_inline_configs_in_order() -> None:
    cfg = parse_config(
        {"cniVersion": "1.0.0", "name": "m", "type": "pymultus", "delegates": [DEFAULT, MACVLAN]}
    )
    refs = requested_networks(cfg, None, "")
    assert [(r.source, r.name) for r in refs] == [(INLINE, "kindnet"), (INLINE, "macvlan-conf")]


def test_namespace_isolation_refuses_other_namespaces() -> None:
    cfg = config(namespaceIsolation=True)
    with pytest.raises(CNIError) as err:
        requested_networks(cfg, pod({NETWORKS: "other/a"}), "default")
    assert err.value.code == INVALID_CONFIG
    assert "other/a" in err.value.msg
    # own namespace and global namespaces are fine
    refs = requested_networks(
        config(namespaceIsolation=True, globalNamespaces="shared"),
        pod({NETWORKS: "shared/a,mine/b"}),
        "mine",
    )
    assert [r.key for r in refs][1:] == ["shared/a", "mine/b"]


def resolved(*confs: dict[str, Any]) -> list[ResolvedNetwork]:
    return [ResolvedNetwork(c, c["name"]) for c in confs]


def refs_for(annotation: str) -> list[NetworkRef]:
    return requested_networks(config(), pod({NETWORKS: annotation}), "default")


@pytest.mark.parametrize(
    ("annotation", "ifnames"),
    [
        ("macvlan-conf", ["eth0", "net1"]),
        ("macvlan-conf,macvlan-conf", ["eth0", "net1", "net2"]),
        (
            '[{"name": "macvlan-conf", "interface": "foo"}, {"name": "macvlan-conf"}]',
            ["eth0", "foo", "net2"],
        ),
        ("default/macvlan-conf@data0", ["eth0", "data0"]),
    ],
)
def test_interface_names_follow_position(annotation: str, ifnames: list[str]) -> None:
    refs = refs_for(annotation)
    plan = build_plan(refs, resolved(DEFAULT, *[MACVLAN] * (len(refs) - 1)), "eth0", {})
    assert [d.ifname for d in plan] == ifnames
    assert [d.is_default for d in plan] == [True] + [False] * (len(refs) - 1)


def test_duplicate_interface_name_is_an_error_naming_both() -> None:
    refs = refs_for("macvlan-conf@net9,macvlan-conf@net9")
    with pytest.raises(CNIError) as err:
        build_plan(refs, resolved(DEFAULT, MACVLAN, MACVLAN), "eth0", {})
    assert err.value.code == INVALID_CONFIG
    assert "net9" in err.value.msg


def test_runtime_config_goes_to_the_default_network_only() -> None:
    refs = refs_for("macvlan-conf")
    runtime = {"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]}
    plan = build_plan(refs, resolved(DEFAULT, MACVLAN), "eth0", runtime)
    assert plan[0].runtime_config == runtime
    assert plan[1].runtime_config == {}


def test_ips_and_mac_become_runtime_config_when_declared() -> None:
    refs = refs_for('[{"name": "static-conf", "ips": ["10.1.1.5/24"], "mac": "02:00:00:00:00:01"}]')
    plan = build_plan(refs, resolved(DEFAULT, WITH_IPS), "eth0", {})
    assert plan[1].runtime_config == {"ips": ["10.1.1.5/24"], "mac": "02:00:00:00:00:01"}


def test_ips_without_the_capability_fail_naming_it() -> None:
    refs = refs_for('[{"name": "macvlan-conf", "ips": ["10.1.1.5/24"]}]')
    with pytest.raises(CNIError) as err:
        build_plan(refs, resolved(DEFAULT, MACVLAN), "eth0", {})
    assert err.value.code == INVALID_CONFIG
    assert "'ips'" in err.value.msg and "default/macvlan-conf" in err.value.msg


def test_cni_args_are_merged_into_every_plugin_annotation_wins() -> None:
    conf = {
        "name": "x",
        "plugins": [{"type": "a", "args": {"cni": {"k": "old", "keep": 1}}}, {"type": "b"}],
    }
    out = with_cni_args(conf, {"k": "new"})
    assert out["plugins"][0]["args"]["cni"] == {"k": "new", "keep": 1}
    assert out["plugins"][1]["args"]["cni"] == {"k": "new"}
    assert conf["plugins"][0]["args"]["cni"]["k"] == "old"  # input untouched


def test_status_names() -> None:
    ref = NetworkRef(SELECTION, "macvlan-conf", "default")
    assert status_name_for(ref, MACVLAN, from_nad=True) == "default/macvlan-conf"
    cluster = NetworkRef(CLUSTER, "/etc/cni/net.d/10-kindnet.conflist", "kube-system")
    assert status_name_for(cluster, DEFAULT, from_nad=False) == "kindnet"
