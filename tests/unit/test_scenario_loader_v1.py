"""Scenario loading (format v2): schema, file:line errors, references, clauses, needs."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.scenario.clauses import catalogue
from harness.scenario.files import load_all, scenario_files
from harness.scenario.loader import ScenarioError, load_scenario, network_objects
from harness.scenario.needs import missing

REPO = Path(__file__).resolve().parents[2]

BASE = """\
name: t
class: spec
covers: [cni-add]
networks:
  - fixture: macvlan-conf
pods:
  - name: p
    networks: macvlan-conf
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_every_shipped_scenario_loads() -> None:
    errors: list[str] = []
    scenarios = load_all(scenario_files([str(REPO / "scenarios")]), errors)
    assert errors == []
    assert len(scenarios) >= 40


def test_minimal_file_loads(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, BASE))
    assert scenario.name == "t" and scenario.klass == "spec"
    assert scenario.needs == [] and scenario.xfail is None and not scenario.beyond_reference


def test_v2_keys(tmp_path: Path) -> None:
    text = BASE.replace("class: spec\n", "").replace(
        "covers: [cni-add]",
        "format: 2\nclass: extension\ncovers: [cni-add]\nxfail: bug 12\n"
        "cluster: {nodes: 2, needs: [ipv6, eth1]}",
    )
    s = load_scenario(write(tmp_path, text))
    assert (s.needs, s.xfail, s.beyond_reference, s.nodes) == (["ipv6", "eth1"], "bug 12", True, 2)


@pytest.mark.parametrize(
    ("extra", "line", "message"),
    [
        ("steps:\n  - delete: [nobody]\n", 10, "unknown pod 'nobody'"),
        ("steps:\n  - frobnicate: true\n", 10, "frobnicate"),
        ("expect:\n  - event: {pod: ghost, reason: X}\n", 10, "unknown pod 'ghost'"),
        ("expect:\n  - exec: {pod: p}\n", 10, "'command' is a required property"),
        ("steps:\n  - writeFile: {path: /etc/x, content: y, node: node-7}\n", 10, "node-7"),
        ("steps:\n  - removeFile: {path: '/var/lib/cni/x/{sandbox:nope}'}\n", 10, "nope"),
        ("steps:\n  - apiFault: {status: '418'}\n", 10, "apiFault"),
        ("cluster: {needs: [quantum]}\n", 9, "quantum"),
        ("expect:\n  - {pod: p, proves: [npwg-99.9]}\n", 10, "npwg-99.9"),
    ],
)
def test_errors_name_file_and_line(tmp_path: Path, extra: str, line: int, message: str) -> None:
    path = write(tmp_path, BASE + extra)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.line == line, str(info.value)
    assert str(info.value).startswith(f"{path}:{line}: ")
    assert message in str(info.value)


def test_unknown_clause_is_an_error_on_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace("covers: [cni-add]", "covers:\n  - cni-add\n  - npwg-99.9"))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.line == 5 and "npwg-99.9" in str(info.value)


def test_unknown_fixture_names_the_line_and_the_available_ones(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace("fixture: macvlan-conf", "fixture: nope"))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)  # at load time, so `harness validate` reports it
    assert info.value.line == 5 and "macvlan-conf" in str(info.value)
    step = BASE + "steps:\n  - apply:\n      - fixture: nope2\n"
    with pytest.raises(ScenarioError) as info:
        load_scenario(write(tmp_path, step))
    assert info.value.line == 11 and "nope2" in str(info.value)


def test_network_objects_resolve_fixtures_and_inline_configs(tmp_path: Path) -> None:
    text = BASE.replace(
        "  - fixture: macvlan-conf\n",
        "  - fixture: macvlan-conf\n    namespace: team-a\n"
        "  - {name: raw, config: '{not json'}\n  - {name: obj, config: {type: x}}\n",
    )
    objs = network_objects(load_scenario(write(tmp_path, text)))
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in objs] == [
        ("team-a", "macvlan-conf"),
        ("default", "raw"),
        ("default", "obj"),
    ]
    assert '"type": "macvlan"' in objs[0]["spec"]["config"]
    assert objs[1]["spec"]["config"] == "{not json"
    assert objs[2]["spec"]["config"] == '{"type": "x"}'


def test_catalogue_covers_npwg_sections_3_to_7() -> None:
    clauses = catalogue()
    sections = {c.split("-")[1].split(".")[0] for c in clauses if c.startswith("npwg-")}
    assert sections == {"3", "4", "5", "6", "7"}
    assert clauses["npwg-4.1.2.1.5"].title.startswith('"interface"')
    assert clauses["npwg-6.1.1"].informative and not clauses["npwg-7.2"].informative


def test_needs_reports_the_first_unmet_need() -> None:
    probes = {"ipv6": lambda: None, "vlan": lambda: "no 802.1Q in this kernel"}
    assert missing(["ipv6"], probes) is None
    assert missing(["ipv6", "vlan"], probes) == "needs vlan: no 802.1Q in this kernel"
    assert missing(["thick"], probes) == "needs thick, which this backend cannot provide"


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200))
def test_any_text_loads_or_fails_with_a_scenario_error(text: str) -> None:
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False, encoding="utf-8") as f:
        f.write(text)
    try:
        load_scenario(f.name)
    except ScenarioError as exc:
        assert exc.path == f.name
    finally:
        os.unlink(f.name)
