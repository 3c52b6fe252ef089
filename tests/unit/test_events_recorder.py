"""The kubelet's event recorder: identical events counted, similar ones combined,
storms cut by the per-object spam filter (client-go's EventCorrelator)."""

from __future__ import annotations

from typing import Any

from harness.backends.local.events import COMBINED, SPAM_BURST, EventRecorder

POD = {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "p", "namespace": "ns", "uid": "u"}}


class FakeAPI:
    """Records the recorder's calls as (method, path, body); a create answers a name."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []

    def create_event(self, namespace: str, event: dict[str, Any]) -> str:
        self.calls.append(("POST", f"/api/v1/namespaces/{namespace}/events", event))
        return f"p.{len(self.calls)}"

    def patch_event(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        self.calls.append(("PATCH", f"/api/v1/namespaces/{namespace}/events/{name}", patch))


def recorder(api: FakeAPI, clock: list[float]) -> EventRecorder:
    return EventRecorder(api, "kubelet", "node-1", clock=lambda: clock[0])


def test_identical_events_are_counted_on_the_first() -> None:
    api, clock = FakeAPI(), [1000.0]
    rec = recorder(api, clock)
    for _ in range(3):
        rec.record(POD, "Warning", "FailedKillPod", "boom")
        clock[0] += 1
    assert [c[0] for c in api.calls] == ["POST", "PATCH", "PATCH"]
    assert api.calls[0][2]["count"] == 1 and api.calls[0][2]["involvedObject"]["uid"] == "u"
    assert api.calls[2][1] == "/api/v1/namespaces/ns/events/p.1"
    assert api.calls[2][2]["count"] == 3 and api.calls[2][2]["series"]["count"] == 3


def test_a_different_message_is_a_new_event_until_similar_ones_are_combined() -> None:
    api, clock = FakeAPI(), [1000.0]
    rec = recorder(api, clock)
    for i in range(13):
        rec.record(POD, "Warning", "FailedCreatePodSandBox", f"sandbox {i}")
    methods = [c[0] for c in api.calls]
    assert methods == ["POST"] * 11 + ["PATCH"] * 2
    assert api.calls[10][2]["message"] == COMBINED + "sandbox 10"
    assert api.calls[12][2]["message"] == COMBINED + "sandbox 12"
    assert api.calls[12][2]["count"] == 3


def test_the_spam_filter_stops_a_storm_and_refills() -> None:
    api, clock = FakeAPI(), [1000.0]
    rec = recorder(api, clock)
    for i in range(SPAM_BURST + 5):
        rec.record(POD, "Normal", f"Reason{i}", "m")
    assert len(api.calls) == SPAM_BURST
    clock[0] += 300
    rec.record(POD, "Normal", "Later", "m")
    assert len(api.calls) == SPAM_BURST + 1


def test_killing_names_each_container() -> None:
    api, clock = FakeAPI(), [1000.0]
    pod = {**POD, "spec": {"containers": [{"name": "a"}, {"name": "b"}]}}
    recorder(api, clock).killing(pod)
    bodies = [c[2] for c in api.calls]
    assert [(b["reason"], b["message"]) for b in bodies] == [
        ("Killing", "Stopping container a"),
        ("Killing", "Stopping container b"),
    ]
    assert bodies[0]["involvedObject"]["fieldPath"] == "spec.containers{a}"


def test_counted_events_through_the_real_api_server() -> None:
    from harness.backends.local.apiclient import ClusterClient
    from harness.backends.local.apiserver import APIServer

    server = APIServer()
    server.listen("127.0.0.1", 0)
    try:
        api = ClusterClient.for_server(server.url())
        api.request("POST", "/api/v1/namespaces", {"metadata": {"name": "ns"}})
        rec = EventRecorder(api, "kubelet", "node-1")
        for _ in range(4):
            rec.record(POD, "Warning", "FailedKillPod", "boom")
        events = api.request("GET", "/api/v1/namespaces/ns/events")["items"]
        assert [(e["reason"], e["count"]) for e in events] == [("FailedKillPod", 4)]
        assert events[0]["series"]["count"] == 4
        assert events[0]["lastTimestamp"].endswith("Z")  # as client-go writes it
        api.close()
    finally:
        server.stop()
