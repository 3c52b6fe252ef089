"""The vendor kit against real plugins: macvlan conforms, broken wrappers fail
exactly the checks they should, and the kernel's refusals are skips.

Needs root, /usr/lib/cni (containernetworking-plugins) and python3 at
/usr/bin/python3 for the broken wrappers in tests/plugins/.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.backends.local.topology import RUN_ROOT, load_state, pid_alive
from harness.vendor import Report, check_plugin
from harness.vendor.pytest_fixtures import VendorCheck

ROOT = Path(__file__).resolve().parents[2]
MACVLAN = "/usr/lib/cni/macvlan"
PLUGINS = ROOT / "tests" / "plugins"
BROKEN_CONF = json.loads((PLUGINS / "macvlan.json").read_text())

pytestmark = pytest.mark.skipif(
    not os.access(MACVLAN, os.X_OK) or not os.access("/usr/bin/python3", os.X_OK),
    reason="needs /usr/lib/cni/macvlan (containernetworking-plugins) and /usr/bin/python3",
)


def _ours() -> set[str]:
    """vk* namespaces not owned by another live process (other suites may run the kit)."""
    names = os.listdir("/run/netns") if os.path.isdir("/run/netns") else []
    out = set()
    for name in names:
        if not name.startswith("vk"):
            continue
        state = load_state(os.path.join(RUN_ROOT, name.split("-")[0]))
        if state is not None and state.owner_pid != os.getpid() and pid_alive(state.owner_pid):
            continue
        out.add(name)
    return out


@pytest.fixture(autouse=True)
def no_namespaces_left() -> Iterator[None]:
    before = _ours()
    yield
    assert _ours() - before == set(), "the vendor kit left network namespaces behind"


def _statuses(report: Report) -> dict[str, str]:
    return {r.name: r.status for r in report.results}


def test_macvlan_cli_passes_within_30_seconds(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    started = time.monotonic()
    proc = subprocess.run(
        [
            os.path.join(os.path.dirname(sys.executable), "harness"),
            "vendor", "check", "--plugin", MACVLAN,
            "--config", str(ROOT / "fixtures" / "vendor" / "macvlan.json"),
            "--junit-xml", str(junit), "--json", str(tmp_path / "r.json"),
        ],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert elapsed < 30
    data = json.loads((tmp_path / "r.json").read_text())
    statuses = {r["name"]: r["status"] for r in data["results"]}
    assert set(statuses.values()) <= {"passed", "skipped"}
    for name in ("version", "add-kernel", "no-leaks", "concurrent-add", "delegate", "chaining"):
        assert statuses[name] == "passed", name
    skipped = [r for r in data["results"] if r["status"] == "skipped"]
    assert all(r["reason"] for r in skipped)
    assert "<testsuite" in junit.read_text()


def test_leaky_plugin_fails_exactly_the_leak_checks() -> None:
    report = check_plugin(str(PLUGINS / "leaky-macvlan"), BROKEN_CONF)
    assert sorted(report.failed_names()) == [
        "concurrent-add",
        "del-netns-gone",
        "delegate",
        "no-leaks",
    ]
    evidence = report.result("no-leaks").evidence
    assert "eth0 (macvlan) was not removed" in evidence
    assert "/var/lib/cni/networks/broken-macvlan/" in evidence
    assert report.exit_code == 1


def test_wrong_address_plugin_fails_exactly_the_kernel_checks() -> None:
    report = check_plugin(str(PLUGINS / "wrong-address-macvlan"), BROKEN_CONF)
    assert sorted(report.failed_names()) == [
        "add-kernel",
        "chaining",
        "check-after-add",
        "delegate",
    ]
    assert "192.168.70.102/24 is not on eth0" in report.result("add-kernel").summary
    assert "differ from the kernel's" in report.result("delegate").summary


def test_kernel_refusal_is_a_skip_with_the_reason() -> None:
    conf = json.loads((ROOT / "fixtures" / "vendor" / "ipvlan.json").read_text())
    report = check_plugin(
        "/usr/lib/cni/ipvlan", conf, only=["version", "add-result", "no-leaks"], delegate=False
    )
    statuses = _statuses(report)
    assert statuses["version"] == "passed"
    if statuses["add-result"] == "passed":
        pytest.skip("this kernel has ipvlan: nothing to skip")
    for name in ("add-result", "no-leaks"):
        result = report.result(name)
        assert result.status == "skipped"
        assert "operation not supported" in result.reason


def test_pytest_fixture_runs_the_battery(cni_vendor_check: VendorCheck) -> None:
    conf = json.loads((ROOT / "fixtures" / "vendor" / "macvlan.json").read_text())
    report = cni_vendor_check(MACVLAN, conf, only=["add-result", "del-twice"], delegate=False)
    assert _statuses(report) == {"add-result": "passed", "del-twice": "passed"}


def test_a_hanging_plugin_times_out(tmp_path: Path) -> None:
    hang = tmp_path / "hang"
    hang.write_text("#!/bin/sh\nexec sleep 30\n")
    hang.chmod(0o755)
    started = time.monotonic()
    report = check_plugin(
        str(hang), {**BROKEN_CONF, "type": "hang"}, only=["add-result"], delegate=False, timeout=1
    )
    assert time.monotonic() - started < 10
    result = report.result("add-result")
    assert result.status == "failed" and "timed out" in result.summary


def test_status_and_gc_on_a_1_1_0_plugin() -> None:
    report = check_plugin(
        str(PLUGINS / "gc-macvlan"),
        BROKEN_CONF,
        cni_versions=["1.1.0"],
        only=["version", "status-gc"],
        delegate=False,
    )
    assert _statuses(report) == {"version": "passed", "status-gc": "passed"}
    assert "GC released the stale attachment" in report.result("status-gc").summary
