"""A small logger for the CNI path (``logFile``, ``logLevel``, ``logToStderr``,
``logOptions``).

The standard ``logging`` package costs milliseconds to import and configure;
a CNI binary runs once per pod per operation, so this writes lines itself.
Levels follow the reference: panic < error < verbose < debug.

``logOptions`` rotates the file as the reference's lumberjack does: when it
has reached ``maxSize`` MiB it becomes ``<file>.1`` (older ones shift up),
at most ``maxBackups`` are kept, backups older than ``maxAge`` days are
removed, and ``compress`` gzips them. The check runs once per process, when
the file is first opened: a CNI process writes a handful of lines.

Logging never fails a CNI call (issue 15, items 1 and 9): a write that
fails (a full disk, ``/dev/full``) disables the file; lines are written
unbuffered, so ``close()`` has nothing to flush and cannot raise. The file
is opened non-blocking and only a regular file or a character device
(``/dev/null``) is written to, so a FIFO or socket planted at ``logFile``
cannot hang ADD or DEL.
"""

from __future__ import annotations

import os
import stat
import sys
import time

# collections.abc without importing collections (~1.3 ms per CNI call, issue 16)
from _collections_abc import Mapping

TYPE_CHECKING = False  # importing typing costs ~2 ms per CNI call: mypy reads this as True
if TYPE_CHECKING:
    from typing import Any

LEVELS = {"panic": 0, "error": 1, "verbose": 2, "debug": 3}
DEFAULT_LEVEL = "error"


class Logger:
    def __init__(
        self,
        level: str = "",
        file: str = "",
        to_stderr: bool = True,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self.threshold = LEVELS.get(level.lower() if level else DEFAULT_LEVEL, 1)
        self.file = file
        self.to_stderr = to_stderr
        self.options = dict(options or {})
        self._fd: int | None = None  # unbuffered: a failed write leaves nothing pending

    def _write(self, level: str, message: str) -> None:
        if LEVELS[level] > self.threshold:
            return
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        line = f"{stamp} [{level}] pymultus[{os.getpid()}]: {message}\n"
        if self.to_stderr:
            try:  # noqa: SIM105 (no contextlib: ~2 ms per CNI call with collections)
                sys.stderr.write(line)
            except (OSError, ValueError):
                pass
        if self.file:
            try:
                if self._fd is None:
                    rotate(self.file, self.options)
                    self._fd = open_log(self.file)
                write_all(self._fd, line.encode("utf-8", "surrogateescape"))
            except OSError:
                # Never fail a CNI call because the log is unwritable. The line
                # is written unbuffered, so nothing is left over for close().
                self.close()
                self.file = ""

    def error(self, message: str) -> None:
        self._write("error", message)

    def verbose(self, message: str) -> None:
        self._write("verbose", message)

    def debug(self, message: str) -> None:
        self._write("debug", message)

    def close(self) -> None:
        """Close the log file; never raises (it runs in ``finally`` of every call)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            try:  # noqa: SIM105 (no contextlib: ~2 ms per CNI call with collections)
                os.close(fd)
            except OSError:
                pass


def write_all(fd: int, data: bytes) -> None:
    while data:
        written = os.write(fd, data)
        data = data[written:]


class NotALogFile(OSError):
    """``logFile`` names something other than a regular file or character device."""


def open_log(path: str) -> int:
    """Open ``path`` for appending without ever blocking (issue 15, item 9).

    O_NONBLOCK makes opening a FIFO without a reader fail (ENXIO) instead of
    waiting for one; the fstat then refuses FIFOs with a reader, sockets and
    directories: only a regular file or a character device is a log.
    """
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC
    fd = os.open(path, flags, 0o600)
    try:
        mode = os.fstat(fd).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISCHR(mode)):
            raise NotALogFile(0, f"logFile {path} is not a regular file")
        return fd
    except BaseException:
        os.close(fd)
        raise


def _option(options: Mapping[str, Any], key: str) -> int:
    value = options.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def rotate(path: str, options: Mapping[str, Any], now: float | None = None) -> None:
    """Rotate ``path`` if it reached ``maxSize`` MiB; prune backups (``logOptions``)."""
    max_size = _option(options, "maxSize")
    max_backups = _option(options, "maxBackups")
    max_age = _option(options, "maxAge")
    compress = options.get("compress") is True
    if not max_size:
        return
    try:
        if os.path.getsize(path) < max_size * 1024 * 1024:
            return
    except OSError:
        return
    suffix = ".gz" if compress else ""
    keep = max_backups or 1000
    oldest = f"{path}.{keep}{suffix}"
    if os.path.exists(oldest):
        os.unlink(oldest)
    for index in range(keep - 1, 0, -1):
        for ext in ("", ".gz"):
            source = f"{path}.{index}{ext}"
            if os.path.exists(source):
                os.replace(source, f"{path}.{index + 1}{ext}")
    os.replace(path, f"{path}.1")
    if compress:
        import gzip
        import shutil

        with open(f"{path}.1", "rb") as src, gzip.open(f"{path}.1.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.unlink(f"{path}.1")
    if max_age:
        limit = (time.time() if now is None else now) - max_age * 86400
        for index in range(1, keep + 1):
            for ext in ("", ".gz"):
                backup = f"{path}.{index}{ext}"
                try:
                    if os.path.getmtime(backup) < limit:
                        os.unlink(backup)
                except OSError:
                    pass
