"""A Markdown summary fit for ``$GITHUB_STEP_SUMMARY``: counts, a table, the
failures in detail, and beyond-reference checks in a section of their own."""

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
    conformance = [r for r in results if not r.scenario.beyond_reference]
    beyond = [r for r in results if r.scenario.beyond_reference]
    lines += _table(conformance)
    if beyond:
        lines += ["", "### Beyond-reference checks", ""]
        lines += _table(beyond)
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
