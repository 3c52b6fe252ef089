"""Planning, table-driven: config + pod + NADs -> the exact delegates, per NPWG field.

Each row gives the networks annotation and expects, for every delegate in
order: (status name, ifname, runtimeConfig, args.cni of its first plugin,
deviceID). Plus hypothesis properties: any annotation text and any config
object give a plan or a CNIError with a spec code, never another exception.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymultus.cni.errors import CNIError
from pymultus.model.config import parse_config
from pymultus.plan import (
    NetworkRef,
    ResolvedNetwork,
    build_plan,
    requested_networks,
    status_name_for,
)

DEFAULT = {"cniVersion": "1.0.0", "name": "kindnet", "type": "ptp"}
ALL_CAPS = {
    "cniVersion": "1.0.0",
    "name": "rich",
    "plugins": [
        {
            "type": "macvlan",
            "capabilities": {"ips": True, "mac": True, "infinibandGUID": True},
        },
        {"type": "portmap", "capabilities": {"portMappings": True}},
        {"type": "bandwidth", "capabilities": {"bandwidth": True}},
    ],
}
PLAIN = {"cniVersion": "0.3.1", "name": "plain", "type": "macvlan"}
NADS: dict[str, dict[str, Any]] = {"rich": ALL_CAPS, "plain": PLAIN}
SPEC_CODES = {1, 2, 3, 4, 5, 6, 7, 11, 50, 51, 999}


def plan_for(
    annotation: str,
    cfg_extra: dict[str, Any] | None = None,
    runtime: dict[str, Any] | None = None,
    device_ids: dict[int, str] | None = None,
) -> list[Any]:
    cfg = parse_config(
        {
            "cniVersion": "1.0.0",
            "name": "m",
            "type": "pymultus",
            "clusterNetwork": "kindnet",
            **(cfg_extra or {}),
        }
    )
    pod = {"metadata": {"annotations": {"k8s.v1.cni.cncf.io/networks": annotation}}}
    refs = requested_networks(cfg, pod, "default")
    resolved = []
    for ref in refs:
        conf: dict[str, Any] = DEFAULT if ref.source == "cluster" else NADS.get(ref.name, PLAIN)
        resolved.append(ResolvedNetwork(conf, status_name_for(ref, conf, ref.source != "cluster")))
    return build_plan(refs, resolved, "eth0", runtime or {}, device_ids)


def args_cni(conf: dict[str, Any]) -> dict[str, Any]:
    plugin = conf["plugins"][0] if "plugins" in conf else conf
    return dict((plugin.get("args") or {}).get("cni") or {})


BW = {"ingressRate": 1000, "ingressBurst": 100, "egressRate": 2000, "egressBurst": 200}
PM = {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}
GUID = "c2:11:22:33:44:55:66:77"

CASES: list[tuple[str, str, list[tuple[str, str, dict[str, Any], dict[str, Any]]]]] = [
    (
        "name and namespace",
        '[{"name": "plain", "namespace": "other"}]',
        [("kindnet", "eth0", {}, {}), ("other/plain", "net1", {}, {})],
    ),
    (
        "interface",
        '[{"name": "plain", "interface": "data0"}, {"name": "plain"}]',
        [
            ("kindnet", "eth0", {}, {}),
            ("default/plain", "data0", {}, {}),
            ("default/plain", "net2", {}, {}),
        ],
    ),
    (
        "ips",
        '[{"name": "rich", "ips": ["10.1.1.5/24", "fd00::5/64"]}]',
        [
            ("kindnet", "eth0", {}, {}),
            ("default/rich", "net1", {"ips": ["10.1.1.5/24", "fd00::5/64"]}, {}),
        ],
    ),
    (
        "mac",
        '[{"name": "rich", "mac": "02:00:00:00:00:05"}]',
        [("kindnet", "eth0", {}, {}), ("default/rich", "net1", {"mac": "02:00:00:00:00:05"}, {})],
    ),
    (
        "portMappings",
        json.dumps([{"name": "rich", "portMappings": [PM]}]),
        [("kindnet", "eth0", {}, {}), ("default/rich", "net1", {"portMappings": [PM]}, {})],
    ),
    (
        "bandwidth",
        json.dumps([{"name": "rich", "bandwidth": BW}]),
        [("kindnet", "eth0", {}, {}), ("default/rich", "net1", {"bandwidth": BW}, {})],
    ),
    (
        "infiniband-guid",
        json.dumps([{"name": "rich", "infiniband-guid": GUID}]),
        [("kindnet", "eth0", {}, {}), ("default/rich", "net1", {"infinibandGUID": GUID}, {})],
    ),
    (
        "cni-args",
        '[{"name": "plain", "cni-args": {"a": 1, "b": "x"}}]',
        [("kindnet", "eth0", {}, {}), ("default/plain", "net1", {}, {"a": 1, "b": "x"})],
    ),
    (
        "ipam-claim-reference",
        '[{"name": "plain", "ipam-claim-reference": "claim-1"}]',
        [
            ("kindnet", "eth0", {}, {}),
            ("default/plain", "net1", {}, {"ipam-claim-reference": "claim-1"}),
        ],
    ),
    (
        "the same NAD three times",
        "plain,plain,other/plain@x1",
        [
            ("kindnet", "eth0", {}, {}),
            ("default/plain", "net1", {}, {}),
            ("default/plain", "net2", {}, {}),
            ("other/plain", "x1", {}, {}),
        ],
    ),
]


@pytest.mark.parametrize(("label", "annotation", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_selection_field_reaches_its_delegate(
    label: str, annotation: str, expected: list[tuple[str, str, dict[str, Any], dict[str, Any]]]
) -> None:
    delegates = plan_for(annotation)
    got = [(d.status_name, d.ifname, d.runtime_config, args_cni(d.conf)) for d in delegates]
    assert got == expected


def test_default_route_is_carried_by_its_delegate() -> None:
    delegates = plan_for('[{"name": "plain", "default-route": ["10.1.1.1", "fd00::1"]}]')
    assert [d.default_route for d in delegates] == [(), ("10.1.1.1", "fd00::1")]


@pytest.mark.parametrize(
    ("annotation", "fragment"),
    [
        ('[{"name": "plain", "ips": ["10.1.1.5/24"]}]', "'ips' capability"),
        ('[{"name": "plain", "mac": "02:00:00:00:00:05"}]', "'mac' capability"),
        (json.dumps([{"name": "plain", "bandwidth": BW}]), "'bandwidth' capability"),
        (json.dumps([{"name": "plain", "portMappings": [PM]}]), "'portMappings' capability"),
        (json.dumps([{"name": "plain", "infiniband-guid": GUID}]), "'infinibandGUID' capability"),
        ('[{"name": "plain", "ips": ["10.1.1.5/24"], "ipam-claim-reference": "c"}]', "ips"),
        ('[{"name": "plain", "default-route": ["10.0.0.1", "10.0.0.2"]}]', "ECMP"),
        ('[{"name": "plain", "interface": "eth0"}]', "'eth0' is requested twice"),
        ('[{"name": "plain", "bandwidth": {"ingressBurst": 5}}]', "ingressRate"),
    ],
)
def test_requests_that_cannot_be_honoured_fail_with_code_7(annotation: str, fragment: str) -> None:
    with pytest.raises(CNIError) as err:
        plan_for(annotation)
    assert err.value.code == 7
    assert fragment in err.value.msg + err.value.details


def test_device_ids_go_to_config_and_runtime_config() -> None:
    delegates = plan_for("plain,plain", device_ids={2: "0000:03:00.2"})
    assert [d.device_id for d in delegates] == ["", "", "0000:03:00.2"]
    assert delegates[2].conf["deviceID"] == "0000:03:00.2"
    assert delegates[2].runtime_config == {"deviceID": "0000:03:00.2"}
    assert "deviceID" not in delegates[1].conf


def test_device_id_in_the_element_wins() -> None:
    delegates = plan_for('[{"name": "plain", "deviceID": "dev-a"}]', device_ids={1: "dev-b"})
    assert delegates[1].device_id == "dev-a"


def test_runtime_capabilities_of_the_caller_go_to_the_default_network_only() -> None:
    delegates = plan_for("plain", runtime={"portMappings": [PM]})
    assert [d.runtime_config for d in delegates] == [{"portMappings": [PM]}, {}]


def test_delegate_round_trips_through_the_cache_form() -> None:
    from pymultus.plan import Delegate

    for delegate in plan_for('[{"name": "rich", "default-route": ["10.1.1.1"]}]'):
        assert Delegate.from_dict(json.loads(json.dumps(delegate.to_dict()))) == delegate


# ------------------------------------------------------------- properties
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
ELEMENT_KEYS = st.sampled_from(
    [
        "name",
        "namespace",
        "ips",
        "mac",
        "interface",
        "cni-args",
        "portMappings",
        "bandwidth",
        "default-route",
        "infiniband-guid",
        "ipam-claim-reference",
        "deviceID",
    ]
)
ELEMENT_VALUES = (
    st.sampled_from(
        ["plain", "rich", "10.1.1.5/24", "02:00:00:00:00:05", "eth0", "net1", "10.0.0.1", "x y"]
    )
    | st.lists(st.sampled_from(["10.1.1.5/24", "10.0.0.1", "fd00::1", "bad"]), max_size=3)
    | JSON
)
ELEMENTS = st.lists(st.dictionaries(ELEMENT_KEYS, ELEMENT_VALUES, max_size=5), max_size=4)


def outcome(annotation: str, cfg_extra: dict[str, Any] | None = None) -> None:
    try:
        plan_for(annotation, cfg_extra)
    except CNIError as exc:
        assert exc.code in SPEC_CODES
        assert exc.msg


@settings(max_examples=150, deadline=None)
@given(ELEMENTS)
def test_any_json_annotation_plans_or_fails_with_a_spec_code(elements: list[Any]) -> None:
    outcome(json.dumps(elements))


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="plainrch/@,. -_[]{}\"'0:", max_size=40))
def test_any_annotation_text_plans_or_fails_with_a_spec_code(text: str) -> None:
    outcome(text)


CONFIG_KEYS = st.sampled_from(
    [
        "namespaceIsolation",
        "globalNamespaces",
        "systemNamespaces",
        "multusNamespace",
        "defaultNetworks",
        "runtimeConfig",
        "capabilities",
        "legacyNetworkStatus",
        "auxiliaryCNIChainName",
        "retryDeleteOnError",
        "logLevel",
        "logOptions",
    ]
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(CONFIG_KEYS, JSON | st.sampled_from(["plain", "rich", True]), max_size=5))
def test_any_config_plans_or_fails_with_a_spec_code(extra: dict[str, Any]) -> None:
    outcome("plain", extra)


def test_network_refs_name_their_key() -> None:
    assert NetworkRef("selection", "a", "ns").key == "ns/a"
