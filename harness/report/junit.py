"""JUnit XML, the format every CI system displays: one testcase per scenario,
its file as the classname, covered clauses as properties."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from harness.runner import ScenarioResult


def junit_xml(
    results: Sequence[ScenarioResult], suite: str = "harness", run: dict[str, str] | None = None
) -> str:
    """``run``: what was run (profile, binaries, backend), as the suite's properties."""
    failures = sum(1 for r in results if r.status == "failed")
    errors = sum(1 for r in results if r.status == "error")
    skipped = sum(1 for r in results if r.status in ("skipped", "xfailed"))
    root = ET.Element(
        "testsuite",
        name=suite,
        tests=str(len(results)),
        failures=str(failures),
        errors=str(errors),
        skipped=str(skipped),
        time=f"{sum(r.seconds for r in results):.3f}",
    )
    if run:
        suite_props = ET.SubElement(root, "properties")
        for key, value in run.items():
            ET.SubElement(suite_props, "property", name=key, value=str(value))
    for r in results:
        case = ET.SubElement(
            root,
            "testcase",
            classname=r.scenario.path.replace("/", ".").removesuffix(".yaml"),
            name=r.scenario.name,
            time=f"{r.seconds:.3f}",
        )
        props = ET.SubElement(case, "properties")
        ET.SubElement(props, "property", name="class", value=r.klass)
        ET.SubElement(props, "property", name="profile", value=r.profile)
        for clause in r.scenario.covers:
            ET.SubElement(props, "property", name="covers", value=clause)
        for tag in r.scenario.tags:
            ET.SubElement(props, "property", name="tag", value=tag)
        for check in r.checks:
            for clause in check.proves if check.status == "passed" else ():
                ET.SubElement(props, "property", name="proves", value=clause)
            if check.status == "not checked":
                ET.SubElement(
                    props, "property", name="notChecked", value=f"{check.where}: {check.note}"
                )
        if r.status in ("failed", "error"):
            first = r.failures[0].message if r.failures else r.status
            element = ET.SubElement(case, "failure" if r.status == "failed" else "error")
            element.set("message", first)
            element.text = r.report()
        elif r.status == "skipped":
            ET.SubElement(case, "skipped", message=r.reason)
        elif r.status == "xfailed":
            ET.SubElement(case, "skipped", message=f"expected failure: {r.reason}")
    # Pass/fail per profile and class, as suite properties a CI summary shows.
    from harness.report.classes import class_counts

    suite_props = ET.Element("properties")
    for (profile, klass), counts in class_counts(results).items():
        for column, n in counts.items():
            ET.SubElement(suite_props, "property", name=f"{profile}.{klass}.{column}", value=str(n))
    if len(suite_props):
        root.insert(0, suite_props)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode")
