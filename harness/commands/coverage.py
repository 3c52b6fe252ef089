"""``harness coverage [PATHS] [--results FILE]``: which spec clauses the suite
really proves.

A clause counts only through an expectation that names it in ``proves:``
and that ran and passed in the results (per profile). ``covers:`` is a
declaration and counts nothing: a clause claimed there but proven by no
expectation is listed as uncovered, with the scenarios that claim it, so the
report cannot overstate. For every clause the report lists the expectations
(``file:line``) that prove it and their last status in each profile.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.scenario.clauses import Clause, catalogue
from harness.scenario.files import load_all, scenario_files
from harness.scenario.loader import Scenario, checks

DEFAULT_RESULTS = "reports/results.json"


def register(sub: Any) -> None:
    p = sub.add_parser("coverage", help="spec clauses -> the expectations that prove them")
    p.add_argument(
        "paths", nargs="*", default=[], help="scenario files or directories (default: the suite)"
    )
    p.add_argument(
        "--results",
        action="append",
        help=f"results JSON of a `harness run --results-json` (default {DEFAULT_RESULTS}); "
        "repeat for several profiles",
    )
    p.add_argument("--group", help="only clauses of this group (npwg, cni, multus, pymultus)")
    p.add_argument(
        "--fail-uncovered", action="store_true", help="exit 1 when a normative clause is uncovered"
    )
    p.set_defaults(func=run)


@dataclass
class ClauseCoverage:
    clause: str
    proofs: list[str] = field(default_factory=list)  # file:line of expectations proving it
    claimed_by: list[str] = field(default_factory=list)  # scenario paths whose covers name it


def norm(where: str) -> str:
    """``path:line`` with the path normalised, so results and files compare."""
    path, sep, line = where.rpartition(":")
    return f"{os.path.normpath(path)}:{line}" if sep and line.isdigit() else os.path.normpath(where)


def coverage(
    scenarios: Sequence[Scenario], clauses: dict[str, Clause]
) -> dict[str, ClauseCoverage]:
    """Clause id -> its proving expectations and claiming scenarios (every
    catalogue clause present, in catalogue order)."""
    out = {c: ClauseCoverage(c) for c in clauses}
    for s in scenarios:
        for check in checks(s):
            for clause in check.proves:
                out.setdefault(clause, ClauseCoverage(clause)).proofs.append(
                    norm(s.where(*check.pointer))
                )
        for clause in s.covers:
            out.setdefault(clause, ClauseCoverage(clause)).claimed_by.append(s.path)
    return out


def check_statuses(documents: Sequence[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """profile -> (file:line -> status) of every check in the results."""
    out: dict[str, dict[str, str]] = {}
    for doc in documents:
        default_profile = str(doc.get("profile") or "pymultus-thin")
        for result in doc.get("results", []):
            profile = str(result.get("profile") or default_profile)
            table = out.setdefault(profile, {})
            for check in result.get("checks", []):
                table[norm(str(check["where"]))] = str(check["status"])
    return out


def proven(item: ClauseCoverage, statuses: dict[str, str]) -> bool:
    """A clause is proven in a profile when one of its expectations passed."""
    return any(statuses.get(where) == "passed" for where in item.proofs)


def render(
    table: dict[str, ClauseCoverage],
    clauses: dict[str, Clause],
    profiles: dict[str, dict[str, str]],
    group: str | None = None,
) -> tuple[str, list[str]]:
    """The printed report and the uncovered normative clauses (proven in no
    profile of the results; with no results, not proven at all). The count
    of proven clauses is given per profile: a peer's gaps stay visible when
    its results are read together with pymultus's."""
    lines: list[str] = []
    uncovered: list[str] = []
    informative: list[str] = []
    names = list(profiles) or ["(no results)"]
    counted = {p: 0 for p in profiles}
    for clause_id, item in table.items():
        clause = clauses.get(clause_id)
        if group and (clause is None or clause.group != group):
            continue
        for p in profiles:
            counted[p] += proven(item, profiles[p])
        if not any(proven(item, profiles[p]) for p in profiles):
            (informative if clause and clause.informative else uncovered).append(clause_id)
        if not item.proofs:
            continue
        title = clause.title if clause else "(not in the catalogue)"
        lines.append(f"{clause_id}  {title}")
        for where in item.proofs:
            states = ", ".join(f"{p}: {profiles.get(p, {}).get(where, 'not run')}" for p in names)
            lines.append(f"    {where}  {states}")
    lines.append("")
    per_profile = ", ".join(f"{p}: {n}" for p, n in counted.items()) or "no results"
    lines.append(
        f"clauses proven by a passing expectation: {per_profile}; "
        f"{len(uncovered)} uncovered in every profile"
    )
    if uncovered:
        lines.append("uncovered clauses (no expectation proves them, or none passed):")
        for c in uncovered:
            title = clauses[c].title if c in clauses else "(not in the catalogue)"
            claims = table[c].claimed_by
            note = (
                f"  [claimed by covers: {', '.join(claims)}]"
                if claims and not table[c].proofs
                else ""
            )
            lines.append(f"    {c}  {title}{note}")
    if informative:
        lines.append("informative clauses (recommendations, not checkable black-box), unproven:")
        lines += [f"    {c}  {clauses[c].title}" for c in informative]
    return "\n".join(lines), uncovered


def run(args: argparse.Namespace) -> int:
    from harness.report.results import load_documents

    errors: list[str] = []
    scenarios = load_all(scenario_files(args.paths), errors)
    documents: list[dict[str, Any]] = []
    for path in args.results or [DEFAULT_RESULTS]:
        if os.path.exists(path):
            documents += load_documents(path)
        else:
            print(f"(no results file {path}: run `harness run --results-json FILE` first)")
    clauses = catalogue()
    text, uncovered = render(
        coverage(scenarios, clauses), clauses, check_statuses(documents), args.group
    )
    print(text)
    for error in errors:
        print(f"invalid scenario: {error}")
    return 1 if errors or (args.fail_uncovered and uncovered) else 0
