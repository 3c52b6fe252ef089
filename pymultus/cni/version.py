"""CNI specification versions: parsing, support checks and the VERSION result.

Versions are compared as numbers, never as strings ("0.10.0" > "0.9.0"), but
*support* is decided by exact string match, as the reference plugins do: a
configuration saying ``"1.0"`` is not "1.0.0" to them, so it is not to us either.
"""

from __future__ import annotations

from pymultus.cni.errors import INCOMPATIBLE_VERSION, INVALID_CONFIG, CNIError

TYPE_CHECKING = False  # importing typing costs ~2 ms per CNI call: mypy reads this as True
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

SUPPORTED_VERSIONS: tuple[str, ...] = (
    "0.1.0",
    "0.2.0",
    "0.3.0",
    "0.3.1",
    "0.4.0",
    "1.0.0",
    "1.1.0",
)

#: The newest version we speak; what we answer with when nothing else is known.
CURRENT_VERSION = SUPPORTED_VERSIONS[-1]


def parse_version(v: str) -> tuple[int, int, int]:
    """``"1.0.0"`` -> ``(1, 0, 0)``.

    Like the reference library, ``"1"`` and ``"1.0"`` are read as ``1.0.0`` (old
    configurations wrote short versions); anything else that is not 1 to 3
    dot-separated decimal numbers is rejected with INVALID_CONFIG naming the value.
    """
    if not isinstance(v, str):
        raise CNIError(
            INVALID_CONFIG,
            f'CNI version {v!r} is not a string; write it like "1.0.0"',
        )
    parts = v.split(".")
    if not v or len(parts) > 3 or not all(p.isascii() and p.isdigit() for p in parts):
        raise CNIError(
            INVALID_CONFIG,
            f'CNI version {v!r} is not a version number; write it like "1.0.0"',
        )
    nums = [int(p) for p in parts] + [0] * (3 - len(parts))
    return nums[0], nums[1], nums[2]


def _supported_list() -> str:
    return ", ".join(SUPPORTED_VERSIONS)


def check_supported(v: Any, what: str = "cniVersion") -> None:
    """Raise INCOMPATIBLE_VERSION (CNI SPEC.md Section 5, error code 1) unless ``v``
    is one of :data:`SUPPORTED_VERSIONS` exactly.

    ``what`` names where the version came from, e.g. ``"cniVersion of network
    macvlan-conf"``, so the message points at the right file.
    """
    if isinstance(v, str) and v in SUPPORTED_VERSIONS:
        return
    if not isinstance(v, str):
        raise CNIError(
            INCOMPATIBLE_VERSION,
            f'{what} must be a string such as "1.0.0", got {v!r}; '
            f"supported versions: {_supported_list()}",
        )
    raise CNIError(
        INCOMPATIBLE_VERSION,
        f"{what} {v!r} is not supported; set it to one of: {_supported_list()}",
    )


def version_result(cni_version: str) -> dict[str, Any]:
    """The output of the VERSION command (CNI SPEC.md Section 5, "Version")."""
    return {"cniVersion": cni_version, "supportedVersions": list(SUPPORTED_VERSIONS)}


def at_least(v: str, minimum: str) -> bool:
    """True when version ``v`` is ``minimum`` or newer (numeric comparison)."""
    return parse_version(v) >= parse_version(minimum)


def is_supported(v: Any) -> bool:
    """True when ``v`` is exactly one of :data:`SUPPORTED_VERSIONS`."""
    return isinstance(v, str) and v in SUPPORTED_VERSIONS


def highest_supported(candidates: Iterable[Any]) -> str | None:
    """The newest of ``candidates`` that we support, or None.

    CNI SPEC.md v1.1.0 Section 1 ("Version considerations"): a runtime must use
    the highest version it supports among the configuration's ``cniVersion``
    and ``cniVersions``. Unsupported or malformed entries are skipped here; the
    caller decides whether "none left" is an error.
    """
    best: str | None = None
    for c in candidates:
        if is_supported(c) and (best is None or parse_version(c) > parse_version(best)):
            best = c
    return best
