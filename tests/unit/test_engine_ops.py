"""CHECK, STATUS, GC, default-route, events, legacy status and devices, under fakes."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from pymultus.cni.errors import CNIError
from pymultus.cni.request import CNIRequest
from pymultus.engine import Engine, request_from_cache, without_default_routes
from pymultus.log import Logger
from pymultus.model.config import parse_config
from pymultus.state import DelegateCache

NETNS = "/var/run/netns/pod"
KINDNET = {"cniVersion": "1.1.0", "name": "kindnet", "type": "ptp"}
MACVLAN = {"cniVersion": "1.1.0", "name": "macvlan-conf", "type": "macvlan", "master": "eth0"}
OLD = {"cniVersion": "0.3.1", "name": "old-conf", "type": "bridge"}
ARGS = (("K8S_POD_NAMESPACE", "default"), ("K8S_POD_NAME", "p"), ("K8S_POD_UID", "uid-1"))


class FakeExecutor:
    """Answers like a plugin; records (command, type, ifname, conf, container id)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, dict[str, Any], str]] = []
        self.fail: dict[tuple[str, str], CNIError] = {}
        self.counter = 10

    def __call__(
        self, plugin_type: str, command: str, conf: dict[str, Any], request: CNIRequest
    ) -> dict[str, Any]:
        self.calls.append((command, plugin_type, request.ifname, conf, request.container_id))
        error = self.fail.get((command, plugin_type))
        if error is not None:
            raise error
        if command != "ADD":
            return {}
        self.counter += 1
        return {
            "cniVersion": conf["cniVersion"],
            "interfaces": [{"name": request.ifname, "mac": "02:00:00:00:00:01", "sandbox": NETNS}],
            "ips": [
                {"address": f"10.1.{self.counter}.5/24", "gateway": f"10.1.{self.counter}.1"},
            ],
            "routes": [{"dst": "0.0.0.0/0"}],
        }

    def commands(self) -> list[tuple[str, str, str]]:
        return [(c[0], c[1], c[2]) for c in self.calls]


class FakeKube:
    def __init__(self, annotations: dict[str, str], nads: dict[str, Any] | None = None) -> None:
        self.pod = {
            "metadata": {
                "name": "p",
                "namespace": "default",
                "uid": "uid-1",
                "annotations": annotations,
            }
        }
        self.nads: dict[tuple[str, str], Any] = {}
        for name, conf in (nads or {"macvlan-conf": MACVLAN}).items():
            nad: dict[str, Any] = {
                "metadata": {"name": name, "namespace": "default", "annotations": {}},
                "spec": {"config": json.dumps(conf)},
            }
            if isinstance(conf, dict) and conf.get("_resource"):
                nad["metadata"]["annotations"]["k8s.v1.cni.cncf.io/resourceName"] = conf[
                    "_resource"
                ]
            self.nads[("default", name)] = nad
        self.patches: list[dict[str, str | None]] = []
        self.events: list[tuple[str, str, str, str]] = []

    def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.pod

    def get_nad(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.nads.get((namespace, name))

    def patch_pod_status_annotations(
        self, namespace: str, name: str, annotations: dict[str, str | None]
    ) -> dict[str, Any]:
        self.patches.append(annotations)
        return self.pod

    def create_event(
        self,
        namespace: str,
        involved: Any,
        reason: str,
        message: str,
        type: str = "Normal",
    ) -> dict[str, Any]:
        assert involved["metadata"]["name"] == "p"
        self.events.append((namespace, reason, message, type))
        return {}


class Routes:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int, str, str]] = []

    def __call__(self, netns: str, family: int, ifname: str, gateway: str) -> None:
        self.calls.append((netns, family, ifname, gateway))


def make_engine(
    tmp_path: Any,
    kube: FakeKube | None,
    version: str = "1.1.0",
    links: set[str] | None = None,
    **extra: Any,
) -> tuple[Engine, FakeExecutor, Routes]:
    cache_dir = str(tmp_path / "cache")
    conf: dict[str, Any] = {
        "cniVersion": version,
        "name": "m",
        "type": "pymultus",
        "delegates": [KINDNET],
        "cniDir": cache_dir,
    }
    conf.update(extra)
    executor = FakeExecutor()
    routes = Routes()
    engine = Engine(
        cfg=parse_config(conf),
        execute=executor,
        cache=DelegateCache(cache_dir),
        kube=kube,
        log=Logger(to_stderr=False),
        set_route=routes,
        list_links=lambda netns: set(links or {"lo", "eth0", "net1", "net2"}),
    )
    return engine, executor, routes


def request(command: str = "ADD", container_id: str = "c1") -> CNIRequest:
    return CNIRequest(
        command=command, container_id=container_id, netns=NETNS, ifname="eth0", args=ARGS
    )


NETWORKS = "k8s.v1.cni.cncf.io/networks"


# ----------------------------------------------------------------- CHECK
def test_check_forwards_to_every_cached_attachment_with_its_prev_result(tmp_path: Any) -> None:
    engine, executor, _ = make_engine(tmp_path, FakeKube({NETWORKS: "macvlan-conf"}))
    engine.add(request())
    executor.calls.clear()
    engine.check(request("CHECK"))
    assert executor.commands() == [("CHECK", "ptp", "eth0"), ("CHECK", "macvlan", "net1")]
    prev = [c[3]["prevResult"]["ips"][0]["address"] for c in executor.calls]
    assert prev == ["10.1.11.5/24", "10.1.12.5/24"]


def test_check_fails_when_an_interface_is_gone_even_for_old_delegates(tmp_path: Any) -> None:
    kube = FakeKube({NETWORKS: "old-conf"}, nads={"old-conf": OLD})
    engine, _, _ = make_engine(tmp_path, kube, links={"lo", "eth0"})
    engine.add(request())
    with pytest.raises(CNIError) as err:
        engine.check(request("CHECK"))
    assert err.value.code == 7
    assert "net1 (default/old-conf)" in err.value.msg


def test_check_names_the_failing_network_and_keeps_its_code(tmp_path: Any) -> None:
    engine, executor, _ = make_engine(tmp_path, FakeKube({NETWORKS: "macvlan-conf"}))
    engine.add(request())
    executor.fail[("CHECK", "macvlan")] = CNIError(5, "macvlan: link net1 has no address")
    with pytest.raises(CNIError) as err:
        engine.check(request("CHECK"))
    assert err.value.code == 5
    assert "default/macvlan-conf as net1" in err.value.msg


def test_check_without_a_previous_add_is_unknown_container(tmp_path: Any) -> None:
    engine, executor, _ = make_engine(tmp_path, FakeKube({}))
    with pytest.raises(CNIError) as err:
        engine.check(request("CHECK"))
    assert err.value.code == 3
    assert executor.calls == []


def test_check_needs_cni_0_4_0(tmp_path: Any) -> None:
    engine, _, _ = make_engine(tmp_path, FakeKube({}), version="0.3.1")
    with pytest.raises(CNIError) as err:
        engine.check(request("CHECK"))
    assert err.value.code == 1


# ---------------------------------------------------------------- STATUS
def test_status_asks_every_configured_and_cached_network(tmp_path: Any) -> None:
    engine, executor, _ = make_engine(tmp_path, FakeKube({NETWORKS: "macvlan-conf"}))
    engine.add(request())
    executor.calls.clear()
    engine.status(CNIRequest(command="STATUS"))
    assert [(c[0], c[1]) for c in executor.calls] == [("STATUS", "ptp"), ("STATUS", "macvlan")]


def test_status_passes_on_a_delegates_not_available(tmp_path: Any) -> None:
    engine, executor, _ = make_engine(tmp_path, FakeKube({}))
    executor.fail[("STATUS", "ptp")] = CNIError(50, "ptp: no IPAM yet")
    with pytest.raises(CNIError) as err:
        engine.status(CNIRequest(command="STATUS"))
    assert err.value.code == 50
    assert "kindnet" in err.value.msg


def test_status_is_not_available_while_the_readiness_file_is_missing(tmp_path: Any) -> None:
    marker = tmp_path / "ready"
    engine, executor, _ = make_engine(tmp_path, FakeKube({}), readinessindicatorfile=str(marker))
    with pytest.raises(CNIError) as err:
        engine.status(CNIRequest(command="STATUS"))
    assert err.value.code == 50 and str(marker) in err.value.msg
    marker.write_text("")
    engine.status(CNIRequest(command="STATUS"))
    assert [c[0] for c in executor.calls] == ["STATUS"]


def test_status_skips_delegates_older_than_1_1_0(tmp_path: Any) -> None:
    kube = FakeKube({NETWORKS: "old-conf"}, nads={"old-conf": OLD})
    engine, executor, _ = make_engine(tmp_path, kube)
    engine.add(request())
    executor.calls.clear()
    engine.status(CNIRequest(command="STATUS"))
    assert [(c[0], c[1]) for c in executor.calls] == [("STATUS", "ptp")]


# -------------------------------------------------------------------- GC
def test_gc_deletes_stale_sandboxes_and_forwards_valid_attachments(tmp_path: Any) -> None:
    engine, executor, _ = make_engine(tmp_path, FakeKube({NETWORKS: "macvlan-conf"}))
    engine.add(request(container_id="alive"))
    engine.add(request(container_id="stale"))
    executor.calls.clear()
    engine.gc(CNIRequest(command="GC"), [{"containerID": "alive", "ifname": "eth0"}])
    dels = [(c[1], c[2], c[4]) for c in executor.calls if c[0] == "DEL"]
    assert dels == [("macvlan", "net1", "stale"), ("ptp", "eth0", "stale")]
    assert engine.cache.load("stale") is None
    assert engine.cache.load("alive") is not None
    gcs = {c[1]: c[3]["cni.dev/valid-attachments"] for c in executor.calls if c[0] == "GC"}
    assert gcs == {
        "ptp": [{"containerID": "alive", "ifname": "eth0"}],
        "macvlan": [{"containerID": "alive", "ifname": "net1"}],
    }


def test_gc_with_nothing_valid_removes_everything_and_still_gcs_the_cluster_network(
    tmp_path: Any,
) -> None:
    engine, executor, _ = make_engine(tmp_path, FakeKube({}))
    engine.add(request(container_id="gone"))
    executor.calls.clear()
    engine.gc(CNIRequest(command="GC"), [])
    assert [(c[0], c[1]) for c in executor.calls] == [("DEL", "ptp"), ("GC", "ptp")]
    assert executor.calls[1][3]["cni.dev/valid-attachments"] == []
    assert engine.cache.container_ids() == []


def test_gc_continues_past_errors_and_reports_them(tmp_path: Any) -> None:
    engine, executor, _ = make_engine(tmp_path, FakeKube({NETWORKS: "macvlan-conf"}))
    engine.add(request(container_id="stale"))
    executor.fail[("DEL", "macvlan")] = CNIError(11, "macvlan busy")
    with pytest.raises(CNIError) as err:
        engine.gc(CNIRequest(command="GC"), [])
    assert err.value.code == 11
    assert "stale" in err.value.details
    assert ("GC", "ptp") in [(c[0], c[1]) for c in executor.calls]


@pytest.mark.parametrize(
    "bad",
    ["x", [{"containerID": 1, "ifname": "eth0"}], [{"containerID": "a"}], {"a": 1}],
)
def test_gc_rejects_malformed_valid_attachments(tmp_path: Any, bad: Any) -> None:
    engine, _, _ = make_engine(tmp_path, FakeKube({}))
    with pytest.raises(CNIError) as err:
        engine.gc(CNIRequest(command="GC"), bad)
    assert err.value.code == 7
    assert "valid-attachments" in err.value.msg


def test_request_from_cache_rebuilds_the_runtime_request() -> None:
    entry = {"netns": "/n", "ifname": "eth0", "args": [["K8S_POD_NAME", "p"]]}
    req = request_from_cache(entry, "cid", ("/bin",))
    assert (req.command, req.container_id, req.netns, req.ifname) == ("DEL", "cid", "/n", "eth0")
    assert req.args == (("K8S_POD_NAME", "p"),) and req.path == ("/bin",)
    legacy = request_from_cache({"podNamespace": "ns", "podName": "p"}, "cid", ())
    assert legacy.args == (("K8S_POD_NAMESPACE", "ns"), ("K8S_POD_NAME", "p"))


# --------------------------------------------------------- default-route
def test_default_route_is_installed_and_status_and_result_follow(tmp_path: Any) -> None:
    annotation = '[{"name": "macvlan-conf", "default-route": ["10.1.12.1"]}]'
    kube = FakeKube({NETWORKS: annotation})
    engine, _, routes = make_engine(tmp_path, kube)
    result = engine.add(request())
    assert routes.calls == [(NETNS, 4, "net1", "10.1.12.1")]
    status = json.loads(kube.patches[0]["k8s.v1.cni.cncf.io/network-status"] or "")
    assert [e.get("gateway") for e in status] == [None, ["10.1.12.1"]]
    # The caller's result no longer claims the default route it lost.
    assert result["routes"] == []


def test_default_route_failure_rolls_everything_back(tmp_path: Any) -> None:
    annotation = '[{"name": "macvlan-conf", "default-route": ["10.9.9.1"]}]'
    kube = FakeKube({NETWORKS: annotation})
    engine, executor, _ = make_engine(tmp_path, kube)

    def refuse(netns: str, family: int, ifname: str, gateway: str) -> None:
        raise CNIError(7, f"cannot make {gateway} the IPv{family} default route on {ifname}")

    engine.set_route = refuse
    with pytest.raises(CNIError) as err:
        engine.add(request())
    assert "10.9.9.1" in err.value.msg
    assert executor.commands()[-2:] == [("DEL", "macvlan", "net1"), ("DEL", "ptp", "eth0")]
    assert engine.cache.load("c1") is None
    assert kube.patches == []


def test_without_default_routes_only_drops_the_moved_family() -> None:
    result = {"routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}, {"dst": "10.0.0.0/8"}]}
    assert without_default_routes(result, {4})["routes"] == [{"dst": "::/0"}, {"dst": "10.0.0.0/8"}]


# ----------------------------------------------------- events and status
def test_events_are_posted_for_every_attachment(tmp_path: Any) -> None:
    kube = FakeKube({NETWORKS: "macvlan-conf"})
    engine, _, _ = make_engine(tmp_path, kube)
    engine.add(request())
    assert kube.events == [
        ("default", "AddedInterface", "Add eth0 [10.1.11.5/24] from kindnet", "Normal"),
        (
            "default",
            "AddedInterface",
            "Add net1 [10.1.12.5/24] from default/macvlan-conf",
            "Normal",
        ),
    ]


def test_missing_nad_posts_no_network_found_before_failing(tmp_path: Any) -> None:
    kube = FakeKube({NETWORKS: "nope"})
    engine, executor, _ = make_engine(tmp_path, kube)
    with pytest.raises(CNIError) as err:
        engine.add(request())
    assert err.value.code == 7
    assert [(e[1], e[3]) for e in kube.events] == [("NoNetworkFound", "Warning")]
    assert "(nope) in namespace (default)" in kube.events[0][2]
    assert executor.calls == []


def test_event_failures_never_fail_the_add(tmp_path: Any) -> None:
    kube = FakeKube({})

    def broken(*args: Any, **kwargs: Any) -> dict[str, Any]:
        raise CNIError(11, "API down")

    kube.create_event = broken  # type: ignore[method-assign]
    engine, _, _ = make_engine(tmp_path, kube)
    assert engine.add(request())["ips"]


def test_legacy_networks_status_is_written_when_configured(tmp_path: Any) -> None:
    kube = FakeKube({})
    engine, _, _ = make_engine(tmp_path, kube, legacyNetworkStatus=True)
    engine.add(request())
    patch = kube.patches[0]
    assert patch["k8s.v1.cni.cncf.io/networks-status"] == patch["k8s.v1.cni.cncf.io/network-status"]
    kube2 = FakeKube({})
    engine2, _, _ = make_engine(tmp_path / "b", kube2)
    engine2.add(request())
    assert list(kube2.patches[0]) == ["k8s.v1.cni.cncf.io/network-status"]


# ---------------------------------------------------------------- devices
def test_resource_devices_become_device_id_and_device_info(tmp_path: Any) -> None:
    sriov = {
        "cniVersion": "1.0.0",
        "name": "sriov",
        "type": "host-device",
        "_resource": "intel.com/sriov",
        "capabilities": {"deviceID": True},
    }
    kube = FakeKube({NETWORKS: "sriov,sriov"}, nads={"sriov": sriov})
    engine, executor, _ = make_engine(tmp_path, kube)
    engine.pod_resources = lambda ns, name: {"intel.com/sriov": ["0000:03:00.1", "0000:03:00.2"]}
    info_dir = tmp_path / "devinfo"
    info_dir.mkdir()
    info = {"type": "pci", "version": "1.1.0", "pci": {"pci-address": "0000:03:00.1"}}
    (info_dir / "intel.com-sriov-0000:03:00.1-device.json").write_text(json.dumps(info))
    engine.device_info_dir = str(info_dir)
    engine.add(request())
    adds = [c for c in executor.calls if c[1] == "host-device"]
    assert [c[3]["deviceID"] for c in adds] == ["0000:03:00.1", "0000:03:00.2"]
    assert [c[3]["runtimeConfig"]["deviceID"] for c in adds] == ["0000:03:00.1", "0000:03:00.2"]
    status = json.loads(kube.patches[0]["k8s.v1.cni.cncf.io/network-status"] or "")
    assert status[1]["device-info"] == info
    assert "device-info" not in status[2]


def test_too_few_devices_is_a_clear_error(tmp_path: Any) -> None:
    sriov = {"cniVersion": "1.0.0", "name": "sriov", "type": "host-device", "_resource": "r/x"}
    kube = FakeKube({NETWORKS: "sriov"}, nads={"sriov": sriov})
    engine, executor, _ = make_engine(tmp_path, kube)
    engine.pod_resources = lambda ns, name: {}
    with pytest.raises(CNIError) as err:
        engine.add(request())
    assert err.value.code == 7 and "'r/x'" in err.value.msg
    assert executor.calls == []


def test_cache_entry_records_the_runtime_args(tmp_path: Any) -> None:
    engine, _, _ = make_engine(tmp_path, FakeKube({}))
    engine.add(request())
    with open(os.path.join(engine.cache.directory, "c1")) as f:
        assert json.load(f)["args"] == [list(pair) for pair in ARGS]
