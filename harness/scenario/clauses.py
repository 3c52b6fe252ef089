"""The clause catalogue (clauses.yaml): what a scenario may claim to cover.

Keeping the list in one file makes ``covers:`` checkable (a misspelt clause
is a load error, not a silent hole in coverage) and lets ``harness coverage``
name the clauses no scenario covers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml


@dataclass(frozen=True)
class Clause:
    id: str
    title: str
    group: str  # npwg, cni, multus, pymultus
    informative: bool = False  # a recommendation or freedom: not checkable black-box


@lru_cache(maxsize=1)
def catalogue() -> dict[str, Clause]:
    """All clauses by id, in catalogue order."""
    text = resources.files("harness.scenario").joinpath("clauses.yaml").read_text()
    data = yaml.safe_load(text)
    out: dict[str, Clause] = {}
    for group, entries in data.items():
        for clause_id, value in entries.items():
            if isinstance(value, dict):
                out[clause_id] = Clause(
                    clause_id, str(value["title"]), group, bool(value.get("informative", False))
                )
            else:
                out[clause_id] = Clause(clause_id, str(value), group)
    return out
