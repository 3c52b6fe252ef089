"""A self-contained HTML report: one card per scenario with its result, timings,
failures and its topology drawn as inline SVG (:mod:`harness.report.topology_svg`:
fabrics, nodes, attachment points, pods wired to them, traffic checks).

No scripts, fonts or images from anywhere: the file is opened from a CI
artifact or a laptop with no network, so everything is inline.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from harness.report.calltimeline import CSS as CALLS_CSS
from harness.report.calltimeline import calls_timeline
from harness.report.topology_svg import DEFAULT_COLOUR, topology_svg
from harness.runner import ScenarioResult

__all__ = ["html_report", "legend", "network_colours", "topology_svg"]

COLOURS = {
    "passed": "#1a7f37",
    "failed": "#cf222e",
    "error": "#8250df",
    "skipped": "#6e7781",
    "xfailed": "#bf8700",
    "xpassed": "#0969da",
}
# A stable colour per network, so a network looks the same in every pod.
PALETTE = ("#0969da", "#bf3989", "#1a7f37", "#bc4c00", "#8250df", "#0a7f83", "#9a6700")


CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#1f2328;background:#f6f8fa}
h1{font-size:1.4em;margin:0 0 .3em} .summary span{margin-right:1em;font-weight:600}
.card{background:#fff;border:1px solid #d0d7de;border-radius:6px;margin:1em 0;padding:.8em 1em}
.card h2{font-size:1.05em;margin:0;display:flex;gap:.6em;align-items:center}
.badge{color:#fff;border-radius:1em;padding:.1em .6em;font-size:.8em;text-transform:uppercase}
.meta{color:#57606a;font-size:.85em;margin:.3em 0}
.clause{background:#ddf4ff;border-radius:4px;padding:0 .3em;margin-right:.3em;font-size:.8em}
pre{background:#f6f8fa;border:1px solid #d0d7de;padding:.6em;overflow:auto;font-size:.8em}
table.t{border-collapse:collapse;font-size:.8em} table.t td{padding:0 .6em 0 0;color:#57606a}
table.index td{padding:.1em .6em .1em 0;color:#1f2328}
.bar{display:inline-block;height:.7em;background:#54aeff;vertical-align:middle}
svg text{font-family:ui-monospace,SFMono-Regular,Menlo,monospace}
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def network_colours(results: Sequence[ScenarioResult]) -> dict[str, str]:
    names: list[str] = []
    for r in results:
        for pod in (r.topology.get("pods") or {}).values():
            for itf in pod.get("interfaces", []):
                net = itf.get("network") or ""
                if itf.get("default"):
                    continue  # drawn apart, in grey (topology_svg.DEFAULT_COLOUR)
                if net not in names:
                    names.append(net)
    return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(sorted(names))}


def legend(colours: dict[str, str]) -> str:
    items = [
        f'<span style="margin-right:1em"><span style="color:{c}">&#9679;</span> '
        f"{_e(n or 'unnamed')}</span>"
        for n, c in [*colours.items(), ("default network", DEFAULT_COLOUR)]
    ]
    return f'<p class="meta">networks: {"".join(items)}</p>' if items else ""


def _anchor(r: ScenarioResult) -> str:
    return "s-" + "".join(c if c.isalnum() else "-" for c in r.scenario.path)


def index(results: Sequence[ScenarioResult]) -> str:
    """One line per scenario, linking to its card: the whole run at a glance."""
    rows = []
    for r in results:
        beyond = f" <i>({_e(r.klass)})</i>"
        rows.append(
            f'<tr><td><span class="badge" style="background:{COLOURS[r.status]}">'
            f'{r.status}</span></td><td><a href="#{_anchor(r)}">{_e(r.scenario.name)}</a>'
            f"{beyond}</td><td>{r.seconds:.2f} s</td></tr>"
        )
    return f'<table class="t index">{"".join(rows)}</table>'


def timings_table(timings: list[tuple[str, float]]) -> str:
    if not timings:
        return ""
    longest = max(s for _, s in timings) or 1.0
    rows = "".join(
        f'<tr><td>{_e(p)}</td><td>{s * 1000:.0f} ms</td><td><span class="bar" '
        f'style="width:{max(1, int(160 * s / longest))}px"></span></td></tr>'
        for p, s in timings
    )
    return f'<table class="t">{rows}</table>'


def html_report(
    results: Sequence[ScenarioResult],
    title: str = "harness run",
    run: dict[str, str] | None = None,
) -> str:
    """``run``: what was run (profile, binaries, backend), shown under the title."""
    ran = "".join(f"<li><b>{_e(k)}</b>: <code>{_e(v)}</code></li>" for k, v in (run or {}).items())
    counts = {s: sum(1 for r in results if r.status == s) for s in COLOURS}
    summary = "".join(
        f'<span style="color:{COLOURS[s]}">{n} {s}</span>' for s, n in counts.items() if n
    )
    total = sum(r.seconds for r in results)
    cards: list[str] = []
    from harness.report.classes import CLASS_ORDER, COLUMNS, class_counts

    rank = {k: i for i, k in enumerate(CLASS_ORDER)}
    ordered = sorted(results, key=lambda r: (rank.get(r.klass, 9), r.scenario.path))
    rows = "".join(
        f"<tr><td>{_e(profile)}</td><td>{_e(klass)}</td>"
        + "".join(f"<td>{counts[c]}</td>" for c in COLUMNS)
        + f"<td>{counts['notChecked']}</td></tr>"
        for (profile, klass), counts in class_counts(results).items()
    )
    head = "".join(f"<td><b>{c}</b></td>" for c in ("profile", "class", *COLUMNS, "not checked"))
    per_class = f'<table class="t index"><tr>{head}</tr>{rows}</table>' if rows else ""
    for r in ordered:
        # Colours per scenario: few networks each, so they stay distinct.
        colours = network_colours([r])
        clauses = "".join(f'<span class="clause">{_e(c)}</span>' for c in r.scenario.covers)
        tags = " ".join(_e(t) for t in r.scenario.tags)
        body = [
            f'<div class="card" id="{_anchor(r)}">',
            f'<h2><span class="badge" style="background:{COLOURS[r.status]}">{r.status}</span>'
            f"{_e(r.scenario.name)}</h2>",
            f'<p class="meta">{_e(r.scenario.path)} &middot; class {_e(r.klass)} &middot; '
            f"profile {_e(r.profile)} &middot; {r.seconds:.2f} s"
            f"{' &middot; tags: ' + tags if tags else ''}</p>",
            f"<p>{clauses}</p>",
        ]
        if r.scenario.data.get("description"):
            body.append(f'<p class="meta">{_e(r.scenario.data["description"])}</p>')
        if r.reason:
            body.append(f'<p class="meta"><b>reason:</b> {_e(r.reason)}</p>')
        svg = topology_svg(r.topology, colours)
        if svg:
            body.append(svg)
            body.append(legend(colours))
        body.append(timings_table(r.timings))
        if r.status != "skipped":  # the wiretap's record (harness.report.calltimeline)
            body.append(calls_timeline(r.topology.get("calls"), r.topology.get("wiretapAllowed")))
        if r.failures and r.status != "skipped":
            body.append(f"<pre>{_e(chr(10).join(f.render() for f in r.failures))}</pre>")
        if r.not_checked:
            unseen = "\n".join(f"{c.where}: {c.note}" for c in r.not_checked)
            body.append(
                f'<p class="meta"><b>not checked</b> (never counted as passed):</p>'
                f"<pre>{_e(unseen)}</pre>"
            )
        body.append("</div>")
        cards.append("\n".join(body))
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_e(title)}</title><style>{CSS}{CALLS_CSS}</style></head><body>"
        f"<h1>{_e(title)}</h1>"
        + (f"<ul class='run'>{ran}</ul>" if ran else "")
        + f"<p class='summary'>{summary} in {total:.1f} s</p>"
        f"{per_class}{index(ordered)}" + "\n".join(cards) + "</body></html>\n"
    )
