"""The watch history and the streams that read it.

Every write is kept (bounded) with its resourceVersion; a watch reads the
history after its starting version and filters by resource, namespace and
selectors. Once the history is compacted past a watch's version the watch
gets one ERROR event carrying a ``410 Expired`` Status, as from the real
watch cache, and the client relists (API concepts, "Efficient detection of
changes"). Bookmarks (``allowWatchBookmarks``) and the initial-events-end
bookmark of ``sendInitialEvents`` are sent as the real server sends them.
"""

from __future__ import annotations

import bisect
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from harness.backends.local.apierrors import APIError, Obj, clone
from harness.backends.local.resources import ResourceType
from harness.backends.local.selectors import FieldSelector, LabelSelector


class Entry:
    """One write, kept in the bounded watch history."""

    __slots__ = ("_json", "obj", "old", "rt", "rv", "type")

    def __init__(self, rv: int, type_: str, rt: ResourceType, obj: Obj, old: Obj | None) -> None:
        self.rv = rv
        self.type = type_
        self.rt = rt
        self.obj = obj
        self.old = old
        self._json: str | None = None

    def json(self) -> str:
        if self._json is None:
            self._json = json.dumps(self.obj, separators=(",", ":"))
        return self._json


@dataclass
class WatchEvent:
    """``{"type": ..., "object": ...}`` as sent on a watch stream."""

    type: str
    raw: Obj = field(repr=False)  # shared with the store: never mutate
    _json: str | None = field(default=None, repr=False)

    @property
    def object(self) -> Obj:
        """A private copy of the object."""
        return clone(self.raw)

    def line(self) -> bytes:
        body = self._json if self._json is not None else json.dumps(self.raw, separators=(",", ":"))
        return b'{"type":"' + self.type.encode() + b'","object":' + body.encode() + b"}\n"


@dataclass(frozen=True)
class WatchFilter:
    """What one watch wants to see."""

    rt: ResourceType
    namespace: str | None
    labels: LabelSelector
    fields: FieldSelector

    def matches(self, o: Obj) -> bool:
        meta = o["metadata"]
        return (
            (not self.namespace or meta.get("namespace") == self.namespace)
            and self.labels.matches(meta.get("labels"))
            and self.fields.matches(o)
        )


def expired_message(cursor: int, compacted: int) -> str:
    return f"too old resource version: {cursor} ({compacted + 1})"


class WatchHub:
    """The history of writes and the condition watchers wait on.

    It shares the store's lock: a write and its history entry are one step.
    """

    def __init__(self, lock: threading.RLock, history: int, bookmark_interval: float) -> None:
        self.cond = threading.Condition(lock)
        self._history: list[Entry] = []
        self._history_rvs: list[int] = []
        self._history_max = max(1, history)
        self.rv = 0  # the global resourceVersion: the store bumps it on every write
        self.compacted = 0  # events with rv <= this may have been dropped
        self.closed = False
        self.bookmark_interval = bookmark_interval

    def record(self, entry: Entry) -> None:
        """Append a write (caller holds the lock) and wake the watchers."""
        self._history.append(entry)
        self._history_rvs.append(entry.rv)
        if len(self._history) > 2 * self._history_max:
            drop = len(self._history) - self._history_max
            self.compacted = self._history_rvs[drop - 1]
            del self._history[:drop]
            del self._history_rvs[:drop]
        self.cond.notify_all()

    def compact(self, rv: int) -> None:
        """Forget the history up to ``rv`` (what etcd compaction does); for tests."""
        with self.cond:
            idx = bisect.bisect_right(self._history_rvs, rv)
            del self._history[:idx]
            del self._history_rvs[:idx]
            self.compacted = max(self.compacted, rv)
            self.cond.notify_all()

    def next_rv(self) -> int:
        """Bump the global resourceVersion (caller holds the lock)."""
        self.rv += 1
        return self.rv

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def wake(self) -> None:
        with self.cond:
            self.cond.notify_all()

    @staticmethod
    def bookmark(rt: ResourceType, rv: int, initial_end: bool = False) -> WatchEvent:
        meta: Obj = {"resourceVersion": str(rv)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return WatchEvent(
            "BOOKMARK", {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta}
        )

    def stream(
        self,
        flt: WatchFilter,
        cursor: int,
        initial: list[Obj],
        expired: str | None,
        deadline: float | None,
        initial_end_bookmark: bool,
        allow_bookmarks: bool,
        should_stop: Callable[[], bool] | None,
        poll: float,
    ) -> Iterator[WatchEvent]:
        if expired:
            yield WatchEvent("ERROR", APIError.expired(expired).status())
            return
        for obj in initial:
            yield WatchEvent("ADDED", obj)
        if initial_end_bookmark:
            yield self.bookmark(flt.rt, cursor, initial_end=True)
        last_sent = time.monotonic()
        while True:
            batch: list[Entry] = []
            bookmark = False
            with self.cond:
                while True:
                    if self.closed:
                        return
                    if cursor < self.compacted:
                        expired = expired_message(cursor, self.compacted)
                        break
                    idx = bisect.bisect_right(self._history_rvs, cursor)
                    if idx < len(self._history):
                        batch = self._history[idx:]
                        cursor = batch[-1].rv
                        break
                    now = time.monotonic()
                    if deadline is not None and now >= deadline:
                        return
                    if should_stop is not None and should_stop():
                        return
                    if allow_bookmarks and now - last_sent >= self.bookmark_interval:
                        cursor = max(cursor, self.rv)
                        bookmark = True
                        break
                    wait = poll if deadline is None else min(poll, deadline - now)
                    self.cond.wait(max(wait, 0.0))
            if expired:
                yield WatchEvent("ERROR", APIError.expired(expired).status())
                return
            if bookmark:
                last_sent = time.monotonic()
                yield self.bookmark(flt.rt, cursor)
                continue
            for entry in batch:
                type_ = _event_type(flt, entry)
                if type_ is None:
                    continue
                last_sent = time.monotonic()
                yield WatchEvent(type_, entry.obj, entry.json())
            if deadline is not None and time.monotonic() >= deadline:
                return


def _event_type(flt: WatchFilter, entry: Entry) -> str | None:
    """What a filtered watch sees of one write: a change of match is ADDED/DELETED."""
    if entry.rt != flt.rt:
        return None
    new_match = flt.matches(entry.obj)
    if entry.type == "MODIFIED":
        old_match = entry.old is not None and flt.matches(entry.old)
        if new_match and old_match:
            return "MODIFIED"
        if new_match:
            return "ADDED"
        if old_match:
            return "DELETED"
        return None
    return entry.type if new_match else None
