"""API errors as ``Status`` objects, and the JSON helpers every store module shares.

The real API server answers every failure with a ``meta/v1 Status`` (API
conventions, "Response Status Kind"): :class:`APIError` carries its code,
reason and details, and the HTTP layer renders :meth:`APIError.status`.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from harness.backends.local.resources import ResourceType

Obj = dict[str, Any]
T = TypeVar("T")


class APIError(Exception):
    """An API failure; :meth:`status` is the ``Status`` object the server returns."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        name: str | None = None,
        kind: str | None = None,
        group: str | None = None,
        causes: list[Obj] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details: Obj = {}
        if name is not None:
            self.details["name"] = name
        if group:
            self.details["group"] = group
        if kind is not None:
            self.details["kind"] = kind
        if causes:
            self.details["causes"] = causes
        if retry_after is not None:
            self.details["retryAfterSeconds"] = retry_after

    def status(self) -> Obj:
        return status_object(self.code, self.reason, self.message, self.details)

    # Constructors named like the real API's errors.
    @classmethod
    def not_found(cls, rt: ResourceType, name: str) -> APIError:
        return cls(
            404,
            "NotFound",
            f'{rt.qualified} "{name}" not found',
            name=name,
            kind=rt.plural,
            group=rt.group,
        )

    @classmethod
    def already_exists(cls, rt: ResourceType, name: str) -> APIError:
        return cls(
            409,
            "AlreadyExists",
            f'{rt.qualified} "{name}" already exists',
            name=name,
            kind=rt.plural,
            group=rt.group,
        )

    @classmethod
    def conflict(cls, rt: ResourceType, name: str, why: str) -> APIError:
        return cls(
            409,
            "Conflict",
            f'Operation cannot be fulfilled on {rt.qualified} "{name}": {why}',
            name=name,
            kind=rt.plural,
            group=rt.group,
        )

    @classmethod
    def invalid(cls, rt: ResourceType, name: str, causes: list[tuple[str, str]]) -> APIError:
        text = ", ".join(f"{f}: {m}" for f, m in causes)
        return cls(
            422,
            "Invalid",
            f'{rt.kind} "{name}" is invalid: {text}',
            name=name,
            kind=rt.kind,
            group=rt.group,
            causes=[{"reason": "FieldValueInvalid", "message": m, "field": f} for f, m in causes],
        )

    @classmethod
    def bad_request(cls, message: str) -> APIError:
        return cls(400, "BadRequest", message)

    @classmethod
    def forbidden(cls, rt: ResourceType, name: str, why: str) -> APIError:
        return cls(
            403,
            "Forbidden",
            f'{rt.plural} "{name}" is forbidden: {why}',
            name=name,
            kind=rt.plural,
            group=rt.group,
        )

    @classmethod
    def expired(cls, message: str) -> APIError:
        return cls(410, "Expired", message)


def status_object(code: int, reason: str, message: str, details: Obj | None = None) -> Obj:
    """A ``meta/v1 Status`` of a failure (API conventions: "Response Status Kind")."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": details or {},
        "code": code,
    }


def clone(value: T) -> T:
    """A deep copy of JSON data; also proves the value is JSON (else 400)."""
    try:
        return json.loads(json.dumps(value))  # type: ignore[no-any-return]
    except (TypeError, ValueError) as exc:
        raise APIError.bad_request(f"object is not valid JSON data: {exc}") from exc


def rfc3339(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
