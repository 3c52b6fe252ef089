"""Reports: JUnit XML, Markdown summary, HTML with SVG topology, results JSON,
and the coverage table built from them."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from harness.commands.coverage import coverage, render
from harness.report.html import html_report, topology_svg
from harness.report.junit import junit_xml
from harness.report.markdown import markdown_summary
from harness.report.results import load_results, results_document
from harness.runner import Failure, ScenarioResult
from harness.scenario.clauses import catalogue
from harness.scenario.loader import Lines, Scenario


def scenario(name: str, covers: list[str], tags: list[str] | None = None) -> Scenario:
    data = {"name": name, "covers": covers, "tags": tags or []}
    return Scenario(f"scenarios/{name}.yaml", data, Lines())


TOPOLOGY = {
    "nodes": ["node-1", "node-2"],
    "networks": [],
    "pods": {
        "a": {
            "namespace": "default",
            "node": "node-1",
            "ready": True,
            "error": None,
            "interfaces": [
                {"name": "eth0", "kind": "veth", "addresses": ["10.244.1.5/24"], "network": None},
                {
                    "name": "net1",
                    "kind": "macvlan",
                    "addresses": ["192.168.1.200/24"],
                    "network": "default/macvlan-conf",
                },
            ],
        },
        "b": {
            "namespace": "x",
            "node": "node-2",
            "ready": False,
            "error": "CNI error (code 7): <no>",
            "interfaces": [],
        },
    },
}


def results() -> list[ScenarioResult]:
    return [
        ScenarioResult(
            scenario("ok", ["npwg-4.1.1", "cni-add"]),
            "passed",
            0.5,
            timings=[("create", 0.2)],
            topology=TOPOLOGY,
        ),
        ScenarioResult(
            scenario("bad", ["npwg-7.2"]),
            "failed",
            1.0,
            [Failure("scenarios/bad.yaml:12", "pod p: sandbox not ready", "details <here>")],
        ),
        ScenarioResult(scenario("skip", ["cni-ipv6"]), "skipped", reason="needs vlan: no"),
        ScenarioResult(scenario("extra", ["pymultus-error-codes"], ["beyond-reference"]), "passed"),
    ]


def test_junit_xml() -> None:
    root = ET.fromstring(junit_xml(results()))
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("4", "1", "1")
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert cases["bad"].find("failure").get("message") == "pod p: sandbox not ready"  # type: ignore[union-attr]
    assert "scenarios/bad.yaml:12" in (cases["bad"].find("failure").text or "")  # type: ignore[union-attr]
    assert cases["skip"].find("skipped").get("message") == "needs vlan: no"  # type: ignore[union-attr]
    props = [p.get("value") for p in cases["ok"].iter("property")]
    assert props == ["npwg-4.1.1", "cni-add"]


def test_markdown_summary_separates_beyond_reference() -> None:
    text = markdown_summary(results())
    assert "**2 passed, 1 failed, 1 skipped**" in text
    head, beyond = text.split("### Beyond-reference checks")
    assert "| extra |" in beyond and "| extra |" not in head
    assert "<summary>bad (scenarios/bad.yaml)</summary>" in text
    assert "scenarios/bad.yaml:12: pod p: sandbox not ready" in text


def test_html_is_self_contained_and_escapes() -> None:
    page = html_report(results())
    assert (
        page.count("<svg") == 1
        and "<script" not in page
        and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    )
    assert "details &lt;here&gt;" in page and "CNI error (code 7): &lt;no&gt;" in page
    assert "192.168.1.200/24" in page and "default/macvlan-conf" in page


def test_topology_svg_draws_every_node_and_pod() -> None:
    svg = topology_svg(TOPOLOGY, {"default/macvlan-conf": "#123456"})
    assert svg.count('class="node"') == 2
    assert svg.count('class="pod"') == 2
    assert 'fill="#123456"' in svg and "x/b (not ready)" in svg
    assert topology_svg({}, {}) == ""


def test_results_json_round_trip_and_coverage(tmp_path: Path) -> None:
    doc = results_document(results(), {"backend": "local"})
    path = tmp_path / "r.json"
    path.write_text(json.dumps(doc))
    statuses = load_results(str(path))
    assert statuses["scenarios/bad.yaml"] == "failed"
    clauses = catalogue()
    table = coverage([r.scenario for r in results()], clauses)
    text, uncovered = render(table, clauses, statuses, group="npwg")
    assert "npwg-7.2  " in text and "    failed   scenarios/bad.yaml" in text
    assert "npwg-4.1.2.1.5" in uncovered and "npwg-4.1.1" not in uncovered
    assert "npwg-6.1.1" not in uncovered  # informative: listed apart
    assert "informative clauses" in text
