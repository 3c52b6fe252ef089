"""`harness run` and `harness validate` without a cluster: selection, summary,
report files, and validation output."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from harness.backends import Options
from harness.commands import validate
from harness.commands.run import select, summary_line, write_reports
from harness.runner import ScenarioResult
from harness.scenario.loader import Lines, Scenario


def scenario(name: str, covers: list[str], klass: str = "spec") -> Scenario:
    return Scenario(
        f"scenarios/{name}.yaml", {"name": name, "class": klass, "covers": covers}, Lines()
    )


def test_select_matches_name_path_or_clause() -> None:
    items = [scenario("ipv6 ping", ["cni-ipv6"]), scenario("quick", ["npwg-4.1.1"])]
    assert [s.name for s in select(items, None)] == ["ipv6 ping", "quick"]
    assert [s.name for s in select(items, "IPV6")] == ["ipv6 ping"]
    assert [s.name for s in select(items, "npwg-4.1")] == ["quick"]


def test_summary_reports_each_profile_and_class() -> None:
    results = [
        ScenarioResult(scenario("a", ["cni-add"]), "passed", 1.0),
        ScenarioResult(scenario("b", ["cni-add"], "extension"), "failed", 2.0),
        ScenarioResult(scenario("c", ["cni-add"]), "xfailed", 0.5),
        ScenarioResult(
            scenario("d", ["cni-add"], "reference"), "passed", 0.5, profile="multus-thin"
        ),
    ]
    assert summary_line(results) == (
        "2 passed, 1 failed, 0 skipped, 1 xfailed in 4.00 s\n"
        "pymultus-thin    spec       1 passed, 0 failed, 0 skipped, 1 xfailed\n"
        "pymultus-thin    extension  0 passed, 1 failed, 0 skipped\n"
        "multus-thin      reference  1 passed, 0 failed, 0 skipped"
    )


def test_write_reports(tmp_path: Path) -> None:
    args = argparse.Namespace(
        junit_xml=str(tmp_path / "a" / "j.xml"),
        markdown=str(tmp_path / "m.md"),
        html=str(tmp_path / "r.html"),
        results_json=str(tmp_path / "r.json"),
    )
    results = [ScenarioResult(scenario("a", ["cni-add"]), "passed", 1.0)]
    write_reports(args, results, Options())
    assert (tmp_path / "a" / "j.xml").read_text().startswith("<?xml")
    assert "| a |" in (tmp_path / "m.md").read_text()
    assert "<!DOCTYPE html>" in (tmp_path / "r.html").read_text()
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["results"][0]["status"] == "passed" and doc["backend"] == "local"


def test_validate_prints_ok_and_file_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("name: g\nclass: spec\ncovers: [cni-add]\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: b\nclass: spec\ncovers: [cni-add]\npods:\n  - name: Bad_Name\n")
    code = validate.run(argparse.Namespace(paths=[str(tmp_path)]))
    out = capsys.readouterr().out
    assert code == 1
    assert f"ok    {good}  (g)" in out
    assert f"error {bad}:5: pods/0/name: 'Bad_Name' does not match" in out


# ------------------------------------------------- honest errors, never skips
def test_a_backend_that_cannot_run_here_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness.cli import main

    scenario_file = tmp_path / "s.yaml"
    scenario_file.write_text("name: s\nclass: spec\n")
    missing = str(tmp_path / "no-cni-bin")
    code = main(["run", str(scenario_file), "--cni-bin-dir", missing])
    err = capsys.readouterr().err
    assert code == 2
    assert f"cannot run here: no CNI plugins in {missing}" in err or "needs root" in err


def test_an_unknown_backend_exits_non_zero() -> None:
    from harness.cli import main

    with pytest.raises(SystemExit) as info:
        main(["run", "--backend", "kindd"])
    assert info.value.code == 2


def test_a_typo_in_pytests_backend_is_a_usage_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    (tmp_path / "test_x.py").write_text("def test_x():\n    pass\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--backend", "lcoal"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 4, proc.stdout + proc.stderr  # pytest's usage-error exit code
    assert "--backend 'lcoal': unknown backend" in proc.stderr
