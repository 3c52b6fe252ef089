"""``pods/log``: a plain GET answered as ``text/plain``, chunked while following.

The node supplies the lines (:meth:`podio.NodeStreams.log`); this module
applies the options the kubelet applies (``tailLines``, ``sinceSeconds``,
``sinceTime``, ``timestamps``, ``limitBytes``, ``follow``; ``previous`` has
nothing to show) and writes them out.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from harness.backends.local.apierrors import APIError
from harness.backends.local.podio import LogLine, NodeStreams, StreamUnavailable
from harness.backends.local.routes import Call

_TRUE = ("true", "1")


def _flag(query: Mapping[str, list[str]], name: str) -> bool:
    return (query.get(name) or [""])[-1].lower() in _TRUE


def _one(query: Mapping[str, list[str]], name: str) -> str:
    return (query.get(name) or [""])[-1]


def _parse_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def select_lines(
    lines: list[LogLine], *, tail: int | None, since: datetime | None
) -> list[LogLine]:
    """tailLines and sinceSeconds/sinceTime, as the kubelet applies them."""
    if since is not None:
        lines = [ln for ln in lines if (_parse_time(ln.timestamp) or since) >= since]
    if tail is not None:
        lines = lines[-tail:] if tail > 0 else []
    return lines


def render(line: LogLine, timestamps: bool) -> bytes:
    return ((f"{line.timestamp} " if timestamps else "") + line.text + "\n").encode()


def log_options(query: Mapping[str, list[str]]) -> tuple[int | None, datetime | None, int | None]:
    """(tailLines, since, limitBytes) with 400s naming the bad parameter."""

    def number(name: str) -> int | None:
        text = _one(query, name)
        if not text:
            return None
        try:
            value = int(text)
        except ValueError:
            raise APIError.bad_request(f"{name}: {text!r} is not an integer") from None
        if value < 0 or (name == "limitBytes" and value == 0):
            bound = "> 0" if name == "limitBytes" else ">= 0"
            raise APIError.bad_request(f"{name}: must be {bound}")
        return value

    since: datetime | None = None
    seconds = number("sinceSeconds")
    if seconds is not None:
        since = datetime.now(UTC) - timedelta(seconds=seconds)
    if _one(query, "sinceTime"):
        since = _parse_time(_one(query, "sinceTime"))
        if since is None:
            raise APIError.bad_request(f"sinceTime: {_one(query, 'sinceTime')!r} is not RFC 3339")
    return number("tailLines"), since, number("limitBytes")


def serve_log(
    call: Call,
    pod: dict[str, Any],
    container: str,
    node: NodeStreams,
    query: Mapping[str, list[str]],
) -> None:
    if _flag(query, "previous"):
        meta = pod.get("metadata") or {}
        raise APIError.bad_request(
            f'previous terminated container "{container}" in pod "{meta.get("name")}" not found'
        )
    tail, since, limit = log_options(query)
    follow, timestamps = _flag(query, "follow"), _flag(query, "timestamps")
    try:
        history = list(node.log(pod, container, follow=False, stop=call.client_gone))
    except StreamUnavailable as exc:
        raise APIError.bad_request(str(exc)) from exc
    first = b"".join(render(ln, timestamps) for ln in select_lines(history, tail=tail, since=since))
    if limit is not None:
        first = first[:limit]
    if not follow:
        call.send(200, first, "text/plain")
        return
    call.close_after()
    call.write_head(200, {"Content-Type": "text/plain", "Transfer-Encoding": "chunked"})
    sent = _write_chunk(call, first)
    skip = len(history)
    for line in _follow(node, pod, container, call.client_gone):
        if skip:
            skip -= 1
            continue
        data = render(line, timestamps)
        if limit is not None:
            data = data[: max(0, limit - sent)]
        if not data:
            break
        sent += _write_chunk(call, data)
    with contextlib.suppress(OSError):
        call.wfile.write(b"0\r\n\r\n")
        call.wfile.flush()


def _follow(
    node: NodeStreams, pod: dict[str, Any], container: str, stop: Callable[[], bool]
) -> Iterator[LogLine]:
    try:
        yield from node.log(pod, container, follow=True, stop=stop)
    except StreamUnavailable:
        return


def _write_chunk(call: Call, data: bytes) -> int:
    if not data:
        return 0
    call.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
    call.wfile.flush()
    return len(data)
