"""The real ``pymultus`` executable with real plugins: hardening holds end to end.

The meta-plugin runs as its own process inside a "node" network namespace
(via nsenter: never in the root namespace), delegating to the reference ptp
and host-local plugins for a "pod" namespace, with debug logging to a file.
It checks what unit tests cannot: the files a real ADD writes (modes, no temporaries), that
DEL leaves nothing (cache, leases, links), and that hostile stdin makes the
real process answer in protocol, quickly. Namespaces are deleted in a
finally block even when an assertion fails.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

PLUGIN_DIR = "/usr/lib/cni"
PYMULTUS = str(Path(sys.executable).parent / "pymultus")

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create network namespaces"),
    pytest.mark.skipif(
        not all(os.path.exists(f"{PLUGIN_DIR}/{p}") for p in ("ptp", "host-local")),
        reason=f"reference plugins not installed in {PLUGIN_DIR} (containernetworking-plugins)",
    ),
    pytest.mark.skipif(
        shutil.which("ip") is None or shutil.which("nsenter") is None,
        reason="needs iproute2 and nsenter",
    ),
]


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


def pymultus(
    node: str, command: str, pod: str, conf: dict[str, Any] | bytes
) -> tuple[int, str, str, float]:
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": "pmhard-c1",
        "CNI_NETNS": f"/run/netns/{pod}",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": PLUGIN_DIR,
    }
    data = conf if isinstance(conf, bytes) else json.dumps(conf).encode()
    start = time.monotonic()
    proc = subprocess.run(
        ["nsenter", f"--net=/run/netns/{node}", PYMULTUS],
        input=data,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode(), time.monotonic() - start


def config(tmp_path: Path) -> dict[str, Any]:
    return {
        "cniVersion": "1.0.0",
        "name": "multus",
        "type": "pymultus",
        "binDir": str(tmp_path / "no-such-bin"),
        "cniDir": str(tmp_path / "var" / "multus"),
        "logLevel": "debug",
        "logFile": str(tmp_path / "multus.log"),
        "logToStderr": False,
        "delegates": [
            {
                "cniVersion": "1.0.0",
                "name": "pmhard-net",
                "type": "ptp",
                "ipam": {
                    "type": "host-local",
                    "subnet": "10.78.0.0/24",
                    "dataDir": str(tmp_path / "ipam"),
                },
            }
        ],
    }


def test_real_add_writes_private_files_and_del_leaves_nothing(
    netns_pair: tuple[str, str], tmp_path: Path
) -> None:
    node, pod = netns_pair
    conf = config(tmp_path)
    old_umask = os.umask(0)  # the modes must not come from the caller's umask
    try:
        rc, out, err, _ = pymultus(node, "ADD", pod, conf)
    finally:
        os.umask(old_umask)
    assert rc == 0, (out, err)
    assert json.loads(out)["ips"][0]["address"].startswith("10.78.0.")
    cache_dir = tmp_path / "var" / "multus"
    assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700
    assert [p.name for p in cache_dir.iterdir()] == ["pmhard-c1"]
    assert stat.S_IMODE((cache_dir / "pmhard-c1").stat().st_mode) == 0o600
    assert _ip("-n", pod, "link", "show", "eth0").returncode == 0
    leases = [p for p in (tmp_path / "ipam").rglob("*") if p.name.startswith("10.78.")]
    assert len(leases) == 1

    rc, out, err, _ = pymultus(node, "DEL", pod, conf)
    assert rc == 0, (out, err)
    assert list(cache_dir.iterdir()) == []
    assert _ip("-n", pod, "link", "show", "eth0").returncode != 0
    assert [p for p in (tmp_path / "ipam").rglob("*") if p.name.startswith("10.78.")] == []
    # DEL is idempotent (CNI SPEC.md Section 2): a second one succeeds and changes nothing.
    rc, out, err, _ = pymultus(node, "DEL", pod, conf)
    assert rc == 0, (out, err)


@pytest.mark.parametrize(
    ("stdin", "code"),
    [
        (b"[" * 200_000 + b"]" * 200_000, 6),
        (b'{"cniVersion": "1.0.0", "pad": "' + b"x" * (2 << 20) + b'"}', 7),
        (
            b'{"cniVersion": "1.0.0", "cniDir": "@CNIDIR@",'
            b' "delegates": [{"type": "../../../bin/sh", "name": "x"}]}',
            7,
        ),
        (b'{"cniVersion": "1.0.0", "cniDir": "/tmp/a\\u0000b", "delegates": [{"type": "x"}]}', 7),
        (b"\xff\xfe", 6),
    ],
    ids=["deep", "huge", "traversal", "nul", "not-utf8"],
)
def test_real_process_answers_hostile_stdin_in_protocol(
    netns_pair: tuple[str, str], stdin: bytes, code: int, tmp_path: Path
) -> None:
    node, pod = netns_pair
    # A config that gets as far as the delegate cache keeps it in tmp_path,
    # never in the host's default /var/lib/cni/multus.
    stdin = stdin.replace(b"@CNIDIR@", str(tmp_path / "cache").encode())
    rc, out, err, seconds = pymultus(node, "ADD", pod, stdin)
    assert rc == 1
    assert "Traceback" not in err
    (line,) = out.splitlines()
    assert json.loads(line)["code"] == code
    assert seconds < 10
    assert _ip("-n", pod, "link", "show", "eth0").returncode != 0  # nothing was created
