"""CNI errors with the specification's codes.

Every failure that leaves pymultus on the CNI path is a :class:`CNIError`, so
the runtime always receives a well-formed error result (CNI spec, section
"Error" of the Result types) with a meaningful code instead of a traceback.
"""

from __future__ import annotations

from pymultus.cni import jsonlite

TYPE_CHECKING = False  # importing typing costs ~2 ms per CNI call: mypy reads this as True
if TYPE_CHECKING:
    from typing import Any

# Codes from the CNI specification (SPEC.md, "Error" section).
INCOMPATIBLE_VERSION = 1
UNSUPPORTED_FIELD = 2
UNKNOWN_CONTAINER = 3
INVALID_ENV = 4
IO_FAILURE = 5
DECODE_FAILURE = 6
INVALID_CONFIG = 7
# Used by the reference libraries (skel/ns): the netns is invalid.
INVALID_NETNS = 8
TRY_AGAIN_LATER = 11
NOT_AVAILABLE = 50
NOT_AVAILABLE_DEGRADED = 51
# Used by the reference libraries for otherwise unclassified failures.
INTERNAL = 999

CODE_NAMES: dict[int, str] = {
    INCOMPATIBLE_VERSION: "incompatible CNI version",
    UNSUPPORTED_FIELD: "unsupported field in network configuration",
    UNKNOWN_CONTAINER: "container unknown or does not exist",
    INVALID_ENV: "invalid necessary environment variables",
    IO_FAILURE: "I/O failure",
    DECODE_FAILURE: "failed to decode content",
    INVALID_CONFIG: "invalid network config",
    INVALID_NETNS: "invalid network namespace",
    TRY_AGAIN_LATER: "try again later",
    NOT_AVAILABLE: "plugin not available",
    NOT_AVAILABLE_DEGRADED: "plugin not available, existing containers may be degraded",
    INTERNAL: "internal error",
}


class CNIError(Exception):
    """A failure reported to the runtime as a CNI error result.

    ``msg`` is a short sentence that names the field, file or object at fault
    and, where possible, what to do about it; ``details`` carries evidence
    (for example a delegate's own error message).
    """

    def __init__(self, code: int, msg: str, details: str = "") -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.details = details

    def to_dict(self, cni_version: str) -> dict[str, Any]:
        out: dict[str, Any] = {"cniVersion": cni_version, "code": self.code, "msg": self.msg}
        if self.details:
            out["details"] = self.details
        return out

    def to_json(self, cni_version: str) -> str:
        return jsonlite.dumps(self.to_dict(cni_version))

    def __str__(self) -> str:
        if self.details:
            return f"{self.msg}: {self.details}"
        return self.msg

    def __repr__(self) -> str:
        return f"CNIError(code={self.code}, msg={self.msg!r}, details={self.details!r})"
