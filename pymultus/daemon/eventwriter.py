"""The daemon's Kubernetes events, posted after the CNI answer (issue 16).

An ADD with k extra networks posts k + 1 AddedInterface events. Posted in
the call, each is an API round trip the runtime waits for (the profile in
benchmarks/README.md: ~1.3 ms of wall time each at k=2, on top of the
network-status PATCH, which stays in the call: a pod's status must be
written when ADD returns). Events inform people; nothing waits for them, and
Multus's daemon too posts them in the background (client-go's event
broadcaster). So the daemon's engine hands them to this writer, which posts
them from one thread, in order, while the answer goes back to the shim.

What it promises, and how:

- never lost: every event handed over is posted (with the client's own
  retries) or its failure is logged as before. When ``max_pending`` are
  already waiting (the API is down or slow), the caller posts its event
  itself: back-pressure, not a dropped event or unbounded memory;
- after the answer, not alongside it: an event is held until the daemon's
  HTTP server has sent a reply (:meth:`EventWriter.release`, called once a
  reply is out) or for at most ``hold_for`` seconds. Posted the moment it
  is queued, the writer would compete with the server's loop thread for the
  interpreter lock while that thread writes the very answer being hurried
  (measured: +0.5 ms on the reply);
- no work left behind: a DEL answers only once the pod's earlier events
  are posted (:meth:`EventWriter.wait_for`, bounded; waited for after the
  delegates' DEL, so normally not at all), so a pod's events never outlive
  its deletion; ``stop()`` (SIGTERM) posts what
  is queued, bounded by the drain timeout, before the daemon exits.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from pymultus.cni.errors import CNIError

Key = tuple[str, str]  # the involved object's (namespace, name)


class _Event:
    __slots__ = ("args", "due", "key", "kwargs", "released")

    def __init__(self, key: Key, args: tuple[Any, ...], kwargs: dict[str, Any], due: float) -> None:
        self.key = key
        self.args = args
        self.kwargs = kwargs
        self.due = due  # posted by then even if no reply released it
        self.released = False


class EventWriter:
    """Posts events with ``create`` (``KubeClient.create_event``) from one thread, in order."""

    def __init__(
        self,
        create: Callable[..., object],
        on_error: Callable[[str], None],
        max_pending: int = 1000,
        hold_for: float = 0.2,
    ) -> None:
        self._create = create
        self._on_error = on_error
        self.max_pending = max_pending
        self.hold_for = hold_for
        self._cond = threading.Condition()
        self._queue: deque[_Event] = deque()
        self._pending: dict[Key, int] = {}  # queued or being posted, per object
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.posted = 0  # counters for tests and /metrics
        self.failed = 0
        self.inline = 0  # posted by the caller: the queue was full or stopping

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="event writer", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------- producers
    def create_event(
        self,
        namespace: str,
        involved: Mapping[str, Any],
        reason: str,
        message: str,
        type: str = "Normal",
    ) -> None:
        """Queue one event (the signature of ``KubeClient.create_event``); returns at once."""
        meta = involved.get("metadata")
        name = meta.get("name", "") if isinstance(meta, Mapping) else involved.get("name", "")
        event = _Event(
            (namespace, str(name or "")),
            (namespace, involved, reason, message),
            {"type": type},
            time.monotonic() + self.hold_for,
        )
        with self._cond:
            queued = (
                not self._stopping
                and self._thread is not None
                and len(self._queue) < self.max_pending
            )
            if queued:
                self._queue.append(event)
                self._pending[event.key] = self._pending.get(event.key, 0) + 1
                self._cond.notify_all()
        if not queued:
            with self._cond:
                self.inline += 1
            self._post(event)

    def release(self) -> None:
        """A reply went out: what is queued may be posted now (cheap: the loop calls it)."""
        with self._cond:
            for event in self._queue:
                event.released = True
            self._cond.notify_all()

    # ------------------------------------------------------------- waiting
    def wait_for(self, namespace: str, name: str, timeout: float) -> bool:
        """Until the events about ``namespace/name`` handed over so far are posted."""
        self.release()
        with self._cond:
            return self._cond.wait_for(lambda: (namespace, name) not in self._pending, timeout)

    def flush(self, timeout: float) -> bool:
        """Until every event handed over so far is posted; False on timeout."""
        self.release()
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending, timeout)

    def stop(self, timeout: float) -> None:
        """Post what is queued (bounded by ``timeout``), then end the thread."""
        if not self.flush(timeout):
            with self._cond:
                left = len(self._queue)
            self._on_error(f"stopping with {left} event(s) not posted after {timeout:.0f}s")
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(1.0)

    # ------------------------------------------------------------- the thread
    def _next(self) -> _Event | None:
        """The next event to post, once released or due; None when stopping with none left."""
        with self._cond:
            while True:
                if self._queue:
                    head = self._queue[0]
                    wait = head.due - time.monotonic()
                    if head.released or self._stopping or wait <= 0:
                        return self._queue.popleft()
                    self._cond.wait(wait)
                elif self._stopping:
                    return None
                else:
                    self._cond.wait()

    def _run(self) -> None:
        while True:
            event = self._next()
            if event is None:
                return
            try:
                self._post(event)
            finally:
                with self._cond:
                    left = self._pending.get(event.key, 1) - 1
                    if left:
                        self._pending[event.key] = left
                    else:
                        self._pending.pop(event.key, None)
                    self._cond.notify_all()

    def _post(self, event: _Event) -> None:
        namespace, name = event.key
        reason = event.args[2]
        problem = ""
        try:
            self._create(*event.args, **event.kwargs)
        except CNIError as exc:  # what Publishing.emit logs for a synchronous post
            problem = str(exc)
        except Exception as exc:  # never let the writer thread die
            problem = f"{type(exc).__name__}: {exc}"
        with self._cond:
            if problem:
                self.failed += 1
            else:
                self.posted += 1
        if problem:
            self._on_error(f"cannot post event {reason} for {namespace}/{name}: {problem}")
