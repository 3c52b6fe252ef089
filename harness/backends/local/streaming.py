"""``pods/exec``, ``pods/attach``, ``pods/log`` and ``pods/portforward`` as kubectl speaks them.

exec and attach: kubectl (client-go ``tools/remotecommand``, the WebSocket
executor that is the default since Kubernetes 1.30) sends ``GET .../exec?
command=..&stdin=..&stdout=..&stderr=..&tty=..`` as a WebSocket opening
handshake offering ``v5.channel.k8s.io`` (then v4, v3, v2). Every binary
message starts with a channel byte: 0 stdin, 1 stdout, 2 stderr, 3 error
(the final ``metav1.Status``: Success, or Failure with reason
NonZeroExitCode and the exit code as the ExitCode cause, which kubectl
turns into its own exit code), 4 resize (``{"Width":..,"Height":..}``);
v5 adds 255 "close", ``[255, channel]``, so the client can half-close
stdin. We serve v5 and v4 (the Status on channel 3 is the same).

exec and attach over SPDY (kubectl's fallback when the WebSocket upgrade
fails): one SPDY stream per channel (:mod:`harness.backends.local.spdyexec`).
port-forward: SPDY streams (:mod:`harness.backends.local.portforward`),
tunnelled in a WebSocket (``SPDY/3.1+portforward.k8s.io``, kubectl's
default since 1.31) or on a connection upgraded to ``SPDY/3.1``.

logs: a plain GET answered as ``text/plain``, chunked while following
(:mod:`harness.backends.local.podlogs`).

The node behind the pod does the work (:mod:`harness.backends.local.podio`):
this module only speaks HTTP and the channel protocol.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Mapping
from typing import IO, Any
from urllib.parse import parse_qs, urlsplit

from harness.backends.local import podlogs, portforward, spdyexec, websocket
from harness.backends.local.apierrors import APIError
from harness.backends.local.podio import NodeStreams, PodProcess, StreamUnavailable, Upstream
from harness.backends.local.resources import PODS
from harness.backends.local.routes import Call, Done, Routes

SUBRESOURCES = ("exec", "attach", "log", "portforward")
CHANNEL_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
_TRUE = ("true", "1")
_FINISH_GRACE = 2.0  # seconds the client gets to answer our close frame


# kind and verbs as a real API server's discovery lists them.
_KINDS = {
    "exec": ("PodExecOptions", ("create", "get")),
    "attach": ("PodAttachOptions", ("create", "get")),
    "portforward": ("PodPortForwardOptions", ("create", "get")),
    "log": ("Pod", ("get",)),
}


def register(routes: Routes) -> None:
    """pods/exec, attach, portforward and log in the API server's registry."""
    for sub, (kind, verbs) in _KINDS.items():
        methods = ("GET",) if sub == "log" else ("GET", "POST")
        routes.add_subresource("pods", sub, handle, methods=methods, kind=kind, verbs=verbs)


def handle(call: Call) -> None:
    """Find the pod's node and hand the request to it (errors are 400 Status answers)."""
    route = call.route
    assert route is not None and route.subresource is not None
    namespace, name = route.namespace, route.name
    if namespace is None or name is None:
        raise APIError(404, "NotFound", "the server could not find the requested resource")
    pod = call.store.get_raw(PODS, name, namespace)
    node_name = (pod.get("spec") or {}).get("nodeName")
    node = call.api.node_streams.get(str(node_name)) if node_name else None
    if node is None:
        where = (
            f"is on node {node_name}, which serves no {route.subresource} streams"
            if node_name
            else "is not scheduled to a node yet"
        )
        raise APIError.bad_request(f"pod {namespace}/{name} {where}")
    serve(call, route.subresource, pod, node)
    raise Done()


def query_lists(path: str) -> dict[str, list[str]]:
    """Every value of every parameter: exec repeats ``command`` once per argument."""
    return parse_qs(urlsplit(path).query, keep_blank_values=True)


def _flag(query: Mapping[str, list[str]], name: str) -> bool:
    return (query.get(name) or [""])[-1].lower() in _TRUE


def _one(query: Mapping[str, list[str]], name: str) -> str:
    return (query.get(name) or [""])[-1]


def pick_container(pod: dict[str, Any], wanted: str) -> str:
    """The container a request names, or the only one; 400 as the real API words it."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    names = [str(c.get("name")) for c in spec.get("containers") or []]
    names += [str(c.get("name")) for c in spec.get("initContainers") or []]
    if not wanted:
        main = [str(c.get("name")) for c in spec.get("containers") or []]
        if len(main) == 1:
            return main[0]
        raise APIError.bad_request(
            f"a container name must be specified for pod {meta.get('name')}, "
            f"choose one of: [{' '.join(main)}]"
        )
    if wanted not in names:
        raise APIError.bad_request(f"container {wanted} is not valid for pod {meta.get('name')}")
    return wanted


def exit_status(code: int) -> dict[str, Any]:
    """The Status written on the error channel when the process ended."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: exit status {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def choose_protocol(offered: list[str]) -> str | None:
    return next((p for p in offered if p in CHANNEL_PROTOCOLS), None)


def serve(call: Call, subresource: str, pod: dict[str, Any], node: NodeStreams) -> None:
    """Answer one streaming request for ``pod`` on its node (errors raise APIError)."""
    # Call.query keeps one value per name; exec repeats ``command``: read the raw URL.
    query = query_lists(getattr(call.exchange, "path", call.path))
    if subresource == "portforward":  # a pod's ports, not a container's
        serve_port_forward(call, pod, node)
        return
    container = pick_container(pod, _one(query, "container"))
    if subresource == "log":
        podlogs.serve_log(call, pod, container, node, query)
        return
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        raise APIError.bad_request(
            f"cannot {subresource} into a container in a completed pod; current phase is {phase}"
        )
    try:  # before any protocol question: kubectl shows only its fallback's (SPDY) error
        node.check(pod, container, subresource)
    except StreamUnavailable as exc:
        raise APIError.bad_request(str(exc)) from exc
    stdin, stdout, stderr = _flag(query, "stdin"), _flag(query, "stdout"), _flag(query, "stderr")
    tty = _flag(query, "tty")
    if not (stdin or stdout or stderr):
        raise APIError.bad_request("you must specify at least 1 of stdin, stdout, stderr")
    argv = query.get("command") or []
    if subresource == "exec" and not argv:
        raise APIError.bad_request("you must specify at least 1 command")

    def start() -> PodProcess:
        if subresource == "exec":
            return node.exec(pod, container, argv, tty=tty, stdin=stdin)
        return node.attach(pod, container, tty=tty, stdin=stdin)

    if (call.headers.get("Upgrade") or "").lower().startswith("spdy/3.1"):
        offered = call.headers.get_all("X-Stream-Protocol-Version") or []
        spdy_protocol = spdyexec.choose(offered)
        if spdy_protocol is None:
            raise APIError.bad_request(
                f"none of the offered stream protocols ({', '.join(offered) or 'none'}) is "
                f"served; offer one of {', '.join(spdyexec.PROTOCOLS)}"
            )
        call.close_after()
        call.write_head(
            101,
            {
                "Connection": "Upgrade",
                "Upgrade": "SPDY/3.1",
                "X-Stream-Protocol-Version": spdy_protocol,
            },
        )
        call.wfile.flush()
        wanted = spdyexec.expected_streams(stdin, stdout, stderr, tty)
        spdyexec.serve(_Raw(call), start, exit_status, wanted)
        _cut(call)
        return
    if not websocket.is_upgrade(call.headers):
        raise APIError.bad_request("Upgrade request required")
    protocol = choose_protocol(websocket.offered_protocols(call.headers))
    if protocol is None:
        raise APIError.bad_request(
            "none of the offered WebSocket subprotocols is served; offer one of "
            + ", ".join(CHANNEL_PROTOCOLS)
        )
    try:
        proc = start()
    except StreamUnavailable as exc:
        raise APIError.bad_request(str(exc)) from exc
    except OSError as exc:
        raise APIError.bad_request(f"cannot start the command in the pod: {exc}") from exc
    try:
        key = call.headers.get("Sec-WebSocket-Key") or ""
        call.close_after()
        call.write_head(101, websocket.handshake_headers(key, protocol))
        call.wfile.flush()
        conn = websocket.Connection(call.rfile, call.wfile)
        run_channels(conn, proc, protocol, want_stdout=stdout, want_stderr=stderr and not tty)
        _cut(call)
    finally:
        proc.kill()


def serve_port_forward(call: Call, pod: dict[str, Any], node: NodeStreams) -> None:
    """SPDY port-forward, tunnelled in a WebSocket or on the upgraded connection."""
    meta = pod.get("metadata") or {}
    phase = (pod.get("status") or {}).get("phase")
    if phase != "Running":
        raise APIError.bad_request(
            f"unable to forward ports to pod {meta.get('name')}: it is not running (phase {phase})"
        )
    describe = f"pod {meta.get('namespace')}/{meta.get('name')}"
    upgrade = (call.headers.get("Upgrade") or "").lower()
    if not (websocket.is_upgrade(call.headers) or upgrade.startswith("spdy/3.1")):
        raise APIError.bad_request("Upgrade request required")
    try:
        node.check(pod, "", "portforward")
        upstream = node.forward(pod)  # the runtime's own server, if it has one
    except StreamUnavailable as exc:
        raise APIError.bad_request(str(exc)) from exc
    try:
        _serve_port_forward(call, node, pod, describe, upstream)
    finally:
        if upstream is not None:
            upstream.close()


def _serve_port_forward(
    call: Call, node: NodeStreams, pod: dict[str, Any], describe: str, upstream: Upstream | None
) -> None:
    """Answer the upgrade; relay to ``upstream`` or serve the session here."""

    def connect(port: int) -> socket.socket:
        return node.connect(pod, port)

    upgrade = (call.headers.get("Upgrade") or "").lower()
    if websocket.is_upgrade(call.headers):
        if portforward.TUNNEL_PROTOCOL not in websocket.offered_protocols(call.headers):
            raise APIError.bad_request(
                f"port-forward over WebSocket needs the subprotocol {portforward.TUNNEL_PROTOCOL}"
            )
        key = call.headers.get("Sec-WebSocket-Key") or ""
        call.close_after()
        call.write_head(101, websocket.handshake_headers(key, portforward.TUNNEL_PROTOCOL))
        call.wfile.flush()
        conn = websocket.Connection(call.rfile, call.wfile)
        tunnel = portforward.WebSocketBytes(conn)
        if upstream is not None:
            portforward.relay(tunnel, upstream)
        else:
            portforward.serve_session(tunnel, connect, describe)
        conn.close()
    elif upgrade.startswith("spdy/3.1"):
        offered = call.headers.get_all("X-Stream-Protocol-Version") or []
        if offered and portforward.PROTOCOL not in ",".join(offered):
            raise APIError.bad_request(f"port-forward needs protocol {portforward.PROTOCOL}")
        call.close_after()
        call.write_head(
            101,
            {
                "Connection": "Upgrade",
                "Upgrade": "SPDY/3.1",
                "X-Stream-Protocol-Version": portforward.PROTOCOL,
            },
        )
        call.wfile.flush()
        if upstream is not None:
            portforward.relay(_Raw(call), upstream)
        else:
            portforward.serve_session(_Raw(call), connect, describe)
    _cut(call)


class _Raw:
    """The upgraded connection as the SPDY session's byte stream."""

    def __init__(self, call: Call) -> None:
        self._rfile, self._wfile = call.rfile, call.wfile

    def read(self, size: int, /) -> bytes:
        reader = getattr(self._rfile, "read1", self._rfile.read)
        return bytes(reader(size))

    def write(self, data: bytes, /) -> None:
        self._wfile.write(data)

    def flush(self) -> None:
        self._wfile.flush()


def _pump(conn: websocket.Connection, stream: IO[bytes] | None, channel: int, send: bool) -> None:
    if stream is None:
        return
    read = getattr(stream, "read1", stream.read)
    while True:
        data = read(65536)
        if not data:
            return
        if send:
            try:
                conn.send(bytes([channel]) + data)
            except OSError:
                return


def run_channels(
    conn: websocket.Connection,
    proc: PodProcess,
    protocol: str,
    *,
    want_stdout: bool,
    want_stderr: bool,
) -> None:
    """Copy stdin in and stdout/stderr out until the process ends, then send its Status.

    The client's messages are read on a thread of their own; the caller's
    thread waits for the process. When the client goes away first the
    process is killed (as the kubelet does when the stream closes)."""
    pumps = [
        threading.Thread(target=_pump, args=(conn, proc.stdout, STDOUT, want_stdout), daemon=True),
        threading.Thread(target=_pump, args=(conn, proc.stderr, STDERR, want_stderr), daemon=True),
    ]
    for t in pumps:
        t.start()
    reader = threading.Thread(target=_read_client, args=(conn, proc, protocol), daemon=True)
    reader.start()
    code = proc.wait()
    for t in pumps:
        t.join(timeout=5)
    with contextlib.suppress(OSError):
        conn.send(bytes([ERROR]) + json.dumps(proc.failure or exit_status(code)).encode())
    conn.close()
    reader.join(timeout=_FINISH_GRACE)


def _read_client(conn: websocket.Connection, proc: PodProcess, protocol: str) -> None:
    try:
        while True:
            message = conn.receive()
            if message is None:
                break
            if not message:
                continue
            channel, data = message[0], message[1:]
            if channel == STDIN and proc.stdin is not None:
                try:
                    proc.stdin.write(data)
                    proc.stdin.flush()
                except (OSError, ValueError):
                    pass
            elif channel == RESIZE:
                with contextlib.suppress(ValueError, TypeError, KeyError):
                    size = json.loads(data)
                    proc.resize(int(size["Width"]), int(size["Height"]))
            elif channel == CLOSE and protocol.startswith("v5.") and data[:1] == bytes([STDIN]):
                _close_stdin(proc)
    except websocket.ProtocolError as exc:
        conn.close(exc.code, str(exc))
    finally:
        _close_stdin(proc)
        if not conn.closed:  # the client left before the process ended
            proc.kill()


def _close_stdin(proc: PodProcess) -> None:
    if proc.stdin is not None:
        with contextlib.suppress(OSError, ValueError):
            proc.stdin.close()


def _cut(call: Call) -> None:
    """Our close frame is sent; cut the connection so no thread waits on it."""
    with contextlib.suppress(OSError):
        call.wfile.flush()
    with contextlib.suppress(OSError):
        call.connection.shutdown(socket.SHUT_RDWR)
