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

import os

from pymultus.cni import jsonlite
from pymultus.cni.errors import INVALID_ENV, IO_FAILURE, CNIError
from pymultus.cni.request import container_id_problem, reject_constant

TYPE_CHECKING = False  # importing typing costs ~2 ms per CNI call: mypy reads this as True
if TYPE_CHECKING:
    from typing import Any

CACHE_FORMAT = 1

# Linux NAME_MAX: the longest file name (bytes) a directory entry may have.
NAME_MAX = 255
# Ids up to this length are the file name itself; longer ones (the spec sets
# no length limit) are cut and suffixed with "~" and their SHA-256, which no
# id contains, so two ids never share a file. Leaves room for the temporary
# name of write_atomic.
_PLAIN_ID_MAX = 200
_HASHED_PREFIX = _PLAIN_ID_MAX - 65


def check_container_id(container_id: str) -> str:
    """CNI SPEC.md section 2 (CNI_CONTAINERID), exactly: no length limit, ``a..b`` allowed.

    "Must start with an alphanumeric character, optionally followed by any
    combination of one or more alphanumeric characters, underscore (_), dot
    (.) or hyphen (-)." No such id contains "/" or is "." or "..", so it
    cannot leave the cache directory (issue 15, item 8).
    """
    problem = container_id_problem(container_id)
    if problem is not None:
        raise CNIError(
            INVALID_ENV,
            f"CNI_CONTAINERID {container_id!r} is not a valid container id: {problem}",
        )
    return container_id


def cache_file_name(container_id: str) -> str:
    """The cache file's name for ``container_id``, always within NAME_MAX."""
    check_container_id(container_id)
    if len(container_id) <= _PLAIN_ID_MAX:
        return container_id
    import hashlib  # only for ids too long to be file names: it loads OpenSSL

    digest = hashlib.sha256(container_id.encode()).hexdigest()
    return f"{container_id[:_HASHED_PREFIX]}~{digest}"


def _is_cache_file_name(name: str) -> bool:
    plain, tilde, digest = name.partition("~")
    if not tilde:
        return container_id_problem(name) is None and len(name) <= _PLAIN_ID_MAX
    return container_id_problem(plain) is None and len(digest) == 64


def write_atomic(path: str, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` so readers see the old or the new file, never half."""
    directory = os.path.dirname(path) or "."
    # A fresh, unguessable name opened with O_EXCL|O_NOFOLLOW: a file or
    # symlink planted at the temporary path (if the directory ever were
    # writable by others) is never followed or written through.
    # At most 64 + 26 bytes: within NAME_MAX whatever the final name's length.
    tmp = os.path.join(
        directory, f".{os.path.basename(path)[:64]}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    )
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:  # noqa: SIM105 (no contextlib: ~2 ms per CNI call with collections)
            os.unlink(tmp)
        except OSError:
            pass
        raise


class DelegateCache:
    """The per-sandbox delegate cache in ``cniDir``."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def path(self, container_id: str) -> str:
        return os.path.join(self.directory, cache_file_name(container_id))

    def save(self, container_id: str, entry: dict[str, Any]) -> None:
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            data = jsonlite.dumps({"format": CACHE_FORMAT, **entry}, sort_keys=True).encode()
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
        return self._load_file(cache_file_name(container_id))

    def _load_file(self, name: str) -> dict[str, Any] | None:
        try:
            with open(os.path.join(self.directory, name), "rb") as f:
                data = jsonlite.loads(f.read(), parse_constant=reject_constant)
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
        except IsADirectoryError:
            # Not a file we wrote (issue 15, item 4): an empty directory is
            # removed so the next ADD of this id can write its cache; a full
            # one is left alone and reported.
            try:
                os.rmdir(self.path(container_id))
            except OSError as exc:
                raise CNIError(
                    IO_FAILURE,
                    f"the delegate cache path {self.path(container_id)} is a directory",
                    exc.strerror or "",
                ) from exc
        except OSError as exc:
            raise CNIError(
                IO_FAILURE,
                f"cannot remove the delegate cache {self.path(container_id)}",
                exc.strerror or "",
            ) from exc

    def file_names(self) -> list[str]:
        try:
            names = os.listdir(self.directory)
        except OSError:
            return []
        return sorted(n for n in names if not n.startswith(".") and _is_cache_file_name(n))

    def container_ids(self) -> list[str]:
        """The container ids with a readable cache entry."""
        return [container_id for container_id, _ in self.entries()]

    def entries(self) -> list[tuple[str, dict[str, Any]]]:
        """(container id, entry) of every readable cache file.

        The id is the entry's own ``containerID`` when that id's file is this
        one (a hashed long id), else the file name.
        """
        found = []
        for name in self.file_names():
            entry = self._load_file(name)
            if entry is None:
                continue
            recorded = entry.get("containerID")
            if (
                isinstance(recorded, str)
                and container_id_problem(recorded) is None
                and cache_file_name(recorded) == name
            ):
                found.append((recorded, entry))
            elif "~" not in name:
                found.append((name, entry))
        return found
