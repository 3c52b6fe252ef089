"""The OpenAPI v2 document in gnostic's protobuf form, which client-go asks for.

client-go's ``OpenAPISchema`` requests
``application/com.github.proto-openapi.spec.v2@v1.0+protobuf`` and decodes
the body as gnostic's ``openapi_v2.Document`` (OpenAPIv2.proto). This writes
the part we publish: swagger, info, empty paths and the definitions, each a
``Schema`` (field numbers from OpenAPIv2.proto). Vendor extensions and
defaults are ``Any`` values carried as YAML text (JSON is YAML).
"""

from __future__ import annotations

import json
from typing import Any

from harness.backends.local.protobuf import encode_double_field, encode_field, encode_varint_field

# The wire primitives are the harness's one protobuf module's.
_bytes = encode_field
_str = encode_field
_int = encode_varint_field
_double = encode_double_field


def _any(value: Any) -> bytes:
    """gnostic ``Any``: the value as YAML text (field 2)."""
    return _str(2, json.dumps(value))


def _named_any(name: str, value: Any) -> bytes:
    return _str(1, name) + _bytes(2, _any(value))


def _named_schema(name: str, schema: Any) -> bytes:
    return _str(1, name) + _bytes(2, encode_schema(schema))


_STRINGS = {"$ref": 1, "format": 2, "title": 3, "description": 4, "pattern": 13}
_INTS = {"maxLength": 11, "minLength": 12, "maxItems": 14, "minItems": 15}
_DOUBLES = {"multipleOf": 6, "maximum": 7, "minimum": 9}


def encode_schema(schema: Any) -> bytes:
    """One gnostic ``Schema`` message from a JSON schema (v2 flavour)."""
    if not isinstance(schema, dict):
        return b""
    out = bytearray()
    for key, value in schema.items():
        if key in _STRINGS and isinstance(value, str):
            out += _str(_STRINGS[key], value)
        elif key in _INTS and isinstance(value, int):
            out += _int(_INTS[key], value)
        elif key in _DOUBLES and isinstance(value, (int, float)):
            out += _double(_DOUBLES[key], float(value))
        elif key == "default":
            out += _bytes(5, _any(value))
        elif key == "required" and isinstance(value, list):
            for name in value:
                out += _str(19, str(name))
        elif key == "enum" and isinstance(value, list):
            for item in value:
                out += _bytes(20, _any(item))
        elif key == "additionalProperties":
            if isinstance(value, bool):
                out += _bytes(21, _int(2, int(value)))
            else:
                out += _bytes(21, _bytes(1, encode_schema(value)))
        elif key == "type":
            types = value if isinstance(value, list) else [value]
            out += _bytes(22, b"".join(_str(1, str(t)) for t in types))
        elif key == "items":
            items = value if isinstance(value, list) else [value]
            out += _bytes(23, b"".join(_bytes(1, encode_schema(i)) for i in items))
        elif key == "allOf" and isinstance(value, list):
            for sub in value:
                out += _bytes(24, encode_schema(sub))
        elif key == "properties" and isinstance(value, dict):
            props = b"".join(_bytes(1, _named_schema(n, s)) for n, s in value.items())
            out += _bytes(25, props)
        elif key.startswith("x-"):
            out += _bytes(31, _named_any(key, value))
    return bytes(out)


def encode_document(doc: dict[str, Any]) -> bytes:
    """A gnostic ``Document`` of swagger, info, (empty) paths and definitions."""
    info = doc.get("info") or {}
    out = bytearray(_str(1, str(doc.get("swagger", "2.0"))))
    out += _bytes(2, _str(1, str(info.get("title", ""))) + _str(2, str(info.get("version", ""))))
    out += _bytes(8, b"")
    definitions = doc.get("definitions") or {}
    out += _bytes(9, b"".join(_bytes(1, _named_schema(n, s)) for n, s in definitions.items()))
    return bytes(out)
