"""The runtime's record of ADD results, so DEL and CHECK can be given ``prevResult``.

CNI SPEC.md Section 3 ("Adding an attachment"): "The runtime must store the
result returned by the final plugin persistently, as it is required for check
and delete operations"; Section 2 (DEL): it must delete that cached result on a
successful DEL. The reference library keeps one file per attachment in
``/var/lib/cni/results/<network>-<containerID>-<ifname>``; we do the same, with
one difference: ``-`` inside a name is escaped (as ``%2D``, and any character
other than letters, digits, ``_`` and ``.`` likewise), so ``("a-b", "c")`` and
``("a", "b-c")`` cannot share a file and the file name alone tells which
attachment it holds.

Writes are atomic (temporary file + rename): a crash leaves the old record or
the new one, never half of one. Files are 0600 in a 0700 directory: the
results name the container's addresses and sandbox paths.
"""

from __future__ import annotations

import os

from pymultus.cni import jsonlite
from pymultus.cni.errors import DECODE_FAILURE, INVALID_CONFIG, INVALID_ENV, IO_FAILURE, CNIError

TYPE_CHECKING = False  # importing typing costs ~2 ms per CNI call: mypy reads this as True
if TYPE_CHECKING:
    from typing import Any

_KIND = "pymultus/cni-result-cache"
_FORMAT_VERSION = 1
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.")
_HEX = frozenset("0123456789ABCDEFabcdef")
_TMP_PREFIX = "~"  # never produced by _encode, so temporary files are never listed


def _encode(name: str) -> str:
    out = []
    for ch in name:
        if ch in _SAFE:
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8", "surrogateescape"))
    return "".join(out)


def _decode(text: str) -> str | None:
    raw = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "%":
            digits = text[i + 1 : i + 3]
            if len(digits) != 2 or not all(c in _HEX for c in digits):
                return None
            raw.append(int(digits, 16))
            i += 3
        elif ch in _SAFE:
            raw.extend(ch.encode("ascii"))
            i += 1
        else:
            return None
    return raw.decode("utf-8", "surrogateescape")


def _check_name(value: Any, what: str, code: int) -> None:
    if not isinstance(value, str) or not value:
        raise CNIError(code, f"result cache: {what} must be a non-empty string, got {value!r}")
    if value in (".", "..") or "/" in value or "\0" in value:
        raise CNIError(
            code,
            f"result cache: {what} {value!r} cannot be used in a file name "
            "(no '/', NUL, '.' or '..')",
        )


class ResultCache:
    """One directory of cached ADD results, keyed by (network, container id, ifname)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def path_for(self, network: str, container_id: str, ifname: str) -> str:
        """The file holding this attachment's record (validates the three names)."""
        _check_name(network, "network name", INVALID_CONFIG)
        _check_name(container_id, "container id", INVALID_ENV)
        _check_name(ifname, "interface name", INVALID_ENV)
        filename = "-".join(_encode(x) for x in (network, container_id, ifname))
        return os.path.join(self.directory, filename)

    def save(
        self,
        network: str,
        container_id: str,
        ifname: str,
        config: dict[str, Any],
        result: dict[str, Any],
    ) -> None:
        """Record ``config`` (what was sent) and ``result`` (what ADD returned)."""
        path = self.path_for(network, container_id, ifname)
        record = {
            "kind": _KIND,
            "version": _FORMAT_VERSION,
            "networkName": network,
            "containerId": container_id,
            "ifName": ifname,
            "config": config,
            "result": result,
        }
        data = jsonlite.dumps(record, indent=1, sort_keys=True).encode("utf-8")
        self._ensure_directory()
        tmp = os.path.join(
            self.directory,
            f"{_TMP_PREFIX}{os.path.basename(path)}.{os.getpid()}.{os.urandom(4).hex()}",
        )
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except OSError as e:
            try:  # noqa: SIM105 (no contextlib: ~2 ms per CNI call with collections)
                os.unlink(tmp)
            except OSError:
                pass
            raise CNIError(
                IO_FAILURE, f"result cache: cannot write {path}: {e.strerror or e}"
            ) from None

    def _ensure_directory(self) -> None:
        if os.path.isdir(self.directory):
            return
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            os.chmod(self.directory, 0o700)
        except OSError as e:
            raise CNIError(
                IO_FAILURE,
                f"result cache: cannot create directory {self.directory}: {e.strerror or e}",
            ) from None

    def load(
        self, network: str, container_id: str, ifname: str
    ) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """``(config, result)`` of the attachment, or None when nothing is cached.

        A record that cannot be read as ours raises CNIError(DECODE_FAILURE)
        naming the file: remove it to continue.
        """
        path = self.path_for(network, container_id, ifname)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise CNIError(
                IO_FAILURE, f"result cache: cannot read {path}: {e.strerror or e}"
            ) from None
        try:
            record = jsonlite.loads(data)
        except ValueError:
            record = None
        if (
            not isinstance(record, dict)
            or record.get("kind") != _KIND
            or record.get("networkName") != network
            or record.get("containerId") != container_id
            or record.get("ifName") != ifname
            or not isinstance(record.get("config"), dict)
            or not isinstance(record.get("result"), dict)
        ):
            raise CNIError(
                DECODE_FAILURE,
                f"result cache: {path} is not a valid cache record for network {network!r} "
                f"container {container_id!r} interface {ifname!r}; remove the file",
            )
        return record["config"], record["result"]

    def remove(self, network: str, container_id: str, ifname: str) -> None:
        """Forget the attachment (nothing happens when it is not cached)."""
        path = self.path_for(network, container_id, ifname)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as e:
            raise CNIError(
                IO_FAILURE, f"result cache: cannot remove {path}: {e.strerror or e}"
            ) from None

    def list_attachments(self) -> list[tuple[str, str, str]]:
        """Every cached ``(network, container_id, ifname)``, sorted.

        Files that are not cache records (by name) are ignored; a missing
        directory is an empty cache.
        """
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return []
        except OSError as e:
            raise CNIError(
                IO_FAILURE,
                f"result cache: cannot list {self.directory}: {e.strerror or e}",
            ) from None
        found: list[tuple[str, str, str]] = []
        for entry in entries:
            if entry.name.startswith(_TMP_PREFIX) or not entry.is_file(follow_symlinks=False):
                continue
            parts = entry.name.split("-")
            if len(parts) != 3:
                continue
            decoded = [_decode(p) for p in parts]
            if any(not d for d in decoded):
                continue
            network, container_id, ifname = (str(d) for d in decoded)
            found.append((network, container_id, ifname))
        return sorted(found)
