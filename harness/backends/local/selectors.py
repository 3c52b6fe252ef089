"""Label and field selectors, parsed once and matched against stored objects.

Label selectors follow the labels user guide (equality- and set-based
requirements); field selectors accept only the fields the real API's
registries accept for each resource (``ResourceType.field_labels``), others
are 400 BadRequest as from the real server.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.backends.local.apierrors import APIError, Obj
from harness.backends.local.resources import COMMON_FIELDS, ResourceType

_LABEL_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_LABEL_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_RE_EXISTS = re.compile(rf"\s*(?P<neg>!?)\s*(?P<key>{_LABEL_KEY})\s*")
_RE_EQ = re.compile(rf"\s*(?P<key>{_LABEL_KEY})\s*(?P<op>==|=|!=)\s*(?P<value>{_LABEL_VALUE})\s*")
_RE_SET = re.compile(rf"\s*(?P<key>{_LABEL_KEY})\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)\s*")


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside parentheses (``a in (x,y),b``)."""
    parts: list[str] = []
    depth = 0
    start = 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


@dataclass(frozen=True)
class LabelSelector:
    """A parsed ``labelSelector`` (equality- and set-based requirements)."""

    requirements: tuple[tuple[str, str, frozenset[str]], ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> LabelSelector:
        if not text or not text.strip():
            return cls()
        reqs: list[tuple[str, str, frozenset[str]]] = []
        for part in _split_top_level(text):
            m = _RE_SET.fullmatch(part)
            if m:
                values = frozenset(v.strip() for v in m["values"].split(",") if v.strip())
                reqs.append((m["key"], m["op"], values))
                continue
            m = _RE_EQ.fullmatch(part)
            if m:
                op = "!=" if m["op"] == "!=" else "="
                reqs.append((m["key"], op, frozenset({m["value"]})))
                continue
            m = _RE_EXISTS.fullmatch(part)
            if m:
                reqs.append((m["key"], "!" if m["neg"] else "exists", frozenset()))
                continue
            raise APIError.bad_request(
                f"unable to parse requirement {part.strip()!r} in labelSelector {text!r}: "
                "use key=value, key!=value, key in (a,b), key notin (a,b), key or !key"
            )
        return cls(tuple(reqs))

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        for key, op, values in self.requirements:
            present = key in labels
            value = labels.get(key)
            if op == "=" or op == "in":
                if not present or value not in values:
                    return False
            elif op == "!=" or op == "notin":
                if present and value in values:
                    return False
            elif op == "exists":
                if not present:
                    return False
            elif op == "!" and present:
                return False
        return True


def _unescape_field_value(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


@dataclass(frozen=True)
class FieldSelector:
    """A parsed ``fieldSelector``: ``path=value``, ``path==value``, ``path!=value``."""

    requirements: tuple[tuple[str, bool, str], ...] = ()

    @classmethod
    def parse(cls, text: str | None, rt: ResourceType) -> FieldSelector:
        if not text or not text.strip():
            return cls()
        reqs: list[tuple[str, bool, str]] = []
        for part in re.split(r"(?<!\\),", text):
            m = re.fullmatch(r"\s*([A-Za-z0-9_.]+)\s*(==|=|!=)(.*)", part)
            if not m:
                raise APIError.bad_request(
                    f"invalid fieldSelector {text!r}: expected field=value or field!=value"
                )
            path, op, value = m[1], m[2], _unescape_field_value(m[3].strip())
            if path not in COMMON_FIELDS and path not in rt.field_labels:
                supported = ", ".join(sorted(COMMON_FIELDS | rt.field_labels))
                raise APIError.bad_request(
                    f'field label not supported: "{path}" for {rt.qualified} '
                    f"(supported: {supported})"
                )
            reqs.append((path, op != "!=", value))
        return cls(tuple(reqs))

    def matches(self, obj: Obj) -> bool:
        for path, equal, value in self.requirements:
            if (field_value(obj, path) == value) != equal:
                return False
        return True


def field_value(obj: Obj, path: str) -> str:
    """The string form of a field for selectors: missing is "" (e.g. unscheduled pods)."""
    if path == "source":  # events: the real API maps "source" to source.component
        path = "source.component"
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


# --------------------------------------------------------------------------
# Patches
