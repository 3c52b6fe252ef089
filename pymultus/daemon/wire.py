"""The shim <-> daemon request framing (pure, no imports).

A CNI binary receives its parameters as environment variables and its
configuration on stdin (CNI SPEC.md section 3, "Execution Protocol"). The
shim forwards exactly those to ``POST /cni``, framed so that neither side
needs ``json`` to do it (``json`` costs ~5 ms to import on the shim's path):

    NAME=VALUE NUL NAME=VALUE NUL ... NUL NUL <stdin bytes>

Environment values cannot contain NUL (execve passes C strings), so the
framing is unambiguous for any variable the runtime can set; the stdin part
is carried verbatim. The reply's HTTP status says how the CNI binary exits:
200 -> 0 with the body on stdout (maybe empty), 503 -> the daemon is not
ready or is draining (the shim retries within its bound), anything else ->
1 with the body (a CNI error object) on stdout.
"""

from __future__ import annotations

CONTENT_TYPE = "application/x-pymultus-cni"
SEPARATOR = b"\0"
# Only these reach the daemon: the CNI parameters (CNI SPEC.md section 3),
# never the rest of the runtime's environment.
FORWARDED_PREFIX = "CNI_"


def encode_request(env: dict[str, str], stdin: bytes) -> bytes:
    """Frame the CNI_* variables of ``env`` and the stdin bytes for ``POST /cni``."""
    parts = [
        f"{k}={v}".encode("utf-8", "surrogateescape")
        for k, v in sorted(env.items())
        if k.startswith(FORWARDED_PREFIX)
    ]
    return SEPARATOR.join(parts) + SEPARATOR + SEPARATOR + stdin


class FramingError(ValueError):
    """The body of ``POST /cni`` is not a framed CNI request."""


def decode_request(body: bytes) -> tuple[dict[str, str], bytes]:
    """Inverse of :func:`encode_request`: (CNI_* environment, stdin bytes)."""
    if body.startswith(SEPARATOR + SEPARATOR):  # no variables at all
        return {}, body[2:]
    end = body.find(SEPARATOR + SEPARATOR)
    if end < 0:
        raise FramingError("no NUL NUL separator between the environment and stdin")
    env: dict[str, str] = {}
    for part in body[:end].split(SEPARATOR):
        name, eq, value = part.decode("utf-8", "surrogateescape").partition("=")
        if not eq or not name.startswith(FORWARDED_PREFIX):
            raise FramingError(f"bad environment entry {name[:40]!r}: expected CNI_NAME=VALUE")
        env[name] = value
    return env, body[end + 2 :]
