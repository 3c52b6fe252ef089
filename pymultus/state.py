"""What a node remembers between a pod's ADD and its DEL: the delegate cache.

One JSON file per sandbox (``<cniDir>/<containerID>``), written *before* any
delegate runs, so that a DEL after a crash in the middle of an ADD still knows
which delegates to tear down, and updated with each delegate's result after a
successful ADD, so that DEL and CHECK can hand delegates their ``prevResult``
(CNI SPEC.md section 5: DEL and CHECK receive the ADD result).

Files are written atomically (temporary file + rename), 0600 in a 0700
directory: they hold network configs, which may carry secrets.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from typing import Any

from pymultus.cni.errors import INVALID_ENV, IO_FAILURE, CNIError

CACHE_FORMAT = 1

# Container ids are runtime-chosen; we only refuse what could escape the dir.
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,252}$")


def check_container_id(container_id: str) -> str:
    if not _SAFE_ID.match(container_id) or ".." in container_id:
        raise CNIError(
            INVALID_ENV,
            f"CNI_CONTAINERID {container_id!r} is not a valid container id",
            "expected letters, digits, '_', '.', '-' (no '/' or '..')",
        )
    return container_id


def write_atomic(path: str, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` so readers see the old or the new file, never half."""
    directory = os.path.dirname(path) or "."
    # A fresh, unguessable name opened with O_EXCL|O_NOFOLLOW: a file or
    # symlink planted at the temporary path (if the directory ever were
    # writable by others) is never followed or written through.
    tmp = os.path.join(
        directory, f".{os.path.basename(path)}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    )
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class DelegateCache:
    """The per-sandbox delegate cache in ``cniDir``."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def path(self, container_id: str) -> str:
        return os.path.join(self.directory, check_container_id(container_id))

    def save(self, container_id: str, entry: dict[str, Any]) -> None:
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            data = json.dumps({"format": CACHE_FORMAT, **entry}, sort_keys=True).encode()
            write_atomic(self.path(container_id), data)
        except OSError as exc:
            raise CNIError(
                IO_FAILURE,
                f"cannot write the delegate cache {self.path(container_id)}",
                f"{exc.strerror}; check that cniDir {self.directory!r} is writable",
            ) from exc

    def load(self, container_id: str) -> dict[str, Any] | None:
        """The cached entry, or None when there is none or it is unreadable.

        An unreadable cache must not block DEL: the caller falls back to
        recomputing the delegates from the API.
        """
        try:
            with open(self.path(container_id), "rb") as f:
                data = json.loads(f.read())
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT:
            return None
        return data

    def remove(self, container_id: str) -> None:
        try:
            os.unlink(self.path(container_id))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise CNIError(
                IO_FAILURE,
                f"cannot remove the delegate cache {self.path(container_id)}",
                exc.strerror or "",
            ) from exc

    def container_ids(self) -> list[str]:
        try:
            names = os.listdir(self.directory)
        except OSError:
            return []
        return sorted(n for n in names if not n.startswith(".") and _SAFE_ID.match(n))
