"""docs/peer-results.md from four results documents: the suite run against
the reference Multus (thin and thick) and against pymultus (thin and thick).

The table is generated, never edited by hand, so a rerun regenerates it
exactly. The only hand-written input is the reasons file: for every scenario
Multus fails, why, and which row of docs/compatibility.md says so. The same
pass that renders the table also judges it (issue 12's acceptance), so a
rerun that disagrees with the docs is reported, not silently committed:

* a Multus failure without a reason, or a reason for a scenario Multus no
  longer fails (stale);
* a ``reference`` scenario that does not pass on Multus (that is what the
  class means; a skip needs the run's stated reason);
* a pymultus failure (pymultus passes or skips with a reason);
* a reason whose compatibility anchor is not in docs/compatibility.md;
* a scenario that "error"ed on Multus (the harness could not run the plugin).

Pure functions; the command in :mod:`harness.commands.peers` does the I/O.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: column key -> (heading, profile the document must have)
COLUMNS = (
    ("multus-thin", "Multus thin"),
    ("multus-thick", "Multus thick"),
    ("pymultus-thin", "pymultus thin"),
    ("pymultus-thick", "pymultus thick"),
)
MULTUS = ("multus-thin", "multus-thick")
CELL = {
    "passed": "pass",
    "xpassed": "pass",
    "failed": "**FAIL**",
    "error": "**ERROR**",
    "skipped": "skip",
    "xfailed": "xfail",
}
COMPAT_DOC = "compatibility.md"


@dataclass(frozen=True)
class Reason:
    """Why Multus fails a scenario, and the compatibility row that says so."""

    text: str
    anchor: str


@dataclass
class Peers:
    """The four runs, scenario by scenario."""

    runs: dict[str, dict[str, Any]]  # profile -> results document
    rows: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=dict
    )  # scenario -> profile -> result

    @classmethod
    def of(cls, runs: Mapping[str, dict[str, Any]]) -> Peers:
        peers = cls(dict(runs))
        for profile, doc in runs.items():
            for result in doc.get("results", []):
                key = os.path.basename(str(result["path"]))
                peers.rows.setdefault(key, {})[profile] = result
        return peers

    def klass(self, scenario: str) -> str:
        classes = {str(r.get("class", "")) for r in self.rows[scenario].values()}
        return "/".join(sorted(classes))


Reasons = Mapping[str, Mapping[str, Reason]]  # scenario -> Multus profile -> why


def parse_reasons(data: Any) -> dict[str, dict[str, Reason]]:
    """The reasons file: ``scenario.yaml: {reason, compatibility, profiles?,
    multus-thin?: {reason, compatibility}, multus-thick?: {...}}``. The top
    level applies to ``profiles`` (default both); a profile's own entry wins."""
    if not isinstance(data, dict):
        raise ValueError("the reasons file must map scenario file names to {reason, compatibility}")
    out: dict[str, dict[str, Reason]] = {}
    for name, entry in data.items():
        if not isinstance(entry, dict):
            raise ValueError(f"{name}: needs 'reason' and 'compatibility' (an anchor id)")
        per: dict[str, Reason] = {}
        if entry.get("reason") or entry.get("compatibility"):
            profiles = tuple(entry.get("profiles") or MULTUS)
            unknown = [p for p in profiles if p not in MULTUS]
            if unknown:
                raise ValueError(f"{name}: profiles {unknown} are not {list(MULTUS)}")
            top = one_reason(name, entry)
            per.update({p: top for p in profiles})
        for profile in MULTUS:
            if isinstance(entry.get(profile), dict):
                per[profile] = one_reason(f"{name} {profile}", entry[profile])
        if not per:
            raise ValueError(f"{name}: needs 'reason' and 'compatibility' (an anchor id)")
        out[str(name)] = per
    return out


def one_reason(where: str, entry: dict[str, Any]) -> Reason:
    if not entry.get("reason") or not entry.get("compatibility"):
        raise ValueError(f"{where}: needs 'reason' and 'compatibility' (an anchor id)")
    return Reason(" ".join(str(entry["reason"]).split()), str(entry["compatibility"]))


def anchors(compat_text: str) -> set[str]:
    """The ``<a id="...">`` anchors of docs/compatibility.md."""
    found = set()
    for part in compat_text.split('<a id="')[1:]:
        found.add(part.split('"', 1)[0])
    return found


def failed(result: dict[str, Any] | None) -> bool:
    return result is not None and result.get("status") in ("failed", "error")


def judge(peers: Peers, reasons: Reasons, compat_anchors: set[str]) -> list[str]:
    """Every way the run disagrees with the docs (empty: they agree)."""
    problems = []
    missing_runs = [p for p, _ in COLUMNS if p not in peers.runs]
    problems += [f"no results for profile {p}" for p in missing_runs]
    for scenario in sorted(peers.rows):
        row = peers.rows[scenario]
        klass = peers.klass(scenario)
        for profile in MULTUS:
            result = row.get(profile)
            if result is None and profile in peers.runs:
                problems.append(f"{scenario}: not in the {profile} run")
                continue
            if result is None:
                continue
            status = result.get("status")
            reason = reasons.get(scenario, {}).get(profile)
            if status == "error":
                problems.append(f"{scenario}: the harness could not run it with {profile} (error)")
            if klass == "reference" and status not in ("passed", "xpassed", "skipped"):
                problems.append(f"{scenario}: class reference but {status} on {profile}")
            if failed(result) and reason is None:
                problems.append(
                    f"{scenario}: fails on {profile} with no reason in the reasons file"
                )
            if not failed(result) and reason is not None:
                problems.append(
                    f"{scenario}: a reason is listed but it {status} on {profile} (stale)"
                )
        for profile in ("pymultus-thin", "pymultus-thick"):
            result = row.get(profile)
            if failed(result):
                problems.append(f"{scenario}: {result and result.get('status')} on {profile}")
            if (
                result is not None
                and result.get("status") == "skipped"
                and not result.get("reason")
            ):
                problems.append(f"{scenario}: skipped on {profile} without a reason")
    for scenario, per in sorted(reasons.items()):
        if scenario not in peers.rows:
            problems.append(f"{scenario}: in the reasons file but in no run")
        for anchor in sorted({r.anchor for r in per.values()} - compat_anchors):
            problems.append(f"{scenario}: compatibility anchor #{anchor} is not in {COMPAT_DOC}")
    return problems


def merge_runs(base: dict[str, Any] | None, rerun: dict[str, Any]) -> dict[str, Any]:
    """A run with some scenarios rerun: the rerun's results replace those of
    the same scenario file; ``reruns`` keeps what was rerun and when."""
    if base is None:
        return {**rerun, "reruns": []}
    again = {os.path.basename(str(r["path"])): r for r in rerun.get("results", [])}
    kept = [r for r in base.get("results", []) if os.path.basename(str(r["path"])) not in again]
    note = {"finished": rerun.get("finished", "?"), "scenarios": sorted(again)}
    return {**base, "results": kept + list(again.values()), "reruns": [*base["reruns"], note]}


def command_line(
    profile: str, doc: Mapping[str, Any], results_file: str, what: str = "scenarios/"
) -> str:
    """The ``harness run`` line that made a document (from what it recorded)."""
    argv = ["harness", "run", what, "--profile", profile]
    if profile.startswith("multus-") or doc.get("profileFile"):
        if doc.get("daemon"):
            argv += ["--daemon", str(doc["daemon"])]
            if doc.get("shim"):
                argv += ["--shim", str(doc["shim"])]
        elif doc.get("metaPlugin"):
            argv += ["--meta-plugin", str(doc["metaPlugin"])]
    if doc.get("runtime") and doc.get("runtime") != "simulated":
        argv += ["--runtime", str(doc["runtime"])]
    argv += ["--results-json", results_file]
    return " ".join(argv)


def why_cell(row: Mapping[str, dict[str, Any]], per: Mapping[str, Reason]) -> str:
    """The reasons of the Multus profiles that failed: once when they agree."""
    found = [(p, per[p]) for p in MULTUS if failed(row.get(p)) and p in per]
    texts = [f"{r.text} ([compatibility]({COMPAT_DOC}#{r.anchor}))" for _, r in found]
    if len(found) == 2 and found[0][1] == found[1][1]:
        return texts[0]
    return "; ".join(
        f"{p.removeprefix('multus-')}: {t}" for (p, _), t in zip(found, texts, strict=True)
    )


def cell(result: dict[str, Any] | None) -> str:
    if result is None:
        return "-"
    return CELL.get(str(result.get("status")), str(result.get("status")))


def counts(peers: Peers, profile: str) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for row in peers.rows.values():
        result = row.get(profile)
        if result is not None:
            key = (str(result.get("class", "")), cell(result).strip("*").lower())
            out[key] = out.get(key, 0) + 1
    return out


def render(
    peers: Peers,
    reasons: Reasons,
    files: Mapping[str, Sequence[str]],
    binaries: Sequence[tuple[str, str]],
) -> str:
    """The whole Markdown page. ``files``: profile -> its results files' names;
    ``binaries``: (path, description) of the reference's binaries."""
    lines = [
        "# The reference as a peer: the suite against Multus and pymultus",
        "",
        "<!-- generated by `harness peers` from four results JSON files and",
        "     docs/peer-reasons.yaml: do not edit, rerun (docs/profiles.md). -->",
        "",
        "Every scenario run four ways. A `reference` scenario passes on Multus by",
        "definition; every other Multus failure has its reason and the",
        f"[{COMPAT_DOC}]({COMPAT_DOC}) row that records the difference.",
        "",
        "## Runs",
        "",
    ]
    for profile, heading in COLUMNS:
        doc = peers.runs.get(profile)
        if doc is None:
            lines.append(f"- {heading}: no results")
            continue
        names = list(files.get(profile, ["results.json"]))
        lines.append(
            f"- {heading}, finished {doc.get('finished', '?')} (backend {doc.get('backend', '?')}):"
        )
        lines.append(f"  `{command_line(profile, doc, names[0])}`")
        for rerun, name in zip(doc.get("reruns", []), names[1:], strict=False):
            what = " ".join(f"scenarios/{s}" for s in rerun["scenarios"])
            lines.append(f"  - rerun after a scenario change, finished {rerun['finished']}:")
            lines.append(f"    `{command_line(profile, doc, name, what)}`")
    peers_argv = ["harness", "peers"]
    for profile, _ in COLUMNS:
        peers_argv += [f"--{profile} {name}" for name in files.get(profile, [])]
    lines += ["", f"This page: `{' '.join(peers_argv)}`."]
    lines.append("")
    if binaries:
        lines += [
            "Reference binaries (Multus CNI, built from the public source at tag v4.1.4):",
            "",
        ]
        lines += [f"- `{path}`: {description}" for path, description in binaries]
        lines.append("")
    lines += ["## Per class", "", "| class | " + " | ".join(h for _, h in COLUMNS) + " |"]
    lines.append("|---" * (len(COLUMNS) + 1) + "|")
    all_counts = {p: counts(peers, p) for p, _ in COLUMNS}
    for klass in ("spec", "reference", "extension"):
        cells = []
        for profile, _ in COLUMNS:
            c = all_counts[profile]
            parts = [
                f"{c[(klass, k)]} {k}"
                for k in ("pass", "fail", "error", "skip", "xfail")
                if c.get((klass, k))
            ]
            cells.append(", ".join(parts) or "-")
        lines.append(f"| {klass} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Per scenario",
        "",
        "| scenario | class | " + " | ".join(h for _, h in COLUMNS) + " | why Multus fails |",
        "|---" * (len(COLUMNS) + 3) + "|",
    ]
    for scenario in sorted(peers.rows):
        row = peers.rows[scenario]
        why = why_cell(row, reasons.get(scenario, {}))
        cells = [cell(row.get(p)) for p, _ in COLUMNS]
        lines.append(
            f"| [{scenario}](../scenarios/{scenario}) | {peers.klass(scenario)} | "
            + " | ".join(cells)
            + f" | {why.replace('|', '/')} |"
        )
    lines += [
        "",
        "## Skips and their stated reasons",
        "",
        "| scenario | profile | reason |",
        "|---|---|---|",
    ]
    for scenario in sorted(peers.rows):
        for profile, _ in COLUMNS:
            result = peers.rows[scenario].get(profile)
            if result is not None and result.get("status") == "skipped":
                text = str(result.get("reason", "")).replace("|", "/").replace("\n", " ")
                lines.append(f"| {scenario} | {profile} | {text} |")
    lines.append("")
    return "\n".join(lines)
