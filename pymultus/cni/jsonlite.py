"""``loads``/``dumps`` for the CNI entry path on the C accelerator alone.

``import json`` imports ``re`` (for two whitespace patterns), and ``re``
imports ``enum``, ``functools`` and the regex compiler: about 10 ms per
process here (issue 16), paid on every CNI call. ``json`` itself does its
work in the C module ``_json``; this module drives ``_json`` directly and
gives the same answers as ``json.loads``/``json.dumps`` with their defaults:

- valid input is decoded by the same C scanner (strict, ``float``/``int``
  numbers, an optional ``parse_constant`` hook);
- anything the fast path does not accept (invalid JSON, extra data) is
  handed to the real ``json.loads``, imported only then, so errors carry
  exactly ``json``'s messages, line and column (``json.JSONDecodeError``,
  a ``ValueError``);
- ``dumps`` is ``json.dumps(obj)`` (ASCII, ``", "``/``": "``) or, with
  ``separators``/``sort_keys``, their equivalent; ``indent`` goes to ``json``.

When ``_json`` is missing (another Python), everything goes to ``json``.
"""

from __future__ import annotations

TYPE_CHECKING = False  # importing typing costs ~2 ms per CNI call: mypy reads this as True
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

try:
    import _json
except ImportError:  # pragma: no cover - CPython always has it
    _json = None  # type: ignore[assignment]

_WHITESPACE = " \t\n\r"  # RFC 8259 section 2 (json's WHITESPACE pattern)
_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}


class _ScanContext:
    """The attributes ``_json.make_scanner`` reads (those of ``json.JSONDecoder()``)."""

    __slots__ = (
        "memo",
        "object_hook",
        "object_pairs_hook",
        "parse_constant",
        "parse_float",
        "parse_int",
        "strict",
    )

    def __init__(self, parse_constant: Callable[[str], Any]) -> None:
        self.strict = True
        self.object_hook = None
        self.object_pairs_hook = None
        self.parse_float = float
        self.parse_int = int
        self.parse_constant = parse_constant
        self.memo: dict[str, str] = {}


def _not_serializable(o: object) -> Any:
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


def loads(text: str | bytes, *, parse_constant: Callable[[str], Any] | None = None) -> Any:
    """``json.loads(text, parse_constant=...)``, without importing ``json`` for valid input."""
    if isinstance(text, bytes) and text[:3] != b"\xef\xbb\xbf" and b"\x00" not in text[:4]:
        # json.loads(bytes) reads UTF-8 unless a BOM or NULs say UTF-16/32.
        try:  # noqa: SIM105 - contextlib would cost an import on every call
            text = text.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            pass  # json's own error below
    if _json is not None and isinstance(text, str):
        context = _ScanContext(parse_constant or _CONSTANTS.__getitem__)
        scan = _json.make_scanner(context)  # type: ignore[arg-type]  # duck-typed decoder
        start = len(text) - len(text.lstrip(_WHITESPACE))
        try:
            value, end = scan(text, start)
        except StopIteration:
            pass
        except SystemError:
            # _json reports a syntax error through json.decoder.JSONDecodeError, which
            # it only finds when json.decoder is already imported (CPython 3.11's
            # raise_errmsg): without it the error comes out as SystemError.
            pass
        except ValueError as exc:
            if type(exc) is ValueError:  # from parse_constant: json.loads raises it as is
                raise
        else:
            if not text[end:].strip(_WHITESPACE):
                return value
    import json  # slow path: json's own errors (messages, line, column) or bytes input

    if parse_constant is None:
        return json.loads(text)
    return json.loads(text, parse_constant=parse_constant)


def dumps(
    obj: Any,
    *,
    sort_keys: bool = False,
    separators: tuple[str, str] | None = None,
    indent: int | None = None,
) -> str:
    """``json.dumps(obj, sort_keys=..., separators=..., indent=...)``, defaults otherwise."""
    if _json is None or indent is not None:
        import json

        return json.dumps(obj, sort_keys=sort_keys, separators=separators, indent=indent)
    item_sep, key_sep = separators if separators is not None else (", ", ": ")
    encode = _json.make_encoder(
        {},  # markers: circular references raise ValueError, as json's check_circular
        _not_serializable,
        _json.encode_basestring_ascii,
        None,
        key_sep,
        item_sep,
        sort_keys,
        False,  # skipkeys
        True,  # allow_nan (json.dumps's default)
    )
    chunks: tuple[str, ...] = encode(obj, 0)
    return "".join(chunks)


_IMMUTABLE = (str, int, float, bool, type(None))


def copy_tree(value: Any) -> Any:
    """What ``copy.deepcopy(value)`` gives for a decoded JSON value, without ``copy``.

    ``import copy`` brings ``weakref``, ``types``, ``copyreg`` and ``itertools``:
    ~2.6 ms of CPU per CNI call (issue 16), for copying plugin results. Plain
    dicts and lists are rebuilt, JSON scalars are shared (they are immutable,
    as deepcopy shares them); anything else goes to ``copy.deepcopy`` itself.
    """
    kind = type(value)
    if kind is dict:
        return {k: copy_tree(v) for k, v in value.items()}
    if kind is list:
        return [copy_tree(v) for v in value]
    if kind in _IMMUTABLE:
        return value
    import copy

    return copy.deepcopy(value)
