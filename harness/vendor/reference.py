"""The battery on every reference plugin: the table in docs/vendor-results.md.

Each plugin in the CNI bin dir is checked with ``fixtures/vendor/<name>.json``
and the few options the table below gives (the loopback plugin only manages
``lo``). What fails is published as it is: the point of the table is to show
what the checks find, including in the reference plugins.
"""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Callable, Sequence
from typing import Any

from harness.vendor.battery import check_plugin
from harness.vendor.report import FAILED, PASSED, SKIPPED, Report

# Per-plugin options for check_plugin (CNI_IFNAME for loopback).
OPTIONS: dict[str, dict[str, Any]] = {
    "loopback": {"ifname": "lo"},
}


# What we found out about a failure, by (plugin, check) -- or (plugin, "*")
# for all of a plugin's failures. Facts seen in the evidence, nothing guessed.
NOTES: dict[tuple[str, str], str] = {
    ("dhcp", "*"): (
        "the dhcp plugin needs its daemon (`dhcp daemon`) and a DHCP server on the link; "
        "the fixture provides neither, so every ADD fails (with code 999, not 50 "
        '"plugin not available")'
    ),
    ("bandwidth", "check-after-add"): (
        "CHECK panics (nil pointer dereference in cmdCheck, exit status 2, no error object) "
        "when the capability is declared but no bandwidth is configured"
    ),
    ("bandwidth", "chaining"): "the same CHECK panic",
    ("firewall", "*"): (
        "the CNI-FORWARD/CNI-ADMIN chains and the jump between them stay after the last "
        "DEL: shared chains by design, reported as left-behind rules"
    ),
    ("ptp", "del-netns-gone"): (
        "with ipMasq, a DEL after the namespace is gone leaves the container's "
        "MASQUERADE chain and its rules behind"
    ),
    ("bridge", "del-netns-gone"): (
        "with ipMasq, a DEL after the namespace is gone leaves the MASQUERADE chain and "
        "rules behind (as ptp)"
    ),
    ("host-device", "del-twice"): "the second DEL fails: the device is no longer there",
    ("host-device", "del-netns-gone"): "DEL fails when the namespace is gone",
    ("host-device", "concurrent-add"): "one device can be given to one container only",
    ("sbr", "check-after-add"): (
        "sbr moves the routes to its own table, after which ptp's CHECK no longer finds the gateway"
    ),
    ("sbr", "chaining"): "the same CHECK failure of the chain",
    ("sbr", "del-twice"): "sbr's second DEL fails (link not found)",
    ("sbr", "del-netns-gone"): (
        "after sbr's DEL (which logs 'Network namespace to use and lock') CNI_NETNS exists "
        'again as a plain file, and sbr and ptp fail on it ("unknown FS magic")'
    ),
    (
        "static",
        "concurrent-add",
    ): "by design: a static config gives every container the same address",
    ("loopback", "add-existing-ifname"): (
        "lo always exists: the loopback plugin configures it rather than creating it, "
        "so there is no name clash to refuse"
    ),
    ("loopback", "delegate"): "as a NAD's plugin, loopback makes no net1",
}


def note(plugin: str, check: str) -> str:
    return NOTES.get((plugin, check)) or NOTES.get((plugin, "*")) or ""


def fixtures_dir() -> str:
    """fixtures/vendor of the source tree (or of the copy shipped in the wheel)."""
    from harness.scenario.loader import fixtures_dir as all_fixtures

    return os.path.join(all_fixtures(), "vendor")


def reference_plugins(bin_dir: str) -> list[str]:
    """Plugin names in ``bin_dir`` that have a fixture config."""
    names = sorted(os.listdir(bin_dir)) if os.path.isdir(bin_dir) else []
    return [n for n in names if os.path.isfile(os.path.join(fixtures_dir(), f"{n}.json"))]


def run_reference_plugins(
    bin_dir: str,
    only: Sequence[str] | None = None,
    progress: Callable[[str, Report], None] | None = None,
) -> dict[str, Report]:
    import json

    reports: dict[str, Report] = {}
    for name in reference_plugins(bin_dir):
        if only and name not in only:
            continue
        path = os.path.join(fixtures_dir(), f"{name}.json")
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
        report = check_plugin(
            os.path.join(bin_dir, name),
            config,
            plugin_type=name,
            cni_path=[bin_dir],
            source=f"fixtures/vendor/{name}.json",
            **OPTIONS.get(name, {}),
        )
        reports[name] = report
        if progress:
            progress(name, report)
    return reports


_MARK = {PASSED: "pass", FAILED: "**FAIL**", SKIPPED: "skip"}


def _plugin_version() -> str:
    """The Debian package's version of the reference plugins (they report "unknown")."""
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", "containernetworking-plugins"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except OSError:
        return "version unknown"
    return f"containernetworking-plugins {out.stdout.strip()}" if out.stdout.strip() else "unknown"


def _overview(reports: dict[str, Report]) -> list[str]:
    """One line per outcome class: clean, not runnable on this kernel, with failures."""
    clean, kernel, failing = [], [], []
    for name, report in reports.items():
        if report.count(FAILED):
            failing.append(f"{name} ({report.count(FAILED)})")
        elif any("kernel cannot run" in r.reason for r in report.results):
            kernel.append(name)
        else:
            clean.append(name)
    return [
        f"- No failure: {', '.join(clean) or 'none'}.",
        f"- Not runnable on this kernel (checks skipped with its error): "
        f"{', '.join(kernel) or 'none'}.",
        f"- With failures (count): {', '.join(failing) or 'none'}.",
    ]


def render_results(reports: dict[str, Report], bin_dir: str = "/usr/lib/cni") -> str:
    """docs/vendor-results.md: a plugin x check table, then every failure's evidence."""
    checks: list[str] = []
    for report in reports.values():
        for r in report.results:
            if r.name not in checks:
                checks.append(r.name)
    lines = [
        "# Vendor kit results on the reference CNI plugins",
        "",
        "Generated by `harness vendor reference --markdown docs/vendor-results.md` "
        f"(plugins in `{bin_dir}`: {_plugin_version()}; kernel "
        f"{platform.release()}). Configs: `fixtures/vendor/<plugin>.json`.",
        "A skip always carries its reason (below the table); a failure its evidence.",
        "",
        *_overview(reports),
        "",
        "| plugin | " + " | ".join(checks) + " | seconds |",
        "|---|" + "---|" * (len(checks) + 1),
    ]
    for name, report in reports.items():
        cells = []
        for check in checks:
            try:
                cells.append(_MARK[report.result(check).status])
            except KeyError:
                cells.append("-")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {report.seconds:.1f} |")
    lines += ["", "## Failures", ""]
    for name, report in reports.items():
        failed = [r for r in report.results if r.status == FAILED]
        if not failed:
            continue
        lines += [f"### {name}", ""]
        if note(name, "*"):
            lines += [f"*{note(name, '*')}*", ""]
        for r in failed:
            why = NOTES.get((name, r.name), "")
            lines.append(f"- **{r.name}**: {r.summary}" + (f" -- *{why}*" if why else ""))
        lines.append("")
    lines += ["## Skips", ""]
    for name, report in reports.items():
        for r in report.results:
            if r.status == SKIPPED:
                lines.append(f"- {name} / {r.name}: {r.reason}")
    return "\n".join(lines) + "\n"
