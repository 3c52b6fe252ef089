"""Issue 15: no input, fault or NAD author can wedge a node (items 1, 3-5, 7-10).

Each test drives the real entry (``pymultus.thin.run``), the daemon's
``handle_cni`` or the engine with the real delegate cache; only the plugin
executor is a fake (a recorder that can fail on chosen calls), so no root is
needed. Item 2 (nesting) is in test_hardening_nesting.py, item 6 (daemon
bounds) in test_daemon_bounds.py.
"""

from __future__ import annotations

import errno
import io
import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from pymultus import state, thin, thincall
from pymultus.cni.errors import IO_FAILURE, CNIError
from pymultus.cni.request import CNIRequest
from pymultus.daemon.overlay import DaemonOptions
from pymultus.daemon.server import Daemon
from pymultus.daemon.wire import encode_request
from pymultus.engine import Engine
from pymultus.log import Logger
from pymultus.model.config import parse_config
from pymultus.model.nad import resolve_nad_config
from pymultus.state import DelegateCache, check_container_id

NAME_MAX = 255  # Linux: the longest file name in bytes

RESULT = {
    "cniVersion": "1.0.0",
    "interfaces": [{"name": "eth0", "sandbox": "/x"}],
    "ips": [{"address": "10.1.1.5/24", "interface": 0}],
    "dns": {},
}


class Plugins:
    """A fake executor: records (command, type, ifname); fails where told."""

    def __init__(self, fail: Mapping[tuple[str, str], CNIError] | None = None) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.netns: list[str] = []
        self.fail = dict(fail or {})

    def __call__(
        self, plugin_type: str, command: str, conf: dict[str, Any], request: CNIRequest
    ) -> dict[str, Any]:
        self.calls.append((command, plugin_type, request.ifname))
        self.netns.append(request.netns)
        if (command, plugin_type) in self.fail:
            raise self.fail[(command, plugin_type)]
        return json.loads(json.dumps(RESULT)) if command == "ADD" else {}


def conf_for(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "cniVersion": "1.0.0",
        "name": "pymultus-cni-network",
        "type": "pymultus",
        "cniDir": str(tmp_path / "cache"),
        "binDir": str(tmp_path / "bin"),
        "delegates": [
            {"cniVersion": "1.0.0", "name": "first", "type": "ptp"},
        ],
        **extra,
    }


def cni_env(
    command: str, container_id: str = "c1", netns: str = "/var/run/netns/pod"
) -> dict[str, str]:
    return {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": container_id,
        "CNI_NETNS": netns,
        "CNI_IFNAME": "eth0",
        "CNI_PATH": "/nowhere",
    }


def thin_call(
    monkeypatch: pytest.MonkeyPatch,
    plugins: Plugins,
    env: dict[str, str],
    conf: dict[str, Any],
) -> tuple[int, dict[str, Any]]:
    """One call of the thin entry with ``plugins`` as the executor."""
    monkeypatch.setattr(thincall, "ProcessExecutor", lambda *a, **k: plugins)
    out, err = io.StringIO(), io.StringIO()
    rc = thin.run(env, io.BytesIO(json.dumps(conf).encode()), out, err)
    assert "Traceback" not in err.getvalue()
    text = out.getvalue().strip()
    return rc, (json.loads(text) if text else {})


def daemon_for(tmp_path: Path, plugins: Plugins, **multus: Any) -> Daemon:
    options = DaemonOptions(socket_dir=str(tmp_path / "sock"))
    return Daemon(
        options,
        {"cniDir": str(tmp_path / "cache"), "binDir": str(tmp_path / "bin"), **multus},
        env={},
        log=Logger("error", "", False),
        executor_factory=lambda dirs, env, timeout: plugins,
    )


def daemon_call(daemon: Daemon, env: dict[str, str], conf: dict[str, Any]) -> tuple[int, bytes]:
    return daemon.handle_cni(encode_request(env, json.dumps(conf).encode()))


def cache_files(tmp_path: Path) -> list[str]:
    directory = tmp_path / "cache"
    return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []


# ------------------------------------------------ item 1: full disk under logFile
def test_a_full_disk_under_log_file_never_fails_add_or_del(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``/dev/full`` answers every write with ENOSPC (was: code 999 from close())."""
    conf = conf_for(tmp_path, logFile="/dev/full", logLevel="debug", logToStderr=False)
    plugins = Plugins()
    rc, out = thin_call(monkeypatch, plugins, cni_env("ADD"), conf)
    assert rc == 0, out
    assert out["ips"][0]["address"] == "10.1.1.5/24"
    rc, out = thin_call(monkeypatch, plugins, cni_env("DEL"), conf)
    assert rc == 0, out
    assert cache_files(tmp_path) == []


def test_a_full_disk_under_log_file_in_thick_mode(tmp_path: Path) -> None:
    plugins = Plugins()
    daemon = daemon_for(tmp_path, plugins, logFile="/dev/full", logLevel="debug")
    conf = {"cniVersion": "1.0.0", "name": "pymultus-cni-network", "type": "pymultus-shim"}
    conf["delegates"] = [{"cniVersion": "1.0.0", "name": "first", "type": "ptp"}]
    status, body = daemon_call(daemon, cni_env("ADD"), conf)
    assert status == 200, body
    status, body = daemon_call(daemon, cni_env("DEL"), conf)
    assert status == 200, body
    assert cache_files(tmp_path) == []


def test_the_logger_survives_a_write_error_after_open(tmp_path: Path) -> None:
    """A failing write (ENOSPC on a real filesystem) leaves nothing for close()."""
    log = Logger("debug", str(tmp_path / "log"), False)
    log.error("first line")
    assert log._fd is not None
    real_write = os.write

    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    os.write = full  # type: ignore[assignment]
    try:
        log.error("second line")
    finally:
        os.write = real_write
    log.close()  # must not raise
    log.error("after")  # disabled, silently
    assert (tmp_path / "log").read_text().count("\n") == 1


# ------------------------------------------------ item 9: a FIFO as logFile
@pytest.mark.parametrize("command", ["ADD", "DEL"])
def test_a_fifo_as_log_file_never_hangs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    fifo = tmp_path / "log.fifo"
    os.mkfifo(fifo)
    conf = conf_for(tmp_path, logFile=str(fifo), logLevel="debug", logToStderr=False)
    plugins = Plugins()
    answers: list[tuple[int, dict[str, Any]]] = []
    monkeypatch.setattr(thincall, "ProcessExecutor", lambda *a, **k: plugins)

    def call() -> None:
        out, err = io.StringIO(), io.StringIO()
        rc = thin.run(cni_env(command), io.BytesIO(json.dumps(conf).encode()), out, err)
        answers.append((rc, json.loads(out.getvalue() or "{}")))

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    worker.join(10)
    hung = worker.is_alive()
    if hung:  # release the blocked open() so the thread can end
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        worker.join(5)
        os.close(fd)
    assert not hung, "the call blocked on the FIFO"
    assert answers and answers[0][0] == 0, answers


def test_other_non_regular_log_files_are_not_written(tmp_path: Path) -> None:
    log = Logger("debug", str(tmp_path), False)  # a directory
    log.error("x")
    assert log.file == ""
    null = Logger("debug", "/dev/null", False)  # a character device is fine
    null.error("x")
    assert null.file == "/dev/null"
    null.close()


# ------------------------------------------------ item 3: ENOSPC at the second cache write
def test_a_full_disk_at_the_second_cache_write_rolls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes: list[str] = []
    real = state.write_atomic

    def second_write_fails(path: str, data: bytes, mode: int = 0o600) -> None:
        writes.append(path)
        if len(writes) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data, mode)

    monkeypatch.setattr(state, "write_atomic", second_write_fails)
    conf = conf_for(tmp_path)
    conf["delegates"].append({"cniVersion": "1.0.0", "name": "second", "type": "bridge"})
    plugins = Plugins()
    rc, out = thin_call(monkeypatch, plugins, cni_env("ADD"), conf)
    assert rc == 1 and out["code"] == IO_FAILURE, out
    assert str(tmp_path / "cache") in out["details"]
    # both delegates added, then both deleted newest first: nothing stays
    assert plugins.calls == [
        ("ADD", "ptp", "eth0"),
        ("ADD", "bridge", "net1"),
        ("DEL", "bridge", "net1"),
        ("DEL", "ptp", "eth0"),
    ]
    assert cache_files(tmp_path) == []


# ------------------------------------------------ item 4: a cache of the wrong shape
WRONG_SHAPES = [
    {"format": 1, "delegates": "x"},
    {"format": 1, "delegates": [1]},
    {"format": 1, "delegates": [{"name": "n"}]},
    {"format": 1, "delegates": [{"name": "n", "conf": [], "ifname": "eth0"}]},
    {"format": 1, "delegates": [{"name": "n", "conf": {"type": 5}, "ifname": "eth0"}]},
    {"format": 1, "delegates": [{"name": "n", "conf": {}, "ifname": "e", "runtimeConfig": 3}]},
    {
        "format": 1,
        "delegates": [
            {"name": "n", "conf": {"cniVersion": "1.0.0", "type": "x"}, "ifname": "e", "result": 3}
        ],
    },
]


@pytest.mark.parametrize("entry", WRONG_SHAPES)
def test_del_treats_a_cache_of_the_wrong_shape_as_no_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry: dict[str, Any]
) -> None:
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "c1").write_text(json.dumps(entry))
    plugins = Plugins()
    rc, out = thin_call(monkeypatch, plugins, cni_env("DEL"), conf_for(tmp_path))
    assert rc == 0, out  # was: code 999 (KeyError/TypeError) forever
    assert plugins.calls == [("DEL", "ptp", "eth0")]  # recomputed from the config
    assert cache_files(tmp_path) == []


def test_daemon_del_treats_a_cache_of_the_wrong_shape_as_no_cache(tmp_path: Path) -> None:
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "c1").write_text(json.dumps(WRONG_SHAPES[2]))
    plugins = Plugins()
    daemon = daemon_for(tmp_path, plugins)
    conf = {"cniVersion": "1.0.0", "name": "pymultus-cni-network", "type": "pymultus-shim"}
    conf["delegates"] = [{"cniVersion": "1.0.0", "name": "first", "type": "ptp"}]
    status, body = daemon_call(daemon, cni_env("DEL"), conf)
    assert status == 200, body
    assert cache_files(tmp_path) == []


def test_shim_fallback_del_treats_a_cache_of_the_wrong_shape_as_no_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pymultus import shim

    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "c1").write_text(json.dumps(WRONG_SHAPES[3]))
    daemon_config = tmp_path / "daemon.json"
    daemon_config.write_text(
        json.dumps(
            {
                "cniDir": str(tmp_path / "cache"),
                "binDir": str(tmp_path / "bin"),
                "delegates": [{"cniVersion": "1.0.0", "name": "first", "type": "ptp"}],
            }
        )
    )
    plugins = Plugins()
    monkeypatch.setattr(thincall, "ProcessExecutor", lambda *a, **k: plugins)
    raw = json.dumps(
        {
            "cniVersion": "1.0.0",
            "name": "n",
            "type": "pymultus-shim",
            "daemonConfig": str(daemon_config),
        }
    ).encode()
    out = io.BytesIO()
    assert shim.fallback_del(cni_env("DEL"), raw, "test", out) == 0, out.getvalue()
    assert plugins.calls == [("DEL", "ptp", "eth0")]
    assert cache_files(tmp_path) == []


def test_a_directory_at_the_cache_path_does_not_fail_del(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cache" / "c1").mkdir(parents=True)
    plugins = Plugins()
    rc, out = thin_call(monkeypatch, plugins, cni_env("DEL"), conf_for(tmp_path))
    assert rc == 0, out  # was: code 5 forever
    assert plugins.calls == [("DEL", "ptp", "eth0")]
    assert cache_files(tmp_path) == []  # an empty planted directory is removed


def test_check_of_a_cache_of_the_wrong_shape_is_a_cni_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "c1").write_text(json.dumps(WRONG_SHAPES[2]))
    rc, out = thin_call(monkeypatch, Plugins(), cni_env("CHECK"), conf_for(tmp_path))
    assert rc == 1 and out["code"] == 3, out


# ------------------------------------------------ item 5: NaN / Infinity in spec.config
@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_in_a_nad_are_refused_on_read(constant: str) -> None:
    nad = {
        "metadata": {"name": "bad", "namespace": "default"},
        "spec": {"config": f'{{"cniVersion": "1.0.0", "type": "macvlan", "mtu": {constant}}}'},
    }
    with pytest.raises(CNIError) as err:
        resolve_nad_config(nad, "/nowhere")
    assert err.value.code == 7
    assert "default/bad" in err.value.msg and constant.lstrip("-") in err.value.msg


class OneNadKube:
    def __init__(self, config: str) -> None:
        self.config = config

    def get_pod(self, namespace: str, name: str) -> dict[str, Any]:
        annotations = {"k8s.v1.cni.cncf.io/networks": "bad"}
        return {"metadata": {"name": name, "namespace": namespace, "annotations": annotations}}

    def get_nad(self, namespace: str, name: str) -> dict[str, Any] | None:
        if name != "bad":
            return None
        return {"metadata": {"name": name, "namespace": namespace}, "spec": {"config": self.config}}

    def patch_pod_status_annotations(self, *args: Any) -> dict[str, Any]:
        return {}


def test_a_nad_with_nan_fails_add_before_any_delegate_and_del_succeeds(tmp_path: Path) -> None:
    plugins = Plugins()
    cfg = parse_config(conf_for(tmp_path))
    engine = Engine(
        cfg=cfg,
        execute=plugins,
        cache=DelegateCache(cfg.cni_dir),
        kube=OneNadKube('{"cniVersion": "1.0.0", "type": "macvlan", "mtu": NaN}'),
        log=Logger("error", "", False),
    )
    args = (("K8S_POD_NAMESPACE", "default"), ("K8S_POD_NAME", "p"))
    with pytest.raises(CNIError) as err:
        engine.add(CNIRequest("ADD", "c1", "/var/run/netns/p", "eth0", args))
    assert err.value.code == 7
    assert plugins.calls == []
    engine.delete(CNIRequest("DEL", "c1", "", "eth0", args))  # was: code 6 forever


# ------------------------------------------------ item 7: CNI_NETNS of the plugin itself
def test_add_into_the_plugins_own_network_namespace_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugins = Plugins()
    env = cni_env("ADD", netns="/proc/self/ns/net")
    rc, out = thin_call(monkeypatch, plugins, env, conf_for(tmp_path))
    assert rc == 1 and out["code"] == 4, out
    assert "CNI_NETNS" in out["msg"]
    assert plugins.calls == []
    assert cache_files(tmp_path) == []
    # the same namespace under another path (its /proc/<pid> name)
    env = cni_env("ADD", netns=f"/proc/{os.getpid()}/ns/net")
    rc, out = thin_call(monkeypatch, plugins, env, conf_for(tmp_path))
    assert rc == 1 and out["code"] == 4, out


def test_del_with_the_plugins_own_namespace_runs_without_a_netns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugins = Plugins()
    env = cni_env("DEL", netns="/proc/self/ns/net")
    rc, out = thin_call(monkeypatch, plugins, env, conf_for(tmp_path))
    assert rc == 0, out
    assert plugins.calls == [("DEL", "ptp", "eth0")] and plugins.netns == [""]


# ------------------------------------------------ item 8: container ids
@pytest.mark.parametrize("length", [64, 200, 236, 253, 254, 300, 4000])
def test_long_container_ids_add_and_del(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, length: int
) -> None:
    container_id = ("a1b2" * 1000)[:length]
    plugins = Plugins()
    conf = conf_for(tmp_path)
    rc, out = thin_call(monkeypatch, plugins, cni_env("ADD", container_id), conf)
    assert rc == 0, out  # was: code 5 (temporary file name > NAME_MAX) from 236 on
    names = cache_files(tmp_path)
    assert len(names) == 1 and len(names[0].encode()) <= NAME_MAX
    cache = DelegateCache(str(tmp_path / "cache"))
    assert cache.container_ids() == [container_id]
    assert cache.load(container_id) is not None
    rc, out = thin_call(monkeypatch, plugins, cni_env("DEL", container_id), conf)
    assert rc == 0, out
    assert cache_files(tmp_path) == []


def test_long_ids_sharing_a_prefix_get_their_own_files(tmp_path: Path) -> None:
    cache = DelegateCache(str(tmp_path))
    first, second = "a" * 300, "a" * 299 + "b"
    cache.save(first, {"containerID": first, "delegates": []})
    cache.save(second, {"containerID": second, "delegates": []})
    assert sorted(cache.container_ids()) == sorted([first, second])
    assert all(len(p.name) <= NAME_MAX for p in tmp_path.iterdir())


@pytest.mark.parametrize("container_id", ["a..b", "a.", "a-..-b", "0_.-x"])
def test_ids_the_spec_allows_are_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, container_id: str
) -> None:
    assert check_container_id(container_id) == container_id  # was: refused ("..")
    plugins = Plugins()
    rc, out = thin_call(monkeypatch, plugins, cni_env("ADD", container_id), conf_for(tmp_path))
    assert rc == 0, out
    rc, out = thin_call(monkeypatch, plugins, cni_env("DEL", container_id), conf_for(tmp_path))
    assert rc == 0, out


@pytest.mark.parametrize("container_id", ["..", ".a", "-a", "a/b", "a b", "", "a~b"])
def test_ids_the_spec_refuses_are_code_4(container_id: str) -> None:
    with pytest.raises(CNIError) as err:
        check_container_id(container_id)
    assert err.value.code == 4


def test_write_atomic_handles_a_name_of_name_max(tmp_path: Path) -> None:
    target = tmp_path / ("x" * NAME_MAX)
    state.write_atomic(str(target), b"data")
    assert target.read_bytes() == b"data"


# ------------------------------------------------ item 10: a failed ADD never blocks DEL
MISSING_MASTER = CNIError(999, 'failed to lookup master "eth9": Link not found')


def macvlan_conf(tmp_path: Path) -> dict[str, Any]:
    conf = conf_for(tmp_path)
    conf["delegates"].append(
        {"cniVersion": "1.0.0", "name": "data", "type": "macvlan", "master": "eth9"}
    )
    return conf


def test_a_pod_whose_add_failed_stays_deletable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """macvlan on a missing master fails ADD and every DEL; the pod's DEL still succeeds."""
    plugins = Plugins({("ADD", "macvlan"): MISSING_MASTER, ("DEL", "macvlan"): MISSING_MASTER})
    conf = macvlan_conf(tmp_path)
    rc, out = thin_call(monkeypatch, plugins, cni_env("ADD"), conf)
    assert rc == 1 and out["code"] == 999
    assert plugins.calls[-2:] == [("DEL", "macvlan", "net1"), ("DEL", "ptp", "eth0")]
    assert cache_files(tmp_path) == []
    for _ in range(2):  # the kubelet's DEL, and a retry
        plugins.calls.clear()
        rc, out = thin_call(monkeypatch, plugins, cni_env("DEL"), conf)
        assert rc == 0, out  # was: code 999 "Link not found" forever
        assert plugins.calls == [("DEL", "macvlan", "net1"), ("DEL", "ptp", "eth0")]


def test_a_delegate_left_by_a_failed_rollback_is_remembered_and_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An added delegate whose rollback DEL failed: the cache keeps it, DEL retries it."""
    busy = CNIError(11, "ptp: busy")
    plugins = Plugins({("ADD", "macvlan"): MISSING_MASTER, ("DEL", "ptp"): busy})
    conf = macvlan_conf(tmp_path)
    rc, _ = thin_call(monkeypatch, plugins, cni_env("ADD"), conf)
    assert rc == 1
    entry = DelegateCache(str(tmp_path / "cache")).load("c1")
    assert entry is not None and entry["rolledBack"] is True
    assert [d["name"] for d in entry["delegates"]] == ["first"]
    plugins.calls.clear()
    rc, out = thin_call(monkeypatch, plugins, cni_env("DEL"), conf)
    assert rc == 1 and out["code"] == 11  # it was added and is still there: a real failure
    assert plugins.calls == [("DEL", "ptp", "eth0")]
    # retryDeleteOnError is off: that DEL removed the record, as the reference does
    del plugins.fail[("DEL", "ptp")]
    rc, out = thin_call(monkeypatch, plugins, cni_env("DEL"), conf)
    assert rc == 0, out
    assert cache_files(tmp_path) == []


def test_gc_reads_cached_args_of_the_wrong_shape() -> None:
    from pymultus.engine import request_from_cache

    entry = {"args": [[1], "x", ["K8S_POD_NAME", "p"], [1, 2, 3]], "ifname": "eth0"}
    request = request_from_cache(entry, "c1", ())
    assert request.args == (("K8S_POD_NAME", "p"),)


def test_a_del_error_of_a_delegate_never_added_does_not_fail_del(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cache written before the delegates ran (a crash mid-ADD) has no results."""
    cache = DelegateCache(str(tmp_path / "cache"))
    conf = macvlan_conf(tmp_path)
    delegates = [
        {"name": d["name"], "conf": d, "ifname": ifname, "default": ifname == "eth0"}
        for d, ifname in zip(conf["delegates"], ["eth0", "net1"], strict=True)
    ]
    delegates[0]["result"] = RESULT  # the first one's ADD succeeded
    cache.save("c1", {"containerID": "c1", "delegates": delegates})
    plugins = Plugins({("DEL", "macvlan"): MISSING_MASTER})
    rc, out = thin_call(monkeypatch, plugins, cni_env("DEL"), conf)
    assert rc == 0, out
    assert plugins.calls == [("DEL", "macvlan", "net1"), ("DEL", "ptp", "eth0")]
    plugins.fail[("DEL", "ptp")] = CNIError(11, "ptp: busy")
    cache.save("c1", {"containerID": "c1", "delegates": delegates})
    rc, out = thin_call(monkeypatch, plugins, cni_env("DEL"), conf)
    assert rc == 1 and out["code"] == 11  # an added delegate's failure still counts
