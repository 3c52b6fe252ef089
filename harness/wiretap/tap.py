"""The wrapper that stands in front of one CNI binary and records its call.

This file is copied (with three constants filled in) into a CNI bin dir as
the executable named like the plugin; the real binary moves to
``.wiretap/real/<name>`` beside it. It imports only the standard library and
nothing of the harness: it runs wherever the caller runs (inside a simulated
node, under containerd, under the meta-plugin) and must start fast.

For each call it reads stdin fully, runs the real binary with the same argv,
environment and stdin, collects stdout and stderr, writes them to its own
stdout/stderr byte for byte, appends one JSON line to the record file and
exits with the real binary's exit status (a signal death is re-raised). A
failure to record never changes what the caller sees.
"""

from __future__ import annotations

import os
import select
import sys
import time

NAME = "__NAME__"  # the plugin's file name
RECORD = "__RECORD__"  # the record file; "" = .wiretap/calls.jsonl beside this wrapper
KEEP = 65536  # bytes of stdin/stdout/stderr kept in a record (all passed through)


def _run(real: str, argv: list[str], data: bytes) -> tuple[int, int, bytes, bytes]:
    """Run ``real``; returns (pid, status, stdout, stderr)."""
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the real binary on the three pipes
        try:
            os.dup2(in_r, 0)
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            for fd in (in_r, in_w, out_r, out_w, err_r, err_w):
                os.close(fd)
            os.execv(real, argv)  # argv[0] as the caller gave it (multi-call binaries)
        finally:
            os._exit(127)
    for fd in (in_r, out_w, err_w):
        os.close(fd)
    out: list[bytes] = []
    err: list[bytes] = []
    pending = memoryview(data)
    writers = [in_w] if pending else []
    if not pending:
        os.close(in_w)
    readers = {out_r: out, err_r: err}
    while readers or writers:
        ready_r, ready_w, _ = select.select(list(readers), writers, [])
        for fd in ready_w:
            try:
                n = os.write(fd, pending[:65536])
            except BrokenPipeError:
                n = len(pending)
            pending = pending[n:]
            if not pending:
                os.close(fd)
                writers = []
        for fd in ready_r:
            chunk = os.read(fd, 65536)
            if chunk:
                readers[fd].append(chunk)
            else:
                os.close(fd)
                del readers[fd]
    _, status = os.waitpid(pid, 0)
    return pid, status, b"".join(out), b"".join(err)


def _stdin() -> bytes:
    """All of stdin (a runtime writes the config and closes it); nothing from a
    terminal or a closed descriptor."""
    chunks = []
    try:
        if os.isatty(0):
            return b""
        while True:
            chunk = os.read(0, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    except OSError:
        pass
    return b"".join(chunks)


def _text(data: bytes) -> str:
    return data[:KEEP].decode("utf-8", "replace")


#: JSON string escapes (RFC 8259 section 7); ``json`` itself costs ~8 ms of imports.
_ESCAPES = {i: f"\\u{i:04x}" for i in range(32)}
_ESCAPES.update({ord("\\"): "\\\\", ord('"'): '\\"', 0x7F: "\\u007f"})
_ESCAPES.update({0x2028: "\\u2028", 0x2029: "\\u2029"})


def _json(value: object) -> str:
    """JSON for the record's values: str, int, float, dict of them."""
    if isinstance(value, str):
        return '"' + value.translate(_ESCAPES) + '"'
    if isinstance(value, dict):
        return "{" + ",".join(f"{_json(str(k))}:{_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    return repr(value)  # int, float


def _record(path: str, entry: dict[str, object]) -> None:
    line = (_json(entry) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line)
    finally:
        os.close(fd)


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    real = os.path.join(here, ".wiretap", "real", NAME)
    started = time.time()
    t0 = time.monotonic()
    data = _stdin()
    pid, status, out, err = _run(real, sys.argv, data)
    seconds = time.monotonic() - t0
    for fd, chunk in ((1, out), (2, err)):
        view = memoryview(chunk)
        while view:
            try:
                view = view[os.write(fd, view) :]
            except BrokenPipeError:
                break
    code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    try:  # noqa: SIM105 (contextlib costs start-up time on every call)
        _record(
            RECORD or os.path.join(here, ".wiretap", "calls.jsonl"),
            {
                "plugin": NAME,
                "pid": os.getpid(),
                "ppid": os.getppid(),
                "child": pid,
                "start": started,
                "seconds": seconds,
                "command": os.environ.get("CNI_COMMAND", ""),
                "env": {k: v for k, v in os.environ.items() if k.startswith("CNI_")},
                "stdin": _text(data),
                "stdout": _text(out),
                "stderr": _text(err),
                "exit": code,
            },
        )
    except Exception:  # recording must never change what the caller sees
        pass
    if code < 0:
        import signal

        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    return code


if __name__ == "__main__":
    sys.exit(main())
