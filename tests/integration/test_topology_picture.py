"""The topology picture in a real browser: a scenario with two fabrics, a macvlan
master, a bridge, pods on two nodes and three traffic checks (two pass, one is
made to fail) is run on the local backend, drawn, and rendered by headless
Chromium; the DOM must hold every part and the screenshot must not be blank.
Skipped when chromium is missing (`make setup` installs it).

To look at the picture: HARNESS_SCREENSHOT=/tmp/topology.png pytest ...
"""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import pytest

from harness.backends import Options, make_cluster, probes_for, unavailable_reason
from harness.report.html import html_report
from harness.runner import run_scenario
from harness.scenario.loader import load_scenario
from tests.integration.test_report_html import CHROMIUM, chromium

SCENARIO = """
name: topology picture
format: 2
class: extension
covers: [cni-add]
cluster: {nodes: 2, needs: [eth1]}
networks:
  - fixture: macvlan-eth1-static
  - name: data-bridge
    config:
      cniVersion: "0.4.0"
      type: bridge
      bridge: brdata
      ipam: {type: host-local, subnet: 10.30.0.0/24, rangeStart: 10.30.0.10,
             rangeEnd: 10.30.0.20}
pods:
  - name: east
    node: node-1
    networks: [{name: macvlan-eth1-static, ips: ["10.10.0.1/24"]}, {name: data-bridge}]
  - name: west
    node: node-2
    networks: [{name: macvlan-eth1-static, ips: ["10.10.0.2/24"]}]
  - name: south
    node: node-1
    networks: data-bridge
expect:
  - ping: {from: east, to: west, via: net1}
    eventually: {timeout: 5}
  - ping: {from: east, to: south, via: net2, toInterface: net1}
    eventually: {timeout: 5}
  # Made to fail: west's macvlan cannot reach south's bridge address.
  - ping: {from: west, to: south, via: net1, toInterface: net1}
steps:
  - delete: [east, west, south]
"""


@pytest.mark.root
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make setup installs it)")
def test_topology_picture_renders_the_network(tmp_path: Path) -> None:
    options = Options()
    reason = unavailable_reason(options)
    if reason:
        pytest.skip(reason)
    path = tmp_path / "scenarios" / "picture.yaml"
    path.parent.mkdir()
    path.write_text(SCENARIO)
    result = run_scenario(
        load_scenario(str(path)), lambda s: make_cluster(s, options), probes_for(options)
    )
    assert result.status == "failed", result.report()  # exactly the ping made to fail
    assert [f.message for f in result.failures] == [
        f.message for f in result.failures if "ping from west to south" in f.message
    ], result.report()
    topology = result.topology
    assert [t["passed"] for t in topology["traffic"]] == [True, True, False]
    kinds = {link["name"]: link["kind"] for link in topology["nodeLinks"]["node-1"]}
    assert kinds["eth0"] == "veth" and kinds["brdata"] == "bridge"

    page = tmp_path / "topology.html"
    page.write_text(html_report([result], title="topology picture"))
    dom = chromium("--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr
    text = dom.stdout
    assert text.count('class="node"') == 2 and text.count('class="pod"') == 3
    assert text.count('class="fabric"') == 2  # eth0 and eth1 segments
    assert "eth1 (macvlan master)" in text and "brdata (bridge)" in text
    assert "default network" in text
    assert text.count('class="traffic pass"') == 2 and text.count('class="traffic fail"') == 1
    assert "net1 10.10.0.1/24" in text and "10.30.0.1" in text  # addresses on the wires

    shot = tmp_path / "topology.png"
    proc = chromium(f"--screenshot={shot}", "--window-size=1100,900", page.as_uri())
    assert proc.returncode == 0 and shot.exists(), proc.stderr
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1100, 900)
    assert len(data) > 20_000  # a blank page compresses to a few kB
    keep = os.environ.get("HARNESS_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)
