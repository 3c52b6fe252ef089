"""Config keys the engine and the thin entry honour, with fakes and fake plugin scripts.

readinessindicatorfile (bounded wait), retryDeleteOnError, DEL reporting
every failure, auxiliaryCNIChainName, binDir before CNI_PATH, the thin
entry's CHECK/STATUS/GC dispatch and version gates, logFile/logLevel and
logOptions rotation.
"""

from __future__ import annotations

import gzip
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from pymultus.cni.errors import CNIError
from pymultus.cni.request import CNIRequest
from pymultus.engine import Engine, chain_base_dir
from pymultus.log import Logger, rotate
from pymultus.model.config import parse_config
from pymultus.state import DelegateCache
from pymultus.thin import run

NETNS = "/var/run/netns/pod"
KINDNET = {"cniVersion": "1.0.0", "name": "kindnet", "type": "ptp"}
SECOND = {"cniVersion": "1.0.0", "name": "second", "type": "bridge"}


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, dict[str, Any]]] = []
        self.fail: dict[tuple[str, str], CNIError] = {}

    def __call__(
        self, plugin_type: str, command: str, conf: dict[str, Any], request: CNIRequest
    ) -> dict[str, Any]:
        self.calls.append((command, plugin_type, request.ifname, conf))
        if (command, plugin_type) in self.fail:
            raise self.fail[(command, plugin_type)]
        if command == "ADD":
            prev = conf.get("prevResult")
            if prev is not None:
                return {**prev, "touchedBy": plugin_type}
            return {
                "cniVersion": conf["cniVersion"],
                "interfaces": [{"name": request.ifname, "sandbox": NETNS}],
                "ips": [{"address": "10.9.0.2/24", "interface": 0}],
            }
        return {}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def engine_for(tmp_path: Path, **extra: Any) -> tuple[Engine, Recorder]:
    conf: dict[str, Any] = {
        "cniVersion": "1.0.0",
        "name": "m",
        "type": "pymultus",
        "delegates": [KINDNET, SECOND],
        "cniDir": str(tmp_path / "cache"),
    }
    conf.update(extra)
    recorder = Recorder()
    clock = Clock()
    engine = Engine(
        cfg=parse_config(conf),
        execute=recorder,
        cache=DelegateCache(str(tmp_path / "cache")),
        kube=None,
        log=Logger(to_stderr=False),
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )
    return engine, recorder


def request(command: str = "ADD") -> CNIRequest:
    return CNIRequest(command=command, container_id="c1", netns=NETNS, ifname="eth0")


# ------------------------------------------------------ readiness indicator
def test_readiness_wait_is_bounded_with_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "never"
    engine, recorder = engine_for(tmp_path, readinessindicatorfile=str(missing))
    with pytest.raises(CNIError) as err:
        engine.add(request())
    assert err.value.code == 11
    assert str(missing) in err.value.msg and "45 s" in err.value.msg
    assert recorder.calls == []
    assert engine.cache.load("c1") is None


def test_readiness_file_present_lets_add_through(tmp_path: Path) -> None:
    marker = tmp_path / "ready"
    marker.write_text("")
    engine, recorder = engine_for(tmp_path, readinessindicatorfile=str(marker))
    engine.add(request())
    assert [c[0] for c in recorder.calls] == ["ADD", "ADD"]


# ------------------------------------------------------------------- DEL
def test_del_tries_every_delegate_and_reports_all_failures(tmp_path: Path) -> None:
    engine, recorder = engine_for(tmp_path)
    engine.add(request())
    recorder.calls.clear()
    recorder.fail[("DEL", "bridge")] = CNIError(5, "bridge: busy")
    recorder.fail[("DEL", "ptp")] = CNIError(11, "ptp: locked")
    with pytest.raises(CNIError) as err:
        engine.delete(request("DEL"))
    assert [(c[0], c[1]) for c in recorder.calls] == [("DEL", "bridge"), ("DEL", "ptp")]
    assert err.value.code == 5
    assert "2 of 2" in err.value.msg
    assert "second (net1)" in err.value.details and "kindnet (eth0)" in err.value.details
    assert engine.cache.load("c1") is None  # retryDeleteOnError is off


def test_retry_delete_on_error_keeps_the_cache_for_the_next_del(tmp_path: Path) -> None:
    engine, recorder = engine_for(tmp_path, retryDeleteOnError=True)
    engine.add(request())
    recorder.fail[("DEL", "bridge")] = CNIError(5, "bridge: busy")
    with pytest.raises(CNIError):
        engine.delete(request("DEL"))
    assert engine.cache.load("c1") is not None
    del recorder.fail[("DEL", "bridge")]
    engine.delete(request("DEL"))
    assert engine.cache.load("c1") is None


# ------------------------------------------------------ auxiliary chain
def test_auxiliary_chain_runs_last_on_eth0_with_the_default_result(tmp_path: Path) -> None:
    cluster_file = tmp_path / "net.d" / "10-kindnet.conflist"
    chain_dir = tmp_path / "net.d" / "vendor"
    chain_dir.mkdir(parents=True)
    cluster_file.write_text(json.dumps(KINDNET))
    (chain_dir / "10-tuning.conflist").write_text(
        json.dumps({"cniVersion": "1.0.0", "name": "aux", "plugins": [{"type": "tuning"}]})
    )
    (chain_dir / "README").write_text("not a config")
    engine, recorder = engine_for(
        tmp_path, clusterNetwork=str(cluster_file), auxiliaryCNIChainName="vendor"
    )
    assert chain_base_dir(engine.cfg) == str(tmp_path / "net.d")
    result = engine.add(request())
    assert [(c[0], c[1], c[2]) for c in recorder.calls] == [
        ("ADD", "ptp", "eth0"),
        ("ADD", "tuning", "eth0"),
    ]
    assert recorder.calls[1][3]["prevResult"]["ips"][0]["address"] == "10.9.0.2/24"
    assert "touchedBy" not in result  # the caller gets the default network's result
    recorder.calls.clear()
    engine.delete(request("DEL"))
    assert [(c[0], c[1]) for c in recorder.calls] == [("DEL", "tuning"), ("DEL", "ptp")]


def test_missing_auxiliary_directory_runs_nothing_extra(tmp_path: Path) -> None:
    engine, recorder = engine_for(tmp_path, auxiliaryCNIChainName="absent", confDir=str(tmp_path))
    engine.add(request())
    assert [c[1] for c in recorder.calls] == ["ptp", "bridge"]


# ------------------------------------------------------------ thin entry
def plugin(directory: Path, name: str, address: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    result = {"cniVersion": "1.0.0", "ips": [{"address": address}]}
    path.write_text(
        "#!/bin/sh\n"
        f'echo "$CNI_COMMAND" >> "{directory}/calls"\n'
        'if [ "$CNI_COMMAND" = ADD ]; then cat >/dev/null; '
        f"echo '{json.dumps(result)}'; fi\n"
    )
    path.chmod(0o755)


def thin(env: dict[str, str], conf: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    code = run(env, io.BytesIO(json.dumps(conf).encode()), out, io.StringIO())
    text = out.getvalue().strip()
    return code, json.loads(text) if text else {}


def thin_conf(tmp_path: Path, version: str = "1.1.0") -> dict[str, Any]:
    return {
        "cniVersion": version,
        "name": "m",
        "type": "pymultus",
        "binDir": str(tmp_path / "bin"),
        "cniDir": str(tmp_path / "cache"),
        "delegates": [{"cniVersion": "1.1.0", "name": "fake", "type": "fakeplug"}],
    }


ENV = {"CNI_CONTAINERID": "c1", "CNI_NETNS": NETNS, "CNI_IFNAME": "eth0", "PATH": "/bin:/usr/bin"}


def test_bin_dir_is_searched_before_cni_path(tmp_path: Path) -> None:
    plugin(tmp_path / "bin", "fakeplug", "10.1.0.1/24")
    plugin(tmp_path / "path", "fakeplug", "10.2.0.1/24")
    env = {**ENV, "CNI_COMMAND": "ADD", "CNI_PATH": str(tmp_path / "path")}
    code, result = thin(env, thin_conf(tmp_path))
    assert code == 0
    assert result["ips"][0]["address"] == "10.1.0.1/24"
    assert result["cniVersion"] == "1.1.0"


def test_cni_path_is_used_when_bin_dir_lacks_the_plugin(tmp_path: Path) -> None:
    plugin(tmp_path / "path", "fakeplug", "10.2.0.1/24")
    env = {**ENV, "CNI_COMMAND": "ADD", "CNI_PATH": str(tmp_path / "path")}
    code, result = thin(env, thin_conf(tmp_path))
    assert code == 0 and result["ips"][0]["address"] == "10.2.0.1/24"


def test_thin_dispatches_status_and_gc(tmp_path: Path) -> None:
    plugin(tmp_path / "bin", "fakeplug", "10.1.0.1/24")
    assert thin({**ENV, "CNI_COMMAND": "ADD"}, thin_conf(tmp_path))[0] == 0
    assert thin({"CNI_COMMAND": "STATUS", "PATH": "/bin"}, thin_conf(tmp_path)) == (0, {})
    conf = {**thin_conf(tmp_path), "cni.dev/valid-attachments": []}
    assert thin({"CNI_COMMAND": "GC", "PATH": "/bin"}, conf) == (0, {})
    calls = (tmp_path / "bin" / "calls").read_text().split()
    assert calls == ["ADD", "STATUS", "DEL", "GC"]
    assert not (tmp_path / "cache" / "c1").exists()


@pytest.mark.parametrize("command", ["STATUS", "GC"])
def test_status_and_gc_need_a_1_1_0_config(tmp_path: Path, command: str) -> None:
    code, error = thin({"CNI_COMMAND": command}, thin_conf(tmp_path, "1.0.0"))
    assert code == 1
    assert error["code"] == 1 and "1.1.0" in error["msg"]


def test_check_without_add_is_an_error_result(tmp_path: Path) -> None:
    code, error = thin({**ENV, "CNI_COMMAND": "CHECK"}, thin_conf(tmp_path))
    assert code == 1 and error["code"] == 3


# --------------------------------------------------------------- logging
def test_log_file_and_level(tmp_path: Path) -> None:
    path = tmp_path / "m.log"
    log = Logger("verbose", str(path), to_stderr=False)
    log.error("bad")
    log.verbose("chatty")
    log.debug("hidden")
    log.close()
    lines = path.read_text().splitlines()
    assert [line.split("]: ", 1)[1] for line in lines] == ["bad", "chatty"]
    assert "[error]" in lines[0] and "[verbose]" in lines[1]


def test_log_rotation_keeps_max_backups_compressed(tmp_path: Path) -> None:
    path = tmp_path / "m.log"
    options = {"maxSize": 1, "maxBackups": 2, "compress": True}
    for generation in range(4):
        path.write_bytes(bytes([65 + generation]) * (1024 * 1024))
        rotate(str(path), options)
        assert not path.exists()
    backups = sorted(p.name for p in tmp_path.iterdir())
    assert backups == ["m.log.1.gz", "m.log.2.gz"]
    with gzip.open(tmp_path / "m.log.1.gz") as f:
        assert f.read(1) == b"D"


def test_log_rotation_prunes_old_backups_and_ignores_small_files(tmp_path: Path) -> None:
    path = tmp_path / "m.log"
    old = tmp_path / "m.log.1"
    old.write_text("old")
    os.utime(old, (0, 0))
    path.write_text("small")
    rotate(str(path), {"maxSize": 1, "maxAge": 1})
    assert path.exists() and old.exists()  # below maxSize: nothing happens
    path.write_bytes(b"x" * (1024 * 1024))
    rotate(str(path), {"maxSize": 1, "maxAge": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.log.1"]
    assert (tmp_path / "m.log.1").read_bytes().startswith(b"x")


# ------------------------------------------------------ pymultus extensions
@pytest.mark.parametrize(
    ("extra", "attribute", "expected"),
    [
        ({}, "legacy_network_status", False),
        ({"legacyNetworkStatus": True}, "legacy_network_status", True),
        ({}, "pod_resources_socket", "/var/lib/kubelet/pod-resources/kubelet.sock"),
        ({"podResourcesSocket": "/run/k.sock"}, "pod_resources_socket", "/run/k.sock"),
        (
            {"podResourcesSocket": ""},
            "pod_resources_socket",
            "/var/lib/kubelet/pod-resources/kubelet.sock",
        ),
    ],
)
def test_extension_keys(extra: dict[str, Any], attribute: str, expected: Any) -> None:
    cfg = parse_config({"cniVersion": "1.0.0", "name": "m", "delegates": [KINDNET], **extra})
    assert getattr(cfg, attribute) == expected


@pytest.mark.parametrize(
    ("key", "value"), [("legacyNetworkStatus", "yes"), ("podResourcesSocket", 5)]
)
def test_extension_keys_of_the_wrong_type_name_the_key(key: str, value: Any) -> None:
    with pytest.raises(CNIError) as err:
        parse_config({"cniVersion": "1.0.0", "name": "m", "delegates": [KINDNET], key: value})
    assert err.value.code == 7 and key in err.value.msg
