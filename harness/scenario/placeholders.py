"""``{{ name }}`` placeholders in scenario text, filled from the meta-plugin profile.

A scenario must not name one plugin's private details (pymultus's cache
dir, Multus's config file name): it says ``{{ cacheDir }}`` and the run's
profile (:meth:`harness.profiles.Profile.placeholders`) supplies the value,
before the YAML is parsed, so a value lands wherever the text had it (a
path in a ``fault``, a ``cni`` step's file, an expectation). An unknown name
is a scenario error at its file:line, never left in place.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class PlaceholderError(ValueError):
    """An unknown placeholder: its 1-based line and the message."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def substitute(text: str, values: Mapping[str, str]) -> str:
    """``text`` with every ``{{ name }}`` replaced by ``values[name]``."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            line = text.count("\n", 0, match.start()) + 1
            known = ", ".join(sorted(values)) or "none"
            raise PlaceholderError(
                line, f"unknown placeholder {{{{ {name} }}}} (the profile provides: {known})"
            )
        return values[name]

    return PLACEHOLDER.sub(fill, text)


def names(text: str) -> list[str]:
    """The placeholder names a text uses, in order of first use."""
    seen: list[str] = []
    for match in PLACEHOLDER.finditer(text):
        if match.group(1) not in seen:
            seen.append(match.group(1))
    return seen
