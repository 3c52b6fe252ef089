"""Plain value classes for the CNI entry path, without ``dataclasses``.

``dataclasses`` builds every class at import time by generating and
``exec``-ing source, and pulls in ``inspect``, ``ast``, ``dis``, ``tokenize``
and ``typing`` (about 14 ms per process here, issue 16). The CNI binary is a
new process on every call, so its value classes are written out instead:
each subclass lists its fields in ``__slots__`` and has an explicit
``__init__``; this base gives them value equality, a readable repr, hashing
of frozen values and :meth:`Record.replace`.

Frozen classes set ``_frozen = True``: their ``__init__`` assigns with
``object.__setattr__`` (see :func:`init_fields`) and later assignments raise
``AttributeError``, as a frozen dataclass does.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs ~2 ms to import: mypy reads this as True
if TYPE_CHECKING:
    from typing import Any, TypeVar

    R = TypeVar("R", bound="Record")


class Record:
    """Value equality, repr and ``replace`` over the fields named in ``__slots__``."""

    __slots__ = ()
    _frozen = False

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The fields, base classes' first (the order of ``__init__``'s parameters)."""
        names: list[str] = []
        for klass in reversed(cls.__mro__):
            names.extend(klass.__dict__.get("__slots__", ()))
        return tuple(names)

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.field_names())

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Record)
        return self._values() == other._values()

    def __hash__(self) -> int:
        if not self._frozen:
            raise TypeError(f"unhashable type: {type(self).__name__!r}")
        return hash(self._values())

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.field_names())
        return f"{type(self).__name__}({inner})"

    def __setattr__(self, name: str, value: Any) -> None:
        if self._frozen:
            raise AttributeError(f"cannot assign to field {name!r} of frozen {type(self).__name__}")
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        if self._frozen:
            raise AttributeError(f"cannot delete field {name!r} of frozen {type(self).__name__}")
        object.__delattr__(self, name)

    def replace(self: R, **changes: Any) -> R:
        """A copy with some fields replaced (``dataclasses.replace``)."""
        values = {name: getattr(self, name) for name in self.field_names()}
        unknown = set(changes) - set(values)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {sorted(unknown)[0]!r}")
        values.update(changes)
        return type(self)(**values)


def init_fields(obj: Record, **values: Any) -> None:
    """Assign ``values`` to ``obj``'s slots, frozen or not (for ``__init__``)."""
    for name, value in values.items():
        object.__setattr__(obj, name, value)
