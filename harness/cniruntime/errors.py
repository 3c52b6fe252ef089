"""A CNI error as the runtime side sees it (CNI SPEC.md Section 6, "Error")."""

from __future__ import annotations

# Well-known codes (SPEC.md Section 6); 100+ are the plugin's own.
INCOMPATIBLE_VERSION = 1
UNSUPPORTED_FIELD = 2
UNKNOWN_CONTAINER = 3
INVALID_ENV = 4
IO_FAILURE = 5
DECODE_FAILURE = 6
INVALID_CONFIG = 7
INVALID_NETNS = 8
TRY_AGAIN_LATER = 11
#: What the runtime side itself reports for failures that carry no plugin code
#: (a timeout, a binary that is missing or printed no error JSON).
RUNTIME_FAILURE = 999


class CNIError(Exception):
    """A failed CNI call: the plugin's error (code, msg, details) or the runtime's own.

    ``stdout`` keeps the plugin's raw output when there was one, so judges can
    look at exactly what was printed.
    """

    def __init__(self, code: int, msg: str, details: str = "", stdout: bytes = b"") -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.details = details
        self.stdout = stdout

    def __str__(self) -> str:
        text = f"[{self.code}] {self.msg}"
        return f"{text}: {self.details}" if self.details else text

    def __repr__(self) -> str:
        return f"CNIError({self.code!r}, {self.msg!r}, {self.details!r})"
