"""Reports: JUnit XML, Markdown summary, HTML with SVG topology, results JSON,
and the coverage table built from them."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from harness.commands.coverage import check_statuses, coverage, render
from harness.report.html import html_report, topology_svg
from harness.report.junit import junit_xml
from harness.report.markdown import markdown_summary
from harness.report.results import load_results, results_document
from harness.runner import CheckRecord, Failure, ScenarioResult
from harness.scenario.clauses import catalogue
from harness.scenario.loader import Lines, Scenario


def scenario(
    name: str, covers: list[str], klass: str = "spec", proves: list[str] | None = None
) -> Scenario:
    data: dict[str, object] = {"name": name, "class": klass, "covers": covers}
    if proves is not None:
        data["expect"] = [{"pod": "p", "proves": proves}]
    lines = Lines({("expect", 0): 7})
    return Scenario(f"scenarios/{name}.yaml", data, lines)


def check(name: str, proves: list[str], status: str) -> CheckRecord:
    return CheckRecord(f"scenarios/{name}.yaml:7", "pod", tuple(proves), status)


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
            scenario("ok", ["npwg-4.1.1", "cni-add", "npwg-4.1.2.1.5"], proves=["npwg-4.1.1"]),
            "passed",
            0.5,
            timings=[("create", 0.2)],
            topology=TOPOLOGY,
            checks=[check("ok", ["npwg-4.1.1"], "passed")],
        ),
        ScenarioResult(
            scenario("bad", ["npwg-7.2"], proves=["npwg-7.2"]),
            "failed",
            1.0,
            [Failure("scenarios/bad.yaml:12", "pod p: sandbox not ready", "details <here>")],
            checks=[check("bad", ["npwg-7.2"], "failed")],
        ),
        ScenarioResult(
            scenario("skip", ["cni-ipv6"], "reference"), "skipped", reason="needs vlan: no"
        ),
        ScenarioResult(
            scenario("extra", ["pymultus-error-codes"], "extension", proves=["npwg-5.2"]),
            "passed",
            checks=[check("extra", ["npwg-5.2"], "not checked")],
        ),
    ]


def test_junit_xml() -> None:
    root = ET.fromstring(junit_xml(results()))
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("4", "1", "1")
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert cases["bad"].find("failure").get("message") == "pod p: sandbox not ready"  # type: ignore[union-attr]
    assert "scenarios/bad.yaml:12" in (cases["bad"].find("failure").text or "")  # type: ignore[union-attr]
    assert cases["skip"].find("skipped").get("message") == "needs vlan: no"  # type: ignore[union-attr]
    props = [(p.get("name"), p.get("value")) for p in cases["ok"].iter("property")]
    assert props == [
        ("class", "spec"),
        ("profile", "pymultus-thin"),
        ("covers", "npwg-4.1.1"),
        ("covers", "cni-add"),
        ("covers", "npwg-4.1.2.1.5"),
        ("proves", "npwg-4.1.1"),
    ]
    extra = [(p.get("name"), p.get("value")) for p in cases["extra"].iter("property")]
    assert ("notChecked", "scenarios/extra.yaml:7: ") in extra
    suite = {p.get("name"): p.get("value") for p in root.find("properties").iter("property")}  # type: ignore[union-attr]
    assert suite["pymultus-thin.spec.passed"] == "1" and suite["pymultus-thin.spec.failed"] == "1"
    assert suite["pymultus-thin.extension.notChecked"] == "1"


def test_markdown_summary_shows_classes_apart() -> None:
    text = markdown_summary(results())
    assert "**2 passed, 1 failed, 1 skipped**" in text
    assert "| pymultus-thin | spec | 1 | 1 | 0 | 0 | 0 |" in text
    assert "| pymultus-thin | extension | 1 | 0 | 0 | 0 | 1 |" in text
    head, extensions = text.split("### Extensions")
    assert "| extra |" in extensions and "| extra |" not in head
    assert "### Reference behaviour" in head
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
    doc = results_document(results(), {"backend": "local", "profile": "pymultus-thin"})
    path = tmp_path / "r.json"
    path.write_text(json.dumps(doc))
    statuses = load_results(str(path))
    assert statuses["scenarios/bad.yaml"] == "failed"
    assert doc["classes"][0] == {
        "profile": "pymultus-thin",
        "class": "spec",
        "passed": 1,
        "failed": 1,
        "skipped": 0,
        "xfailed": 0,
        "notChecked": 0,
    }
    clauses = catalogue()
    table = coverage([r.scenario for r in results()], clauses)
    text, uncovered = render(table, clauses, check_statuses([doc]), group="npwg")
    # Proven only by an expectation that ran and passed:
    assert "npwg-4.1.1  " in text and "    scenarios/ok.yaml:7  pymultus-thin: passed" in text
    assert "npwg-4.1.1" not in uncovered
    # Its expectation failed, or was not checked: listed, but uncovered.
    assert "    scenarios/bad.yaml:7  pymultus-thin: failed" in text and "npwg-7.2" in uncovered
    assert "npwg-5.2" in uncovered
    # covers: alone counts nothing, and the report says who claims it.
    assert "npwg-4.1.2.1.5" in uncovered
    assert "[claimed by covers: scenarios/ok.yaml]" in text
    assert "npwg-6.1.1" not in uncovered  # informative: listed apart
    assert "informative clauses" in text
    assert "clauses proven by a passing expectation: pymultus-thin: 1;" in text


def test_coverage_counts_each_profile() -> None:
    clauses = catalogue()
    table = coverage([r.scenario for r in results()], clauses)
    profiles = {
        "pymultus-thin": {"scenarios/ok.yaml:7": "passed"},
        "multus-thin": {"scenarios/ok.yaml:7": "failed"},
    }
    text, uncovered = render(table, clauses, profiles, group="npwg")
    assert "npwg-4.1.1" not in uncovered  # proven in one profile
    assert "pymultus-thin: passed, multus-thin: failed" in text
    assert "clauses proven by a passing expectation: pymultus-thin: 1, multus-thin: 0;" in text
