"""exec and attach over SPDY: what kubectl falls back to when the WebSocket upgrade
fails (and what kubectl before 1.30, or ``KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false``,
uses from the start).

After the ``SPDY/3.1`` upgrade (``X-Stream-Protocol-Version`` negotiated,
``v4.channel.k8s.io`` here) the client opens one SPDY stream per channel,
named by its ``streamType`` header: ``error``, then ``stdin``, ``stdout``,
``stderr`` as requested, and ``resize`` with a TTY (a stream of JSON
``{"Width":..,"Height":..}`` objects). Once they are all open the command
runs; at its end the ``metav1.Status`` (the same as on the WebSocket's
channel 3) is written on the error stream and every stream is closed.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from typing import IO, Any

from harness.backends.local import spdy
from harness.backends.local.podio import PodProcess

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STREAM_WAIT = 30.0  # seconds for the client to open its streams (the kubelet's default)


def choose(offered: list[str]) -> str | None:
    """The protocol to answer with: ours the client offered, newest first."""
    names = {p.strip() for value in offered for p in value.split(",")}
    return next((p for p in PROTOCOLS if p in names), None)


def expected_streams(stdin: bool, stdout: bool, stderr: bool, tty: bool) -> set[str]:
    wanted = {"error"}
    if stdin:
        wanted.add("stdin")
    if stdout:
        wanted.add("stdout")
    if stderr and not tty:
        wanted.add("stderr")
    if tty:
        wanted.add("resize")
    return wanted


class _Streams:
    def __init__(self, wanted: set[str]) -> None:
        self.wanted = wanted
        self.by_type: dict[str, spdy.Stream] = {}
        self.ready = threading.Event()

    def on_stream(self, stream: spdy.Stream) -> None:
        kind = stream.headers.get("streamtype", "")
        if kind not in self.wanted or kind in self.by_type:
            stream.reset()
            return
        self.by_type[kind] = stream
        if set(self.by_type) == self.wanted:
            self.ready.set()


def serve(
    io: spdy.ByteStream,
    start: Callable[[], PodProcess],
    status: Callable[[int], dict[str, Any]],
    wanted: set[str],
) -> None:
    """Run the session: wait for the streams, start the command, copy, report."""
    streams = _Streams(wanted)
    session = spdy.Session(io, streams.on_stream)
    reader = threading.Thread(target=session.run, daemon=True)
    reader.start()
    if not streams.ready.wait(STREAM_WAIT):
        session.closed = True
        return
    error = streams.by_type["error"]
    try:
        proc = start()
    except Exception as exc:  # the node said no: the client reads it on the error stream
        failure = {"metadata": {}, "status": "Failure", "message": str(exc), "reason": "BadRequest"}
        error.write(json.dumps(failure).encode(), fin=True)
        return
    try:
        pumps = _wire(streams.by_type, proc)
        code = proc.wait()
        for pump in pumps:
            pump.join(timeout=5)
        error.write(json.dumps(proc.failure or status(code)).encode(), fin=True)
        for stream in streams.by_type.values():
            stream.close()
    finally:
        proc.kill()
        session.closed = True


def _wire(by_type: dict[str, spdy.Stream], proc: PodProcess) -> list[threading.Thread]:
    """Connect the streams to the process; returns the output pumps to wait for."""
    stdin = by_type.get("stdin")
    if stdin is not None:
        stdin.listen(lambda data: _to_stdin(proc.stdin, data))
    resize = by_type.get("resize")
    if resize is not None:
        decoder = json.JSONDecoder()
        buffer = [""]

        def sized(data: bytes) -> None:
            buffer[0] += data.decode(errors="replace")
            while buffer[0].strip():
                try:
                    size, end = decoder.raw_decode(buffer[0].lstrip())
                except ValueError:
                    return
                buffer[0] = buffer[0].lstrip()[end:]
                with contextlib.suppress(KeyError, TypeError, ValueError):
                    proc.resize(int(size["Width"]), int(size["Height"]))

        resize.listen(sized)
    pumps = []
    for name, source in (("stdout", proc.stdout), ("stderr", proc.stderr)):
        target = by_type.get(name)
        if target is not None and source is not None:
            pump = threading.Thread(target=_copy, args=(source, target), daemon=True)
            pump.start()
            pumps.append(pump)
    return pumps


def _to_stdin(stdin: IO[bytes] | None, data: bytes) -> None:
    if stdin is None:
        return
    try:
        if data:
            stdin.write(data)
            stdin.flush()
        else:
            stdin.close()
    except (OSError, ValueError):
        pass


def _copy(source: IO[bytes], target: spdy.Stream) -> None:
    read = getattr(source, "read1", source.read)
    try:
        while data := read(65536):
            target.write(data)
    except (OSError, ValueError):
        pass
