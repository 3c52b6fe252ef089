"""``harness coverage [PATHS] [--results FILE]``: which spec clauses the
scenarios cover, with each scenario's last result, and which clauses no
scenario covers (the honest list of what the suite does not check)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any

from harness.scenario.clauses import Clause, catalogue
from harness.scenario.files import load_all, scenario_files
from harness.scenario.loader import Scenario

DEFAULT_RESULTS = "reports/results.json"


def register(sub: Any) -> None:
    p = sub.add_parser("coverage", help="spec clauses -> scenarios -> last result")
    p.add_argument(
        "paths", nargs="*", default=[], help="scenario files or directories (default: the suite)"
    )
    p.add_argument(
        "--results",
        default=DEFAULT_RESULTS,
        help=f"results JSON of a `harness run --results-json` (default {DEFAULT_RESULTS})",
    )
    p.add_argument("--group", help="only clauses of this group (npwg, cni, multus, pymultus)")
    p.add_argument(
        "--fail-uncovered", action="store_true", help="exit 1 when a normative clause is uncovered"
    )
    p.set_defaults(func=run)


def coverage(
    scenarios: Sequence[Scenario], clauses: dict[str, Clause]
) -> dict[str, list[Scenario]]:
    """Clause id -> the scenarios covering it (every catalogue clause present)."""
    out: dict[str, list[Scenario]] = {c: [] for c in clauses}
    for s in scenarios:
        for clause in s.covers:
            out.setdefault(clause, []).append(s)
    return out


def render(
    table: dict[str, list[Scenario]],
    clauses: dict[str, Clause],
    results: dict[str, str],
    group: str | None = None,
) -> tuple[str, list[str]]:
    """The printed report and the uncovered normative clauses."""
    lines: list[str] = []
    uncovered: list[str] = []
    informative: list[str] = []
    for clause_id, scenarios in table.items():
        clause = clauses.get(clause_id)
        if group and (clause is None or clause.group != group):
            continue
        title = clause.title if clause else "(not in the catalogue)"
        if not scenarios:
            (informative if clause and clause.informative else uncovered).append(clause_id)
            continue
        lines.append(f"{clause_id}  {title}")
        for s in scenarios:
            status = results.get(s.path) or results.get(os.path.normpath(s.path)) or "not run"
            beyond = "  [beyond-reference]" if s.beyond_reference else ""
            lines.append(f"    {status:<8} {s.path}{beyond}")
    covered = sum(1 for c, s in table.items() if s and (not group or _in(clauses, c, group)))
    lines.append("")
    lines.append(f"{covered} clause(s) covered, {len(uncovered)} uncovered")
    if uncovered:
        lines.append("uncovered clauses:")
        lines += [f"    {c}  {clauses[c].title}" for c in uncovered]
    if informative:
        lines.append("informative clauses (recommendations, not checkable black-box), uncovered:")
        lines += [f"    {c}  {clauses[c].title}" for c in informative]
    return "\n".join(lines), uncovered


def _in(clauses: dict[str, Clause], clause_id: str, group: str) -> bool:
    clause = clauses.get(clause_id)
    return clause is not None and clause.group == group


def run(args: argparse.Namespace) -> int:
    errors: list[str] = []
    scenarios = load_all(scenario_files(args.paths), errors)
    results: dict[str, str] = {}
    if os.path.exists(args.results):
        from harness.report.results import load_results

        results = load_results(args.results)
    else:
        print(f"(no results file {args.results}: run `harness run --results-json FILE` first)")
    clauses = catalogue()
    text, uncovered = render(coverage(scenarios, clauses), clauses, results, args.group)
    print(text)
    for error in errors:
        print(f"invalid scenario: {error}")
    return 1 if errors or (args.fail_uncovered and uncovered) else 0
