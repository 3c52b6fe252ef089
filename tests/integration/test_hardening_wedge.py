"""Issue 15 with the real plugins: no fault can wedge a node (items 1, 7, 10).

The real ``pymultus`` runs inside a "node" network namespace (nsenter: never
in the root namespace) and delegates to the reference ptp, macvlan and
host-local plugins for a "pod" namespace. Namespaces are deleted by the
``netns_pair`` fixture even when an assertion fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

PLUGIN_DIR = "/usr/lib/cni"
PYMULTUS = str(Path(sys.executable).parent / "pymultus")

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create network namespaces"),
    pytest.mark.skipif(
        not all(os.path.exists(f"{PLUGIN_DIR}/{p}") for p in ("ptp", "macvlan", "host-local")),
        reason=f"reference plugins not installed in {PLUGIN_DIR} (containernetworking-plugins)",
    ),
    pytest.mark.skipif(shutil.which("nsenter") is None, reason="needs nsenter"),
]


def ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


def call(node: str, command: str, netns: str, conf: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": "pmwedge-c1",
        "CNI_NETNS": netns,
        "CNI_IFNAME": "eth0",
        "CNI_PATH": PLUGIN_DIR,
    }
    proc = subprocess.run(
        ["nsenter", f"--net=/run/netns/{node}", PYMULTUS],
        input=json.dumps(conf).encode(),
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert b"Traceback" not in proc.stderr, proc.stderr
    text = proc.stdout.decode().strip()
    return proc.returncode, (json.loads(text) if text else {})


def config(tmp_path: Path, *extra: dict[str, Any], **keys: Any) -> dict[str, Any]:
    ipam = {"type": "host-local", "subnet": "10.79.0.0/24", "dataDir": str(tmp_path / "ipam")}
    return {
        "cniVersion": "1.0.0",
        "name": "multus",
        "type": "pymultus",
        "binDir": str(tmp_path / "no-such-bin"),
        "cniDir": str(tmp_path / "cache"),
        "logToStderr": False,
        "delegates": [
            {"cniVersion": "1.0.0", "name": "pmwedge-net", "type": "ptp", "ipam": ipam},
            *extra,
        ],
        **keys,
    }


def leases(tmp_path: Path) -> list[str]:
    return [p.name for p in (tmp_path / "ipam").rglob("10.*")]


def links(netns: str) -> set[str]:
    out = json.loads(ip("-n", netns, "-j", "link", "show").stdout or "[]")
    return {link["ifname"] for link in out} - {"lo"}


def test_a_pod_whose_macvlan_master_is_missing_stays_deletable(
    netns_pair: tuple[str, str], tmp_path: Path
) -> None:
    """Item 10: macvlan on a missing master fails ADD and every DEL ("Link not found")."""
    node, pod = netns_pair
    macvlan = {
        "cniVersion": "1.0.0",
        "name": "pmwedge-data",
        "type": "macvlan",
        "master": "pmwedge-none",
        "ipam": {"type": "host-local", "subnet": "10.80.0.0/24", "dataDir": str(tmp_path / "ipam")},
    }
    conf = config(tmp_path, macvlan)
    rc, out = call(node, "ADD", f"/run/netns/{pod}", conf)
    assert rc == 1, out
    assert "pmwedge-data" in out["msg"]
    assert leases(tmp_path) == [] and links(pod) == set()
    for _ in range(2):  # the runtime's DEL, and its retry
        rc, out = call(node, "DEL", f"/run/netns/{pod}", conf)
        assert rc == 0, out  # was: 999 on every DEL, the kubelet retried forever
    assert leases(tmp_path) == [] and not list((tmp_path / "cache").iterdir())


def test_the_nodes_own_namespace_as_cni_netns_is_refused(
    netns_pair: tuple[str, str], tmp_path: Path
) -> None:
    """Item 7: the interfaces would land on the node."""
    node, _ = netns_pair
    before = links(node)
    conf = config(tmp_path)
    rc, out = call(node, "ADD", f"/run/netns/{node}", conf)
    assert rc == 1 and out["code"] == 4, out
    assert links(node) == before and leases(tmp_path) == []
    rc, out = call(node, "DEL", f"/run/netns/{node}", conf)
    assert rc == 0, out
    assert links(node) == before


def test_a_full_log_device_never_fails_real_add_and_del(
    netns_pair: tuple[str, str], tmp_path: Path
) -> None:
    """Item 1 with the real plugins: ``/dev/full`` as logFile."""
    node, pod = netns_pair
    conf = config(tmp_path, logFile="/dev/full", logLevel="debug")
    rc, out = call(node, "ADD", f"/run/netns/{pod}", conf)
    assert rc == 0, out
    assert links(pod) == {"eth0"} and len(leases(tmp_path)) == 1
    rc, out = call(node, "DEL", f"/run/netns/{pod}", conf)
    assert rc == 0, out
    assert links(pod) == set() and leases(tmp_path) == []
