"""Idle keep-alive connections of one API client, a connection per caller.

The thick daemon runs CNI calls on several worker threads that share one
:class:`pymultus.kube.client.KubeClient`. Each request takes a connection
of its own from here and gives it back when its answer has been read, so
one worker's slow request, retries or back-off sleeps never hold up another
(issue 16: one lock held across retries and sleeps serialised them). The
lock guards only the list of idle connections: no network I/O, retry or
sleep ever happens under it.

Idle connections are reused newest first (the one most likely still open);
at most ``max_idle`` are kept, the rest closed. A thin CNI call makes its
requests one after another and so uses a single connection, as before.
``_thread`` is built into the interpreter: importing it costs nothing,
unlike ``threading`` (kept off the CNI entry path).
"""

from __future__ import annotations

import _thread

from pymultus.kube.transport import Connection

TYPE_CHECKING = False  # importing typing costs ~2 ms per CNI call: mypy reads this as True
if TYPE_CHECKING:
    from collections.abc import Callable


class ConnectionPool:
    """Hands out a connection per request; keeps up to ``max_idle`` for reuse."""

    def __init__(self, factory: Callable[[], Connection], max_idle: int = 8) -> None:
        self._factory = factory
        self.max_idle = max_idle
        self._idle: list[Connection] = []
        self._lock = _thread.allocate_lock()
        self.opened = 0  # connections made so far (for tests and metrics)

    def take(self) -> Connection:
        """An idle connection, or a new (not yet connected) one."""
        with self._lock:
            if self._idle:
                return self._idle.pop()
            self.opened += 1
        return self._factory()

    def give(self, conn: Connection) -> None:
        """Back after a complete answer; a closed connection or one too many is dropped."""
        if conn.sock is not None:
            with self._lock:
                if len(self._idle) < self.max_idle:
                    self._idle.append(conn)
                    return
        conn.close()

    def idle(self) -> list[Connection]:
        """The idle connections, newest last (a copy)."""
        with self._lock:
            return list(self._idle)

    def close(self) -> None:
        """Close the idle connections; those in use are closed or kept when given back."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
