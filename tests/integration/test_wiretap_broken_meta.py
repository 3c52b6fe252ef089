"""Acceptance (issue 13): broken meta-plugins fail, and the failure names the call
and the clause. Each broken meta-plugin is pymultus with one behaviour patched
out at start-up by a tiny launcher written here (nothing in the product changes).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from harness.backends import Options, make_cluster, probes_for, unavailable_reason
from harness.runner import ScenarioResult, run_scenario
from harness.scenario.loader import load_scenario

REPO = Path(__file__).resolve().parents[2]

#: Answers in the delegate's version (1.0.0), never converting to the caller's.
NO_CONVERSION = (
    "import pymultus.engine.commands as commands\n"
    "commands.convert_result = lambda result, version: result"
)
#: A failed ADD leaves what it made for the runtime's DEL afterwards.
NO_ROLLBACK = "engine.Engine.rollback = lambda self, *args: None"


def broken_meta(tmp_path: Path, patch: str) -> str:
    """An executable named pymultus that runs pymultus with ``patch`` applied."""
    directory = tmp_path / "broken"
    directory.mkdir()
    launcher = directory / "pymultus"
    launcher.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        "import pymultus.engine as engine\n"
        f"{patch}\n"
        "from pymultus.thin import main\n"
        "sys.exit(main())\n"
    )
    launcher.chmod(0o755)
    return str(launcher)


def run(scenario: str, meta: str | None) -> ScenarioResult:
    options = Options(meta_plugin=meta)
    reason = unavailable_reason(options)
    if reason:
        pytest.skip(reason)
    return run_scenario(
        load_scenario(str(REPO / "scenarios" / scenario)),
        lambda s: make_cluster(s, options),
        probes_for(options),
    )


def test_a_1_0_0_answer_to_a_0_3_1_caller_fails_naming_call_and_clause(tmp_path: Path) -> None:
    result = run("meta-cni-version-old-caller.yaml", broken_meta(tmp_path, NO_CONVERSION))
    assert result.status == "failed", result.report()
    wiretap = [f for f in result.failures if f.message.startswith("wiretap:")]
    assert wiretap, result.report()
    first = wiretap[0].message
    assert "runtime -> pymultus ADD" in first, first
    assert "cni-add" in first and "SPEC.md Section 5" in first, first
    assert "result cniVersion '1.0.0' is not the config's '0.3.1'" in first, first
    assert "call node-1#" in first, first  # the call is named by its id


def test_the_same_scenario_passes_with_pymultus(tmp_path: Path) -> None:
    result = run("meta-cni-version-old-caller.yaml", None)
    assert result.status == "passed", result.report()
    runtime = [c for c in result.topology["calls"] if c["caller"] == "runtime"]
    # the kubelet's sandbox (the scenario's `cni` step makes a second one)
    sandbox = runtime[0]["env"]["CNI_CONTAINERID"]
    runtime = [c for c in runtime if c["env"]["CNI_CONTAINERID"] == sandbox]
    # containerd's sequence: ADD, DEL on StopPodSandbox, DEL on RemovePodSandbox
    assert [(c["command"], bool(c["env"]["CNI_NETNS"])) for c in runtime] == [
        ("ADD", True),
        ("DEL", True),
        ("DEL", False),
    ]
    keys = [kv.split("=")[0] for kv in runtime[0]["env"]["CNI_ARGS"].split(";")]
    assert keys == [
        "K8S_POD_INFRA_CONTAINER_ID",
        "K8S_POD_UID",
        "IgnoreUnknown",
        "K8S_POD_NAMESPACE",
        "K8S_POD_NAME",
    ]
    assert json.loads(runtime[0]["stdout"])["cniVersion"] == "0.3.1"  # as printed
    delegates = [c for c in result.topology["calls"] if c["caller"] == "pymultus"]
    assert {c["plugin"] for c in delegates} == {"ptp", "macvlan"}


def test_no_rollback_fails_the_rollback_scenario(tmp_path: Path) -> None:
    result = run("wiretap-rollback.yaml", broken_meta(tmp_path, NO_ROLLBACK))
    assert result.status == "failed", result.report()
    report = result.report()
    assert "never DELeted again by its caller (no rollback)" in report, report
    assert "pymultus -> ptp ADD" in report or "pymultus -> macvlan ADD" in report, report


def test_rollback_scenario_passes_with_pymultus() -> None:
    result = run("wiretap-rollback.yaml", None)
    assert result.status == "passed", result.report()
