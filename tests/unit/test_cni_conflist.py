"""Config lists: loading/validation, per-plugin config derivation, ADD/DEL/CHECK/STATUS/GC."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import pytest

from pymultus.cni.conflist import (
    NetworkConfigList,
    add_list,
    capabilities,
    check_list,
    del_list,
    gc_list,
    load_network_config,
    plugin_conf,
    status_list,
)
from pymultus.cni.errors import INCOMPATIBLE_VERSION, INVALID_CONFIG, NOT_AVAILABLE, CNIError
from pymultus.cni.request import CNIRequest

REQ = CNIRequest(
    command="ADD", container_id="c1", netns="/run/netns/p", ifname="eth0", path=("/opt/cni/bin",)
)


def conflist(version: str = "1.0.0", **extra: Any) -> dict[str, Any]:
    return {
        "cniVersion": version,
        "name": "dbnet",
        "plugins": [
            {"type": "bridge", "bridge": "cni0", "ipam": {"type": "host-local"}},
            {"type": "tuning", "capabilities": {"mac": True}, "sysctl": {"a": "1"}},
            {"type": "portmap", "capabilities": {"portMappings": True, "bandwidth": False}},
        ],
        **extra,
    }


@dataclass
class Call:
    plugin_type: str
    command: str
    conf: dict[str, Any]
    request: CNIRequest


@dataclass
class FakeExecutor:
    """Records calls; each plugin appends its interface to prevResult on ADD."""

    fail: dict[tuple[str, str], CNIError] = field(default_factory=dict)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)

    def __call__(
        self, plugin_type: str, command: str, conf: dict[str, Any], request: CNIRequest
    ) -> dict[str, Any]:
        self.calls.append(Call(plugin_type, command, copy.deepcopy(conf), request))
        if (plugin_type, command) in self.fail:
            raise self.fail[(plugin_type, command)]
        if command != "ADD":
            return {}
        if plugin_type in self.results:
            return copy.deepcopy(self.results[plugin_type])
        prev = conf.get("prevResult") or {"cniVersion": conf["cniVersion"], "interfaces": []}
        out = copy.deepcopy(prev)
        out.setdefault("interfaces", []).append({"name": plugin_type})
        return out

    def seen(self) -> list[tuple[str, str]]:
        return [(c.plugin_type, c.command) for c in self.calls]


# --- loading ------------------------------------------------------------------------


def test_load_conflist() -> None:
    raw = conflist(disableCheck=True)
    ncl = load_network_config(raw, "file /etc/cni/net.d/10-db.conflist")
    assert ncl.name == "dbnet"
    assert ncl.cni_version == "1.0.0"
    assert [p["type"] for p in ncl.plugins] == ["bridge", "tuning", "portmap"]
    assert ncl.disable_check is True
    assert ncl.disable_gc is False
    assert ncl.raw is raw


def test_load_single_conf_becomes_one_plugin_list() -> None:
    conf = {"cniVersion": "0.3.1", "name": "macvlan-conf", "type": "macvlan", "master": "eth1"}
    ncl = load_network_config(conf, "NetworkAttachmentDefinition default/macvlan-conf")
    assert ncl.plugins == (conf,)
    assert ncl.cni_version == "0.3.1"
    assert ncl.name == "macvlan-conf"


@pytest.mark.parametrize(
    ("flags", "check", "gc"),
    [
        ({"disableCheck": "true", "disableGC": "FALSE"}, True, False),
        ({"disableCheck": False, "disableGC": True}, False, True),
    ],
)
def test_flags_accept_bool_and_bool_strings(flags: dict[str, Any], check: bool, gc: bool) -> None:
    ncl = load_network_config(conflist(**flags), "x")
    assert (ncl.disable_check, ncl.disable_gc) == (check, gc)


@pytest.mark.parametrize(
    ("versions", "expected"),
    [
        (["0.4.0", "1.1.0", "9.0.0"], "1.1.0"),
        (["0.3.1"], "1.0.0"),  # cniVersion itself is a candidate too
    ],
)
def test_cni_versions_picks_highest_supported(versions: list[str], expected: str) -> None:
    assert load_network_config(conflist(cniVersions=versions), "x").cni_version == expected


def test_default_version_only_when_asked() -> None:
    conf = {"name": "n", "type": "bridge"}
    assert load_network_config(conf, "x", default_version="0.1.0").cni_version == "0.1.0"
    with pytest.raises(CNIError) as exc:
        load_network_config(conf, "NAD ns/n")
    assert exc.value.code == INVALID_CONFIG
    assert "NAD ns/n" in exc.value.msg and "cniVersion" in exc.value.msg


BAD_CONFIGS: list[tuple[str, Any, int, str]] = [
    ("not an object", [], INVALID_CONFIG, "JSON object"),
    ("no name", {"cniVersion": "1.0.0", "type": "x"}, INVALID_CONFIG, "name is missing"),
    ("name not string", {"cniVersion": "1.0.0", "name": 3, "type": "x"}, INVALID_CONFIG, "name 3"),
    ("bad name", {"cniVersion": "1.0.0", "name": "a b", "type": "x"}, INVALID_CONFIG, "name 'a b'"),
    ("no version", {"name": "n", "type": "x"}, INVALID_CONFIG, "cniVersion is missing"),
    (
        "unsupported",
        {"cniVersion": "0.5.0", "name": "n", "type": "x"},
        INCOMPATIBLE_VERSION,
        "0.5.0",
    ),
    (
        "cniVersions not list",
        {"cniVersion": "1.0.0", "cniVersions": "1.1.0", "name": "n", "type": "x"},
        INVALID_CONFIG,
        "cniVersions",
    ),
    (
        "no supported version",
        {"cniVersion": "7.0.0", "cniVersions": ["8.0.0"], "name": "n", "type": "x"},
        INCOMPATIBLE_VERSION,
        "none of",
    ),
    ("neither", {"cniVersion": "1.0.0", "name": "n"}, INVALID_CONFIG, "neither plugins"),
    (
        "empty plugins",
        {"cniVersion": "1.0.0", "name": "n", "plugins": []},
        INVALID_CONFIG,
        "plugins",
    ),
    ("plugins obj", {"cniVersion": "1.0.0", "name": "n", "plugins": {}}, INVALID_CONFIG, "plugins"),
    (
        "plugin not object",
        {"cniVersion": "1.0.0", "name": "n", "plugins": ["bridge"]},
        INVALID_CONFIG,
        "plugins[0] must be a JSON object",
    ),
    (
        "plugin no type",
        {"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "a"}, {"bridge": "x"}]},
        INVALID_CONFIG,
        "plugins[1] has no type",
    ),
    (
        "plugin type path",
        {"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "../bin/sh"}]},
        INVALID_CONFIG,
        "plugins[0].type '../bin/sh'",
    ),
    (
        "type not string",
        {"cniVersion": "1.0.0", "name": "n", "type": 5},
        INVALID_CONFIG,
        ".type 5",
    ),
    (
        "capabilities bad",
        {"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "a", "capabilities": ["mac"]}]},
        INVALID_CONFIG,
        "plugins[0].capabilities",
    ),
    (
        "disableCheck bad",
        {"cniVersion": "1.0.0", "name": "n", "type": "a", "disableCheck": "yes"},
        INVALID_CONFIG,
        "disableCheck",
    ),
]


@pytest.mark.parametrize(
    ("conf", "code", "fragment"), [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS]
)
def test_load_rejects_naming_source_and_field(conf: Any, code: int, fragment: str) -> None:
    with pytest.raises(CNIError) as exc:
        load_network_config(conf, "NetworkAttachmentDefinition default/macvlan-conf")
    assert exc.value.code == code
    assert "NetworkAttachmentDefinition default/macvlan-conf" in exc.value.msg
    assert fragment in exc.value.msg


def test_capabilities_union_of_true_only() -> None:
    assert capabilities(load_network_config(conflist(), "x")) == {"mac", "portMappings"}


# --- plugin_conf (CNI SPEC Section 3, deriving execution configuration) --------------


def test_plugin_conf_injects_filters_and_drops_capabilities() -> None:
    ncl = load_network_config(conflist(), "x")
    portmap = ncl.plugins[2]
    runtime = {"portMappings": [{"hostPort": 80}], "bandwidth": {"x": 1}, "mac": "m"}
    prev = {"cniVersion": "1.0.0", "ips": []}
    assert plugin_conf(ncl, portmap, runtime, prev) == {
        "type": "portmap",
        "cniVersion": "1.0.0",
        "name": "dbnet",
        "runtimeConfig": {"portMappings": [{"hostPort": 80}]},  # bandwidth: false
        "prevResult": prev,
    }
    assert "capabilities" in portmap  # input untouched


def test_plugin_conf_overrides_name_and_version_and_merges_runtime_config() -> None:
    plugin = {
        "type": "tuning",
        "name": "other",
        "cniVersion": "0.3.1",
        "capabilities": {"mac": True},
        "runtimeConfig": {"mac": "old", "keep": 1},
    }
    ncl = NetworkConfigList("dbnet", "1.1.0", (plugin,), False, False, {})
    out = plugin_conf(ncl, plugin, {"mac": "new"}, None)
    assert out == {
        "type": "tuning",
        "name": "dbnet",
        "cniVersion": "1.1.0",
        "runtimeConfig": {"mac": "new", "keep": 1},
    }


def test_plugin_conf_without_matching_capability_adds_no_runtime_config() -> None:
    ncl = load_network_config(conflist(), "x")
    out = plugin_conf(ncl, ncl.plugins[0], {"mac": "m"}, None)
    assert "runtimeConfig" not in out and "prevResult" not in out
    assert out["ipam"] == {"type": "host-local"}  # everything else passes through


# --- add_list -----------------------------------------------------------------------


def test_add_list_runs_in_order_and_chains_prev_result() -> None:
    ncl = load_network_config(conflist(), "x")
    fake = FakeExecutor()
    result = add_list(ncl, REQ.with_(command="DEL"), {"mac": "m", "portMappings": []}, fake)
    assert fake.seen() == [("bridge", "ADD"), ("tuning", "ADD"), ("portmap", "ADD")]
    assert "prevResult" not in fake.calls[0].conf
    assert fake.calls[1].conf["prevResult"]["interfaces"] == [{"name": "bridge"}]
    assert fake.calls[2].conf["prevResult"]["interfaces"] == [
        {"name": "bridge"},
        {"name": "tuning"},
    ]
    assert fake.calls[1].conf["runtimeConfig"] == {"mac": "m"}
    assert fake.calls[2].conf["runtimeConfig"] == {"portMappings": []}
    assert all(c.request.command == "ADD" for c in fake.calls)
    assert all(c.request.ifname == "eth0" for c in fake.calls)
    assert result == {
        "cniVersion": "1.0.0",
        "interfaces": [{"name": "bridge"}, {"name": "tuning"}, {"name": "portmap"}],
    }


def test_add_list_stops_at_first_error() -> None:
    ncl = load_network_config(conflist(), "x")
    fake = FakeExecutor(fail={("tuning", "ADD"): CNIError(7, "tuning: bad sysctl")})
    with pytest.raises(CNIError) as exc:
        add_list(ncl, REQ, {}, fake)
    assert exc.value.msg == "tuning: bad sysctl"
    assert fake.seen() == [("bridge", "ADD"), ("tuning", "ADD")]


def test_add_list_converts_results_to_list_version() -> None:
    ncl = load_network_config(conflist("0.4.0"), "x")
    fake = FakeExecutor(
        results={"bridge": {"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.2/24"}]}}
    )
    result = add_list(ncl, REQ, {}, fake)
    expected_prev = {"cniVersion": "0.4.0", "ips": [{"version": "4", "address": "10.0.0.2/24"}]}
    assert fake.calls[1].conf["prevResult"] == expected_prev
    assert result["cniVersion"] == "0.4.0"


def test_add_list_result_without_version_is_taken_as_list_version() -> None:
    ncl = load_network_config(conflist(), "x")
    fake = FakeExecutor(results={"bridge": {"ips": []}})
    add_list(ncl, REQ, {}, fake)
    assert fake.calls[1].conf["prevResult"] == {"cniVersion": "1.0.0", "ips": []}


def test_add_list_bad_result_names_plugin() -> None:
    ncl = load_network_config(conflist("0.4.0"), "x")
    fake = FakeExecutor(results={"bridge": {"cniVersion": "1.0.0", "ips": [{"address": "?"}]}})
    with pytest.raises(CNIError) as exc:
        add_list(ncl, REQ, {}, fake)
    assert exc.value.msg.startswith("bridge: ADD result:")


# --- del_list -----------------------------------------------------------------------

PREV = {"cniVersion": "1.0.0", "interfaces": [{"name": "eth0"}]}


def test_del_list_reverse_order_with_final_result() -> None:
    ncl = load_network_config(conflist(), "x")
    fake = FakeExecutor()
    del_list(ncl, REQ, {"mac": "m"}, PREV, fake)
    assert fake.seen() == [("portmap", "DEL"), ("tuning", "DEL"), ("bridge", "DEL")]
    assert all(c.conf["prevResult"] == PREV for c in fake.calls)
    assert all(c.request.command == "DEL" for c in fake.calls)
    assert fake.calls[1].conf["runtimeConfig"] == {"mac": "m"}


def test_del_list_tries_every_plugin_and_aggregates() -> None:
    ncl = load_network_config(conflist(), "x")
    fake = FakeExecutor(
        fail={
            ("portmap", "DEL"): CNIError(11, "portmap: iptables locked", "xtables"),
            ("bridge", "DEL"): CNIError(999, "bridge: boom"),
        }
    )
    with pytest.raises(CNIError) as exc:
        del_list(ncl, REQ, {}, PREV, fake)
    assert fake.seen() == [("portmap", "DEL"), ("tuning", "DEL"), ("bridge", "DEL")]
    assert exc.value.code == 11
    assert "2 of 3 plugins" in exc.value.msg
    assert "portmap: iptables locked" in exc.value.msg and "bridge: boom" in exc.value.msg
    assert "xtables" in exc.value.details
    assert "portmap: portmap:" not in exc.value.msg  # the plugin's name once, not twice


@pytest.mark.parametrize(("version", "sends_prev"), [("0.3.1", False), ("0.4.0", True)])
def test_del_list_prev_result_from_040(version: str, sends_prev: bool) -> None:
    ncl = load_network_config(conflist(version), "x")
    fake = FakeExecutor()
    del_list(ncl, REQ, {}, {"cniVersion": version}, fake)
    assert all(("prevResult" in c.conf) == sends_prev for c in fake.calls)


def test_del_list_without_prev_result() -> None:
    ncl = load_network_config(conflist(), "x")
    fake = FakeExecutor()
    del_list(ncl, REQ, {}, None, fake)
    assert len(fake.calls) == 3
    assert all("prevResult" not in c.conf for c in fake.calls)


def test_del_list_passes_unconvertible_prev_result_as_is() -> None:
    ncl = load_network_config(conflist("0.4.0"), "x")
    odd = {"cniVersion": "1.0.0", "ips": [{"address": "junk"}]}
    fake = FakeExecutor()
    del_list(ncl, REQ, {}, odd, fake)
    assert fake.calls[0].conf["prevResult"] == odd


# --- check_list ---------------------------------------------------------------------


def test_check_list_forward_with_prev_result_and_stops_at_error() -> None:
    ncl = load_network_config(conflist(), "x")
    fake = FakeExecutor(fail={("tuning", "CHECK"): CNIError(999, "tuning: mac differs")})
    with pytest.raises(CNIError):
        check_list(ncl, REQ, {}, PREV, fake)
    assert fake.seen() == [("bridge", "CHECK"), ("tuning", "CHECK")]
    assert fake.calls[0].conf["prevResult"] == PREV


@pytest.mark.parametrize(
    "ncl_conf", [conflist(disableCheck=True), conflist("0.3.1"), conflist("0.2.0")]
)
def test_check_list_skipped(ncl_conf: dict[str, Any]) -> None:
    fake = FakeExecutor()
    check_list(load_network_config(ncl_conf, "x"), REQ, {}, PREV, fake)
    assert fake.calls == []


def test_check_list_needs_prev_result() -> None:
    fake = FakeExecutor()
    with pytest.raises(CNIError) as exc:
        check_list(load_network_config(conflist(), "x"), REQ, {}, None, fake)
    assert exc.value.code == INVALID_CONFIG
    assert "dbnet" in exc.value.msg
    assert fake.calls == []


# --- status_list / gc_list ----------------------------------------------------------


def test_status_list_110_calls_each_plugin_without_container() -> None:
    fake = FakeExecutor()
    status_list(load_network_config(conflist("1.1.0"), "x"), fake, path=["/opt/cni/bin"])
    assert fake.seen() == [("bridge", "STATUS"), ("tuning", "STATUS"), ("portmap", "STATUS")]
    req = fake.calls[0].request
    assert (req.command, req.container_id, req.netns, req.ifname) == ("STATUS", "", "", "")
    assert req.path == ("/opt/cni/bin",)
    assert "capabilities" not in fake.calls[2].conf


def test_status_list_stops_at_first_error() -> None:
    fake = FakeExecutor(fail={("bridge", "STATUS"): CNIError(NOT_AVAILABLE, "bridge: not ready")})
    with pytest.raises(CNIError) as exc:
        status_list(load_network_config(conflist("1.1.0"), "x"), fake)
    assert exc.value.code == NOT_AVAILABLE
    assert len(fake.calls) == 1


def test_status_list_noop_before_110() -> None:
    fake = FakeExecutor()
    status_list(load_network_config(conflist("1.0.0"), "x"), fake)
    assert fake.calls == []


VALID = [{"containerID": "c1", "ifname": "eth0"}, {"containerID": "c2", "ifname": "net1"}]


def test_gc_list_sends_valid_attachments_to_each_plugin() -> None:
    fake = FakeExecutor()
    gc_list(load_network_config(conflist("1.1.0"), "x"), VALID, fake)
    assert fake.seen() == [("bridge", "GC"), ("tuning", "GC"), ("portmap", "GC")]
    for call in fake.calls:
        assert call.conf["cni.dev/valid-attachments"] == VALID
        assert call.request.command == "GC" and call.request.container_id == ""


def test_gc_list_continues_past_errors_then_aggregates() -> None:
    fake = FakeExecutor(
        fail={
            ("bridge", "GC"): CNIError(999, "bridge: gc failed"),
            ("portmap", "GC"): CNIError(5, "portmap: io"),
        }
    )
    with pytest.raises(CNIError) as exc:
        gc_list(load_network_config(conflist("1.1.0"), "x"), VALID, fake)
    assert len(fake.calls) == 3
    assert exc.value.code == 999
    assert "bridge: gc failed" in exc.value.msg and "portmap: io" in exc.value.msg


@pytest.mark.parametrize("ncl_conf", [conflist("1.0.0"), conflist("1.1.0", disableGC=True)])
def test_gc_list_skipped(ncl_conf: dict[str, Any]) -> None:
    fake = FakeExecutor()
    gc_list(load_network_config(ncl_conf, "x"), VALID, fake)
    assert fake.calls == []


def test_gc_list_rejects_malformed_attachments() -> None:
    with pytest.raises(CNIError) as exc:
        gc_list(load_network_config(conflist("1.1.0"), "x"), [{"containerID": 1}], FakeExecutor())
    assert exc.value.code == INVALID_CONFIG
    assert "[0]" in exc.value.msg
