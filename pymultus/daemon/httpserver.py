"""The daemon's HTTP/1.0 server on a unix socket, bounded in every resource.

Issue 15, item 6: the first server (``socketserver`` with a thread per
connection) read whole request bodies before admission, had no read
timeout, a listen backlog of 5, and checked the peer's user inside the
accept loop with a blocking 1 s read. Hostile or merely slow clients could
grow the daemon to hundreds of MiB, hold hundreds of threads and refuse
legitimate connections. Here:

- one asyncio loop (one thread) owns every connection; a slow or silent
  client costs a coroutine, never a thread, and is dropped after
  :attr:`Limits.header_timeout` (request head) or
  :attr:`Limits.body_timeout` (body);
- at most :attr:`Limits.max_connections` are open; the listen backlog is
  :attr:`Limits.backlog`;
- a body is read only after its request is admitted: its Content-Length is
  within :attr:`Limits.max_body`, the application has room for one more call
  (:meth:`App.refuse`), and the bodies being received by all connections
  together stay within :attr:`Limits.body_budget` bytes; anything else is
  answered at once (413, or 503 with CNI code 11: try again later);
- handlers (which run CNI plugins) run on at most :attr:`Limits.workers`
  threads; ``GET`` endpoints are answered on the loop, so ``/healthz``
  stays fast while every worker is busy;
- a peer of another user (SO_PEERCRED) gets 403 from its own coroutine: the
  accept loop never waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pymultus.cni.limits import MAX_CONFIG_BYTES

#: Reply: (HTTP status, body, content type).
Reply = tuple[int, bytes, str]

REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    411: "Length Required",
    413: "Payload Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass(frozen=True)
class Limits:
    """The server's bounds (defaults sized for one node's runtime and probes)."""

    max_connections: int = 1024
    backlog: int = 1024
    header_timeout: float = 5.0
    body_timeout: float = 30.0
    max_header_bytes: int = 16 << 10
    # A framed CNI call: the CNI_* environment plus a config of at most
    # MAX_CONFIG_BYTES (the thin plugin's stdin bound).
    max_body: int = MAX_CONFIG_BYTES + (256 << 10)
    body_budget: int = 16 << 20
    workers: int = 16


class App(Protocol):
    """What the server asks the daemon."""

    def get(self, path: str) -> Reply: ...

    def post_paths(self) -> tuple[str, ...]: ...

    def refuse(self) -> str | None:
        """Why no further call can be admitted now (queue full, draining), or None."""
        ...

    def busy_reply(self, why: str) -> Reply: ...

    def post(self, path: str, body: bytes) -> Reply: ...


#: After bodies this large are released, give freed heap pages back (malloc_trim).
TRIM_AFTER = 256 << 10


def trim_memory() -> None:
    """Return free heap memory to the system (glibc ``malloc_trim``), if available.

    Bodies arrive in many chunks; the allocator keeps the pages they used,
    so without this the daemon would stay at its peak after a burst.
    """
    global _malloc_trim
    if _malloc_trim is None:
        import ctypes
        import ctypes.util

        try:
            _malloc_trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim: Any = None


def peer_uid(sock: Any) -> int | None:
    """The user id of the process at the other end of a unix socket (SO_PEERCRED)."""
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
    except OSError:
        return None
    return int.from_bytes(raw[4:8], sys.byteorder)  # struct ucred {pid, uid, gid}


def encode_reply(status: int, body: bytes, content_type: str) -> bytes:
    head = (
        f"HTTP/1.0 {status} {REASONS.get(status, 'Unknown')}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


class RequestError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    """(method, path, lower-cased headers) of an HTTP/1.x request head."""
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError as exc:  # pragma: no cover - latin-1 decodes anything
        raise RequestError(400, "request head is not text") from exc
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise RequestError(400, "malformed request line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise RequestError(400, "malformed header line")
        headers[name.strip().lower()] = value.strip()
    return parts[0], parts[1], headers


class Workers:
    """At most ``count`` daemon threads running blocking handlers, started on demand."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.lock = threading.Lock()
        self.jobs: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[Any], Callable[[], Any]]]
        self.jobs = []
        self.ready = threading.Condition(self.lock)
        self.threads = 0
        self.idle = 0
        self.closed = False

    def submit(self, loop: asyncio.AbstractEventLoop, fn: Callable[[], Any]) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = loop.create_future()
        with self.lock:
            self.jobs.append((loop, future, fn))
            if self.idle == 0 and self.threads < self.count:
                self.threads += 1
                threading.Thread(target=self._run, daemon=True, name="pymultus-worker").start()
            else:
                self.ready.notify()
        return future

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.ready.notify_all()

    def _run(self) -> None:
        while True:
            with self.lock:
                while not self.jobs and not self.closed:
                    self.idle += 1
                    self.ready.wait()
                    self.idle -= 1
                if self.closed and not self.jobs:
                    self.threads -= 1
                    return
                loop, future, fn = self.jobs.pop(0)
            try:
                result, error = fn(), None
            except BaseException as exc:  # handed to the waiting coroutine
                result, error = None, exc
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits
                loop.call_soon_threadsafe(_settle, future, result, error)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class UnixHTTPServer:
    """Serve ``app`` on the unix socket ``path`` (created 0600) until :meth:`stop`."""

    def __init__(
        self, path: str, app: App, limits: Limits, on_error: Callable[[str], None]
    ) -> None:
        self.path = path
        self.app = app
        self.limits = limits
        self.on_error = on_error
        self.workers = Workers(limits.workers)
        # Optional on the app: told on the loop after each answer is sent and closed
        # (the daemon then lets its event writer post what the call queued).
        self.replied: Callable[[], None] | None = getattr(app, "replied", None)
        self.open = 0
        self.pending = 0  # POST handlers submitted and not finished
        self.receiving = 0  # bytes of admitted bodies held by connections
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # the socket is born 0600: no window where others can connect
        try:
            self.sock.bind(path)
        except BaseException:
            self.sock.close()
            raise
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        self.sock.listen(limits.backlog)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self.started = threading.Event()
        self.stopping: asyncio.Event | None = None

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.thread = threading.Thread(target=self._main, daemon=True, name="pymultus-http")
        self.thread.start()
        self.started.wait(10)

    def stop(self) -> None:
        loop, stopping = self.loop, self.stopping
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)
        if self.thread is not None:
            self.thread.join(10)
        self.workers.close()
        with contextlib.suppress(OSError):
            self.sock.close()

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self.loop = loop
        try:
            loop.run_until_complete(self._serve())
        finally:
            loop.close()

    async def _serve(self) -> None:
        self.stopping = asyncio.Event()
        server = await asyncio.start_unix_server(
            self._connection,
            sock=self.sock,
            backlog=self.limits.backlog,
            limit=self.limits.max_header_bytes,
        )
        self.started.set()
        async with server:
            await self.stopping.wait()
            server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # ----------------------------------------------------------- connections
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.open >= self.limits.max_connections:
            writer.write(encode_reply(503, b"too many connections\n", "text/plain"))
            await self._close(writer)
            return
        self.open += 1
        try:
            reply = await self._answer(reader, writer)
            if reply is not None:
                writer.write(encode_reply(*reply))
                await asyncio.wait_for(writer.drain(), self.limits.body_timeout)
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            pass  # the client went away or was too slow: nothing to answer
        except Exception as exc:  # a bug: log it, keep serving everyone else
            self.on_error(f"http: {type(exc).__name__}: {exc}")
        finally:
            self.open -= 1
            await self._close(writer)
            if self.replied is not None:
                try:
                    self.replied()
                except Exception as exc:  # a bug there must not stop the loop
                    self.on_error(f"http: after the reply: {type(exc).__name__}: {exc}")

    async def _close(self, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            writer.close()
            await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _answer(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Reply | None:
        if peer_uid(writer.get_extra_info("socket")) != os.getuid():
            # A CNI request runs plugins as root, so it must come from root.
            # Read what the peer sent first: closing with unread data would
            # reset the connection before it could read why it was refused.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(reader.read(65536), 1.0)
            return 403, b"requests from other users are refused\n", "text/plain"
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.limits.header_timeout)
        except asyncio.LimitOverrunError:
            return 431, b"request head too large\n", "text/plain"
        except TimeoutError:
            return None  # slowloris: drop it
        try:
            method, path, headers = parse_head(head)
            if method == "GET":
                return self.app.get(path)
            if method != "POST":
                raise RequestError(400, f"method {method} is not supported")
            if path not in self.app.post_paths():
                raise RequestError(404, f"not found: POST {' '.join(self.app.post_paths())}")
            length = content_length(headers, self.limits.max_body)
        except RequestError as exc:
            return exc.status, f"{exc}\n".encode(), "text/plain"
        # Admission before the body is read (issue 15, item 6).
        why = self.app.refuse()
        if why is None and self.pending >= self.limits.workers:
            why = f"{self.pending} calls already accepted ({self.limits.workers} workers)"
        if why is None and self.receiving + length > self.limits.body_budget:
            why = (
                f"{self.receiving} bytes of request bodies being received "
                f"(limit {self.limits.body_budget})"
            )
        if why is not None:
            return self.app.busy_reply(why)
        self.receiving += length
        self.pending += 1
        try:
            try:
                body = await asyncio.wait_for(read_body(reader, length), self.limits.body_timeout)
            except TimeoutError:
                return None
            loop = asyncio.get_running_loop()
            reply: Reply = await self.workers.submit(loop, lambda: self.app.post(path, body))
            return reply
        finally:
            self.receiving -= length
            self.pending -= 1
            if length >= TRIM_AFTER and self.receiving == 0:
                trim_memory()


async def read_body(reader: asyncio.StreamReader, length: int) -> bytes:
    """Exactly ``length`` bytes, copied chunk by chunk into one buffer of that size.

    ``readexactly`` would grow the reader's buffer step by step to the whole
    body and then copy it: twice the memory, in blocks the allocator keeps
    after they are freed. One block of the final size (mmapped when large)
    goes back to the system as soon as the call is done.
    """
    buffer = bytearray(length)
    view = memoryview(buffer)
    try:
        done = 0
        while done < length:
            chunk = await reader.read(min(length - done, 1 << 16))
            if not chunk:
                raise asyncio.IncompleteReadError(b"", length)
            view[done : done + len(chunk)] = chunk
            done += len(chunk)
        view.release()
        return bytes(buffer)
    finally:
        # A client that goes away or times out leaves this frame in a
        # reference cycle (exception -> traceback -> frame, as asyncio's
        # wait_for makes them): drop the buffer now, not at the next gc.
        view.release()
        del buffer


def content_length(headers: dict[str, str], limit: int) -> int:
    if "transfer-encoding" in headers:
        raise RequestError(411, "Content-Length required (no chunked bodies)")
    try:
        length = int(headers.get("content-length", "-1"))
    except ValueError:
        length = -1
    if length < 0:
        raise RequestError(411, "Content-Length required")
    if length > limit:
        raise RequestError(413, f"request body of {length} bytes exceeds the {limit} byte limit")
    return length
