"""Acceptance: a deliberately broken expectation, run on the real local
backend, fails with a diff that names the scenario file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.backends import Options, make_cluster, unavailable_reason
from harness.runner import run_scenario
from harness.scenario.loader import load_scenario

REPO = Path(__file__).resolve().parents[2]


def test_broken_quickstart_names_file_line_and_diff(tmp_path: Path) -> None:
    options = Options()
    reason = unavailable_reason(options)
    if reason:
        pytest.skip(reason)
    text = (REPO / "scenarios" / "quickstart.yaml").read_text()
    broken = text.replace("net1: {kind: macvlan,", "net1: {kind: vlan,", 1)
    assert broken != text
    path = tmp_path / "broken.yaml"
    path.write_text(broken)
    line = next(i for i, ln in enumerate(broken.splitlines(), 1) if "kind: vlan" in ln)
    expect_line = max(
        i for i, ln in enumerate(broken.splitlines(), 1) if i < line and "- pod:" in ln
    )

    result = run_scenario(load_scenario(str(path)), lambda s: make_cluster(s, options))

    assert result.status == "failed"
    report = result.report()
    assert f"{path}:{expect_line}: pod samplepod: 1 interface/route mismatch(es)" in report
    assert "interface net1: kind is macvlan, expected vlan" in report
    assert '-      "kind": "vlan"' in report and '+      "kind": "macvlan"' in report
    assert "recent events:" in report and "AddedInterface" in report
    # cleanup still ran: the other expectations passed and nothing leaked
    assert len(result.failures) == 1, report
