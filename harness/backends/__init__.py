"""Backends make a scenario's cluster real. ``local`` is the embedded default.

The registry: :data:`REGISTRY` names every backend's module, one table; each
module defines its :class:`~harness.backends.entry.Backend` as ``BACKEND``
(how a scenario gets its cluster, the answers for ``cluster.needs``, why it
cannot run here, and for real clusters the commands around a run). A module
is imported only when its backend is used, and the registry is the only
place that knows them all: :mod:`harness.backends.remote`, which kind, k3s
and existing build on, never imports them (an import-linter contract keeps
it so). Adding a backend is one module and one line here.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING

from harness.backends.entry import Backend
from harness.backends.options import Options
from harness.cluster import Cluster
from harness.scenario.loader import Scenario
from harness.scenario.needs import Probe

if TYPE_CHECKING:
    from harness.backends.remote import Command

REGISTRY: dict[str, str] = {
    "local": "harness.backends.local.backend",
    "kind": "harness.backends.kind",
    "k3s": "harness.backends.k3s",
    "existing": "harness.backends.existing",
}
BACKENDS = tuple(REGISTRY)

__all__ = [
    "BACKENDS",
    "REGISTRY",
    "Backend",
    "Options",
    "backend",
    "finish_backends",
    "make_cluster",
    "plan_for",
    "print_plan",
    "probes_for",
    "unavailable_reason",
]


def backend(name: str) -> Backend:
    """The registry's entry for ``name`` (its module imported now); KeyError if unknown."""
    entry = importlib.import_module(REGISTRY[name]).BACKEND
    if not isinstance(entry, Backend):
        raise TypeError(f"{REGISTRY[name]}.BACKEND is not a harness.backends.entry.Backend")
    return entry


def unavailable_reason(options: Options) -> str | None:
    """Why this backend cannot run here (None when it can): a skip reason."""
    if options.backend not in REGISTRY:
        return f"unknown backend {options.backend!r} (available: {', '.join(BACKENDS)})"
    return backend(options.backend).unavailable(options)


def make_cluster(scenario: Scenario, options: Options) -> Cluster:
    return backend(options.backend).cluster(scenario, options)


def probes_for(options: Options) -> dict[str, Probe]:
    """Answers for scenarios' ``cluster.needs`` on this backend."""
    return backend(options.backend).probes(options)


def plan_for(options: Options) -> list[Command]:
    """What a run with these options would execute around its scenarios (--dry-run)."""
    plan = backend(options.backend).plan
    return plan(options) if plan is not None else []


def print_plan(options: Options) -> int:
    """``--dry-run``: the exact commands, one a line, runnable as a shell script."""
    if options.backend not in REGISTRY or backend(options.backend).plan is None:
        print(f"--dry-run: the {options.backend} backend runs no external commands")
        return 0
    try:
        commands = plan_for(options)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"# harness run --backend {options.backend}: commands around the scenarios")
    for command in commands:
        print(command.render())
    return 0


def finish_backends(failed: bool) -> None:
    """End of a run: real clusters collect logs on failure and are deleted unless kept."""
    from harness.backends import remote

    remote.finish_all(failed)
