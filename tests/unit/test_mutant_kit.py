"""The mutant kit without clusters: the catalog, the edit, the launcher, the verdicts."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.mutants.build import CONTROL_ID, WRONG_PACKAGE_EXIT, build
from harness.mutants.catalog import CATALOG
from harness.mutants.model import Catalog, CatalogError, Mutant, apply_edit, catalog_from_data
from harness.mutants.sweep import (
    BROKEN,
    CAUGHT,
    SURVIVED,
    SuiteRun,
    control_problems,
    missing_catches,
    summary,
    verdict,
)

ROOT = Path(__file__).resolve().parents[2]
SUITE = sorted(str(p) for p in (ROOT / "scenarios").glob("*.yaml"))


def test_catalog_is_big_enough_and_valid() -> None:
    CATALOG.check()
    assert len(CATALOG.mutants) >= 20
    assert sum(m.fast for m in CATALOG.mutants) >= 5


def test_every_catches_entry_names_a_scenario() -> None:
    assert missing_catches(CATALOG, SUITE) == []
    assert all(m.catches for m in CATALOG.mutants)


@pytest.mark.parametrize("mutant", CATALOG.mutants, ids=lambda m: m.id)
def test_every_mutant_builds_from_todays_source(mutant: Mutant, tmp_path: Path) -> None:
    """A stale snippet (the source moved on) fails here, long before a sweep."""
    result = build(CATALOG, mutant, str(tmp_path))
    assert result.diff.count("\n-") >= 1 or result.diff.count("\n+") >= 1
    edited = tmp_path / mutant.id / "src" / "pymultus" / mutant.file
    original = ROOT / "pymultus" / mutant.file
    assert edited.read_text() != original.read_text()


def mutant(find: str, replace: str = "X") -> Mutant:
    return Mutant(id="m", description="d", file="f.py", find=find, replace=replace)


def test_apply_edit_replaces_exactly_one_occurrence() -> None:
    assert apply_edit("a = 1\nb = 2\n", mutant("b = 2", "b = 3")) == "a = 1\nb = 3\n"


@pytest.mark.parametrize(("text", "word"), [("a = 1\n", "not found"), ("b\nb\n", "2 times")])
def test_a_stale_or_ambiguous_snippet_is_an_error(text: str, word: str) -> None:
    with pytest.raises(CatalogError, match=word):
        apply_edit(text, mutant("b"))


def test_catalog_problems_are_reported_together() -> None:
    bad = Catalog(
        package="p",
        entry="nocolon",
        binary="p",
        mutants=(
            Mutant(id="Bad_ID", description="", file="../x.py", find="a", replace="a"),
            Mutant(id="dup", description="", file="x.py", find="a", replace="b", fast=True),
            Mutant(id="dup", description="", file="x.py", find="a", replace="b"),
        ),
    )
    with pytest.raises(CatalogError) as info:
        bad.check()
    text = str(info.value)
    for needle in ("Bad_ID", "relative", "replace equals find", "fast needs", "duplicate", "entry"):
        assert needle in text


def test_a_catalog_from_yaml_data() -> None:
    catalog = catalog_from_data(
        {
            "package": "vendorplugin",
            "entry": "vendorplugin.main:main",
            "mutants": [
                {"id": "x", "description": "d", "file": "a.py", "find": "1", "replace": "2"}
            ],
        }
    )
    assert catalog.binary == "vendorplugin"
    assert catalog.mutants[0].catches == ()
    with pytest.raises(CatalogError, match="unknown keys"):
        catalog_from_data({"package": "p", "entry": "p:m", "mutants": [{"id": "x", "oops": 1}]})
    with pytest.raises(CatalogError, match="unknown mutant"):
        catalog.select(["nope"])


def test_a_syntax_error_in_a_mutant_is_a_kit_error(tmp_path: Path) -> None:
    broken = Mutant(
        id="syntax",
        description="d",
        file="events.py",
        find="from __future__ import annotations",
        replace="from __future__ import annotations(",
    )
    with pytest.raises(CatalogError, match="does not compile"):
        build(CATALOG, broken, str(tmp_path))


def run_launcher(launcher: str, command: str = "VERSION") -> subprocess.CompletedProcess[bytes]:
    env = {"CNI_COMMAND": command, "PATH": os.environ.get("PATH", "")}
    return subprocess.run(
        [launcher], input=b'{"cniVersion": "1.0.0"}', env=env, capture_output=True, check=False
    )


def test_the_launcher_runs_the_copy_as_a_cni_binary(tmp_path: Path) -> None:
    result = build(CATALOG, None, str(tmp_path))
    assert result.id == CONTROL_ID and result.diff == ""
    assert os.path.basename(result.launcher) == "pymultus"
    proc = run_launcher(result.launcher)
    assert proc.returncode == 0, proc.stderr
    assert b'"supportedVersions"' in proc.stdout


def test_the_launcher_refuses_a_package_that_is_not_the_copy(tmp_path: Path) -> None:
    """With the copy gone Python would import the installed pymultus: refused."""
    result = build(CATALOG, None, str(tmp_path))
    shutil.rmtree(Path(result.root) / "src" / "pymultus")
    proc = run_launcher(result.launcher)
    assert proc.returncode == WRONG_PACKAGE_EXIT
    assert b"not from" in proc.stderr


def test_a_mutant_launcher_really_runs_the_mutation(tmp_path: Path) -> None:
    """every-error-999 turns an unsupported command's code 4 into 999."""
    control = build(CATALOG, None, str(tmp_path))
    mutated = build(CATALOG, CATALOG.select(["every-error-999"])[0], str(tmp_path))
    assert b'"code": 4' in run_launcher(control.launcher, "NOPE").stdout
    assert b'"code": 999' in run_launcher(mutated.launcher, "NOPE").stdout


def runs(**statuses: str) -> list[SuiteRun]:
    return [SuiteRun({f"/s/{k}.yaml": v for k, v in statuses.items()})]


def test_verdict_caught_only_by_a_failed_expectation() -> None:
    assert verdict("m", runs(a="passed", b="failed"), None).verdict == CAUGHT
    assert verdict("m", runs(a="passed", b="error"), None).verdict == BROKEN
    assert verdict("m", runs(a="passed", b="skipped", c="xfailed"), None).verdict == SURVIVED
    result = verdict("m", runs(a="failed", b="error"), None)
    assert result.verdict == CAUGHT and result.caught_by == ["/s/a.yaml"]


def test_a_failure_the_control_shares_does_not_count() -> None:
    control = {"/s/a.yaml": "failed", "/s/b.yaml": "passed"}
    assert verdict("m", runs(a="failed", b="passed"), control).verdict == SURVIVED
    assert verdict("m", runs(a="failed", b="failed"), control).verdict == CAUGHT


def test_a_run_without_results_is_broken_not_caught() -> None:
    result = verdict("m", [SuiteRun(problem="harness run exceeded 10 s")], None)
    assert result.verdict == BROKEN and "exceeded" in result.detail


def test_summary_exit_code_and_survivors() -> None:
    caught = verdict("a", runs(x="failed"), None)
    survived = verdict("b", runs(x="passed"), None)
    text, code = summary([caught, survived], None)
    assert text.splitlines()[0] == "caught 1/2"
    assert "survivors: b" in text and code == 1
    assert summary([caught], None) == ("caught 1/1", 0)
    bad_control = SuiteRun({"/s/x.yaml": "error"})
    assert control_problems(bad_control)
    assert summary([caught], bad_control)[1] == 1


def test_a_flaky_control_scenario_counts_for_nobody_but_does_not_fail_the_sweep() -> None:
    control = SuiteRun({"/s/x.yaml": "flaky", "/s/y.yaml": "passed"})
    flaky_only = verdict("a", runs(x="failed", y="passed"), control.statuses)
    assert flaky_only.verdict == SURVIVED
    caught = verdict("b", runs(x="failed", y="failed"), control.statuses)
    text, code = summary([caught], control)
    assert code == 0 and "x.yaml is flaky" in text


def test_an_error_then_a_failure_of_the_same_scenario_is_a_catch() -> None:
    result = verdict("m", [*runs(a="error"), *runs(a="failed")], None)
    assert result.verdict == CAUGHT and result.caught_by == ["/s/a.yaml"]
