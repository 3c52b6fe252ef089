"""The CNI layer against the real reference plugins, in namespaces these tests create.

A "host" namespace plays the node (the plugins run inside it via ``nsenter``,
never in the root namespace) and a "pod" namespace the container. host-local
keeps its leases in a temporary dataDir. Every namespace is deleted in a
finally block, so nothing is left behind even when an assertion fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pymultus.cni.conflist import add_list, check_list, del_list, load_network_config
from pymultus.cni.errors import CNIError
from pymultus.cni.invoke import ProcessExecutor, exec_plugin, find_plugin
from pymultus.cni.request import CNIRequest
from pymultus.cni.result import validate_result
from pymultus.cni.resultcache import ResultCache

PLUGIN_DIR = "/usr/lib/cni"

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create network namespaces"),
    pytest.mark.skipif(
        not all(os.path.exists(f"{PLUGIN_DIR}/{p}") for p in ("ptp", "host-local", "tuning")),
        reason=f"reference plugins not installed in {PLUGIN_DIR} (containernetworking-plugins)",
    ),
    pytest.mark.skipif(
        shutil.which("ip") is None or shutil.which("nsenter") is None,
        reason="needs iproute2 and nsenter",
    ),
]


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


def _pod_link(pod: str, ifname: str) -> dict[str, Any] | None:
    proc = _ip("-n", pod, "-j", "addr", "show", "dev", ifname)
    if proc.returncode != 0:
        return None
    links: list[dict[str, Any]] = json.loads(proc.stdout)
    return links[0] if links else None


def _conflist(version: str, ipam_dir: Path) -> dict[str, Any]:
    return {
        "cniVersion": version,
        "name": "pmcni-test",
        "plugins": [
            {
                "type": "ptp",
                "ipMasq": False,
                "mtu": 1400,
                "ipam": {
                    "type": "host-local",
                    "subnet": "10.77.0.0/24",
                    "dataDir": str(ipam_dir),
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "tuning", "capabilities": {"mac": True}},
        ],
    }


@pytest.mark.parametrize("version", ["0.4.0", "1.0.0"])
def test_add_check_del_chain_with_real_plugins(
    netns_pair: tuple[str, str], tmp_path: Path, version: str
) -> None:
    host, pod = netns_pair
    ipam_dir = tmp_path / "ipam"
    ncl = load_network_config(_conflist(version, ipam_dir), "test conflist")
    execute = ProcessExecutor(
        [PLUGIN_DIR],
        base_env={"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")},
        timeout=30,
        argv_prefix=["nsenter", f"--net=/run/netns/{host}"],
    )
    request = CNIRequest(
        command="ADD",
        container_id="pmcni-c1",
        netns=f"/run/netns/{pod}",
        ifname="eth0",
        args=(("IgnoreUnknown", "1"),),
    )
    mac = "0a:58:0a:4d:00:99"
    runtime = {"mac": mac}
    cache = ResultCache(str(tmp_path / "results"))

    result = add_list(ncl, request, runtime, execute)
    cache.save(ncl.name, request.container_id, request.ifname, ncl.raw, result)

    assert result["cniVersion"] == version
    assert validate_result(result) == []
    eth0 = next(i for i in result["interfaces"] if i["name"] == "eth0")
    assert eth0["sandbox"] == f"/run/netns/{pod}"
    assert eth0["mac"] == mac  # tuning applied the mac capability and updated the result
    (ip,) = result["ips"]
    assert ip["address"].startswith("10.77.0.")
    if version == "0.4.0":
        assert ip["version"] == "4"
    link = _pod_link(pod, "eth0")
    assert link is not None
    assert link["address"] == mac
    assert link["mtu"] == 1400
    assert f"{ip['address']}" in [
        f"{a['local']}/{a['prefixlen']}" for a in link["addr_info"] if a["family"] == "inet"
    ]
    leases = ipam_dir / "pmcni-test"
    assert (leases / ip["address"].split("/")[0]).exists()

    cached = cache.load(ncl.name, request.container_id, request.ifname)
    assert cached is not None
    check_list(ncl, request, runtime, cached[1], execute)

    del_list(ncl, request, runtime, cached[1], execute)
    cache.remove(ncl.name, request.container_id, request.ifname)
    assert _pod_link(pod, "eth0") is None
    assert not (leases / ip["address"].split("/")[0]).exists()
    # DEL twice succeeds (CNI SPEC Section 2, DEL), also without prevResult.
    del_list(ncl, request, runtime, None, execute)


def test_real_plugin_error_is_named(netns_pair: tuple[str, str], tmp_path: Path) -> None:
    host, pod = netns_pair
    conf = _conflist("1.0.0", tmp_path / "ipam")
    ncl = load_network_config(conf, "test conflist")
    execute = ProcessExecutor(
        [PLUGIN_DIR], base_env={}, argv_prefix=["nsenter", f"--net=/run/netns/{host}"]
    )
    request = CNIRequest(
        command="ADD", container_id="pmcni-c2", netns=f"/run/netns/{pod}", ifname="eth0"
    )
    add_list(ncl, request, {}, execute)
    try:
        with pytest.raises(CNIError) as exc:
            add_list(ncl, request, {}, execute)  # same interface again
        assert exc.value.msg.startswith("ptp: ")
    finally:
        del_list(ncl, request, {}, None, execute)


def test_real_plugin_refuses_bad_env_with_code_4(netns_pair: tuple[str, str]) -> None:
    host, _ = netns_pair
    path = find_plugin("ptp", [PLUGIN_DIR])
    with pytest.raises(CNIError) as exc:
        exec_plugin(
            path,
            "ADD",
            {"cniVersion": "1.0.0", "name": "x", "type": "ptp"},
            {"CNI_COMMAND": "ADD", "CNI_PATH": PLUGIN_DIR},
            argv_prefix=["nsenter", f"--net=/run/netns/{host}"],
        )
    assert exc.value.code == 4
    assert exc.value.msg.startswith("ptp: ")


def test_real_plugin_version() -> None:
    out = exec_plugin(
        find_plugin("tuning", [PLUGIN_DIR]),
        "VERSION",
        {"cniVersion": "1.0.0"},
        {"CNI_COMMAND": "VERSION"},
    )
    assert out["cniVersion"] == "1.0.0"
    assert "0.4.0" in out["supportedVersions"] and "1.0.0" in out["supportedVersions"]
