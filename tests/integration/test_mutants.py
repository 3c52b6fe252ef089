"""The make-test subset of the mutant kit: each fast mutant against its catches.

The full sweep (every mutant, the whole suite, a control run) is `make
mutants`; here each mutant marked ``fast`` in harness/mutants/catalog.py runs
only the one to three scenarios that should catch it, and must be caught by a
failed expectation (an error status is "broken", not caught). The same
scenarios pass against pymultus in the ordinary scenario run of make test,
which is this subset's control.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.mutants.build import build
from harness.mutants.catalog import CATALOG
from harness.mutants.model import Mutant
from harness.mutants.sweep import CAUGHT, run_suite, scenario_paths, verdict

ROOT = Path(__file__).resolve().parents[2]
SUITE = sorted(str(p) for p in (ROOT / "scenarios").glob("*.yaml"))
FAST = [m for m in CATALOG.mutants if m.fast]


@pytest.mark.parametrize("mutant", FAST, ids=lambda m: m.id)
def test_fast_mutant_is_caught_by_its_scenarios(mutant: Mutant, tmp_path: Path) -> None:
    made = build(CATALOG, mutant, str(tmp_path))
    paths = scenario_paths(SUITE, mutant.catches)
    assert len(paths) == len(mutant.catches)
    run = run_suite(made.launcher, paths, str(tmp_path), mutant.id, timeout=600)
    result = verdict(mutant.id, [run], None)
    log = (tmp_path / f"{mutant.id}.log").read_text(errors="replace")[-3000:]
    assert result.verdict == CAUGHT, f"{result.verdict}: {result.detail}\n{log}"
