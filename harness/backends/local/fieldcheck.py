"""Server-side field validation: the ``fieldValidation`` query parameter of writes.

Since Kubernetes 1.27 kubectl leaves schema checks to the server when the
server's OpenAPI says PATCH takes ``fieldValidation`` (ours does) and sends
``fieldValidation=Strict``: unknown fields are then a 400 BadRequest
("strict decoding error: unknown field ..."), ``Warn`` answers with a
``Warning`` header per field, ``Ignore`` (the default for other clients)
says nothing (API concepts, "Field validation"). Unknown means: not among
the ``properties`` of a schema that lists them and has neither
``additionalProperties`` nor ``x-kubernetes-preserve-unknown-fields``.
"""

from __future__ import annotations

from typing import Any

from harness.backends.local.apierrors import APIError, Obj

DIRECTIVES = ("Ignore", "Warn", "Strict")
_SCHEMA_REF = "#/components/schemas/"


def _resolve(schema: Any, components: dict[str, Obj]) -> Any:
    seen = 0
    while isinstance(schema, dict) and "$ref" in schema and seen < 32:
        name = str(schema["$ref"]).removeprefix(_SCHEMA_REF)
        schema = components.get(name, {})
        seen += 1
    if isinstance(schema, dict) and len(schema.get("allOf") or []) == 1:
        return _resolve(schema["allOf"][0], components)
    return schema


def unknown_fields(
    value: Any, schema: Any, components: dict[str, Obj], path: str = ""
) -> list[str]:
    """Dotted paths (``spec.containers[0].foo``) of fields the schema does not know."""
    schema = _resolve(schema, components)
    if not isinstance(schema, dict) or schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    out: list[str] = []
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, sub in value.items():
            if key.startswith("$"):  # strategic merge patch directives
                continue
            here = f"{path}.{key}" if path else key
            if isinstance(props, dict) and key in props:
                out += unknown_fields(sub, props[key], components, here)
            elif isinstance(extra, dict):
                out += unknown_fields(sub, extra, components, here)
            elif isinstance(props, dict) and extra is not True:
                out.append(here)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            out += unknown_fields(item, schema["items"], components, f"{path}[{i}]")
    return out


def directive(query: dict[str, str]) -> str:
    raw = query.get("fieldValidation") or "Ignore"
    for d in DIRECTIVES:
        if raw.lower() == d.lower():
            return d
    raise APIError.bad_request(
        f"fieldValidation must be one of {', '.join(DIRECTIVES)} (got {raw!r})"
    )


def check(kind: str, value: Any, schema: Any, components: dict[str, Obj], how: str) -> list[str]:
    """Apply a directive: Strict raises 400, Warn returns warnings, Ignore returns []."""
    if how == "Ignore" or schema is None:
        return []
    unknown = unknown_fields(value, schema, components)
    if not unknown:
        return []
    messages = [f'unknown field "{p}"' for p in unknown]
    if how == "Strict":
        raise APIError.bad_request(
            f"{kind} in version: strict decoding error: " + ", ".join(messages)
        )
    return messages


def prune(value: Any, schema: Any, components: dict[str, Obj]) -> Any:
    """``value`` without the fields the schema does not know: what the
    apiextensions server stores of a custom resource (structural pruning)."""
    schema = _resolve(schema, components)
    if not isinstance(schema, dict) or schema.get("x-kubernetes-preserve-unknown-fields"):
        return value
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        out: Obj = {}
        for key, sub in value.items():
            if isinstance(props, dict) and key in props:
                out[key] = prune(sub, props[key], components)
            elif isinstance(extra, dict):
                out[key] = prune(sub, extra, components)
            elif not isinstance(props, dict) or extra is True:
                out[key] = sub
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [prune(item, schema["items"], components) for item in value]
    return value
