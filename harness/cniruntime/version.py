"""CNI version strings: parsing and ordering (CNI SPEC.md Section 1, ``cniVersion``)."""

from __future__ import annotations

#: The versions whose results this runtime side knows (0.1.0 .. 1.1.0).
KNOWN_VERSIONS = ("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
LATEST = KNOWN_VERSIONS[-1]


def parse(version: str) -> tuple[int, int, int]:
    """``"1.0.0"`` -> ``(1, 0, 0)``; ValueError for anything else (a semver triple)."""
    parts = str(version).split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"{version!r} is not a CNI version (expected MAJOR.MINOR.PATCH)")
    return int(parts[0]), int(parts[1]), int(parts[2])


def at_least(version: str, minimum: str) -> bool:
    """``version >= minimum``; an unparsable version is below everything."""
    try:
        return parse(version) >= parse(minimum)
    except ValueError:
        return False
