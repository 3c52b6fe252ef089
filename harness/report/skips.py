"""Expected skips: a skip is only honest when someone decided it in advance.

``ci/expected-skips.yaml`` lists, per run key ``backend/runtime/profile``
(e.g. ``local/simulated/pymultus-thin``), the scenarios allowed to skip and a
text their skip reason must contain::

    local/simulated/pymultus-thin:
      scenarios/thick-hotplug.yaml: "needs thick"
      scenarios/ipvlan-attachment.yaml: "needs kernel:ipvlan"

A run records its skips (``harness run --results-json``, or the pytest
plugin's skip log: JSON lines in ``$HARNESS_SKIP_LOG``), and
``harness skips`` compares: a skip that is not listed, or that is listed
with another reason, is unexpected and fails CI. A listed skip that did not
happen is only reported (the machine can do more than expected).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

DEFAULT_RUNTIME = "simulated"
SKIP_LOG_ENV = "HARNESS_SKIP_LOG"


@dataclass(frozen=True)
class Outcome:
    """One scenario's outcome in one run."""

    key: str  # backend/runtime/profile
    path: str
    status: str
    reason: str = ""


def run_key(backend: str, runtime: str | None, profile: str) -> str:
    return f"{backend}/{runtime or DEFAULT_RUNTIME}/{profile}"


def load_expected(path: str) -> dict[str, dict[str, str]]:
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of run keys to scenario -> reason")
    out: dict[str, dict[str, str]] = {}
    for key, entries in data.items():
        if len(str(key).split("/")) != 3:
            raise ValueError(f"{path}: run key {key!r} is not backend/runtime/profile")
        if not isinstance(entries, dict):
            raise ValueError(f"{path}: {key}: expected scenario path -> reason")
        out[str(key)] = {os.path.normpath(str(p)): str(r) for p, r in entries.items()}
    return out


def outcomes_from_results(documents: Iterable[Mapping[str, Any]]) -> list[Outcome]:
    """Outcomes from results JSON documents (``harness run --results-json``)."""
    out: list[Outcome] = []
    for doc in documents:
        for r in doc.get("results", []):
            key = run_key(
                str(doc.get("backend", "local")),
                doc.get("runtime"),
                str(r.get("profile") or doc.get("profile") or "pymultus-thin"),
            )
            out.append(
                Outcome(
                    key, os.path.normpath(str(r["path"])), str(r["status"]), r.get("reason", "")
                )
            )
    return out


def outcomes_from_log(lines: Iterable[str]) -> list[Outcome]:
    """Outcomes from the pytest plugin's JSON-lines skip log."""
    out: list[Outcome] = []
    for line in lines:
        if line.strip():
            item = json.loads(line)
            out.append(
                Outcome(
                    str(item["key"]),
                    os.path.normpath(str(item["path"])),
                    str(item["status"]),
                    str(item.get("reason", "")),
                )
            )
    return out


def judge(
    outcomes: Sequence[Outcome], expected: Mapping[str, Mapping[str, str]]
) -> tuple[list[str], list[str]]:
    """(unexpected skips, notes). Unexpected: not listed for its run key, or
    listed with a reason the actual one does not contain."""
    problems: list[str] = []
    notes: list[str] = []
    seen: set[tuple[str, str]] = set()
    for o in outcomes:
        seen.add((o.key, o.path))
        if o.status != "skipped":
            continue
        allowed = expected.get(o.key, {})
        if o.path not in allowed:
            problems.append(f"{o.key}: {o.path}: unexpected skip: {o.reason}")
        elif allowed[o.path] not in o.reason:
            problems.append(
                f"{o.key}: {o.path}: skipped because {o.reason!r}, "
                f"but the expected reason is {allowed[o.path]!r}"
            )
    ran = {(o.key, o.path) for o in outcomes if o.status != "skipped"}
    for key, entries in expected.items():
        for path in entries:
            if (key, path) in ran:
                notes.append(f"{key}: {path}: listed as an expected skip but it ran")
    return problems, notes


def log_outcome(key: str, path: str, status: str, reason: str = "") -> None:
    """Append one outcome to ``$HARNESS_SKIP_LOG`` (if set): the pytest plugin's
    record for ``harness skips``."""
    target = os.environ.get(SKIP_LOG_ENV)
    if not target:
        return
    line = json.dumps({"key": key, "path": path, "status": status, "reason": reason})
    with open(target, "a", encoding="utf-8") as f:
        f.write(line + "\n")
