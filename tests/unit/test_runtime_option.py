"""The runtime choice: cluster.runtime in scenarios, --runtime, the cni-1.1 need (no root)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.backends import Options, probes_for
from harness.cli import parser
from harness.scenario.loader import ScenarioError, load_scenario

BASE = """name: x
class: spec
covers: [cni-add]
cluster: {nodes: 1%s}
pods: [{name: p}]
"""


def write(tmp_path: Path, extra: str) -> str:
    path = tmp_path / "s.yaml"
    path.write_text(BASE % extra)
    return str(path)


def test_scenario_pins_a_runtime_or_leaves_it_to_the_run(tmp_path: Path) -> None:
    assert load_scenario(write(tmp_path, ", runtime: containerd")).runtime == "containerd"
    assert load_scenario(write(tmp_path, "")).runtime is None


def test_unknown_runtime_is_refused_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as err:
        load_scenario(write(tmp_path, ", runtime: docker"))
    assert "runtime" in str(err.value)


def test_cni_1_1_need_follows_the_run_runtime() -> None:
    assert probes_for(Options(runtime="simulated"))["cni-1.1"]() is None
    reason = probes_for(Options(runtime="containerd"))["cni-1.1"]()
    assert reason and "containerd" in reason


def test_run_has_a_runtime_option() -> None:
    args = parser().parse_args(["run", "--runtime", "containerd", "scenarios"])
    assert args.runtime == "containerd"


def test_cluster_up_has_a_runtime_option() -> None:
    args = parser().parse_args(["cluster", "up", "--runtime", "containerd"])
    assert args.runtime == "containerd"
