"""The HTML report in a real browser: headless Chromium renders it (the SVG
topology included) and takes a screenshot. Skipped when chromium is missing
(`make setup` installs it)."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from harness.backends import Options, make_cluster, probes_for, unavailable_reason
from harness.report.html import html_report
from harness.runner import run_scenario
from harness.scenario.loader import load_scenario

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make setup installs it)")
def test_report_renders_in_chromium(tmp_path: Path) -> None:
    options = Options()
    reason = unavailable_reason(options)
    if reason:
        pytest.skip(reason)
    results = [
        run_scenario(
            load_scenario(str(REPO / "scenarios" / name)),
            lambda s: make_cluster(s, options),
            probes_for(options),
        )
        for name in ("quickstart.yaml", "cross-node-macvlan-eth1.yaml", "confdir-missing.yaml")
    ]
    assert [r.status for r in results] == ["passed"] * 3, [r.report() for r in results]
    page = tmp_path / "report.html"
    page.write_text(html_report(results, title="report test"))

    dom = chromium("--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr
    assert dom.stdout.count("<svg") == 3  # the browser parsed one topology per scenario
    assert "192.168.1.2" in dom.stdout and "10.10.0.1/24" in dom.stdout

    shot = tmp_path / "report.png"
    proc = chromium(f"--screenshot={shot}", "--window-size=1100,1400", page.as_uri())
    assert proc.returncode == 0 and shot.exists(), proc.stderr
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1100, 1400)
    assert len(data) > 20_000  # a blank page compresses to a few kB
    keep = os.environ.get("HARNESS_SCREENSHOT")
    if keep:  # to look at it: HARNESS_SCREENSHOT=/tmp/report.png pytest ...
        shutil.copy(shot, keep)
