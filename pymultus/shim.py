"""``pymultus-shim``: the CNI binary the runtime executes in thick mode.

It forwards the call (the CNI_* environment and the configuration on stdin,
CNI SPEC.md section 3) to the node daemon's unix socket and relays the answer
byte for byte: the daemon's result or its CNI error (DEL errors included:
the reference's shim is known for swallowing them), with the matching exit
status.

It runs once per pod per operation, so it imports next to nothing: no
``json`` (the socket directory is picked out of the raw config by
:func:`string_value`), no ``socket`` or ``http.client`` (16 ms): the C
``_socket`` module and a hand-written HTTP/1.0 exchange; not even ``os``
(~1.5 ms CPU with ``posixpath``, ``stat`` and ``_collections_abc``): the
environment comes from the built-in ``posix`` module. The slow paths
(errors, the DEL fallback) import what they need when they happen.

Availability rules:
- the daemon not listening yet, or answering 503 (caches syncing, draining,
  queue full): retry until a bound (:data:`READY_WAIT`, :data:`DEL_WAIT`);
- DEL with the daemon still unreachable after its bound: run the thin
  engine's DEL here, from the delegate cache on disk and the daemon's config
  file (``daemonConfig``), so a sandbox is never stuck behind a dead daemon.
"""

from __future__ import annotations

import _socket
import sys
import time

from pymultus.cni.nesting import nested_problem
from pymultus.daemon.wire import CONTENT_TYPE, encode_request

TYPE_CHECKING = False  # typing itself costs ~2 ms to import: mypy reads this as True
if TYPE_CHECKING:
    from typing import BinaryIO

DEFAULT_SOCKET_DIR = "/run/pymultus"
SOCKET_NAME = "pymultus.sock"
READY_WAIT = 20.0  # ADD/CHECK/STATUS/GC: how long to wait for a (re)starting daemon
DEL_WAIT = 3.0  # DEL: then clean up in-process instead
REPLY_TIMEOUT = 300.0  # a call's delegates may legitimately take long
RETRY_SLEEP = 0.05


def string_value(raw: bytes, key: str) -> str | None:
    """The value of ``"key": "value"`` in a JSON text, without a JSON parser.

    Returns None when the key is absent. When the text is not simple enough
    to be sure (the key appears twice, the value has escapes or is not a
    string), it parses the whole text with ``json`` (slow, rare path).
    """
    needle = b'"' + key.encode() + b'"'
    at = raw.find(needle)
    if at < 0:
        return None
    i = at + len(needle)
    n = len(raw)
    while i < n and raw[i] in b" \t\r\n":
        i += 1
    if i < n and raw[i] == 58:  # ':'
        i += 1
        while i < n and raw[i] in b" \t\r\n":
            i += 1
        if i < n and raw[i] == 34:  # '"'
            end = raw.find(b'"', i + 1)
            value = raw[i + 1 : end] if end > 0 else b"\\"
            if b"\\" not in value and raw.find(needle, at + 1) < 0:
                return value.decode("utf-8", "replace")
    import json

    try:
        conf = json.loads(raw)
    except ValueError:
        return None
    found = conf.get(key) if isinstance(conf, dict) else None
    return found if isinstance(found, str) else None


def socket_path(raw: bytes) -> str:
    directory = string_value(raw, "daemonSocketDir") or DEFAULT_SOCKET_DIR
    return directory.rstrip("/") + "/" + SOCKET_NAME


class NotSent(OSError):
    """The daemon could not be reached: nothing was sent, retrying is safe."""


def exchange(path: str, body: bytes, timeout: float) -> tuple[int, bytes]:
    """One HTTP/1.0 ``POST /cni`` over the unix socket: (status, body)."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except OSError as exc:
            raise NotSent(exc.errno, exc.strerror) from exc
        head = (
            "POST /cni HTTP/1.0\r\nHost: pymultus\r\n"
            f"Content-Type: {CONTENT_TYPE}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        sock.sendall(head.encode() + body)
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    finally:
        sock.close()
    reply = b"".join(chunks)
    head_end = reply.find(b"\r\n\r\n")
    status_line = reply[: reply.find(b"\r\n")] if head_end >= 0 else b""
    parts = status_line.split(b" ", 2)
    if head_end < 0 or len(parts) < 2 or not parts[1].isdigit():
        raise OSError(0, f"malformed reply from the daemon: {reply[:80]!r}")
    return int(parts[1]), reply[head_end + 4 :]


def error_json(code: int, msg: str, details: str, raw: bytes) -> bytes:
    from pymultus.cni.errors import CNIError

    version = string_value(raw, "cniVersion") or "1.0.0"
    return (CNIError(code, msg, details).to_json(version) + "\n").encode()


def fallback_del(env: dict[str, str], raw: bytes, why: str, out: BinaryIO) -> int:
    """DEL without the daemon: the thin engine, with the daemon's config file.

    The delegate cache (``cniDir``) is on the node's disk, so everything an
    ADD made can be deleted without the daemon.
    """
    import json

    from pymultus import thin
    from pymultus.cni.errors import CNIError
    from pymultus.cni.request import CNIRequest, parse_config_bytes
    from pymultus.daemon.overlay import overlay_config, split_daemon_config

    sys.stderr.write(f"pymultus-shim: {why}; running DEL in-process\n")
    try:
        conf = parse_config_bytes(raw)
        daemon_file = conf.get("daemonConfig")
        daemon_conf: dict[str, object] = {}
        if isinstance(daemon_file, str) and daemon_file:
            try:
                with open(daemon_file, encoding="utf-8") as f:
                    loaded = json.load(f)
            except (OSError, ValueError) as exc:
                raise CNIError(
                    5, f"cannot read daemonConfig {daemon_file} for the DEL fallback: {exc}"
                ) from exc
            if isinstance(loaded, dict):
                daemon_conf = split_daemon_config(loaded, daemon_file)[1]
        if not daemon_conf:
            sys.stderr.write("pymultus-shim: no daemonConfig: nothing known to clean\n")
            return 0
        request = CNIRequest.from_env(env)
        thin.handle(request, overlay_config(conf, daemon_conf), env)
    except CNIError as exc:
        version = string_value(raw, "cniVersion") or "1.0.0"
        out.write((exc.to_json(version) + "\n").encode())
        return 1
    return 0


def version(raw: bytes, out: BinaryIO) -> int:
    from pymultus.cni import jsonlite  # not json: it imports re and enum (issue 16)
    from pymultus.cni.version import version_result

    asked = string_value(raw, "cniVersion") or "1.0.0"
    out.write((jsonlite.dumps(version_result(asked)) + "\n").encode())
    return 0


def run(env: dict[str, str], raw: bytes, out: BinaryIO | None = None) -> int:
    """Forward one CNI call; write what the runtime reads to ``out``; the exit status."""
    out = out if out is not None else sys.stdout.buffer
    command = env.get("CNI_COMMAND", "")
    if command == "VERSION":  # needs no daemon (CNI SPEC.md section 3, VERSION)
        return version(raw, out)
    nested = nested_problem(env)
    if nested is not None:  # issue 15 item 2: never a second meta-plugin level
        if command == "DEL":
            return 0  # the refused ADD created nothing
        out.write(error_json(7, nested, "", raw))
        return 1
    path = socket_path(raw)
    body = encode_request(env, raw)
    deadline = time.monotonic() + (DEL_WAIT if command == "DEL" else READY_WAIT)
    while True:
        try:
            status, reply = exchange(path, body, REPLY_TIMEOUT)
        except NotSent as exc:
            status, reply, why = 0, b"", f"pymultus daemon unreachable at {path}: {exc.strerror}"
        except OSError as exc:
            # Sent but no complete answer (the daemon died mid-call).
            why = f"lost the pymultus daemon at {path} during {command}: {exc}"
            if command == "DEL":
                return fallback_del(env, raw, why, out)
            out.write(error_json(11, why, "the runtime will retry", raw))
            return 1
        if status not in (0, 503):
            out.write(reply)
            return 0 if status == 200 else 1
        if time.monotonic() < deadline:
            time.sleep(RETRY_SLEEP)
            continue
        if command == "DEL":
            return fallback_del(env, raw, why if status == 0 else "pymultus daemon busy", out)
        if status == 503:
            out.write(reply)
        else:
            detail = "is the pymultus daemon running on this node? (docs/thick-mode.md)"
            out.write(error_json(11, why, detail, raw))
        return 1


def environ() -> dict[str, str]:
    """What ``dict(os.environ)`` gives, from the built-in ``posix`` (no ``import os``)."""
    import posix  # built in, loaded at start-up: free

    encoding = sys.getfilesystemencoding()
    return {
        k.decode(encoding, "surrogateescape"): v.decode(encoding, "surrogateescape")
        for k, v in posix.environ.items()
    }


def main() -> int:
    try:
        raw = sys.stdin.buffer.read()
    except OSError:
        raw = b""
    try:
        return run(environ(), raw)
    except Exception as exc:  # a bug: still answer the runtime in protocol
        import traceback

        traceback.print_exc()
        problem = f"internal error in pymultus-shim: {type(exc).__name__}: {exc}"
        sys.stdout.buffer.write(error_json(999, problem, "", raw))
        return 1


if __name__ == "__main__":
    sys.exit(main())
