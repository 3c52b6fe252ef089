"""The engine under fakes: ordering, rollback, cache and status, no processes."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from pymultus.cni.errors import CNIError
from pymultus.cni.request import CNIRequest
from pymultus.engine import Engine
from pymultus.log import Logger
from pymultus.model.config import parse_config
from pymultus.state import DelegateCache

KINDNET = {"cniVersion": "1.0.0", "name": "kindnet", "type": "ptp"}
MACVLAN = {"cniVersion": "0.3.1", "name": "macvlan-conf", "type": "macvlan", "master": "eth0"}
NETNS = "/var/run/netns/pod"


def result_for(ifname: str, address: str, version: str = "1.0.0") -> dict[str, Any]:
    ips: dict[str, Any] = {"address": address, "interface": 0}
    if version.startswith("0.3"):
        ips["version"] = "4"
    return {
        "cniVersion": version,
        "interfaces": [{"name": ifname, "mac": "02:00:00:00:00:01", "sandbox": NETNS}],
        "ips": [ips],
    }


class FakeExecutor:
    def __init__(self, cache_dir: str, fail_on: str | None = None) -> None:
        self.calls: list[tuple[str, str, str, dict[str, Any]]] = []
        self.cache_dir = cache_dir
        self.fail_on = fail_on
        self.cache_seen_before_first_add: bool | None = None
        self.addresses = iter(f"10.1.1.{i}/24" for i in range(10, 99))

    def __call__(
        self, plugin_type: str, command: str, conf: dict[str, Any], request: CNIRequest
    ) -> dict[str, Any]:
        if command == "ADD" and self.cache_seen_before_first_add is None:
            self.cache_seen_before_first_add = os.path.exists(
                os.path.join(self.cache_dir, request.container_id)
            )
        self.calls.append((command, plugin_type, request.ifname, conf))
        if command == "ADD" and plugin_type == self.fail_on:
            raise CNIError(11, f"{plugin_type} exploded")
        if command == "ADD":
            return result_for(request.ifname, next(self.addresses), conf["cniVersion"])
        return {}


class FakeKube:
    def __init__(self, annotations: dict[str, str], uid: str = "uid-1") -> None:
        self.pod = {
            "metadata": {
                "name": "p",
                "namespace": "default",
                "uid": uid,
                "annotations": annotations,
            }
        }
        self.nads = {
            ("default", "macvlan-conf"): {
                "metadata": {"name": "macvlan-conf", "namespace": "default"},
                "spec": {"config": json.dumps(MACVLAN)},
            }
        }
        self.patches: list[dict[str, str | None]] = []

    def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.pod

    def get_nad(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.nads.get((namespace, name))

    def patch_pod_status_annotations(
        self, namespace: str, name: str, annotations: dict[str, str | None]
    ) -> dict[str, Any]:
        self.patches.append(annotations)
        return self.pod


def make_engine(
    tmp_path: Any, kube: FakeKube | None, fail_on: str | None = None, cni_version: str = "1.0.0"
) -> tuple[Engine, FakeExecutor]:
    cache_dir = str(tmp_path / "cache")
    cfg = parse_config(
        {
            "cniVersion": cni_version,
            "name": "m",
            "type": "pymultus",
            "delegates": [KINDNET],
            "cniDir": cache_dir,
        }
    )
    executor = FakeExecutor(cache_dir, fail_on)
    engine = Engine(
        cfg=cfg,
        execute=executor,
        cache=DelegateCache(cache_dir),
        kube=kube,
        log=Logger(to_stderr=False),
    )
    return engine, executor


def request(command: str = "ADD") -> CNIRequest:
    return CNIRequest(
        command=command,
        container_id="c1",
        netns=NETNS,
        ifname="eth0",
        args=(("K8S_POD_NAMESPACE", "default"), ("K8S_POD_NAME", "p"), ("K8S_POD_UID", "uid-1")),
    )


NETWORKS = {"k8s.v1.cni.cncf.io/networks": "macvlan-conf,macvlan-conf"}


def test_add_runs_delegates_in_order_and_writes_cache_first(tmp_path: Any) -> None:
    kube = FakeKube(NETWORKS)
    engine, executor = make_engine(tmp_path, kube)
    result = engine.add(request())
    assert [(c[0], c[1], c[2]) for c in executor.calls] == [
        ("ADD", "ptp", "eth0"),
        ("ADD", "macvlan", "net1"),
        ("ADD", "macvlan", "net2"),
    ]
    assert executor.cache_seen_before_first_add is True
    assert result["cniVersion"] == "1.0.0"
    assert result["ips"][0]["address"] == "10.1.1.10/24"
    status = json.loads(kube.patches[0]["k8s.v1.cni.cncf.io/network-status"] or "[]")
    assert [(e["name"], e["interface"], e.get("default", False)) for e in status] == [
        ("kindnet", "eth0", True),
        ("default/macvlan-conf", "net1", False),
        ("default/macvlan-conf", "net2", False),
    ]
    assert [e["ips"] for e in status] == [["10.1.1.10"], ["10.1.1.11"], ["10.1.1.12"]]


def test_result_is_converted_to_the_callers_version(tmp_path: Any) -> None:
    engine, _ = make_engine(tmp_path, FakeKube({}), cni_version="0.3.1")
    result = engine.add(request())
    assert result["cniVersion"] == "0.3.1"
    assert result["ips"][0]["version"] == "4"


def test_failed_delegate_rolls_back_in_reverse_and_removes_cache(tmp_path: Any) -> None:
    kube = FakeKube({"k8s.v1.cni.cncf.io/networks": "macvlan-conf"})
    engine, executor = make_engine(tmp_path, kube, fail_on="macvlan")
    with pytest.raises(CNIError) as err:
        engine.add(request())
    assert err.value.code == 11  # the delegate's own code is kept
    assert "default/macvlan-conf" in err.value.msg and "net1" in err.value.msg
    assert [(c[0], c[2]) for c in executor.calls] == [
        ("ADD", "eth0"),
        ("ADD", "net1"),
        ("DEL", "net1"),
        ("DEL", "eth0"),
    ]
    assert engine.cache.load("c1") is None
    assert kube.patches == []


def test_del_uses_cache_in_reverse_with_prev_results(tmp_path: Any) -> None:
    engine, executor = make_engine(tmp_path, FakeKube(NETWORKS))
    engine.add(request())
    executor.calls.clear()
    engine.delete(request("DEL"))
    dels = [
        (c[1], c[2], c[3].get("prevResult", {}).get("ips", [{}])[0].get("address"))
        for c in executor.calls
    ]
    # prevResult on DEL exists from CNI 0.4.0 on: the 0.3.1 macvlan gets none.
    assert dels == [
        ("macvlan", "net2", None),
        ("macvlan", "net1", None),
        ("ptp", "eth0", "10.1.1.10/24"),
    ]
    assert engine.cache.load("c1") is None
    executor.calls.clear()
    engine.delete(request("DEL"))  # DEL twice: recomputed from the API, still succeeds
    assert [c[0] for c in executor.calls] == ["DEL", "DEL", "DEL"]


def test_del_with_nothing_known_succeeds_without_calls(tmp_path: Any) -> None:
    kube = FakeKube({"k8s.v1.cni.cncf.io/networks": "missing-nad"})
    engine, executor = make_engine(tmp_path, kube)
    engine.delete(request("DEL"))
    assert executor.calls == []


def test_uid_mismatch_is_refused(tmp_path: Any) -> None:
    engine, executor = make_engine(tmp_path, FakeKube({}, uid="other"))
    with pytest.raises(CNIError) as err:
        engine.add(request())
    assert err.value.code == 3
    assert executor.calls == []


def test_a_bad_delegate_config_fails_before_any_state_is_written(tmp_path: Any) -> None:
    cache_dir = tmp_path / "cache"
    cfg = parse_config(
        {
            "cniVersion": "1.0.0",
            "name": "m",
            "type": "pymultus",
            "delegates": [{"cniVersion": "1.0.0", "name": "bad", "type": "../../bin/sh"}],
            "cniDir": str(cache_dir),
        }
    )
    executor = FakeExecutor(str(cache_dir))
    engine = Engine(
        cfg=cfg,
        execute=executor,
        cache=DelegateCache(str(cache_dir)),
        kube=None,
        log=Logger(to_stderr=False),
    )
    with pytest.raises(CNIError) as err:
        engine.add(request())
    assert err.value.code == 7
    assert "../../bin/sh" in err.value.msg
    assert executor.calls == []
    assert not cache_dir.exists()  # no cache directory, no cache file


def test_host_link_hint_names_the_node_interface() -> None:
    from pymultus.engine import host_link_hint

    assert host_link_hint({"type": "macvlan", "master": "eth9"}) == " (master eth9)"
    assert host_link_hint({"plugins": [{"type": "host-device", "device": "ens3"}]}) == (
        " (device ens3)"
    )
    assert host_link_hint({"type": "bridge"}) == ""
