"""One HTTP/1.1 connection of the embedded API server: read, authorise, dispatch, log.

The handler reads a request, answers health probes, applies the server's
test faults and bearer-token check, then dispatches to the routes of
:mod:`harness.backends.local.routes` (path routes first, then resource
URLs). Every failure is a ``Status``; a bug in a handler is a 500 Status and
the server keeps serving. Every request, answered or not, is logged in the
server's request log.
"""

from __future__ import annotations

import logging
import ssl
import time
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs, urlsplit

from harness.backends.local import resourceapi
from harness.backends.local.apierrors import APIError, status_object
from harness.backends.local.routes import Call, Done, json_bytes, method_not_allowed, not_found

if TYPE_CHECKING:
    from harness.backends.local.apiserver import APIServer

log = logging.getLogger("harness.backends.local.apiserver")

_HEALTH_PATHS = ("/healthz", "/readyz", "/livez")
#: A client that went away while we answered: not a server bug, nothing to log.
#: Over https the same hang-up can surface as an EOF in the TLS layer (a CNI
#: plugin killed or timing out mid-answer; seen with Multus in the benchmarks).
CLIENT_GONE = (BrokenPipeError, ConnectionResetError, ssl.SSLEOFError)
_UNAUTHENTICATED = ("/version",)


@dataclass(frozen=True)
class RequestRecord:
    """One answered request, for tests (e.g. "the thick daemon made no GET")."""

    method: str
    path: str
    verb: str
    resource: str
    namespace: str | None
    name: str | None
    code: int
    user_agent: str
    seconds: float


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pymultus-embedded-apiserver"

    # Set per request.
    _call: Call | None = None
    _code = 0
    _start = 0.0
    _logged = False

    @property
    def api(self) -> APIServer:
        return cast("APIServer", self.server)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - " + format, self.address_string(), *args)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Malformed requests get a Status too, never an HTML page."""
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "Error"
        self.close_connection = True
        body = json_bytes(status_object(code, phrase.replace(" ", ""), message or phrase))
        self.send_bytes(code, body, "application/json", None)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_OPTIONS(self) -> None:
        self._dispatch("OPTIONS")

    # ---- writing (the routes.Exchange protocol) ----

    def _head_lines(self, code: int, headers: dict[str, str]) -> bytes:
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = ""
        head = [f"HTTP/1.1 {code} {phrase}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        if "Cache-Control" not in headers:
            head.append("Cache-Control: no-cache, private")
        if self.close_connection and "Connection" not in headers:
            head.append("Connection: close")
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")

    def send_bytes(self, code: int, body: bytes, ctype: str, extra: dict[str, str] | None) -> None:
        headers = {"Content-Type": ctype, "Content-Length": str(len(body))}
        headers.update(extra or {})
        payload = self._head_lines(code, headers)
        if self.command != "HEAD":
            payload += body
        self._code = code
        self._log_request()  # before the client can see the answer: tests count at once
        self.wfile.write(payload)

    def write_head(self, code: int, headers: dict[str, str]) -> None:
        self._code = code
        self._log_request()
        self.wfile.write(self._head_lines(code, headers))

    def _log_request(self) -> None:
        if self._logged:
            return
        self._logged = True
        call = self._call
        self.api._record(
            RequestRecord(
                self.command or "",
                self.path,
                call.verb if call else "",
                call.resource if call else "",
                call.namespace if call else None,
                call.name if call else None,
                self._code,
                self.headers.get("User-Agent", "") if self.headers else "",
                time.monotonic() - self._start,
            )
        )

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    # ---- dispatch ----

    def _dispatch(self, method: str) -> None:
        self._start = time.monotonic()
        self._logged = False
        self._code = 0
        api = self.api
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        call = Call(method, path, query, b"", self, api, verb=method.lower(), resource=path)
        self._call = call
        try:
            try:
                call.body = self._read_body()
            except (ValueError, OSError) as exc:
                self.close_connection = True
                raise APIError.bad_request(f"could not read the request body: {exc}") from exc
            if path in _HEALTH_PATHS or path.startswith(tuple(p + "/" for p in _HEALTH_PATHS)):
                call.send(200, b"ok", "text/plain; charset=utf-8")
                return
            resourceapi.classify(call)
            owner = api.listeners.listener_of(self.connection)
            kind, delay = api._take_fault(owner is not None and owner.netns is not None)
            if delay > 0:
                time.sleep(delay)
            if path not in _UNAUTHENTICATED and not api._authorized(
                self.headers.get("Authorization")
            ):
                raise APIError(401, "Unauthorized", "Unauthorized")
            if kind is not None:
                code = int(kind)
                reason = {500: "InternalError", 503: "ServiceUnavailable", 429: "TooManyRequests"}[
                    code
                ]
                extra = {"Retry-After": "1"} if code in (429, 503) else None
                call.send_json(
                    code,
                    status_object(code, reason, f"injected fault: the server answers {code}"),
                    extra,
                )
                return
            self._route(call)
        except Done:
            pass
        except APIError as exc:
            extra = None
            if exc.code == 401:
                extra = {"WWW-Authenticate": 'Bearer realm="kubernetes"'}
            call.send_json(exc.code, exc.status(), extra)
        except CLIENT_GONE:
            self.close_connection = True
            self._code = self._code or 499
        except Exception as exc:  # a bug: answer a Status, keep serving, log it
            log.exception("embedded API server failed on %s %s", method, self.path)
            call.send_json(
                500, status_object(500, "InternalError", f"embedded API server error: {exc!r}")
            )
        finally:
            self._log_request()  # requests that got no answer (client gone) count too

    def _route(self, call: Call) -> None:
        route = self.api.routes.for_path(call.path)
        if route is not None:
            if call.method not in route.methods:
                raise method_not_allowed(call.method)
            route.handler(call)
            return
        if call.segments[:1] in (["api"], ["apis"]):
            resourceapi.serve(call)
            return
        raise not_found()
