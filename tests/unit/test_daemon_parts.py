"""Pure parts of thick mode: the shim<->daemon framing, config overlay, metrics, caches."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pymultus.cni.errors import INVALID_CONFIG, CNIError
from pymultus.daemon.cache import CachedKube, CacheStats, WatchCache
from pymultus.daemon.hotplug import next_ifname, parse_body
from pymultus.daemon.metrics import BUCKETS, Metrics
from pymultus.daemon.overlay import DaemonOptions, overlay_config, split_daemon_config
from pymultus.daemon.wire import FramingError, decode_request, encode_request
from pymultus.plan import Delegate

# ------------------------------------------------------------------ wire

env_values = st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)))
env_names = st.from_regex(r"CNI_[A-Z_]{1,12}", fullmatch=True)


@given(st.dictionaries(env_names, env_values, max_size=8), st.binary(max_size=200))
def test_framing_round_trips_any_environment_and_stdin(env: dict[str, str], stdin: bytes) -> None:
    assert decode_request(encode_request(env, stdin)) == (env, stdin)


def test_framing_forwards_only_cni_variables() -> None:
    body = encode_request({"CNI_COMMAND": "ADD", "HOME": "/root", "PATH": "/bin"}, b"{}")
    assert decode_request(body) == ({"CNI_COMMAND": "ADD"}, b"{}")


def test_framing_keeps_nul_bytes_in_stdin_verbatim() -> None:
    stdin = b'{"a": 1}\0\0tail'
    assert decode_request(encode_request({"CNI_COMMAND": "DEL"}, stdin))[1] == stdin


@pytest.mark.parametrize(
    "body",
    [b"CNI_COMMAND=ADD", b"NOTCNI=1\0\0{}", b"CNI_COMMAND\0\0{}"],
    ids=["no-separator", "foreign-variable", "no-equals"],
)
def test_framing_rejects_malformed_bodies(body: bytes) -> None:
    with pytest.raises(FramingError):
        decode_request(body)


# --------------------------------------------------------------- overlay


def test_daemon_config_overlays_the_request_but_per_call_keys_stay() -> None:
    request = {
        "cniVersion": "0.4.0",
        "name": "shim-net",
        "type": "pymultus-shim",
        "daemonSocketDir": "/run/x",
        "runtimeConfig": {"portMappings": []},
        "clusterNetwork": "from-request",
    }
    daemon = {"cniVersion": "1.0.0", "name": "daemon", "clusterNetwork": "kindnet", "cniDir": "/c"}
    merged = overlay_config(request, daemon)
    assert merged == {
        "cniVersion": "0.4.0",
        "name": "shim-net",
        "runtimeConfig": {"portMappings": []},
        "clusterNetwork": "kindnet",
        "cniDir": "/c",
    }


def test_split_daemon_config_separates_daemon_keys() -> None:
    options, rest = split_daemon_config(
        {"socketDir": "/run/p", "maxConcurrent": 3, "drainTimeoutSeconds": 1.5, "cniDir": "/c"}
    )
    assert options == DaemonOptions(socket_dir="/run/p", max_concurrent=3, drain_timeout=1.5)
    assert options.socket_path == "/run/p/pymultus.sock"
    assert rest == {"cniDir": "/c"}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("maxConcurrent", 0),
        ("maxConcurrent", 1.5),
        ("maxQueue", "8"),
        ("socketDir", 3),
        ("drainTimeoutSeconds", True),
    ],
)
def test_split_daemon_config_names_the_bad_key(key: str, value: Any) -> None:
    with pytest.raises(CNIError) as info:
        split_daemon_config({key: value}, "daemon.json")
    assert info.value.code == INVALID_CONFIG
    assert key in info.value.msg and "daemon.json" in info.value.msg


# --------------------------------------------------------------- metrics


def families(text: bytes) -> dict[str, Any]:
    """name -> {labels tuple: value} of every sample, parsed by prometheus_client."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, Any] = {}
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            key = tuple(sorted(sample.labels.items()))
            out.setdefault(sample.name, {})[key] = sample.value
    return out


def test_histogram_buckets_are_cumulative() -> None:
    metrics = Metrics()
    for value in (0.0005, 0.02, 0.5, 20.0):
        metrics.request_done("ADD", "success", value)
    buckets = families(metrics.render())["pymultus_cni_request_duration_seconds_bucket"]
    le = {dict(k)["le"]: v for k, v in buckets.items()}
    assert (le["0.001"], le["0.025"], le["0.5"], le["10.0"], le["+Inf"]) == (1, 2, 3, 3, 4)
    assert len(le) == len(BUCKETS) + 1


def test_metrics_render_counts_by_command_and_result() -> None:
    metrics = Metrics()
    metrics.request_done("ADD", "success", 0.02)
    metrics.request_done("ADD", "success", 0.03)
    metrics.request_done("DEL", "error", 0.01)
    metrics.delegate_done("ADD", 0.004)
    metrics.rejected, metrics.inflight, metrics.queued = 3, 2, 1
    text = metrics.render({"pymultus_ready": 1.0}, {("pod", "hit"): 2})
    got = families(text)
    assert got["pymultus_cni_requests_total"] == {
        (("command", "ADD"), ("result", "success")): 2,
        (("command", "DEL"), ("result", "error")): 1,
    }
    assert got["pymultus_delegate_duration_seconds_count"] == {(("command", "ADD"),): 1}
    assert got["pymultus_cache_lookups_total"] == {(("kind", "pod"), ("outcome", "hit")): 2}
    assert got["pymultus_ready"] == {(): 1}
    assert got["pymultus_requests_rejected_total"] == {(): 3}
    assert (got["pymultus_inflight_requests"], got["pymultus_queued_requests"]) == (
        {(): 2},
        {(): 1},
    )
    # The process collector's standard series, and no *_created series.
    assert got["process_resident_memory_bytes"][()] > 0
    assert "python_info" in got
    assert not [name for name in got if name.endswith("_created")]
    assert b'pymultus_cni_requests_total{command="ADD",result="success"} 2' in text


def test_label_values_are_escaped_by_the_library() -> None:
    metrics = Metrics()
    metrics.request_done('ADD"\n', "err\\or", 0.1)
    text = metrics.render()
    assert b'command="ADD\\"\\n",result="err\\\\or"' in text
    assert families(text)["pymultus_cni_requests_total"] == {
        (("command", 'ADD"\n'), ("result", "err\\or")): 1
    }


def test_each_daemon_counts_alone() -> None:
    """A private registry: two daemons in one process do not share counts."""
    first, second = Metrics(), Metrics()
    first.request_done("ADD", "success", 0.01)
    assert "pymultus_cni_requests_total" not in families(second.render())


# ---------------------------------------------------------------- caches


def pod(name: str, uid: str, rv: str = "1") -> dict[str, Any]:
    return {"metadata": {"namespace": "default", "name": name, "uid": uid, "resourceVersion": rv}}


class FakeWatchClient:
    def __init__(self, items: list[dict[str, Any]], events: list[tuple[str, dict[str, Any]]]):
        self.items = items
        self.events = events
        self.paths: list[str] = []
        self.done = threading.Event()

    def request(self, method: str, path: str) -> dict[str, Any]:
        self.paths.append(path)
        return {"metadata": {"resourceVersion": "5"}, "items": self.items}

    def watch(
        self,
        path: str,
        *,
        resource_version: str | None = None,
        timeout_seconds: int | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        yield from self.events
        self.events = []
        self.done.set()
        threading.Event().wait(0.01)


def test_watch_cache_lists_then_applies_events() -> None:
    client = FakeWatchClient(
        [pod("a", "u1")],
        [
            ("ADDED", pod("b", "u2", "6")),
            ("MODIFIED", pod("a", "u1b", "7")),
            ("DELETED", pod("b", "u2", "8")),
        ],
    )
    cache = WatchCache(client, "/api/v1/pods", {"fieldSelector": "spec.nodeName=node-1"})
    cache.start()
    try:
        assert client.done.wait(5)
        assert cache.synced.is_set()
        assert cache.get("default", "a") == pod("a", "u1b", "7")
        assert cache.get("default", "b") is None
        assert client.paths[0] == "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-1"
    finally:
        cache.stop()


def test_watch_cache_error_event_asks_for_a_relist() -> None:
    cache = WatchCache(FakeWatchClient([], []), "/p")
    assert cache.apply("ADDED", pod("a", "u1")) is True
    assert cache.apply("ERROR", {"code": 410}) is False


class FakeAPI:
    def __init__(self) -> None:
        self.gets: list[str] = []

    def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.gets.append(f"pod {name}")
        return pod(name, "from-api")

    def get_nad(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.gets.append(f"nad {name}")
        return {"metadata": {"name": name}}

    def patch_pod_status_annotations(
        self, namespace: str, name: str, annotations: dict[str, str | None]
    ) -> dict[str, Any] | None:
        return {}

    def create_event(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return {"posted": True}


def synced_cache(*objs: dict[str, Any]) -> WatchCache:
    cache = WatchCache(FakeWatchClient([], []), "/p")
    for obj in objs:
        cache.apply("ADDED", obj)
    cache.synced.set()
    return cache


@pytest.mark.parametrize(
    ("cached", "synced", "uid", "expect_get"),
    [
        (True, True, "u1", False),  # hit
        (True, True, "", False),  # no UID in CNI_ARGS: the cached pod will do
        (True, True, "other", True),  # an older pod of the same name: GET
        (False, True, "u1", True),  # not delivered by the watch yet: GET
        (True, False, "u1", True),  # cache not synced: never trusted
    ],
)
def test_cached_pod_falls_back_to_get(
    cached: bool, synced: bool, uid: str, expect_get: bool
) -> None:
    api = FakeAPI()
    cache = synced_cache(pod("a", "u1")) if cached else synced_cache()
    if not synced:
        cache.synced.clear()
    stats = CacheStats()
    kube = CachedKube(api, cache, None, stats, pod_uid=uid)
    got = kube.get_pod("default", "a")
    assert api.gets == (["pod a"] if expect_get else [])
    assert got is not None
    assert got["metadata"]["uid"] == ("from-api" if expect_get else "u1")
    assert stats.counts == {("pod", "miss" if expect_get else "hit"): 1}


def test_cached_nad_hit_and_miss_and_passthrough() -> None:
    api = FakeAPI()
    nads = synced_cache({"metadata": {"namespace": "default", "name": "m"}})
    kube = CachedKube(api, None, nads, CacheStats())
    assert kube.get_nad("default", "m") == {"metadata": {"namespace": "default", "name": "m"}}
    assert kube.get_nad("default", "other") == {"metadata": {"name": "other"}}
    assert api.gets == ["nad other"]
    assert kube.create_event("default", {}, "r", "m") == {"posted": True}


# --------------------------------------------------------------- hot-plug


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"[]", "JSON object"),
        (b"{", "not JSON"),
        (b'{"podName": "p", "op": "add", "network": "n"}', "podNamespace is required"),
        (b'{"podNamespace": "d", "podName": "p", "op": "swap"}', "op must be"),
        (b'{"podNamespace": "d", "podName": "p", "op": "add"}', "network is required"),
        (b'{"podNamespace": "d", "podName": "p", "op": "remove"}', "interface is required"),
        (b'{"podNamespace": "d", "podName": 3, "op": "remove"}', "podName must be a string"),
    ],
)
def test_hotplug_body_errors_name_the_field(body: bytes, problem: str) -> None:
    with pytest.raises(CNIError) as info:
        parse_body(body)
    assert info.value.code == INVALID_CONFIG
    assert problem in info.value.msg


def test_hotplug_default_interface_is_the_next_free_net_index() -> None:
    def d(ifname: str) -> Delegate:
        return Delegate(status_name="x", conf={}, ifname=ifname, is_default=False)

    assert next_ifname([d("eth0")]) == "net1"
    assert next_ifname([d("eth0"), d("net1"), d("net3"), d("data0")]) == "net4"


# ------------------------------------------------------------ daemon CLI


def test_daemon_config_file_errors_say_what_is_wrong(tmp_path: Any) -> None:
    from pymultus.daemon.main import load_config

    with pytest.raises(SystemExit, match="cannot read --config"):
        load_config(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(SystemExit, match="not valid JSON"):
        load_config(str(bad))
    bad.write_text("[]")
    with pytest.raises(SystemExit, match="JSON object"):
        load_config(str(bad))


def test_daemon_command_line_overrides_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    from pymultus.daemon.main import options_from, parser

    monkeypatch.setenv("NODE_NAME", "from-env")
    conf = {"socketDir": "/run/a", "nodeName": "from-file", "cniDir": "/c"}
    args = parser().parse_args(["--config", "x.json"])
    options, multus = options_from(args, conf)
    assert (options.node_name, options.socket_dir, multus) == (
        "from-file",
        "/run/a",
        {"cniDir": "/c"},
    )
    args = parser().parse_args(
        ["--config", "x.json", "--node-name", "n1", "--socket-dir", "/run/b"]
    )
    options, _ = options_from(args, conf)
    assert (options.node_name, options.socket_dir) == ("n1", "/run/b")
    options, _ = options_from(parser().parse_args(["--config", "x"]), {})
    assert options.node_name == "from-env"
