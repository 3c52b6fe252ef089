"""Where the embedded API server listens: sockets in namespaces, TLS, connections.

One server can listen in several network namespaces at once (the root
loopback for the harness and kubectl, each simulated node's loopback for the
CNI plugins running there): see :func:`~harness.backends.local.nsutil.socket_in_netns`.
A :class:`ListenerSet` owns the listening sockets, one accept thread per
socket and one thread per connection, and can cut them (pause, stop) and
reopen them on the same addresses (resume). What is spoken on a connection
is not its business: it hands each one to ``handle``.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.backends.local.nsutil import socket_in_netns


@dataclass
class Listener:
    host: str
    port: int
    netns: str | None
    sock: socket.socket | None = None
    thread: threading.Thread | None = None
    tls: ssl.SSLContext | None = None
    paused: bool = False


def server_tls_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """A server-side TLS context for :meth:`APIServer.listen`.

    The certificate and key come from :func:`harness.backends.local.pki.make_cluster_pki`
    (a per-cluster CA signs the serving certificate; no openssl command)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_file, key_file)
    return ctx


class ListenerSet:
    """The listening sockets and live connections of one server.

    ``handle(conn, addr)`` serves one connection until it closes (it runs in
    the connection's thread); ``on_cut`` is called after connections were cut
    so that long requests (watches) notice at once.
    """

    def __init__(
        self,
        handle: Callable[[socket.socket, Any], None],
        on_cut: Callable[[], None] = lambda: None,
    ) -> None:
        self._handle = handle
        self._on_cut = on_cut
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._conns: dict[socket.socket, threading.Thread] = {}
        self._conn_listener: dict[socket.socket, Listener] = {}
        self._started = False
        self._stopped = False
        self._paused = False
        self.generation = 0  # bumped by pause/stop: ends watches of the old connections

    @property
    def stopped(self) -> bool:
        return self._stopped

    def listener_of(self, conn: Any) -> Listener | None:
        """The listener a connection came in through (None once it is gone)."""
        with self._lock:
            return self._conn_listener.get(conn)

    def start(self) -> None:
        """Serve every listener (``listen`` calls this itself)."""
        with self._lock:
            if self._stopped:
                raise RuntimeError("this server was stopped; create a new one")
            self._started = True
            for lst in self._listeners:
                self.spawn_acceptor(lst)

    def listen(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        netns: str | None = None,
        *,
        tls: ssl.SSLContext | None = None,
    ) -> tuple[str, int]:
        """Listen on ``host:port`` (in the namespace file ``netns``) and serve it.

        Returns the bound address; with ``port=0`` the kernel picks the port.
        The root namespace's configuration is never modified. ``tls`` (a
        server context, see :func:`server_tls_context`) serves https: kubectl
        only sends bearer tokens over TLS.
        """
        sock = socket_in_netns(netns, host, port)
        bound_host, bound_port = sock.getsockname()[:2]
        lst = Listener(host, bound_port, netns, sock, tls=tls)
        with self._lock:
            if self._stopped:
                sock.close()
                raise RuntimeError("this server was stopped; create a new one")
            self._listeners.append(lst)
        self.start()
        return bound_host, bound_port

    @property
    def addresses(self) -> list[tuple[str, int, str | None]]:
        """(host, port, netns) of every listener."""
        with self._lock:
            return [(lst.host, lst.port, lst.netns) for lst in self._listeners]

    def url(self, index: int = 0) -> str:
        """``http(s)://host:port`` of a listener (the first by default)."""
        with self._lock:
            lst = self._listeners[index]
        host = f"[{lst.host}]" if ":" in lst.host else lst.host
        return f"{'https' if lst.tls else 'http'}://{host}:{lst.port}"

    def spawn_acceptor(self, lst: Listener) -> None:
        if lst.sock is None or (lst.thread is not None and lst.thread.is_alive()):
            return
        lst.thread = threading.Thread(
            target=self._accept_loop,
            args=(lst,),
            name=f"apiserver-accept:{lst.netns or 'root'}:{lst.port}",
            daemon=True,
        )
        lst.thread.start()

    def _accept_loop(self, lst: Listener) -> None:
        sock, tls = lst.sock, lst.tls
        if sock is None:
            return
        while True:
            try:
                conn, addr = sock.accept()
            except OSError:
                return  # shut down by pause/stop
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            thread = threading.Thread(
                target=self._serve_connection,
                args=(conn, addr, tls, lst),
                name="apiserver-conn",
                daemon=True,
            )
            with self._lock:
                if self._stopped or self._paused or lst.paused:
                    conn.close()
                    continue
                self._conns[conn] = thread
                self._conn_listener[conn] = lst
            thread.start()

    def _serve_connection(
        self, conn: socket.socket, addr: Any, tls: ssl.SSLContext | None, lst: Listener
    ) -> None:
        try:
            if tls is not None:
                raw = conn
                raw.settimeout(10.0)  # a client that never completes the handshake
                with self._lock:
                    self._conns.pop(raw, None)
                    self._conn_listener.pop(raw, None)
                    conn = tls.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
                    self._conns[conn] = threading.current_thread()
                    self._conn_listener[conn] = lst
                conn.do_handshake()
                conn.settimeout(None)
            self._handle(conn, addr)
        except (OSError, ValueError):
            pass  # client went away, or the socket was shut down by pause/stop
        finally:
            with self._lock:
                self._conns.pop(conn, None)
                self._conn_listener.pop(conn, None)
            with contextlib.suppress(OSError):
                conn.close()

    def close_sockets(self, nodes_only: bool = False) -> list[threading.Thread]:
        """Close listeners and cut connections; returns the threads to join.

        ``nodes_only``: only the listeners inside node namespaces (``netns``
        set) and their connections; the root loopback keeps serving.
        """
        threads: list[threading.Thread] = []
        with self._lock:
            self.generation += 1
            for lst in self._listeners:
                if nodes_only and lst.netns is None:
                    continue
                lst.paused = True
                if lst.sock is not None:
                    with contextlib.suppress(OSError):
                        lst.sock.shutdown(socket.SHUT_RDWR)
                    lst.sock.close()
                    lst.sock = None
                if lst.thread is not None:
                    threads.append(lst.thread)
                    lst.thread = None
            for conn, thread in list(self._conns.items()):
                owner = self._conn_listener.get(conn)
                if nodes_only and (owner is None or owner.netns is None):
                    continue
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                threads.append(thread)
        self._on_cut()  # wake watchers so they notice at once
        return threads

    def pause(self, scope: str = "all") -> None:
        """Stop answering: close the listeners (connections are refused) and cut clients.

        ``scope="nodes"`` closes only the listeners inside node namespaces: the
        plugins on the nodes lose the API while the harness and the simulated
        kubelets (on the root loopback) keep it, which is how "DEL while the
        API is down" is staged without stopping the runtime itself.
        """
        if scope not in ("all", "nodes"):
            raise ValueError(f"pause scope must be 'all' or 'nodes', not {scope!r}")
        with self._lock:
            if scope == "all":
                self._paused = True
        for t in self.close_sockets(nodes_only=scope == "nodes"):
            if t is not threading.current_thread():
                t.join(timeout=2.0)

    def resume(self) -> None:
        """Reopen the listeners on the same addresses (and namespaces) as before."""
        with self._lock:
            if self._stopped:
                raise RuntimeError("this server was stopped; create a new one")
            listeners = list(self._listeners)
        for lst in listeners:
            if lst.sock is None:
                lst.sock = socket_in_netns(lst.netns, lst.host, lst.port)
            lst.paused = False
        with self._lock:
            self._paused = False
            if self._started:
                for lst in self._listeners:
                    self.spawn_acceptor(lst)

    def stop(self) -> None:
        """Close every socket and end every thread; idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        deadline = time.monotonic() + 3.0
        for t in self.close_sockets():
            if t is not threading.current_thread():
                t.join(timeout=max(0.0, deadline - time.monotonic()))
