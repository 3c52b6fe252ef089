"""Network-namespace helpers for the local backend: setns(2) through ctypes.

Python 3.11 has no ``os.setns``, so we call libc directly. A network namespace
is a property of a *thread* (``setns(fd, CLONE_NEWNET)`` changes only the
calling thread), and a socket belongs for its whole life to the namespace it was
created in. So one server process can listen on the loopback of many simulated
nodes at once: a short-lived helper thread enters a node's namespace, creates
and binds the listening socket, and exits. The calling thread, and the root
namespace's configuration, are never touched.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

CLONE_NEWNET = 0x40000000

_libc: ctypes.CDLL | None = None


def _setns(fd: int, nstype: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    if _libc.setns(fd, nstype) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns(CLONE_NEWNET) failed: {os.strerror(err)}")


@contextmanager
def enter_netns(path: str) -> Iterator[None]:
    """Run the body with the *current thread* inside the network namespace ``path``.

    The thread's original namespace is restored on exit, even on error. Prefer
    :func:`socket_in_netns` (or a throwaway thread) over calling this on a
    long-lived thread: if restoring ever failed the thread would be left in the
    wrong namespace, so that case raises ``RuntimeError`` loudly.
    """
    try:
        target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot open network namespace {path!r}: {exc.strerror}") from exc
    try:
        original = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(target, CLONE_NEWNET)
            try:
                yield
            finally:
                try:
                    _setns(original, CLONE_NEWNET)
                except OSError as exc:  # pragma: no cover - would need a kernel fault
                    raise RuntimeError(
                        f"could not return thread {threading.get_ident()} to its "
                        f"original network namespace after entering {path!r}: {exc}"
                    ) from exc
        finally:
            os.close(original)
    finally:
        os.close(target)


def _bind_listener(host: str, port: int, backlog: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def socket_in_netns(path: str | None, host: str, port: int, *, backlog: int = 128) -> socket.socket:
    """A TCP socket listening on ``host:port`` inside the namespace file ``path``.

    ``path=None`` means the caller's own namespace. Otherwise the socket is
    created by a helper thread that enters the namespace, binds, listens and
    exits; the socket keeps belonging to that namespace (setns(2): the netns
    of a socket is fixed at creation).
    """
    if path is None:
        return _bind_listener(host, port, backlog)
    if not os.path.exists(path):
        raise FileNotFoundError(
            errno.ENOENT, f"network namespace file {path!r} does not exist (ip netns add?)"
        )
    made: list[socket.socket] = []
    failed: list[BaseException] = []

    def work() -> None:
        try:
            with enter_netns(path):
                made.append(_bind_listener(host, port, backlog))
        except BaseException as exc:
            failed.append(exc)

    helper = threading.Thread(target=work, name=f"netns-bind:{path}", daemon=True)
    helper.start()
    helper.join()
    if failed:
        raise failed[0]
    return made[0]


def connect_in_netns(
    path: str | None, host: str, port: int, *, timeout: float = 5.0
) -> socket.socket:
    """A TCP connection to ``host:port`` made inside the namespace file ``path``.

    As for listeners, a throwaway thread enters the namespace and connects; the
    socket stays in that namespace (a pod's loopback, a node's streaming
    server). The socket is returned blocking (no timeout)."""
    if path is None:
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.settimeout(None)
        return sock
    made: list[socket.socket] = []
    failed: list[OSError] = []

    def work() -> None:
        try:
            with enter_netns(path):
                made.append(socket.create_connection((host, port), timeout=timeout))
        except OSError as exc:
            failed.append(exc)

    helper = threading.Thread(target=work, name=f"netns-connect:{path}", daemon=True)
    helper.start()
    helper.join()
    if failed:
        raise failed[0]
    made[0].settimeout(None)
    return made[0]
