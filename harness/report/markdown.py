"""A Markdown summary fit for ``$GITHUB_STEP_SUMMARY``: counts, pass/fail per
profile and class, a table per class (extension checks in a section of their
own), and the failures in detail."""

from __future__ import annotations

from collections.abc import Sequence

from harness.runner import ScenarioResult

ICON = {
    "passed": "✅ pass",
    "failed": "❌ fail",
    "error": "💥 error",
    "skipped": "⏭️ skip",
    "xfailed": "⚠️ xfail",
    "xpassed": "❔ xpass",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(results: Sequence[ScenarioResult]) -> list[str]:
    lines = ["| scenario | result | seconds | covers | note |", "|---|---|---:|---|---|"]
    for r in results:
        note = r.reason or (r.failures[0].message if r.failures else "")
        lines.append(
            f"| {_cell(r.scenario.name)} | {ICON[r.status]} | {r.seconds:.2f} | "
            f"{_cell(', '.join(r.scenario.covers))} | {_cell(note)[:160]} |"
        )
    return lines


def markdown_summary(results: Sequence[ScenarioResult], title: str = "Harness run") -> str:
    counts = {s: sum(1 for r in results if r.status == s) for s in ICON}
    total = sum(r.seconds for r in results)
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    lines = [f"## {title}", "", f"**{summary or 'nothing run'}** in {total:.1f} s", ""]
    from harness.report.classes import CLASS_ORDER, COLUMNS, class_counts

    counts_by_class = class_counts(results)
    if counts_by_class:
        lines += ["| profile | class | " + " | ".join(COLUMNS) + " | not checked |"]
        lines += ["|---|---|" + "---:|" * (len(COLUMNS) + 1)]
        for (profile, klass), counts in counts_by_class.items():
            cells = " | ".join(str(counts[c]) for c in COLUMNS)
            lines.append(f"| {profile} | {klass} | {cells} | {counts['notChecked']} |")
        lines.append("")
    titles = {
        "spec": "Spec (CNI, NPWG)",
        "reference": "Reference behaviour",
        "extension": "Extensions (pymultus beyond the reference)",
    }
    for klass in CLASS_ORDER:
        chosen = [r for r in results if r.klass == klass]
        if chosen:
            lines += [f"### {titles[klass]}", "", *_table(chosen), ""]
    broken = [r for r in results if r.status in ("failed", "error")]
    if broken:
        lines += ["", "### Failures", ""]
        for r in broken:
            lines += [
                "<details>",
                f"<summary>{_cell(r.scenario.name)} ({r.scenario.path})</summary>",
                "",
                "```",
                r.report(),
                "```",
                "</details>",
            ]
    return "\n".join(lines) + "\n"
