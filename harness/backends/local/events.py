"""Events recorded as client-go's recorder records them (the kubelet's, here).

client-go's EventCorrelator: an event identical to a recent one (same
source, object, type, reason and message) is not a new Event but the old
one with ``count`` + 1 and a new ``lastTimestamp`` (and ``series``); a
per-object token bucket (burst 25, one token per 5 minutes) drops the rest
of an event storm, so a pod failing in a loop cannot flood the API.
:func:`correlate` is the pure decision; :class:`EventRecorder` does the I/O.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

AGGREGATE_WINDOW = 600.0  # seconds an identical event keeps being counted on the old one
SIMILAR_MAX = 10  # distinct messages of one reason before they are combined
COMBINED = "(combined from similar events): "
SPAM_BURST = 25
SPAM_REFILL = 300.0  # seconds per token


class _API(Protocol):
    """What the recorder needs of a client (apiclient.ClusterClient has it)."""

    def create_event(self, namespace: str, event: dict[str, Any]) -> str: ...

    def patch_event(self, namespace: str, name: str, patch: dict[str, Any]) -> None: ...


def rfc3339(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


@dataclass
class _Seen:
    name: str
    count: int
    first: float
    last: float


@dataclass
class _Bucket:
    tokens: float = SPAM_BURST
    at: float = 0.0


@dataclass
class Correlator:
    """The recorder's memory: recent events by key, spam buckets by object."""

    seen: dict[tuple[str, ...], _Seen] = field(default_factory=dict)
    buckets: dict[tuple[str, ...], _Bucket] = field(default_factory=dict)
    similar: dict[tuple[str, ...], tuple[float, set[str]]] = field(default_factory=dict)

    def aggregate(self, similar_key: tuple[str, ...], message: str, now: float) -> str | None:
        """client-go's EventAggregator: past :data:`SIMILAR_MAX` distinct messages of
        one reason in the window, the message to record instead (combined)."""
        first, messages = self.similar.get(similar_key, (now, set()))
        if now - first > AGGREGATE_WINDOW:
            first, messages = now, set()
        messages.add(message)
        self.similar[similar_key] = (first, messages)
        return COMBINED + message if len(messages) > SIMILAR_MAX else None

    def allow(self, obj_key: tuple[str, ...], now: float) -> bool:
        """The spam filter: False drops the event."""
        b = self.buckets.setdefault(obj_key, _Bucket(at=now))
        b.tokens = min(SPAM_BURST, b.tokens + (now - b.at) / SPAM_REFILL)
        b.at = now
        if b.tokens < 1:
            return False
        b.tokens -= 1
        return True


def correlate(c: Correlator, key: tuple[str, ...], now: float) -> _Seen | None:
    """The earlier event this one is counted on (count bumped), or None: a new event."""
    prior = c.seen.get(key)
    if prior is None or now - prior.last > AGGREGATE_WINDOW:
        return None
    prior.count += 1
    prior.last = now
    return prior


class EventRecorder:
    """Writes Events for one component on one host, correlated and rate-limited."""

    def __init__(
        self,
        api: _API,
        component: str,
        host: str,
        *,
        clock: Callable[[], float] = time.time,
        on_error: Callable[[str], None] = lambda _msg: None,
    ) -> None:
        self.api = api
        self.component = component
        self.host = host
        self.clock = clock
        self.on_error = on_error
        self.state = Correlator()
        self.lock = threading.Lock()

    def record(
        self, obj: dict[str, Any], type_: str, reason: str, message: str, field_path: str = ""
    ) -> None:
        meta = obj["metadata"]
        ns = str(meta.get("namespace") or "default")
        involved = {
            "kind": obj.get("kind") or "Pod",
            "namespace": ns,
            "name": meta["name"],
            "uid": meta.get("uid", ""),
            "apiVersion": obj.get("apiVersion") or "v1",
        }
        if field_path:
            involved["fieldPath"] = field_path
        obj_key = (involved["kind"], ns, involved["name"], str(involved["uid"]))
        similar_key = (*obj_key, field_path, type_, reason)
        key = (*similar_key, message)
        now = self.clock()
        with self.lock:
            if not self.state.allow(obj_key, now):
                return
            combined = self.state.aggregate(similar_key, message, now)
            if combined is not None:  # counted on one event whose message is the latest
                message, key = combined, (*similar_key, COMBINED)
            prior = correlate(self.state, key, now)
            if prior is None:
                self.state.seen[key] = _Seen("", 1, now, now)
            else:
                count, name, first = prior.count, prior.name, prior.first
        try:
            if prior is None:
                body = {
                    "apiVersion": "v1",
                    "kind": "Event",
                    "metadata": {"generateName": f"{meta['name']}.", "namespace": ns},
                    "involvedObject": involved,
                    "reason": reason,
                    "message": message,
                    "type": type_,
                    "source": {"component": self.component, "host": self.host},
                    "firstTimestamp": rfc3339(now),
                    "lastTimestamp": rfc3339(now),
                    "count": 1,
                    "reportingComponent": self.component,
                    "reportingInstance": self.host,
                }
                made = self.api.create_event(ns, body)
                with self.lock:
                    self.state.seen[key].name = made
                return
            if not name:
                return  # the first write has not answered yet: counted on the next
            patch = {
                "message": message,
                "count": count,
                "lastTimestamp": rfc3339(now),
                "firstTimestamp": rfc3339(first),
                "series": {
                    "count": count,
                    "lastObservedTime": rfc3339(now).replace("Z", ".000000Z"),
                },
            }
            self.api.patch_event(ns, name, patch)
        except Exception as exc:
            self.on_error(f"event: {exc}")

    def killing(self, pod: dict[str, Any]) -> None:
        """The kubelet's "Killing" events when it stops a deleted pod's containers."""
        for c in (pod.get("spec") or {}).get("containers") or []:
            name = c.get("name", "")
            self.record(
                pod, "Normal", "Killing", f"Stopping container {name}", f"spec.containers{{{name}}}"
            )
