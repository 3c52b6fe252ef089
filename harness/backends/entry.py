"""What the backend registry (:mod:`harness.backends`) knows of one backend.

Each backend module defines one :class:`Backend` as ``BACKEND``; the
registry names the modules in one table and imports a module only when its
backend is used. The field types are what mypy checks each backend's
functions against: ``cluster`` must return a :class:`harness.cluster.Cluster`,
so a backend missing a protocol method fails ``make types``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.backends.options import Options
    from harness.backends.remote import Command
    from harness.cluster import Cluster
    from harness.scenario.loader import Scenario
    from harness.scenario.needs import Probe


@dataclass(frozen=True)
class Backend:
    # A started cluster for one scenario (the runner closes it).
    cluster: Callable[[Scenario, Options], Cluster]
    # Answers for scenarios' ``cluster.needs`` on this backend.
    probes: Callable[[Options], dict[str, Probe]]
    # Why this backend cannot run here (None: it can): a skip reason.
    unavailable: Callable[[Options], str | None]
    # Real clusters: the commands a run executes around its scenarios (--dry-run);
    # None: the backend runs no external commands.
    plan: Callable[[Options], list[Command]] | None = None
