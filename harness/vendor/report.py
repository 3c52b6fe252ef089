"""What a vendor check run found, and the three ways to hand it over.

A :class:`Report` is plain data: one :class:`CheckResult` per check, each
``passed``, ``failed`` (with the evidence a vendor needs to reproduce it) or
``skipped`` (with the reason, e.g. the kernel cannot make ipvlan links). The
renderers are pure functions of it: JSON for machines, Markdown for humans and
CI job summaries, JUnit XML because every CI system draws a test table from it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

PASSED = "passed"
FAILED = "failed"
SKIPPED = "skipped"
STATUSES = (PASSED, FAILED, SKIPPED)


@dataclass
class CheckResult:
    """The outcome of one check.

    ``evidence`` is what the check saw when it failed (the plugin's output,
    the kernel state, the leftover objects); ``reason`` why it was skipped.
    """

    name: str
    status: str
    seconds: float = 0.0
    summary: str = ""
    evidence: str = ""
    reason: str = ""

    def line(self) -> str:
        text = self.reason if self.status == SKIPPED else self.summary
        tail = f": {text}" if text else ""
        return f"{self.status.upper():7} {self.name} ({self.seconds:.2f} s){tail}"


@dataclass
class Report:
    plugin: str
    config: str
    cni_versions: list[str]
    results: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def ok(self) -> bool:
        """True when no check failed (skips are not failures: each says why)."""
        return self.count(FAILED) == 0

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def result(self, name: str) -> CheckResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(
            f"no check {name!r} in the report (checks: {[r.name for r in self.results]})"
        )

    def failed_names(self) -> list[str]:
        return [r.name for r in self.results if r.status == FAILED]

    def summary(self) -> str:
        return (
            f"{self.count(PASSED)} passed, {self.count(FAILED)} failed, "
            f"{self.count(SKIPPED)} skipped in {self.seconds:.2f} s"
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["summary"] = {s: self.count(s) for s in STATUSES}
        return data


def render_text(report: Report) -> str:
    """The console form: one line per check, evidence indented under failures."""
    lines = [f"plugin {report.plugin}, config {report.config}"]
    for r in report.results:
        lines.append(r.line())
        if r.status == FAILED and r.evidence:
            lines += ["        " + x for x in r.evidence.splitlines()]
    lines.append(report.summary())
    return "\n".join(lines)


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2) + "\n"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip()


def render_markdown(report: Report, *, title: str | None = None) -> str:
    """A Markdown table; failures' evidence follows in fenced blocks."""
    out = [f"## {title or 'CNI plugin conformance: ' + report.plugin}", ""]
    out.append(
        f"Config `{report.config}`, CNI version(s) {', '.join(report.cni_versions)}: "
        f"**{report.summary()}**."
    )
    out += ["", "| check | result | seconds | details |", "|---|---|---|---|"]
    for r in report.results:
        detail = r.reason if r.status == SKIPPED else r.summary
        out.append(f"| {r.name} | {r.status} | {r.seconds:.2f} | {_md_cell(detail)} |")
    failures = [r for r in report.results if r.status == FAILED and r.evidence]
    for r in failures:
        out += ["", f"### {r.name}", "", "```", r.evidence.rstrip(), "```"]
    return "\n".join(out) + "\n"


def render_junit(report: Report) -> str:
    """JUnit XML: one testsuite, one testcase per check (classname: the plugin's name)."""
    from xml.etree import ElementTree as ET

    suite = ET.Element(
        "testsuite",
        name=f"cni-vendor-check:{report.plugin}",
        tests=str(len(report.results)),
        failures=str(report.count(FAILED)),
        skipped=str(report.count(SKIPPED)),
        errors="0",
        time=f"{report.seconds:.3f}",
    )
    for r in report.results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"cni-vendor-check.{os.path.basename(report.plugin)}",
            name=r.name,
            time=f"{r.seconds:.3f}",
        )
        if r.status == FAILED:
            failure = ET.SubElement(case, "failure", message=r.summary)
            failure.text = r.evidence
        elif r.status == SKIPPED:
            ET.SubElement(case, "skipped", message=r.reason)
    suites = ET.Element("testsuites")
    suites.append(suite)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
