"""Watch caches of the node's pods and of NetworkAttachmentDefinitions.

An ADD in thin mode costs at least two API round trips (the pod, each NAD)
before any delegate runs. The daemon keeps both collections in memory from
a list + watch (what client-go's informers do), so an ADD for a pod the
cache has seen needs no GET at all. The cache is an optimisation, never an
authority: a miss (the watch has not delivered a just-created pod or NAD
yet), a pod whose UID differs from the runtime's, or a cache that is not
synced all fall back to a GET, so a lagging watch can delay nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from pymultus.cni.errors import CNIError
from pymultus.daemon.eventwriter import EventWriter
from pymultus.seams import KubeAPI


class WatchClient(Protocol):
    """What a cache needs from the API client (KubeClient, or a fake)."""

    def request(self, method: str, path: str) -> dict[str, Any]: ...

    def watch(
        self,
        path: str,
        *,
        resource_version: str | None = None,
        timeout_seconds: int | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Any: ...


def object_key(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace", "")), str(meta.get("name", ""))


def _query(params: Mapping[str, str]) -> str:
    from urllib.parse import quote

    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params.items())


class WatchCache:
    """One collection kept current by list + watch, re-listing when the watch ends badly."""

    def __init__(
        self,
        client: WatchClient,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        on_error: Callable[[str], None] = lambda message: None,
        watch_timeout: int = 300,
        retry_delay: float = 1.0,
    ) -> None:
        self.client = client
        self.path = path
        self.params = dict(params or {})
        self.on_error = on_error
        self.watch_timeout = watch_timeout
        self.retry_delay = retry_delay
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.synced = threading.Event()
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self.run, name=f"watch {self.path}", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        # The watch thread is a daemon thread blocked in a read: it notices at
        # its next event or timeout; nothing waits for it.
        self.stopping.set()

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            return self.items.get((namespace, name))

    def __len__(self) -> int:
        with self.lock:
            return len(self.items)

    def relist(self) -> str:
        """Replace the contents with a fresh list; returns its resourceVersion."""
        suffix = f"?{_query(self.params)}" if self.params else ""
        listing = self.client.request("GET", self.path + suffix)
        items = {object_key(o): o for o in listing.get("items") or [] if isinstance(o, dict)}
        with self.lock:
            self.items = items
        self.synced.set()
        return str((listing.get("metadata") or {}).get("resourceVersion") or "")

    def apply(self, kind: str, obj: dict[str, Any]) -> bool:
        """Apply one watch event; False when the watch must restart from a re-list."""
        if kind == "ERROR":
            return False
        if kind in ("ADDED", "MODIFIED"):
            with self.lock:
                self.items[object_key(obj)] = obj
        elif kind == "DELETED":
            with self.lock:
                self.items.pop(object_key(obj), None)
        return True

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                rv = self.relist()
                while not self.stopping.is_set():
                    for kind, obj in self.client.watch(
                        self.path,
                        resource_version=rv or None,
                        timeout_seconds=self.watch_timeout,
                        params=self.params,
                    ):
                        if not self.apply(kind, obj):
                            raise _Relist
                        rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
                        if self.stopping.is_set():
                            return
            except _Relist:
                continue
            except CNIError as exc:
                self.on_error(f"watch {self.path}: {exc}; retrying")
            except Exception as exc:  # never let the cache thread die silently
                self.on_error(f"watch {self.path}: {type(exc).__name__}: {exc}; retrying")
            self.stopping.wait(self.retry_delay)


class _Relist(Exception):
    pass


class CacheStats:
    """Hit/miss counters, read by /metrics."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: dict[tuple[str, str], int] = {}

    def count(self, kind: str, outcome: str) -> None:
        with self.lock:
            self.counts[(kind, outcome)] = self.counts.get((kind, outcome), 0) + 1


class CachedKube:
    """The engine's :class:`KubeAPI` for one request, answered from the caches when possible.

    ``pod_uid`` is the UID the runtime named in CNI_ARGS: a cached pod with
    another UID is an older pod of the same name, so it is fetched again.
    ``events``: the daemon's :class:`pymultus.daemon.eventwriter.EventWriter`,
    whose ``create_event`` queues the engine's events to be posted after
    the answer; without it they pass through to the API client.
    """

    def __init__(
        self,
        api: KubeAPI,
        pods: WatchCache | None,
        nads: WatchCache | None,
        stats: CacheStats,
        pod_uid: str = "",
        events: EventWriter | None = None,
    ) -> None:
        self.api = api
        self.pods = pods
        self.nads = nads
        self.stats = stats
        self.pod_uid = pod_uid
        if events is not None:
            self.create_event = events.create_event

    def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        if self.pods is not None and self.pods.synced.is_set():
            pod = self.pods.get(namespace, name)
            uid = str(((pod or {}).get("metadata") or {}).get("uid", ""))
            if pod is not None and (not self.pod_uid or uid == self.pod_uid):
                self.stats.count("pod", "hit")
                return pod
        self.stats.count("pod", "miss")
        return self.api.get_pod(namespace, name)

    def get_nad(self, namespace: str, name: str) -> dict[str, Any] | None:
        if self.nads is not None and self.nads.synced.is_set():
            nad = self.nads.get(namespace, name)
            if nad is not None:
                self.stats.count("nad", "hit")
                return nad
        self.stats.count("nad", "miss")
        return self.api.get_nad(namespace, name)

    def patch_pod_status_annotations(
        self, namespace: str, name: str, annotations: dict[str, str | None]
    ) -> dict[str, Any] | None:
        return self.api.patch_pod_status_annotations(namespace, name, annotations)

    def __getattr__(self, name: str) -> Any:
        # Optional API capabilities the engine looks up (e.g. create_event)
        # pass through; absent ones stay absent.
        return getattr(self.api, name)
