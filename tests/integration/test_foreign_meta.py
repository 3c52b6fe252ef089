"""A meta-plugin that is not pymultus, run through profiles (issue 12).

The foreign-meta fixture (tests/plugins/foreign-meta, standard library only)
runs thin and thick on the quickstart and DEL-without-cache scenarios via
``harness run --profile-file``; and a thick run with its profile starts *its*
daemon, never pymultus's: every process inside the node's network namespace
is checked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.backends.local.cluster import LocalCluster
from harness.backends.local.topology import NETNS_DIR
from harness.profiles import load_file
from tests.integration.clusters import netns_of

FIXTURE = Path(__file__).resolve().parents[1] / "plugins" / "foreign-meta"
REPO = Path(__file__).resolve().parents[2]
SCENARIOS = [
    str(REPO / "scenarios" / "quickstart.yaml"),
    str(REPO / "scenarios" / "del-without-cache.yaml"),
]


@pytest.fixture(scope="module")
def launchers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    sys.path.insert(0, str(FIXTURE))
    try:
        import launchers as fixture_launchers  # tests/plugins/foreign-meta/launchers.py
    finally:
        sys.path.remove(str(FIXTURE))
    found: dict[str, str] = fixture_launchers.write_launchers(str(tmp_path_factory.mktemp("fm")))
    return found


def harness_run(args: list[str], results: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "harness.cli", "run", *SCENARIOS, "--results-json", str(results)]
    return subprocess.run(
        argv + args, capture_output=True, text=True, timeout=600, check=False, cwd=REPO
    )


@pytest.mark.parametrize("form", ["thin", "thick"])
def test_foreign_plugin_runs_through_its_profile(
    form: str, launchers: dict[str, str], tmp_path: Path
) -> None:
    profile = str(FIXTURE / f"foreign-{form}.yaml")
    if form == "thin":
        binaries = ["--meta-plugin", launchers["foreign-meta"]]
    else:
        binaries = [
            "--daemon",
            launchers["foreign-meta-daemon"],
            "--shim",
            launchers["foreign-meta-shim"],
        ]
    done = harness_run(["--profile-file", profile, *binaries], tmp_path / "r.json")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["profile"] == f"foreign-{form}" and doc["mode"] == form
    if form == "thick":
        assert doc["daemon"] == launchers["foreign-meta-daemon"]
        assert doc["shim"] == launchers["foreign-meta-shim"]
    else:
        assert doc["metaPlugin"] == launchers["foreign-meta"]
    assert sorted(r["status"] for r in doc["results"]) == ["passed", "passed"]


def processes_in_netns(netns: str) -> dict[int, str]:
    """pid -> command line of every process whose network namespace is ``netns``."""
    target = os.stat(os.path.join(NETNS_DIR, netns)).st_ino
    out: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}/ns/net").st_ino != target:
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                out[int(entry)] = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
    return out


@pytest.fixture
def foreign_thick(launchers: dict[str, str]) -> Iterator[LocalCluster]:
    cluster = LocalCluster(
        nodes=1,
        profile=load_file(str(FIXTURE / "foreign-thick.yaml")),
        daemon=launchers["foreign-meta-daemon"],
        shim=launchers["foreign-meta-shim"],
        # the default run root: a pytest tmp path is too long for the daemon's
        # unix socket (108 bytes)
    )
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.close()
        assert netns_of(cluster.cluster_id) == []


def test_thick_foreign_profile_never_starts_pymultus(
    foreign_thick: LocalCluster, launchers: dict[str, str]
) -> None:
    node = foreign_thick.topology.nodes[0]
    running = processes_in_netns(node.netns)
    daemons = [cmd for cmd in running.values() if launchers["foreign-meta-daemon"] in cmd]
    assert len(daemons) == 1, running
    pymultus_parts = ("pymultus.daemon", "pymultus-daemon", "pymultus.shim", "pymultus-shim")
    assert not [c for c in running.values() if any(p in c for p in pymultus_parts)], running
    bin_dir = node.host_path("/opt/cni/bin")
    assert not os.path.lexists(os.path.join(bin_dir, "pymultus-shim"))
    # The runtime runs the fixture's own shim (through the CNI wiretap's wrapper
    # when one is installed: the real binary then sits in .wiretap/real/).
    real = os.path.join(bin_dir, ".wiretap", "real", "foreign-meta-shim")
    shim = real if os.path.lexists(real) else os.path.join(bin_dir, "foreign-meta-shim")
    assert os.path.samefile(shim, launchers["foreign-meta-shim"])
    with open(os.path.join(node.host_path("/etc/cni/net.d"), "00-foreign.conf")) as f:
        conf = json.load(f)
    assert conf["type"] == "foreign-meta-shim"
    assert foreign_thick.info()["binaries"]["daemon"] == launchers["foreign-meta-daemon"]
