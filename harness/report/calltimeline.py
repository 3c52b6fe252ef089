"""A scenario's CNI calls as a timeline (the wiretap's record, in the HTML report).

One row per call, parent before children and indented under it; the bar
shows when the call ran and how long, relative to the scenario's first call;
its colour is the command, a red outline a non-zero exit. Each row opens
(``<details>``, no script) to the call's environment, stdin and stdout.
"""

from __future__ import annotations

import html
import json
from typing import Any

TRACK_PX = 420
COMMAND_COLOURS = {"ADD": "#1a7f37", "DEL": "#bc4c00", "CHECK": "#0969da"}
OTHER_COLOUR = "#6e7781"
CSS = (
    ".calls{font-size:.78em;margin:.5em 0} .calls summary{cursor:pointer;list-style:none;"
    "display:flex;align-items:center;gap:.5em;white-space:nowrap}"
    ".calls .lbl{display:inline-block;width:26em;overflow:hidden;text-overflow:ellipsis}"
    f".calls .trk{{position:relative;display:inline-block;width:{TRACK_PX}px;height:.8em;"
    "background:#eaeef2;border-radius:2px}"
    ".calls .cb{position:absolute;top:0;height:100%;min-width:2px;border-radius:2px}"
    ".calls pre{margin:.2em 0 .5em 2em;max-height:16em}"
)


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _pretty(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, sort_keys=True)
    except (ValueError, TypeError):
        return text


def calls_timeline(calls: list[dict[str, Any]] | None, allowed: list[str] | None = None) -> str:
    """The HTML of one scenario's timeline; a note when nothing was recorded.

    ``allowed``: violations of clauses the scenario allows on purpose
    (``wiretap.allow``), shown, not failed."""
    notes = "".join(
        f'<p class="meta">wiretap, allowed by the scenario: {_e(a)}</p>' for a in allowed or []
    )
    if calls is None:
        return '<p class="meta">CNI calls: not checked (no wiretap on this cluster)</p>'
    if not calls:
        return '<p class="meta">CNI calls: none recorded</p>'
    t0 = min(float(c["start"]) for c in calls)
    t1 = max(float(c["start"]) + float(c["seconds"]) for c in calls)
    span = max(t1 - t0, 1e-3)
    depth: dict[str, int] = {}
    rows = []
    for call in calls:
        depth[call["id"]] = depth[call["parent"]] + 1 if call.get("parent") in depth else 0
        left = TRACK_PX * (float(call["start"]) - t0) / span
        width = TRACK_PX * float(call["seconds"]) / span
        colour = COMMAND_COLOURS.get(call["command"], OTHER_COLOUR)
        outline = "outline:2px solid #cf222e;" if call["exit"] != 0 else ""
        indent = "&nbsp;&nbsp;" * depth[call["id"]]
        label = (
            f"{call['caller']} &rarr; {_e(call['plugin'])} {_e(call['command'])}"
            f" {_e(call.get('ifname', ''))}"
        )
        ms = float(call["seconds"]) * 1000
        env = " ".join(f"{k}={v}" for k, v in sorted((call.get("env") or {}).items()))
        rows.append(
            f'<details><summary><span class="lbl" title="{_e(call["id"])}">{indent}{label}'
            f'</span><span class="trk"><span class="cb" style="left:{left:.1f}px;'
            f'width:{width:.1f}px;background:{colour};{outline}"></span></span>'
            f"<span>{ms:.1f} ms{'' if call['exit'] == 0 else ', exit ' + str(call['exit'])}"
            f"</span></summary><pre>{_e(call['id'])} {_e(call.get('network', ''))}\n"
            f"env: {_e(env)}\nstdin: {_e(_pretty(call.get('stdin', '')))}\n"
            f"stdout: {_e(_pretty(call.get('stdout', '')))}"
            f"{chr(10) + 'stderr: ' + _e(call['stderr']) if call.get('stderr') else ''}"
            "</pre></details>"
        )
    legend = " ".join(
        f'<span style="color:{c}">&#9632;</span> {k}' for k, c in COMMAND_COLOURS.items()
    )
    return notes + (
        f'<div class="calls"><p class="meta">CNI calls ({len(calls)}, {span * 1000:.0f} ms; '
        f"{legend}; red outline: failed)</p>{''.join(rows)}</div>"
    )
