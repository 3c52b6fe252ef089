"""The harness's own CNI runtime side: config loading, env, list operations, cache."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from harness.cniruntime import ops
from harness.cniruntime.cache import ResultCache
from harness.cniruntime.config import first_config, load_config, plugin_conf
from harness.cniruntime.errors import CNIError
from harness.cniruntime.invoke import ProcessExecutor
from harness.cniruntime.request import CNIRequest, compose_env, containerd_args
from harness.cniruntime.resultshape import result_shape_problems, view


class Recorder:
    """A fake executor: records (type, command, conf) and answers per type."""

    def __init__(self, answers: dict[str, Any] | None = None) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.answers = answers or {}

    def __call__(
        self, plugin_type: str, command: str, conf: dict[str, Any], request: CNIRequest
    ) -> dict[str, Any]:
        self.calls.append((plugin_type, command, conf))
        answer = self.answers.get(plugin_type, {})
        if isinstance(answer, CNIError):
            raise answer
        return dict(answer)


CHAIN = load_config(
    {
        "cniVersion": "0.4.0",
        "name": "chain",
        "plugins": [
            {"type": "ptp", "capabilities": {"portMappings": True}},
            {"type": "tuning"},
        ],
    },
    "test",
)
REQ = CNIRequest("ADD", "cid", "/var/run/netns/x", "eth0", containerd_args("ns", "p", "u", "cid"))


def test_cni_args_in_containerds_order() -> None:
    assert REQ.to_env()["CNI_ARGS"] == (
        "K8S_POD_INFRA_CONTAINER_ID=cid;K8S_POD_UID=u;IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p"
    )
    env = compose_env({"PATH": "/bin", "CNI_STALE": "x"}, REQ.with_(netns=""))
    assert env["CNI_NETNS"] == "" and "CNI_STALE" not in env and env["PATH"] == "/bin"


def test_add_chains_prev_result_and_never_converts() -> None:
    fake = Recorder({"ptp": {"cniVersion": "1.0.0", "ips": []}, "tuning": {"cniVersion": "1.0.0"}})
    out = ops.add_list(CHAIN, REQ, {"portMappings": [1], "bandwidth": {}}, fake)
    assert out == {"cniVersion": "1.0.0"}  # the last plugin's, as printed (not 0.4.0)
    (t1, _, c1), (t2, _, c2) = fake.calls
    assert (t1, t2) == ("ptp", "tuning")
    assert c1["runtimeConfig"] == {"portMappings": [1]} and "capabilities" not in c1
    assert "prevResult" not in c1 and c2["prevResult"] == {"cniVersion": "1.0.0", "ips": []}
    assert "runtimeConfig" not in c2 and c2["name"] == "chain" and c2["cniVersion"] == "0.4.0"


def test_del_reverse_with_cached_result_from_0_4_0() -> None:
    fake = Recorder()
    ops.del_list(CHAIN, REQ, {}, {"cniVersion": "0.4.0"}, fake)
    assert [(t, c.get("prevResult")) for t, _, c in fake.calls] == [
        ("tuning", {"cniVersion": "0.4.0"}),
        ("ptp", {"cniVersion": "0.4.0"}),
    ]
    old = load_config({"cniVersion": "0.3.1", "name": "o", "type": "ptp"}, "t")
    fake = Recorder()
    ops.del_list(old, REQ, {}, {"cniVersion": "0.3.1"}, fake)
    assert "prevResult" not in fake.calls[0][2]


def test_del_stops_at_the_first_error_and_check_needs_the_cache() -> None:
    fake = Recorder({"tuning": CNIError(7, "no")})
    with pytest.raises(CNIError):
        ops.del_list(CHAIN, REQ, {}, None, fake)
    assert [t for t, _, _ in fake.calls] == ["tuning"]
    with pytest.raises(CNIError) as err:
        ops.check_list(CHAIN, REQ, {}, None, Recorder())
    assert err.value.code == 3


def test_gc_passes_valid_attachments() -> None:
    conf = load_config({"cniVersion": "1.1.0", "name": "g", "type": "ptp"}, "t")
    fake = Recorder()
    ops.gc_list(conf, [{"containerID": "a", "ifname": "eth0"}], fake)
    assert fake.calls[0][2]["cni.dev/valid-attachments"] == [{"containerID": "a", "ifname": "eth0"}]


def test_config_loading(tmp_path: Path) -> None:
    (tmp_path / "05-broken.conf").write_text("{not json")
    (tmp_path / "10-a.conf").write_text(
        json.dumps({"cniVersion": "0.3.1", "name": "a", "type": "ptp"})
    )
    (tmp_path / "20-b.conflist").write_text(
        json.dumps({"cniVersion": "1.0.0", "name": "b", "plugins": [{"type": "x"}]})
    )
    ncl = first_config(str(tmp_path), "/etc/cni/net.d")
    assert (ncl.name, ncl.cni_version, [p["type"] for p in ncl.plugins]) == ("a", "0.3.1", ["ptp"])
    with pytest.raises(CNIError) as err:
        first_config(str(tmp_path / "missing"), "/etc/cni/net.d")
    assert "/etc/cni/net.d" in err.value.msg
    picked = load_config(
        {
            "cniVersion": "0.4.0",
            "cniVersions": ["0.4.0", "1.1.0", "9.0.0"],
            "name": "v",
            "type": "x",
        },
        "t",
    )
    assert picked.cni_version == "1.1.0"
    with pytest.raises(CNIError):
        load_config({"cniVersion": "1.0.0", "plugins": []}, "t")


def test_plugin_conf_keeps_own_runtime_config() -> None:
    conf = plugin_conf(
        CHAIN,
        {"type": "p", "runtimeConfig": {"a": 1}, "capabilities": {"b": True}},
        {"b": 2, "c": 3},
        None,
    )
    assert conf["runtimeConfig"] == {"a": 1, "b": 2}


def test_cache_is_libcni_shaped(tmp_path: Path) -> None:
    cache = ResultCache(str(tmp_path))
    cache.save("net", "cid", "eth0", b'{"name":"net"}', {"cniVersion": "0.3.1"}, (("K", "V"),))
    entry = json.loads((tmp_path / "net-cid-eth0").read_text())
    assert entry["kind"] == "cniCacheV1" and base64.b64decode(entry["config"]) == b'{"name":"net"}'
    assert cache.load("net", "cid", "eth0") == {"cniVersion": "0.3.1"}
    cache.remove("net", "cid", "eth0")
    assert cache.load("net", "cid", "eth0") is None


def test_process_executor_records_raw_output_and_decodes_errors(tmp_path: Path) -> None:
    plugin = tmp_path / "fake"
    plugin.write_text('#!/bin/sh\necho \'{"cniVersion":"9.9.9","code":7,"msg":"bad"}\'\nexit 1\n')
    plugin.chmod(0o755)
    seen = []
    executor = ProcessExecutor([str(tmp_path)], base_env={"PATH": "/bin"}, on_call=seen.append)
    with pytest.raises(CNIError) as err:
        executor("fake", "ADD", {"cniVersion": "1.0.0"}, REQ)
    assert (err.value.code, err.value.msg) == (7, "bad")
    assert seen[0].stdout.startswith(b'{"cniVersion":"9.9.9"') and seen[0].exit_code == 1
    assert dict(seen[0].env)["CNI_PATH"] == str(tmp_path)


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ({"cniVersion": "0.3.1", "ips": [{"version": "4", "address": "10.0.0.2/24"}]}, []),
        ({"cniVersion": "0.3.1", "ips": [{"address": "10.0.0.2/24"}]}, ["ips[0].version"]),
        (
            {"cniVersion": "1.0.0", "interfaces": [{"name": "e", "mac": "zz"}]},
            ["interfaces[0].mac"],
        ),
        ({"cniVersion": "0.2.0", "ip4": {"ip": "10.0.0.2/24"}}, []),
        ({"cniVersion": "0.2.0", "ips": []}, ["ips does not exist"]),
        ({"cniVersion": "7.0.0"}, ["cniVersion '7.0.0'"]),
        (
            {"cniVersion": "1.1.0", "routes": [{"dst": "0.0.0.0/0", "table": "x"}]},
            ["routes[0].table"],
        ),
    ],
)
def test_result_shape(result: dict[str, Any], expected: list[str]) -> None:
    problems = result_shape_problems(result)
    assert len(problems) == len(expected)
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith(start), problem


def test_view_reads_legacy_results_without_changing_them() -> None:
    legacy = {
        "cniVersion": "0.2.0",
        "ip4": {"ip": "10.0.0.2/24", "gateway": "10.0.0.1", "routes": [{"dst": "0.0.0.0/0"}]},
    }
    seen = view(legacy)
    assert seen["ips"] == [{"address": "10.0.0.2/24", "gateway": "10.0.0.1"}]
    assert seen["routes"] == [{"dst": "0.0.0.0/0"}] and "ips" not in legacy


def test_version_is_asked_as_libcni_asks_it() -> None:
    seen: list[CNIRequest] = []

    def execute(
        plugin_type: str, command: str, conf: dict[str, Any], request: CNIRequest
    ) -> dict[str, Any]:
        seen.append(request)
        assert conf == {"cniVersion": "0.4.0"}
        return {"cniVersion": "0.4.0", "supportedVersions": ["0.4.0"]}

    ops.version_of("ptp", "0.4.0", execute)
    env = seen[0].to_env()
    assert (env["CNI_NETNS"], env["CNI_IFNAME"], env["CNI_PATH"]) == ("dummy", "dummy", "dummy")
