"""Kubeconfig files and in-cluster credentials, with the standard library only.

Kubeconfigs are YAML, and the standard library has no YAML parser; importing
PyYAML on every CNI call is both a dependency and a cost we refuse. So this
module reads the subset of YAML that kubeconfig writers produce (kubectl,
kind, kubeadm, Multus' generated file, hand-written in-cluster files):

- block mappings and block sequences (also "indentless" sequences, where the
  ``-`` sits at the same column as the parent key, as kubectl writes them);
- ``- name: x`` items whose mapping continues on the following lines;
- plain, 'single-quoted' and "double-quoted" scalars, also folded over
  several lines (go-yaml, so kubectl, wraps long strings), with
  YAML 1.1 resolution of null/bool/int/float like PyYAML's ``safe_load``
  (timestamps stay strings);
- literal ``|`` and folded ``>`` block scalars with chomping indicators;
- comments, ``---``/``...`` markers, flow collections on one line
  (``{}``, ``[]``, ``{cluster: c, user: u}``, JSON), and whole JSON
  documents (JSON is YAML).

Anything else (anchors, aliases, tags, complex keys, flow collections over
several lines, several documents) is refused with CNIError(INVALID_CONFIG) naming the
file and line, never silently misread. Keys are always strings.
"""

from __future__ import annotations

import binascii
import json
import os
import re
from collections.abc import Mapping

from pymultus.cni.errors import INVALID_CONFIG, CNIError
from pymultus.cni.record import Record, init_fields

TYPE_CHECKING = False  # importing typing costs ~2 ms per CNI call: mypy reads this as True
if TYPE_CHECKING:
    from typing import Any

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


class ClusterAccess(Record):
    """Everything needed to reach one API server as one user."""

    server: str
    ca_file: str | None
    ca_data: bytes | None
    insecure: bool
    token: str | None
    # Re-read at each request, so rotated service-account tokens just work.
    token_file: str | None
    client_cert_file: str | None
    client_key_file: str | None
    client_cert_data: bytes | None
    client_key_data: bytes | None
    # The context's namespace, when the kubeconfig names one.
    namespace: str | None

    __slots__ = (
        "ca_data",
        "ca_file",
        "client_cert_data",
        "client_cert_file",
        "client_key_data",
        "client_key_file",
        "insecure",
        "namespace",
        "server",
        "token",
        "token_file",
    )

    def __init__(
        self,
        server: str,
        ca_file: str | None = None,
        ca_data: bytes | None = None,
        insecure: bool = False,
        token: str | None = None,
        token_file: str | None = None,
        client_cert_file: str | None = None,
        client_key_file: str | None = None,
        client_cert_data: bytes | None = None,
        client_key_data: bytes | None = None,
        namespace: str | None = None,
    ) -> None:
        init_fields(
            self,
            server=server,
            ca_file=ca_file,
            ca_data=ca_data,
            insecure=insecure,
            token=token,
            token_file=token_file,
            client_cert_file=client_cert_file,
            client_key_file=client_key_file,
            client_cert_data=client_cert_data,
            client_key_data=client_key_data,
            namespace=namespace,
        )


# --------------------------------------------------------------------------
# The YAML subset
# --------------------------------------------------------------------------

# YAML 1.1 implicit types, as PyYAML's SafeLoader resolves them (YAML 1.1
# "Language-Independent Types": null, bool, int, float).
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_TRUE = frozenset({"yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"})
_FALSE = frozenset({"no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"})
_INT = re.compile(
    r"[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+"
    r"|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+"
)
_FLOAT = re.compile(
    r"[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
    r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
)
_DQ_ESCAPES = {
    "0": "\0",
    "a": "\a",
    "b": "\b",
    "t": "\t",
    "\t": "\t",
    "n": "\n",
    "v": "\v",
    "f": "\f",
    "r": "\r",
    "e": "\x1b",
    " ": " ",
    '"': '"',
    "/": "/",
    "\\": "\\",
    "N": "\x85",
    "_": "\xa0",
    "L": "\u2028",
    "P": "\u2029",
}
_DQ_HEX = {"x": 2, "u": 4, "U": 8}


def _sexagesimal(text: str, conv: type[int] | type[float]) -> int | float:
    sign = -1 if text.startswith("-") else 1
    total: float = 0
    for part in text.lstrip("+-").split(":"):
        total = total * 60 + conv(part)
    return sign * total


def resolve_plain(text: str) -> Any:
    """The value of a plain (unquoted) scalar, YAML 1.1 like PyYAML's safe_load.

    A scalar that looks numeric but has no digits (``0x_``, ``0b_``: PyYAML
    itself raises on them) stays a string rather than escaping as ValueError
    (found by tests/unit/test_props_parsers.py with a token ``._``).
    """
    try:
        return _resolve_plain(text)
    except ValueError:
        return text


def _resolve_plain(text: str) -> Any:
    if text in _NULLS:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if _INT.fullmatch(text):
        value = text.replace("_", "")
        sign = -1 if value.startswith("-") else 1
        digits = value.lstrip("+-")
        if ":" in digits:
            return sign * int(_sexagesimal(digits, int))
        if digits.startswith("0b"):
            return sign * int(digits[2:], 2)
        if digits.startswith("0x"):
            return sign * int(digits[2:], 16)
        if digits != "0" and digits.startswith("0"):
            return sign * int(digits, 8)
        return sign * int(digits)
    if _FLOAT.fullmatch(text):
        value = text.replace("_", "").lower()
        if value.endswith(".inf"):
            return float("-inf") if value.startswith("-") else float("inf")
        if value.endswith(".nan"):
            return float("nan")
        if ":" in value:
            return float(_sexagesimal(value, float))
        return float(value)
    return text


class _YAMLSubset:
    """A line-oriented reader for the kubeconfig YAML subset (see module doc)."""

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.lines = text.split("\n")
        # Lines whose content starts further right than their indentation:
        # the mapping or sequence that follows a "- " on the same line.
        self.virtual: dict[int, tuple[int, str]] = {}

    # ---- errors and line access ----

    def error(self, index: int, problem: str) -> CNIError:
        return CNIError(
            INVALID_CONFIG,
            f"{self.source}:{index + 1}: {problem}",
            "pymultus reads the YAML subset kubeconfig files use; rewrite the file in that "
            "form (or as JSON)",
        )

    def line(self, i: int) -> tuple[int, str]:
        """(indent, text) of line ``i``, text without the indentation."""
        if i in self.virtual:
            return self.virtual[i]
        raw = self.lines[i].rstrip("\r")
        text = raw.lstrip(" ")
        indent = len(raw) - len(text)
        if text.startswith("\t"):
            body = text.strip(" \t")
            if body and not body.startswith("#"):
                raise self.error(i, "tab characters cannot indent YAML: use spaces")
            return indent, ""
        return indent, text.rstrip(" \t")

    def significant(self, i: int) -> int:
        """The first line at or after ``i`` with content (not blank, not a comment)."""
        while i < len(self.lines):
            if i in self.virtual:
                return i
            _, text = self.line(i)
            if text and not text.startswith("#"):
                return i
            i += 1
        return i

    # ---- documents ----

    def document(self) -> Any:
        if self.lines and self.lines[0].startswith("\ufeff"):
            self.lines[0] = self.lines[0][1:]
        i = self.significant(0)
        if i < len(self.lines) and self.line(i)[1].startswith(("{", "[")):
            # JSON is YAML: a JSON document is parsed as JSON.
            try:
                return json.loads("\n".join(self.lines[i:]))
            except json.JSONDecodeError as exc:
                raise CNIError(
                    INVALID_CONFIG,
                    f"{self.source}:{exc.lineno + i}: the file looks like JSON but is not: "
                    f"{exc.msg} (column {exc.colno})",
                ) from exc
        if i < len(self.lines):
            indent, text = self.line(i)
            if text.startswith("%"):
                raise self.error(i, "YAML directives (%) are not supported")
            if text == "---" or text.startswith("--- "):
                rest = text[3:].strip(" \t")
                if rest and not rest.startswith("#"):
                    raise self.error(i, "content on the '---' line is not supported")
                i = self.significant(i + 1)
        if i >= len(self.lines):
            return None
        indent, text = self.line(i)
        if self._starts_block(text):
            value, i = self.block(i, indent, -1)
        else:
            value, i = self.inline_value(i, text, -1)
        i = self.significant(i)
        if i < len(self.lines):
            _, text = self.line(i)
            if text == "..." or text.startswith("... "):
                j = self.significant(i + 1)
                if j >= len(self.lines):
                    return value
                i = j
                _, text = self.line(i)
            if text == "---" or text.startswith("--- "):
                raise self.error(i, "several YAML documents in one file are not supported")
            raise self.error(i, "unexpected content here (check the indentation)")
        return value

    @staticmethod
    def _is_item(text: str) -> bool:
        return text == "-" or text.startswith("- ")

    def _starts_block(self, text: str) -> bool:
        return self._is_item(text) or self._key_separator(text) is not None

    # ---- block collections ----

    def block(self, i: int, indent: int, parent: int) -> tuple[Any, int]:
        """The node starting on line ``i`` (at column ``indent``) below a parent at ``parent``."""
        _, text = self.line(i)
        if self._is_item(text):
            return self.sequence(i, indent)
        if self._key_separator(text) is None:
            return self.inline_value(i, text, parent)  # a scalar on the line after its key
        return self.mapping(i, indent)

    def sequence(self, i: int, indent: int) -> tuple[list[Any], int]:
        items: list[Any] = []
        while True:
            i = self.significant(i)
            if i >= len(self.lines):
                break
            cur, text = self.line(i)
            if cur != indent or not self._is_item(text):
                if cur > indent:
                    raise self.error(i, "bad indentation in a sequence")
                break
            rest = text[1:]
            item = rest.lstrip(" ")
            if not item or item.startswith("#"):
                j = self.significant(i + 1)
                if j < len(self.lines) and self.line(j)[0] > indent:
                    value, i = self.block(j, self.line(j)[0], indent)
                else:
                    value, i = None, i + 1
            else:
                col = indent + 1 + (len(rest) - len(item))
                if self._is_item(item) or self._key_separator(item) is not None:
                    self.virtual[i] = (col, item)
                    value, i = self.block(i, col, indent)
                else:
                    value, i = self.inline_value(i, item, indent)
            items.append(value)
        return items, i

    def mapping(self, i: int, indent: int) -> tuple[dict[str, Any], int]:
        result: dict[str, Any] = {}
        while True:
            i = self.significant(i)
            if i >= len(self.lines):
                break
            cur, text = self.line(i)
            if cur < indent:
                break
            if cur > indent:
                raise self.error(i, "unexpected indentation")
            if self._is_item(text):
                raise self.error(i, "a list item where a 'key: value' line was expected")
            if text == "---" or text == "..." or text.startswith(("--- ", "... ")):
                break
            key, rest = self.split_key(i, text)
            value_text = rest.strip(" \t")
            if not value_text or value_text.startswith("#"):
                j = self.significant(i + 1)
                if j < len(self.lines):
                    jind, jtext = self.line(j)
                    if jind > indent or (jind == indent and self._is_item(jtext)):
                        value, i = self.block(j, jind, indent)
                    else:
                        value, i = None, i + 1
                else:
                    value, i = None, i + 1
            else:
                value, i = self.inline_value(i, value_text, indent)
            result[key] = value  # a repeated key: the last wins, as in PyYAML
        return result, i

    # ---- keys ----

    def _quoted_end(self, text: str) -> int | None:
        """Index just after the closing quote of a quoted scalar at the start of ``text``."""
        quote = text[0]
        j = 1
        while j < len(text):
            ch = text[j]
            if quote == '"' and ch == "\\":
                j += 2
                continue
            if ch == quote:
                if quote == "'" and j + 1 < len(text) and text[j + 1] == "'":
                    j += 2
                    continue
                return j + 1
            j += 1
        return None

    def _key_separator(self, text: str) -> int | None:
        """Position of the ':' that ends a mapping key on this line, if any."""
        if text.startswith(('"', "'")):
            end = self._quoted_end(text)
            if end is None:
                return None
            rest = text[end:]
            stripped = rest.lstrip(" ")
            if stripped.startswith(":") and (len(stripped) == 1 or stripped[1] in " \t"):
                return end + (len(rest) - len(stripped))
            return None
        if text.startswith(("{", "[", "#", "|", ">")):
            return None
        j = 0
        while j < len(text):
            ch = text[j]
            if ch == "#" and j > 0 and text[j - 1] in " \t":
                return None
            if ch == ":" and (j + 1 == len(text) or text[j + 1] in " \t"):
                return j
            j += 1
        return None

    def split_key(self, i: int, text: str) -> tuple[str, str]:
        if text.startswith("? ") or text == "?":
            raise self.error(i, "complex mapping keys ('? ') are not supported")
        sep = self._key_separator(text)
        if sep is None:
            raise self.error(i, f"expected 'key: value', found {text[:60]!r}")
        raw_key = text[:sep].rstrip(" \t")
        if raw_key.startswith(('"', "'")):
            key = self.quoted(i, raw_key)[0]
        else:
            if raw_key.startswith(("&", "*", "!")):
                raise self.error(i, "anchors, aliases and tags are not supported")
            if raw_key == "<<":
                raise self.error(i, "merge keys ('<<') are not supported")
            key = raw_key
        return key, text[sep + 1 :]

    # ---- scalars ----

    def quoted(self, i: int, text: str) -> tuple[str, str]:
        """Parse a quoted scalar at the start of ``text``: (value, rest of the line)."""
        end = self._quoted_end(text)
        if end is None:
            raise self.error(i, "multi-line quoted scalars are not supported (close the quote)")
        body = text[1 : end - 1]
        if text[0] == "'":
            return body.replace("''", "'"), text[end:]
        out: list[str] = []
        j = 0
        while j < len(body):
            ch = body[j]
            if ch != "\\":
                out.append(ch)
                j += 1
                continue
            code = body[j + 1] if j + 1 < len(body) else ""
            if code in _DQ_ESCAPES:
                out.append(_DQ_ESCAPES[code])
                j += 2
            elif code in _DQ_HEX:
                width = _DQ_HEX[code]
                digits = body[j + 2 : j + 2 + width]
                if len(digits) != width or not re.fullmatch(r"[0-9a-fA-F]+", digits):
                    raise self.error(i, f"bad escape \\{code}{digits} in a double-quoted scalar")
                out.append(chr(int(digits, 16)))
                j += 2 + width
            else:
                raise self.error(i, f"unknown escape \\{code} in a double-quoted scalar")
        return "".join(out), text[end:]

    def inline_value(self, i: int, text: str, parent_indent: int) -> tuple[Any, int]:
        """The value written after 'key:' or '- ' on line ``i``; returns (value, next line)."""
        first = text[0]
        if text == "?" or text.startswith("? "):
            raise self.error(i, "complex mapping keys ('? ') are not supported")
        if first in "|>":
            return self.block_scalar(i, text, parent_indent)
        if first in "\"'":
            end = i + 1
            if self._quoted_end(text) is None:  # continues on the next lines: fold them in
                more: list[str] = []
                while end < len(self.lines):
                    more.append(self.lines[end].rstrip("\r"))
                    end += 1
                    folded = self._fold_quoted(text, more, first == '"')
                    if self._quoted_end(folded) is not None:
                        text = folded
                        break
                else:
                    raise self.error(i, "a quoted scalar is never closed")
            value, rest = self.quoted(i, text)
            rest = rest.strip(" \t")
            if rest and not rest.startswith("#"):
                raise self.error(i, f"unexpected text after a quoted scalar: {rest[:40]!r}")
            return value, end
        if first in "{[":
            return self.flow(i, text), i + 1
        if first in "&*!%@`":
            raise self.error(i, "anchors, aliases, tags and reserved indicators are not supported")
        if self._is_item(text):
            raise self.error(i, "a list cannot start on the line of its key")
        parts: list[str] = []
        end = i
        line, pending, commented = text, 0, False
        while True:
            cut = re.search(r"[ \t]#", line)
            if cut:
                line, commented = line[: cut.start()], True
            line = line.rstrip(" \t")
            if re.search(r":([ \t]|$)", line):
                raise self.error(end, f"a ': ' inside a plain value; quote it: {line[:60]!r}")
            if parts:
                parts.append("\n" * pending if pending else " ")
            parts.append(line)
            end += 1
            # A plain scalar continues on more-indented lines (YAML "multi-line flow
            # scalars"): go-yaml, so kubectl, wraps long strings that way.
            if commented:
                break
            k, pending = end, 0
            while k < len(self.lines) and not self.lines[k].strip(" \t\r"):
                k, pending = k + 1, pending + 1
            if k >= len(self.lines):
                break
            raw = self.lines[k].rstrip("\r")
            stripped = raw.strip(" \t")
            if len(raw) - len(raw.lstrip(" ")) <= parent_indent or stripped.startswith("#"):
                break
            end, line = k, stripped
        return resolve_plain("".join(parts)), end

    @staticmethod
    def _fold_quoted(first: str, more: list[str], double: bool) -> str:
        """Join a quoted scalar's lines into one (YAML line folding of flow scalars)."""
        out = first
        pending = 0
        for raw in more:
            line = raw.strip(" \t")
            if not line:
                pending += 1
                continue
            backslashes = len(out) - len(out.rstrip("\\"))
            if double and backslashes % 2 == 1:
                out = out[:-1] + "\\n" * pending  # an escaped line break joins directly
            else:
                out = out.rstrip(" \t")
                newline = "\\n" if double else "\n"
                out += newline * pending if pending else " "
            out += line
            pending = 0
        return out

    def flow(self, i: int, text: str) -> Any:
        """A flow collection (``{a: 1, b: [x, "y"]}``, JSON included) on one line."""
        value, pos = self._flow_node(i, text, 0)
        rest = text[pos:].strip(" \t")
        if rest and not rest.startswith("#"):
            raise self.error(i, f"unexpected text after a flow collection: {rest[:40]!r}")
        return value

    def _flow_node(self, i: int, text: str, pos: int) -> tuple[Any, int]:
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        if pos >= len(text):
            raise self.error(i, "flow collections must be closed on the same line")
        ch = text[pos]
        if ch in "{[":
            close = "}" if ch == "{" else "]"
            items: list[Any] = []
            mapping: dict[str, Any] = {}
            pos += 1
            while True:
                while pos < len(text) and text[pos] in " \t":
                    pos += 1
                if pos >= len(text):
                    raise self.error(i, "flow collections must be closed on the same line")
                if text[pos] == close:
                    return (mapping if ch == "{" else items), pos + 1
                node, pos = self._flow_node(i, text, pos)
                while pos < len(text) and text[pos] in " \t":
                    pos += 1
                if ch == "{":
                    value: Any = None
                    if pos < len(text) and text[pos] == ":":
                        value, pos = self._flow_node(i, text, pos + 1)
                    if isinstance(node, (dict, list)):
                        raise self.error(i, "complex keys in flow mappings are not supported")
                    mapping[node if isinstance(node, str) else json.dumps(node)] = value
                else:
                    if pos < len(text) and text[pos] == ":":
                        raise self.error(
                            i, "single-pair mappings in flow sequences are not supported"
                        )
                    items.append(node)
                while pos < len(text) and text[pos] in " \t":
                    pos += 1
                if pos < len(text) and text[pos] == ",":
                    pos += 1
                elif pos < len(text) and text[pos] != close:
                    raise self.error(i, f"expected ',' or {close!r} in a flow collection")
        if ch in "\"'":
            end = self._quoted_end(text[pos:])
            if end is None:
                raise self.error(i, "a quoted scalar is never closed")
            value, _ = self.quoted(i, text[pos : pos + end])
            return value, pos + end
        if ch in "&*!|>%@`":
            raise self.error(i, "anchors, aliases, tags and reserved indicators are not supported")
        start = pos
        while pos < len(text):
            c = text[pos]
            if c in ",[]{}":
                break
            if c == ":" and (pos + 1 == len(text) or text[pos + 1] in " \t,]}"):
                break
            if c == "#" and pos > start and text[pos - 1] in " \t":
                break
            pos += 1
        return resolve_plain(text[start:pos].strip(" \t")), pos

    def block_scalar(self, i: int, text: str, parent_indent: int) -> tuple[str, int]:
        header = re.sub(r"[ \t]+#.*$", "", text)
        m = re.fullmatch(r"([|>])([+-]?)([1-9]?)([+-]?)", header)
        if not m or (m[2] and m[4]):
            raise self.error(i, f"bad block scalar header {header!r}")
        style, chomp, explicit = m[1], m[2] or m[4], m[3]
        content_indent = max(parent_indent, 0) + int(explicit) if explicit else None
        body: list[str] = []
        j = i + 1
        while j < len(self.lines):
            raw = self.lines[j].rstrip("\r")
            if not raw.strip(" "):
                body.append("")
                j += 1
                continue
            indent = len(raw) - len(raw.lstrip(" "))
            if content_indent is None:
                if indent <= parent_indent:
                    break
                content_indent = indent
            if indent < content_indent:
                if indent > parent_indent:
                    raise self.error(j, "a line inside a block scalar is indented too little")
                break
            body.append(raw[content_indent:])
            j += 1
        # Trailing blank lines belong to chomping, not to the content.
        trailing = 0
        while body and body[-1] == "":
            body.pop()
            trailing += 1
        value = "\n".join(body) if style == "|" else self._fold(body)
        if body and chomp == "+":
            value += "\n" * (1 + trailing)
        elif body and chomp != "-":
            value += "\n"
        return value, j

    @staticmethod
    def _fold(lines: list[str]) -> str:
        if not lines:
            return ""

        def more(line: str) -> bool:
            return line.startswith((" ", "\t"))

        out = lines[0]
        last_text = lines[0]
        for k in range(1, len(lines)):
            cur, prev = lines[k], lines[k - 1]
            if cur == "":
                out += "\n"
                continue
            if prev == "":
                if more(last_text) or more(cur):
                    out += "\n"
                out += cur
            elif more(prev) or more(cur):
                out += "\n" + cur
            else:
                out += " " + cur
            last_text = cur
        return out


def parse_yaml(text: str, source: str = "<yaml>") -> Any:
    """Parse the kubeconfig YAML subset; CNIError(INVALID_CONFIG) names ``source`` and line."""
    return _YAMLSubset(text, source).document()


# --------------------------------------------------------------------------
# Kubeconfig semantics
# --------------------------------------------------------------------------


def _named(doc: Mapping[str, Any], section: str, field: str, path: str) -> dict[str, Any]:
    """``clusters: [{name, cluster: {...}}]`` as ``{name: {...}}``."""
    entries = doc.get(section) or []
    if not isinstance(entries, list):
        raise CNIError(INVALID_CONFIG, f"kubeconfig {path}: '{section}' must be a list")
    out: dict[str, Any] = {}
    for n, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise CNIError(
                INVALID_CONFIG, f"kubeconfig {path}: {section}[{n}] needs a 'name' string"
            )
        body = entry.get(field) or {}
        if not isinstance(body, dict):
            raise CNIError(
                INVALID_CONFIG,
                f"kubeconfig {path}: {section}[{entry['name']}].{field} must be a mapping",
            )
        out[entry["name"]] = body
    return out


def _b64(value: Any, what: str, path: str) -> bytes | None:
    if value in (None, ""):
        return None
    import base64

    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CNIError(
            INVALID_CONFIG, f"kubeconfig {path}: {what} is not valid base64 ({exc})"
        ) from exc


def _file(value: Any, base: str) -> str | None:
    if value in (None, ""):
        return None
    # kubectl resolves relative paths against the kubeconfig's directory.
    return os.path.normpath(os.path.join(base, str(value)))


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def load_kubeconfig(path: str) -> ClusterAccess:
    """The cluster and user of the current context (or of the only context)."""
    from pymultus.cni.limits import MAX_FILE_BYTES, read_bounded

    try:
        text = read_bounded(path, MAX_FILE_BYTES, f"kubeconfig {path}").decode("utf-8")
    except OSError as exc:
        raise CNIError(
            INVALID_CONFIG,
            f"cannot read kubeconfig {path}: {exc.strerror or exc}",
            "check the 'kubeconfig' path in the pymultus configuration",
        ) from exc
    except UnicodeDecodeError as exc:
        raise CNIError(INVALID_CONFIG, f"kubeconfig {path} is not UTF-8 text: {exc}") from exc
    doc = parse_yaml(text, path)
    if not isinstance(doc, dict):
        raise CNIError(
            INVALID_CONFIG, f"kubeconfig {path} must be a mapping (apiVersion, clusters...)"
        )
    contexts = _named(doc, "contexts", "context", path)
    current = doc.get("current-context")
    if current:
        if current not in contexts:
            raise CNIError(
                INVALID_CONFIG,
                f"kubeconfig {path}: current-context {current!r} is not in contexts "
                f"(have: {', '.join(sorted(contexts)) or 'none'})",
            )
        ctx_name = str(current)
    elif len(contexts) == 1:
        ctx_name = next(iter(contexts))
    else:
        raise CNIError(
            INVALID_CONFIG,
            f"kubeconfig {path}: no current-context and {len(contexts)} contexts: set "
            "current-context",
        )
    ctx = contexts[ctx_name]
    cluster_name = ctx.get("cluster")
    if not cluster_name:
        raise CNIError(INVALID_CONFIG, f"kubeconfig {path}: context {ctx_name!r} has no 'cluster'")
    clusters = _named(doc, "clusters", "cluster", path)
    if cluster_name not in clusters:
        raise CNIError(
            INVALID_CONFIG,
            f"kubeconfig {path}: context {ctx_name!r} names cluster {cluster_name!r}, which is "
            f"not in clusters (have: {', '.join(sorted(clusters)) or 'none'})",
        )
    cluster = clusters[cluster_name]
    server = cluster.get("server")
    if not server or not isinstance(server, str):
        raise CNIError(
            INVALID_CONFIG, f"kubeconfig {path}: cluster {cluster_name!r} has no 'server'"
        )
    user: dict[str, Any] = {}
    user_name = ctx.get("user")
    if user_name:
        users = _named(doc, "users", "user", path)
        if user_name not in users:
            raise CNIError(
                INVALID_CONFIG,
                f"kubeconfig {path}: context {ctx_name!r} names user {user_name!r}, which is not "
                f"in users (have: {', '.join(sorted(users)) or 'none'})",
            )
        user = users[user_name]
    base = os.path.dirname(os.path.abspath(path))
    access = ClusterAccess(
        server=server.rstrip("/"),
        ca_file=_file(cluster.get("certificate-authority"), base),
        ca_data=_b64(
            cluster.get("certificate-authority-data"),
            f"clusters[{cluster_name}].certificate-authority-data",
            path,
        ),
        insecure=_truthy(cluster.get("insecure-skip-tls-verify")),
        token=str(user["token"]) if user.get("token") else None,
        token_file=_file(user.get("tokenFile"), base),
        client_cert_file=_file(user.get("client-certificate"), base),
        client_key_file=_file(user.get("client-key"), base),
        client_cert_data=_b64(
            user.get("client-certificate-data"), f"users[{user_name}].client-certificate-data", path
        ),
        client_key_data=_b64(
            user.get("client-key-data"), f"users[{user_name}].client-key-data", path
        ),
        namespace=str(ctx["namespace"]) if ctx.get("namespace") else None,
    )
    has_credential = any(
        (access.token, access.token_file, access.client_cert_file, access.client_cert_data)
    )
    if not has_credential:
        for plugin in ("exec", "auth-provider", "username"):
            if user.get(plugin):
                raise CNIError(
                    INVALID_CONFIG,
                    f"kubeconfig {path}: user {user_name!r} authenticates with '{plugin}', "
                    "which pymultus does not support: use token, tokenFile or a client "
                    "certificate",
                )
    if (access.client_cert_file or access.client_cert_data) and not (
        access.client_key_file or access.client_key_data
    ):
        raise CNIError(
            INVALID_CONFIG,
            f"kubeconfig {path}: user {user_name!r} has a client certificate but no client-key "
            "or client-key-data",
        )
    return access


def in_cluster(
    env: Mapping[str, str], *, sa_dir: str = SERVICE_ACCOUNT_DIR
) -> ClusterAccess | None:
    """In-cluster access from ``KUBERNETES_SERVICE_HOST``/``_PORT``, or None when unset.

    The token is given as ``token_file`` so that it is re-read when the
    kubelet rotates the projected service-account token.
    """
    host = env.get("KUBERNETES_SERVICE_HOST", "").strip()
    port = env.get("KUBERNETES_SERVICE_PORT", "").strip()
    if not host or not port:
        return None
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    token_file = os.path.join(sa_dir, "token")
    if not os.path.isfile(token_file):
        raise CNIError(
            INVALID_CONFIG,
            f"KUBERNETES_SERVICE_HOST is set but the service-account token {token_file} does "
            "not exist: mount the service-account token or set 'kubeconfig' in the pymultus "
            "configuration",
        )
    ca_file = os.path.join(sa_dir, "ca.crt")
    namespace: str | None = None
    try:
        with open(os.path.join(sa_dir, "namespace"), encoding="utf-8") as fh:
            namespace = fh.read().strip() or None
    except OSError:
        pass
    return ClusterAccess(
        server=f"https://{host}:{port}",
        ca_file=ca_file if os.path.isfile(ca_file) else None,
        token_file=token_file,
        namespace=namespace,
    )
