"""Where the suite is found (harness.scenario.suite), in this checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.scenario.files import scenario_files
from harness.scenario.loader import fixtures_dir
from harness.scenario.suite import paths_or_suite, shipped_dir, suite_dir

REPO = Path(__file__).resolve().parents[2]


def test_a_checkout_uses_its_own_scenarios_and_fixtures() -> None:
    assert Path(suite_dir()) == REPO / "scenarios"
    assert Path(fixtures_dir()) == REPO / "fixtures"


def test_no_paths_means_the_whole_suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # any directory: nothing relative to the cwd
    files = scenario_files([])
    assert {Path(f).name for f in files} == {p.name for p in (REPO / "scenarios").glob("*.yaml")}
    mine = tmp_path / "mine.yaml"
    assert paths_or_suite([str(mine)]) == [str(mine)]


def test_only_shipped_parts_are_asked_for() -> None:
    with pytest.raises(ValueError, match="not a shipped part"):
        shipped_dir("tests")
