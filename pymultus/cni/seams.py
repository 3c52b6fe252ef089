"""The plugin executor's interface, as a type: what fakes in tests replace.

A ``typing.Protocol``, so this module imports ``typing``; the CNI entry path
imports it only under ``TYPE_CHECKING`` (issue 16: no ``typing`` at run time).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pymultus.cni.request import CNIRequest


class Executor(Protocol):
    """Runs one plugin of ``plugin_type`` for ``command``; the seam fakes replace.

    Returns the plugin's decoded stdout (``{}`` when it printed nothing) or
    raises :class:`~pymultus.cni.errors.CNIError`.
    """

    def __call__(
        self, plugin_type: str, command: str, conf: dict[str, Any], request: CNIRequest
    ) -> dict[str, Any]: ...
