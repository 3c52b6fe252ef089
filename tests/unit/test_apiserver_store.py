"""The store behind the embedded API server: selectors, patches, watch history."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.backends.local.apierrors import APIError
from harness.backends.local.patches import json_patch, merge_patch, strategic_merge_patch
from harness.backends.local.resources import PODS
from harness.backends.local.selectors import FieldSelector, LabelSelector
from harness.backends.local.store import Store


def pod(name: str, node: str | None = "node-1", **meta: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    return {"metadata": {"name": name, **meta}, "spec": spec}


# ---- label selectors -------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("", {}, True),
        ("app=web", {"app": "web"}, True),
        ("app==web", {"app": "web"}, True),
        ("app=web", {"app": "db"}, False),
        ("app=web", {}, False),
        ("app!=web", {}, True),
        ("app!=web", {"app": "web"}, False),
        ("app", {"app": ""}, True),
        ("app", {}, False),
        ("!app", {}, True),
        ("!app", {"app": "x"}, False),
        ("app in (a, b)", {"app": "b"}, True),
        ("app in (a,b)", {"app": "c"}, False),
        ("app notin (a,b)", {}, True),
        ("app notin (a,b)", {"app": "a"}, False),
        ("app=web,tier in (fe),!debug", {"app": "web", "tier": "fe"}, True),
        ("example.com/role=x", {"example.com/role": "x"}, True),
    ],
)
def test_label_selector(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert LabelSelector.parse(selector).matches(labels) is expected


@pytest.mark.parametrize("bad", ["===", "a=b=c", "a in b", "-a=b", "a=(b)"])
def test_label_selector_errors(bad: str) -> None:
    with pytest.raises(APIError) as info:
        LabelSelector.parse(bad)
    assert info.value.code == 400 and "labelSelector" in info.value.message


_label = st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True)


@given(st.dictionaries(_label, _label, max_size=4), st.dictionaries(_label, _label, max_size=4))
def test_equality_selector_property(wanted: dict[str, str], labels: dict[str, str]) -> None:
    """k=v,... matches exactly when every pair is in the labels."""
    text = ",".join(f"{k}={v}" for k, v in wanted.items())
    expected = all(labels.get(k) == v for k, v in wanted.items())
    assert LabelSelector.parse(text).matches(labels) is expected


def test_field_selector_values() -> None:
    obj = {"metadata": {"name": "a"}, "spec": {"hostNetwork": True}, "status": {}}
    assert FieldSelector.parse("spec.hostNetwork=true", PODS).matches(obj)
    assert FieldSelector.parse("status.phase=", PODS).matches(obj)
    assert FieldSelector.parse("metadata.name!=b", PODS).matches(obj)
    assert not FieldSelector.parse("metadata.name==b", PODS).matches(obj)
    with pytest.raises(APIError):
        FieldSelector.parse("spec.containers=x", PODS)


# ---- patches -------------------------------------------------------------------------

MERGE_CASES = [
    # RFC 7386 appendix A examples.
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "expected"), MERGE_CASES)
def test_merge_patch_rfc7386(target: Any, patch: Any, expected: Any) -> None:
    assert merge_patch(target, patch) == expected


_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=4))
_json = st.recursive(
    _json_leaf,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=200)
@given(st.dictionaries(st.text(max_size=3), _json, max_size=4), _json)
def test_merge_patch_is_idempotent(target: dict[str, Any], patch: Any) -> None:
    once = merge_patch(target, patch)
    assert merge_patch(once, patch) == once


def test_strategic_merge_patch_merges_keyed_lists() -> None:
    spec = {
        "containers": [
            {"name": "a", "image": "1", "env": [{"name": "X", "value": "1"}]},
            {"name": "b", "image": "2"},
        ],
        "tolerations": [{"key": "k"}],
    }
    patch = {
        "containers": [
            {"name": "a", "env": [{"name": "Y", "value": "2"}]},
            {"name": "b", "$patch": "delete"},
            {"name": "c", "image": "3"},
        ],
        "tolerations": [{"key": "other"}],  # no merge key: replaced
        "$setElementOrder/containers": [{"name": "c"}, {"name": "a"}],
    }
    out = strategic_merge_patch(spec, patch)
    assert out == {
        "containers": [
            {"name": "c", "image": "3"},
            {
                "name": "a",
                "image": "1",
                "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}],
            },
        ],
        "tolerations": [{"key": "other"}],
    }


def test_strategic_merge_patch_directives() -> None:
    meta = {"finalizers": ["a"], "labels": {"x": "1", "y": "2"}}
    out = strategic_merge_patch(
        meta,
        {
            "finalizers": ["b"],
            "$deleteFromPrimitiveList/finalizers": ["a"],
            "labels": {"$patch": "replace", "z": "3"},
        },
    )
    assert out == {"finalizers": ["b"], "labels": {"z": "3"}}
    assert strategic_merge_patch({"a": {"b": 1}, "c": 2}, {"a": {"$patch": "delete"}}) == {"c": 2}
    assert strategic_merge_patch({"a": 1, "b": 2}, {"$retainKeys": ["a"], "c": 3}) == {
        "a": 1,
        "c": 3,
    }
    assert strategic_merge_patch({"a": 1}, {"a": None}) == {}


JSON_PATCH_CASES = [
    ({"a": 1}, [{"op": "add", "path": "/b", "value": 2}], {"a": 1, "b": 2}),
    ({"a": [1, 2]}, [{"op": "add", "path": "/a/1", "value": 9}], {"a": [1, 9, 2]}),
    ({"a": [1]}, [{"op": "add", "path": "/a/-", "value": 2}], {"a": [1, 2]}),
    ({"a": 1, "b": 2}, [{"op": "remove", "path": "/a"}], {"b": 2}),
    ({"a": 1}, [{"op": "replace", "path": "/a", "value": 3}], {"a": 3}),
    ({"a": {"b": 1}}, [{"op": "move", "from": "/a/b", "path": "/c"}], {"a": {}, "c": 1}),
    ({"a": [1]}, [{"op": "copy", "from": "/a", "path": "/b"}], {"a": [1], "b": [1]}),
    (
        {"a/b": 1, "m~n": 2},
        [{"op": "remove", "path": "/a~1b"}, {"op": "remove", "path": "/m~0n"}],
        {},
    ),
    ({"a": 1}, [{"op": "test", "path": "/a", "value": 1}], {"a": 1}),
]


@pytest.mark.parametrize(("doc", "ops", "expected"), JSON_PATCH_CASES)
def test_json_patch(doc: Any, ops: list[Any], expected: Any) -> None:
    assert json_patch(doc, ops) == expected


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "remove", "path": "/missing"}],
        [{"op": "replace", "path": "/missing", "value": 1}],
        [{"op": "test", "path": "/a", "value": 2}],
        [{"op": "add", "path": "/a/b/c", "value": 1}],
        [{"op": "add", "path": "/l/5", "value": 1}],
    ],
)
def test_json_patch_failures_are_422(ops: list[Any]) -> None:
    with pytest.raises(APIError) as info:
        json_patch({"a": 1, "l": []}, ops)
    assert info.value.code == 422


@pytest.mark.parametrize("ops", [{"op": "add"}, [{"path": "/a"}], [{"op": "jump", "path": "/a"}]])
def test_json_patch_malformed_is_400(ops: Any) -> None:
    with pytest.raises(APIError) as info:
        json_patch({"a": 1}, ops)
    assert info.value.code == 400


# ---- store semantics --------------------------------------------------------------------


def test_initial_state() -> None:
    store = Store()
    assert [n["metadata"]["name"] for n in store.list_objects("ns")] == [
        "default",
        "kube-node-lease",
        "kube-public",
        "kube-system",
    ]
    assert store.counts()["customresourcedefinitions"] == 1
    for alias in ("pods", "pod", "po", "Pod", "net-attach-def",
                  "network-attachment-definitions.k8s.cni.cncf.io"):  # fmt: skip
        assert store.resolve(alias).plural in ("pods", "network-attachment-definitions")
    with pytest.raises(APIError):
        store.resolve("widgets")


def test_returned_objects_are_private_copies() -> None:
    store = Store()
    created = store.create("pods", pod("a"))
    created["metadata"]["labels"] = {"mutated": "yes"}
    got = store.get("pods", "a")
    assert got is not None and "labels" not in got["metadata"]


def test_update_status_keeps_spec_and_generation() -> None:
    store = Store()
    created = store.create("pods", pod("a"))
    body = json.loads(json.dumps(created))
    body["status"] = {"phase": "Running"}
    body["spec"]["containers"][0]["image"] = "other"
    updated = store.update("pods", body, subresource="status")
    assert updated["status"] == {"phase": "Running"}
    assert updated["spec"]["containers"][0]["image"] == "busybox"
    assert updated["metadata"]["generation"] == 1


def test_wait_for() -> None:
    store = Store()
    threading.Timer(0.05, lambda: store.create("pods", pod("late"))).start()
    got = store.wait_for(lambda: store.get("pods", "late"), timeout=5)
    assert got["metadata"]["name"] == "late"
    with pytest.raises(TimeoutError):
        store.wait_for(lambda: store.get("pods", "never"), timeout=0.05)


# ---- watch ---------------------------------------------------------------------------


def collect(events: Any, n: int) -> list[tuple[str, str]]:
    out = []
    for ev in events:
        out.append((ev.type, ev.raw["metadata"].get("name", "")))
        if len(out) == n:
            break
    return out


def test_watch_from_now_lists_first_then_changes() -> None:
    store = Store()
    store.create("pods", pod("a"))
    events = store.watch("pods", "default", timeout=5)
    threading.Timer(0.05, lambda: store.create("pods", pod("b"))).start()
    assert collect(events, 2) == [("ADDED", "a"), ("ADDED", "b")]


def test_watch_resumes_after_resource_version() -> None:
    store = Store()
    first = store.create("pods", pod("a"))
    store.patch("pods", "a", {"metadata": {"labels": {"x": "1"}}})
    store.delete("pods", "a", grace_period_seconds=0)
    rv = first["metadata"]["resourceVersion"]
    events = store.watch("pods", resource_version=rv, timeout=0.2)
    assert collect(events, 10) == [("MODIFIED", "a"), ("DELETED", "a")]


def test_watch_selector_transitions() -> None:
    """Leaving a selector is DELETED, entering it is ADDED (as the real watch cache does)."""
    store = Store()
    rv = store.resource_version
    store.create("pods", pod("a", labels={"app": "x"}))
    store.patch("pods", "a", {"metadata": {"labels": {"app": "y"}}})
    store.patch("pods", "a", {"metadata": {"labels": {"app": "x"}}})
    store.patch("pods", "a", {"metadata": {"annotations": {"n": "1"}}})
    events = store.watch("pods", label_selector="app=x", resource_version=rv, timeout=0.2)
    assert [e for e, _ in collect(events, 10)] == ["ADDED", "DELETED", "ADDED", "MODIFIED"]


def test_watch_field_selector_and_namespace_filter() -> None:
    store = Store()
    store.create("namespaces", {"metadata": {"name": "other"}})
    rv = store.resource_version
    store.create("pods", pod("a", node="n1"))
    store.create("pods", pod("b", node="n2"))
    store.create("pods", pod("c", node="n1"), namespace="other")
    events = store.watch(
        "pods", field_selector="spec.nodeName=n1", resource_version=rv, timeout=0.2
    )
    assert collect(events, 10) == [("ADDED", "a"), ("ADDED", "c")]
    events = store.watch("pods", "other", resource_version=rv, timeout=0.2)
    assert collect(events, 10) == [("ADDED", "c")]


def test_watch_too_old_resource_version_is_410_expired() -> None:
    store = Store(history=4)
    old = store.resource_version
    for i in range(12):
        store.create("pods", pod(f"p{i}"))
    (event,) = list(store.watch("pods", resource_version=old, timeout=1))
    assert event.type == "ERROR"
    assert event.raw["code"] == 410 and event.raw["reason"] == "Expired"
    assert "too old resource version" in event.raw["message"]


def test_watch_bad_resource_version_is_400() -> None:
    with pytest.raises(APIError) as info:
        Store().watch("pods", resource_version="abc")
    assert info.value.code == 400


def test_watch_timeout_ends_stream() -> None:
    store = Store()
    start = time.monotonic()
    events = list(store.watch("pods", resource_version=store.resource_version, timeout=0.2))
    assert events == [] and 0.15 < time.monotonic() - start < 2


def test_watch_bookmarks_and_initial_events_end() -> None:
    store = Store(bookmark_interval=0.05)
    store.create("pods", pod("a"))
    events = store.watch(
        "pods", send_initial_events=True, allow_bookmarks=True, timeout=1, poll=0.02
    )
    first = [next(events) for _ in range(3)]
    assert [e.type for e in first] == ["ADDED", "BOOKMARK", "BOOKMARK"]
    assert first[1].raw["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert first[2].raw["metadata"]["resourceVersion"] == store.resource_version


def test_watch_stops_on_request_and_close() -> None:
    store = Store()
    flag = threading.Event()
    events = store.watch("pods", resource_version=store.resource_version, should_stop=flag.is_set,
                         poll=0.02)  # fmt: skip
    threading.Timer(0.05, flag.set).start()
    assert list(events) == []
    events = store.watch("pods", resource_version=store.resource_version)
    threading.Timer(0.05, store.close).start()
    assert list(events) == []


def test_watch_event_line_format() -> None:
    store = Store()
    store.create("pods", pod("a"))
    event = next(iter(store.watch("pods", timeout=1)))
    decoded = json.loads(event.line())
    assert decoded["type"] == "ADDED" and decoded["object"]["metadata"]["name"] == "a"
    assert event.line().endswith(b"\n")
