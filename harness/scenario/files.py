"""Finding and loading many scenario files at once."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from harness.scenario.loader import Scenario, ScenarioError, load_scenario
from harness.scenario.suite import paths_or_suite


def scenario_files(paths: Sequence[str]) -> list[str]:
    """Scenario files named directly, or found (recursively) in directories; no paths
    at all means the conformance suite (see :mod:`harness.scenario.suite`)."""
    files: list[str] = []
    for path in paths_or_suite(paths):
        if os.path.isdir(path):
            for root, _dirs, names in os.walk(path):
                files += [
                    os.path.join(root, n) for n in sorted(names) if n.endswith((".yaml", ".yml"))
                ]
        else:
            files.append(path)
    return sorted(files)


def load_all(
    files: Sequence[str], errors: list[str], placeholders: Mapping[str, str] | None = None
) -> list[Scenario]:
    """Load every file; invalid ones are reported in ``errors`` (file:line: message).

    ``placeholders``: the run's profile's ``{{ name }}`` values."""
    scenarios = []
    for path in files:
        try:
            scenarios.append(load_scenario(path, placeholders))
        except ScenarioError as exc:
            errors.append(str(exc))
    return scenarios
