"""The daemon posts its events after the CNI answer, never losing one (issue 16).

The writer alone with a recording ``create`` (gates to hold a post), then
the daemon with the embedded API server (real HTTP) and a fake executor:
ADD answers before its events are posted, and a DEL waits for them.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from harness.backends.local.apiserver import APIServer
from pymultus import shim
from pymultus.cni.errors import TRY_AGAIN_LATER, CNIError
from pymultus.daemon.eventwriter import EventWriter
from pymultus.daemon.overlay import DaemonOptions
from pymultus.daemon.server import Daemon
from pymultus.kube.client import KubeClient
from pymultus.kube.kubeconfig import ClusterAccess
from pymultus.log import Logger
from tests.unit.test_daemon import FakeExecutor


class Recorder:
    """``create_event`` that records, optionally blocking on a gate or failing."""

    def __init__(self) -> None:
        self.posted: list[tuple[str, str, str]] = []  # (namespace, pod, reason)
        self.threads: set[str] = set()
        self.gate: threading.Event | None = None
        self.entered = threading.Event()
        self.fail_reasons: set[str] = set()

    def __call__(
        self, namespace: str, involved: dict[str, Any], reason: str, message: str, type: str
    ) -> dict[str, Any]:
        self.threads.add(threading.current_thread().name)
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(10)
        if reason in self.fail_reasons:
            raise CNIError(TRY_AGAIN_LATER, "API unreachable")
        self.posted.append((namespace, involved["metadata"]["name"], reason))
        return {}


def pod(name: str) -> dict[str, Any]:
    return {"kind": "Pod", "metadata": {"namespace": "default", "name": name}}


@pytest.fixture
def writer() -> Iterator[tuple[EventWriter, Recorder, list[str]]]:
    rec = Recorder()
    errors: list[str] = []
    w = EventWriter(rec, errors.append, max_pending=3)
    w.start()
    try:
        yield w, rec, errors
    finally:
        if rec.gate is not None:
            rec.gate.set()
        w.stop(5)


def test_events_are_posted_in_order_from_the_writer_thread(
    writer: tuple[EventWriter, Recorder, list[str]],
) -> None:
    w, rec, errors = writer
    for reason in ("A", "B", "C"):
        w.create_event("default", pod("p"), reason, "m")
    assert w.flush(5)
    assert rec.posted == [("default", "p", "A"), ("default", "p", "B"), ("default", "p", "C")]
    assert rec.threads == {"event writer"} and errors == [] and w.posted == 3


def test_create_event_returns_before_the_post(
    writer: tuple[EventWriter, Recorder, list[str]],
) -> None:
    w, rec, _ = writer
    rec.gate = threading.Event()
    started = time.monotonic()
    w.create_event("default", pod("p"), "A", "m")
    w.create_event("default", pod("q"), "B", "m")
    assert time.monotonic() - started < 1.0  # neither waited for its post
    assert rec.entered.wait(5) and rec.posted == []
    # wait_for is per pod: p is being posted, q queued behind it, r has nothing.
    assert not w.wait_for("default", "p", 0.05)
    assert not w.wait_for("default", "q", 0.05)
    assert w.wait_for("default", "r", 0.05)
    rec.gate.set()
    assert w.wait_for("default", "q", 5)
    assert [r for _, _, r in rec.posted] == ["A", "B"]


def test_events_wait_for_a_reply_to_go_out_or_their_hold_to_end() -> None:
    rec = Recorder()
    w = EventWriter(rec, lambda m: None, hold_for=30)
    w.start()
    try:
        w.create_event("default", pod("p"), "A", "m")
        time.sleep(0.2)
        assert rec.posted == []  # held: the reply of its call is not out yet
        w.release()  # the daemon's HTTP server sent a reply
        assert w.flush(5) and [r for _, _, r in rec.posted] == ["A"]
    finally:
        w.stop(5)
    rec = Recorder()
    w = EventWriter(rec, lambda m: None, hold_for=0.1)  # no reply ever: posted when due
    w.start()
    try:
        w.create_event("default", pod("p"), "B", "m")
        deadline = time.monotonic() + 5
        while not rec.posted and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [r for _, _, r in rec.posted] == ["B"]
    finally:
        w.stop(5)


def test_a_full_queue_posts_in_the_caller_never_drops(
    writer: tuple[EventWriter, Recorder, list[str]],
) -> None:
    w, rec, _ = writer
    rec.gate = threading.Event()
    w.create_event("default", pod("p"), "first", "m")
    assert rec.entered.wait(5)  # the writer holds "first"; the queue (max 3) is free
    for i in range(3):
        w.create_event("default", pod("p"), f"queued-{i}", "m")
    done = threading.Event()

    def overflow() -> None:
        w.create_event("default", pod("p"), "inline", "m")
        done.set()

    thread = threading.Thread(target=overflow, name="caller")
    thread.start()
    time.sleep(0.1)
    assert not done.is_set()  # back-pressure: the caller posts it itself (behind the gate)
    rec.gate.set()
    thread.join(5)
    assert w.flush(5)
    assert sorted(r for _, _, r in rec.posted) == sorted(
        ["first", "inline", "queued-0", "queued-1", "queued-2"]
    )
    assert w.inline == 1 and "caller" in rec.threads and w.posted == 5


def test_a_failed_post_is_logged_and_the_writer_goes_on(
    writer: tuple[EventWriter, Recorder, list[str]],
) -> None:
    w, rec, errors = writer
    rec.fail_reasons = {"bad"}
    w.create_event("default", pod("p"), "bad", "m")
    w.create_event("default", pod("p"), "good", "m")
    assert w.flush(5)
    assert [r for _, _, r in rec.posted] == ["good"]
    assert len(errors) == 1 and "bad" in errors[0] and "default/p" in errors[0]
    assert w.failed == 1 and w.posted == 1


def test_stop_posts_what_is_queued() -> None:
    rec = Recorder()
    rec.gate = threading.Event()
    w = EventWriter(rec, lambda m: None)
    w.start()
    for reason in ("A", "B"):
        w.create_event("default", pod("p"), reason, "m")
    threading.Timer(0.2, rec.gate.set).start()
    w.stop(5)
    assert [r for _, _, r in rec.posted] == ["A", "B"]
    # Stopped: a late event is still posted, by the caller.
    rec.gate = None
    w.create_event("default", pod("p"), "late", "m")
    assert rec.posted[-1][2] == "late" and w.inline == 1


# ------------------------------------------------------------- in the daemon


@pytest.fixture
def api() -> Iterator[APIServer]:
    srv = APIServer()
    srv.listen("127.0.0.1", 0)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def daemon(tmp_path: Any, api: APIServer) -> Iterator[tuple[Daemon, dict[str, Any], str]]:
    created = api.store.create(
        "pods",
        {
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "pause"}]},
        },
        "default",
    )
    executor = FakeExecutor()
    options = DaemonOptions(socket_dir=str(tmp_path / "run"), max_concurrent=2, max_queue=1)
    multus = {
        "delegates": [{"cniVersion": "1.0.0", "name": "kindnet", "type": "fakeptp"}],
        "cniDir": str(tmp_path / "cache"),
    }
    kube = KubeClient(ClusterAccess(server=api.url()))
    d = Daemon(
        options,
        multus,
        kube=kube,
        env={},
        log=Logger("error", "", False),
        executor_factory=lambda dirs, env, timeout: executor,
    )
    d.start()
    conf = {
        "cniVersion": "1.0.0",
        "name": "pymultus-cni-network",
        "type": "pymultus-shim",
        "daemonSocketDir": options.socket_dir,
    }
    try:
        yield d, conf, created["metadata"]["uid"]
    finally:
        d.stop()
        kube.close()


def shim_call(command: str, conf: dict[str, Any], uid: str) -> tuple[int, bytes]:
    env = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": "c0ffee",
        "CNI_NETNS": "/var/run/netns/pod",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": "/opt/cni/bin",
        "CNI_ARGS": f"K8S_POD_NAMESPACE=default;K8S_POD_NAME=p;K8S_POD_UID={uid}",
    }
    out = io.BytesIO()
    code = shim.run(env, json.dumps(conf).encode(), out)
    return code, out.getvalue()


def event_reasons(api: APIServer) -> list[str]:
    with KubeClient(ClusterAccess(server=api.url())) as c:
        items = c.request("GET", "/api/v1/namespaces/default/events").get("items") or []
    return [e["reason"] for e in items if e["involvedObject"]["name"] == "p"]


def test_add_answers_before_its_event_and_del_waits_for_it(
    api: APIServer, daemon: tuple[Daemon, dict[str, Any], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pymultus.daemon import server

    monkeypatch.setattr(server, "EVENTS_BEFORE_DEL_WAIT", 10.0)  # a loaded machine
    d, conf, uid = daemon
    assert d.events is not None
    api.set_fault(None, delay=0.6)  # every API request takes 0.6 s from now on
    started = time.monotonic()
    code, out = shim_call("ADD", conf, uid)
    answered = time.monotonic() - started
    assert code == 0, out
    # The pod came from the API (0.6 s) and the status PATCH is in the call (0.6 s);
    # the AddedInterface POST (0.6 s more: at least 1.8 s in all) is not.
    assert answered < 1.65, answered
    assert not d.events.wait_for("default", "p", 0)  # still being posted
    code, out = shim_call("DEL", conf, uid)
    assert code == 0, out
    # DEL answered after the pod's event was posted: nothing about p is left pending.
    assert d.events.wait_for("default", "p", 0)
    api.set_fault(None)
    assert event_reasons(api) == ["AddedInterface"]
    assert d.events.posted == 1 and d.events.failed == 0
