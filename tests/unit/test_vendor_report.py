"""The vendor kit's report renderers, capability values, and the CLI's input handling."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from harness.cli import main
from harness.vendor import check_plugin
from harness.vendor.checks import capability_checks, default_capability_value
from harness.vendor.reference import render_results
from harness.vendor.report import (
    FAILED,
    PASSED,
    SKIPPED,
    CheckResult,
    Report,
    render_json,
    render_junit,
    render_markdown,
    render_text,
)
from pymultus.cni.conflist import load_network_config


def _report() -> Report:
    return Report(
        plugin="/usr/lib/cni/macvlan",
        config="fixtures/vendor/macvlan.json",
        cni_versions=["1.0.0"],
        results=[
            CheckResult("version", PASSED, 0.1, summary="supports 1.0.0"),
            CheckResult("no-leaks", FAILED, 0.2, summary="1 left | x", evidence="file /a left"),
            CheckResult("status-gc", SKIPPED, 0.0, reason="needs 1.1.0"),
        ],
        seconds=0.3,
    )


def test_counts_and_exit_code() -> None:
    report = _report()
    assert (report.count(PASSED), report.count(FAILED), report.count(SKIPPED)) == (1, 1, 1)
    assert report.exit_code == 1 and not report.ok
    assert report.failed_names() == ["no-leaks"]
    report.results.pop(1)
    assert report.exit_code == 0
    with pytest.raises(KeyError, match="no check 'nope'"):
        report.result("nope")


def test_junit_xml() -> None:
    root = ET.fromstring(render_junit(_report()))
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    failure = cases["no-leaks"].find("failure")
    assert failure is not None and failure.text == "file /a left"
    skipped = cases["status-gc"].find("skipped")
    assert skipped is not None and skipped.get("message") == "needs 1.1.0"
    assert list(cases["version"]) == []


def test_markdown_and_json_and_text() -> None:
    md = render_markdown(_report())
    assert "| no-leaks | failed | 0.20 | 1 left \\| x |" in md
    assert "| status-gc | skipped | 0.00 | needs 1.1.0 |" in md
    assert "### no-leaks\n\n```\nfile /a left\n```" in md
    data = json.loads(render_json(_report()))
    assert data["summary"] == {"passed": 1, "failed": 1, "skipped": 1}
    assert data["results"][1]["evidence"] == "file /a left"
    text = render_text(_report())
    assert "FAILED  no-leaks (0.20 s): 1 left | x\n        file /a left" in text
    assert text.endswith("1 passed, 1 failed, 1 skipped in 0.30 s")


def test_reference_table() -> None:
    md = render_results({"macvlan": _report()}, bin_dir="/nonexistent")
    assert "| plugin | version | no-leaks | status-gc | seconds |" in md
    assert "| macvlan | pass | **FAIL** | skip | 0.3 |" in md
    assert "### macvlan\n\n- **no-leaks**: 1 left | x\n" in md
    assert "- macvlan / status-gc: needs 1.1.0" in md


def test_reference_notes_explain_failures_once_per_plugin() -> None:
    md = render_results({"dhcp": _report(), "ptp": _report()}, bin_dir="/nonexistent")
    assert md.count("needs its daemon") == 1
    assert "- With failures (count): dhcp (1), ptp (1)." in md
    clean = Report("p", "c", ["1.0.0"], [CheckResult("version", PASSED)])
    kernel = Report(
        "k",
        "c",
        ["1.0.0"],
        [CheckResult("add-result", SKIPPED, reason="the kernel cannot run this plugin here: x")],
    )
    md2 = render_results({"macvlan": clean, "ipvlan": kernel}, bin_dir="/nonexistent")
    assert "- No failure: macvlan." in md2
    assert "(checks skipped with its error): ipvlan." in md2
    assert "### ptp\n\n- **no-leaks**: 1 left | x\n" in md


def test_capability_values() -> None:
    plugin = {"type": "macvlan", "ipam": {"ranges": [[{"subnet": "192.168.60.0/24"}]]}}
    assert default_capability_value("ips", plugin) == ["192.168.60.42/24"]
    assert default_capability_value("ips", {"ipam": {"subnet": "10.5.0.0/16"}}) == ["10.5.0.42/16"]
    assert default_capability_value("mac", plugin) == "02:42:0a:63:00:07"
    assert default_capability_value("portMappings", plugin)[0]["hostPort"] == 18081
    assert default_capability_value("aliases", plugin) is None


def test_capability_checks_follow_the_plugin_under_test() -> None:
    ncl = load_network_config(
        {
            "cniVersion": "1.0.0",
            "name": "n",
            "plugins": [
                {"type": "ptp", "capabilities": {"ips": True}},
                {"type": "portmap", "capabilities": {"portMappings": True, "mac": False}},
            ],
        },
        "test",
    )
    assert [c.name for c in capability_checks(ncl, "portmap")] == ["capability-portMappings"]
    assert [c.name for c in capability_checks(ncl, "ptp")] == ["capability-ips"]
    assert capability_checks(ncl, "tuning") == []


def test_check_plugin_refuses_a_missing_binary(tmp_path: Path) -> None:
    report = check_plugin(str(tmp_path / "nope"), {"cniVersion": "1.0.0", "name": "n", "type": "x"})
    assert report.failed_names() == ["setup"]
    assert "is not an executable file" in report.results[0].summary


def test_cli_writes_reports_and_fails(tmp_path: Path) -> None:
    conf = tmp_path / "conf.json"
    conf.write_text(json.dumps({"cniVersion": "1.0.0", "name": "n", "type": "x"}))
    junit = tmp_path / "out.xml"
    code = main(
        [
            "vendor", "check", "--plugin", str(tmp_path / "nope"), "--config", str(conf),
            "--junit-xml", str(junit), "--json", str(tmp_path / "out.json"),
        ]
    )  # fmt: skip
    assert code == 1
    assert ET.parse(junit).getroot().find("testsuite") is not None
    assert json.loads((tmp_path / "out.json").read_text())["summary"]["failed"] == 1


def test_cli_rejects_unreadable_config(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SystemExit, match="is not valid JSON"):
        main(["vendor", "check", "--plugin", "/bin/true", "--config", str(bad)])
