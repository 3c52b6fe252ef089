"""The daemon served on a temporary unix socket, driven through the real shim.

No root and no namespaces: delegates are a fake executor, the API is absent
(delegates-only configuration) or a fake.
"""

from __future__ import annotations

import io
import json
import os
import stat
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from harness.backends.local.thick import http_get
from pymultus import shim
from pymultus.cni.errors import CNIError
from pymultus.cni.request import CNIRequest
from pymultus.daemon.overlay import DaemonOptions
from pymultus.daemon.server import Daemon
from pymultus.log import Logger

DELEGATE = {"cniVersion": "1.0.0", "name": "kindnet", "type": "fakeptp"}


class FakeExecutor:
    """Records calls; ADD answers a result; optional failure or a gate to block on."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail_del = False
        self.gate: threading.Event | None = None
        self.entered = threading.Event()

    def __call__(
        self, plugin_type: str, command: str, conf: dict[str, Any], request: CNIRequest
    ) -> dict[str, Any]:
        self.calls.append((command, request.container_id))
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(10)
        if command == "DEL" and self.fail_del:
            raise CNIError(5, "fakeptp cannot delete veth")
        if command == "ADD":
            return {
                "cniVersion": "1.0.0",
                "interfaces": [{"name": request.ifname, "sandbox": request.netns}],
                "ips": [{"address": "10.244.1.5/24", "interface": 0}],
            }
        return {}


@pytest.fixture
def setup(tmp_path: Any) -> Iterator[tuple[Daemon, FakeExecutor, dict[str, Any]]]:
    executor = FakeExecutor()
    options = DaemonOptions(socket_dir=str(tmp_path / "run"), max_concurrent=2, max_queue=1)
    multus = {"delegates": [DELEGATE], "cniDir": str(tmp_path / "cache")}
    daemon = Daemon(
        options,
        multus,
        kube=None,
        env={},
        log=Logger("error", "", False),
        executor_factory=lambda dirs, env, timeout: executor,
    )
    daemon.start()
    shim_conf = {
        "cniVersion": "1.0.0",
        "name": "pymultus-cni-network",
        "type": "pymultus-shim",
        "daemonSocketDir": options.socket_dir,
    }
    try:
        yield daemon, executor, shim_conf
    finally:
        if executor.gate is not None:
            executor.gate.set()
        daemon.stop()


def cni_env(command: str, container_id: str = "c0ffee") -> dict[str, str]:
    return {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": container_id,
        "CNI_NETNS": "/var/run/netns/pod",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": "/opt/cni/bin",
        "HOME": "/root",
    }


def call(env: dict[str, str], conf: dict[str, Any]) -> tuple[int, bytes]:
    out = io.BytesIO()
    code = shim.run(env, json.dumps(conf).encode(), out)
    return code, out.getvalue()


def test_socket_and_directory_are_private(setup: Any) -> None:
    daemon, _, _ = setup
    path = daemon.options.socket_path
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700


def test_add_then_del_through_the_shim(setup: Any) -> None:
    daemon, executor, conf = setup
    code, out = call(cni_env("ADD"), conf)
    assert code == 0, out
    result = json.loads(out)
    assert result["ips"] == [{"address": "10.244.1.5/24", "interface": 0}]
    cache_file = os.path.join(daemon.multus_conf["cniDir"], "c0ffee")
    assert os.path.exists(cache_file)

    code, out = call(cni_env("DEL"), conf)
    assert (code, out) == (0, b"")
    assert not os.path.exists(cache_file)
    assert executor.calls == [("ADD", "c0ffee"), ("DEL", "c0ffee")]

    status, metrics = http_get(daemon.options.socket_path, "/metrics")
    assert status == 200
    assert 'pymultus_cni_requests_total{command="ADD",result="success"} 1' in metrics
    assert 'pymultus_delegate_duration_seconds_count{command="DEL"} 1' in metrics


def test_result_is_converted_to_the_runtimes_version(setup: Any) -> None:
    _, _, conf = setup
    code, out = call(cni_env("ADD"), {**conf, "cniVersion": "0.3.1"})
    assert code == 0
    result = json.loads(out)
    assert result["cniVersion"] == "0.3.1"
    assert result["ips"][0]["version"] == "4"


def test_del_errors_reach_the_runtime(setup: Any) -> None:
    _, executor, conf = setup
    assert call(cni_env("ADD"), conf)[0] == 0
    executor.fail_del = True
    code, out = call(cni_env("DEL"), conf)
    assert code == 1
    error = json.loads(out)
    assert error["code"] == 5
    assert "fakeptp cannot delete veth" in error["details"] + error["msg"]


def test_bad_config_is_a_cni_error_with_its_code(setup: Any) -> None:
    _, _, conf = setup
    code, out = call(cni_env("ADD"), {**conf, "cniVersion": "9.9.9"})
    assert code == 1
    assert json.loads(out)["code"] == 1  # incompatible version


def test_version_needs_no_container(setup: Any) -> None:
    _, _, conf = setup
    code, out = call({"CNI_COMMAND": "VERSION"}, conf)
    assert code == 0
    assert "1.0.0" in json.loads(out)["supportedVersions"]


def test_health_and_readiness(setup: Any) -> None:
    daemon, _, _ = setup
    assert http_get(daemon.options.socket_path, "/healthz")[0] == 200
    assert http_get(daemon.options.socket_path, "/readyz")[0] == 200
    assert http_get(daemon.options.socket_path, "/nope")[0] == 404


def test_full_queue_is_refused_with_try_again_later(
    setup: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    daemon, executor, conf = setup
    executor.gate = threading.Event()
    monkeypatch.setattr(shim, "READY_WAIT", 0.3)
    # maxConcurrent 2 + maxQueue 1: three calls are admitted, the fourth is refused.
    threads = [
        threading.Thread(target=call, args=(cni_env("ADD", f"c{i}"), conf)) for i in range(3)
    ]
    for thread in threads:
        thread.start()
    try:
        assert executor.entered.wait(5)
        for _ in range(100):
            if daemon.metrics.inflight + daemon.metrics.queued == 3:
                break
            threading.Event().wait(0.02)
        assert (daemon.metrics.inflight, daemon.metrics.queued) == (2, 1)
        code, out = call(cni_env("ADD", "c9"), conf)
        assert code == 1
        assert json.loads(out)["code"] == 11
        assert daemon.metrics.rejected >= 1
    finally:
        executor.gate.set()
        for thread in threads:
            thread.join(10)
    assert daemon.metrics.inflight == daemon.metrics.queued == 0


def test_calls_for_one_container_are_serialised(setup: Any) -> None:
    daemon, executor, conf = setup
    executor.gate = threading.Event()
    first = threading.Thread(target=call, args=(cni_env("ADD", "same"), conf))
    first.start()
    assert executor.entered.wait(5)
    second = threading.Thread(target=call, args=(cni_env("DEL", "same"), conf))
    second.start()
    threading.Event().wait(0.2)
    assert executor.calls == [("ADD", "same")]  # the DEL waits for its ADD
    assert daemon.metrics.queued == 1
    executor.gate.set()
    first.join(5)
    second.join(5)
    assert executor.calls == [("ADD", "same"), ("DEL", "same")]


def test_stop_drains_and_removes_the_socket(setup: Any) -> None:
    daemon, executor, conf = setup
    executor.gate = threading.Event()
    results: list[tuple[int, bytes]] = []
    worker = threading.Thread(target=lambda: results.append(call(cni_env("ADD"), conf)))
    worker.start()
    assert executor.entered.wait(5)
    stopper = threading.Thread(target=daemon.stop)
    stopper.start()
    threading.Event().wait(0.2)
    assert not daemon.ready()
    assert http_get(daemon.options.socket_path, "/readyz")[0] == 503
    executor.gate.set()
    stopper.join(10)
    worker.join(10)
    assert results and results[0][0] == 0  # the in-flight ADD finished
    assert not os.path.exists(daemon.options.socket_path)


def test_a_second_daemon_refuses_a_live_socket(setup: Any) -> None:
    daemon, _, _ = setup
    other = Daemon(daemon.options, daemon.multus_conf, log=Logger("error", "", False))
    with pytest.raises(CNIError) as info:
        other.start()
    assert "another pymultus daemon" in info.value.msg
