"""A small logger for the CNI path (``logFile``, ``logLevel``, ``logToStderr``).

The standard ``logging`` package costs milliseconds to import and configure;
a CNI binary runs once per pod per operation, so this writes lines itself.
Levels follow the reference: panic < error < verbose < debug.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

LEVELS = {"panic": 0, "error": 1, "verbose": 2, "debug": 3}
DEFAULT_LEVEL = "error"


class Logger:
    def __init__(self, level: str = "", file: str = "", to_stderr: bool = True) -> None:
        self.threshold = LEVELS.get(level.lower() if level else DEFAULT_LEVEL, 1)
        self.file = file
        self.to_stderr = to_stderr
        self._stream: TextIO | None = None

    def _write(self, level: str, message: str) -> None:
        if LEVELS[level] > self.threshold:
            return
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        line = f"{stamp} [{level}] pymultus[{os.getpid()}]: {message}\n"
        if self.to_stderr:
            sys.stderr.write(line)
        if self.file:
            try:
                if self._stream is None:
                    self._stream = open(self.file, "a", encoding="utf-8")  # noqa: SIM115
                self._stream.write(line)
                self._stream.flush()
            except OSError:
                self.file = ""  # never fail a CNI call because the log is unwritable

    def error(self, message: str) -> None:
        self._write("error", message)

    def verbose(self, message: str) -> None:
        self._write("verbose", message)

    def debug(self, message: str) -> None:
        self._write("debug", message)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
