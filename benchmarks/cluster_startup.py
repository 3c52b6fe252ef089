"""How long a simulated cluster takes to come up and go away (issue 4: 3 nodes < 2 s).

    sudo .venv/bin/python benchmarks/cluster_startup.py [--nodes 3] [--runs 7]

Baseline, measured in the same run: the bare kernel work of the topology
(``ip netns add`` for the fabric and the nodes, one veth pair per node into
the fabric), so the ratio shows what the cluster adds on top (mount
namespaces, API server, TLS certificate, node objects, kubelets, scheduler).
Also times ``harness cluster up`` as a user runs it (a new process).
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import statistics
import subprocess
import sys
import time

from harness.backends.local.cluster import LocalCluster


def bare_topology(nodes: int) -> float:
    prefix = f"hxb{secrets.token_hex(2)}"
    names = [f"{prefix}-fabric"] + [f"{prefix}-n{i}" for i in range(1, nodes + 1)]
    started = time.monotonic()
    try:
        for name in names:
            subprocess.run(["ip", "netns", "add", name], check=True)
        for i in range(1, nodes + 1):
            subprocess.run(
                ["ip", "link", "add", "eth0", "netns", f"{prefix}-n{i}", "type", "veth",
                 "peer", "name", f"n{i}", "netns", names[0]],
                check=True,
            )  # fmt: skip
        return time.monotonic() - started
    finally:
        for name in names:
            subprocess.run(["ip", "netns", "delete", name], check=False)


def cluster_up_down(nodes: int, meta_plugin: str | None) -> tuple[float, float]:
    started = time.monotonic()
    cluster = LocalCluster(nodes=nodes, meta_plugin=meta_plugin).start()
    up = time.monotonic() - started
    started = time.monotonic()
    cluster.close()
    return up, time.monotonic() - started


def cli_up_down(nodes: int, meta_plugin: str | None) -> tuple[float, float]:
    argv = [sys.executable, "-m", "harness.cli", "cluster", "up", "--nodes", str(nodes)]
    if meta_plugin:
        argv += ["--meta-plugin", meta_plugin]
    started = time.monotonic()
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    up = time.monotonic() - started
    match = re.search(r"KUBECONFIG=/run/harness/(\w+)/", out)
    assert match, out
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "harness.cli", "cluster", "down", match.group(1)],
        capture_output=True,
        check=True,
    )
    return up, time.monotonic() - started


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--meta-plugin")
    args = p.parse_args()
    if os.geteuid() != 0:
        print("needs root", file=sys.stderr)
        return 2
    base, ups, downs, cli_ups, cli_downs = [], [], [], [], []
    for _ in range(args.runs):
        base.append(bare_topology(args.nodes))
        up, down = cluster_up_down(args.nodes, args.meta_plugin)
        ups.append(up)
        downs.append(down)
        up, down = cli_up_down(args.nodes, args.meta_plugin)
        cli_ups.append(up)
        cli_downs.append(down)
    med = statistics.median
    print(f"{args.nodes} nodes, {args.runs} runs, medians:")
    print(f"  baseline (bare netns + veth):      {med(base) * 1000:7.1f} ms")
    print(f"  LocalCluster.start():              {med(ups) * 1000:7.1f} ms"
          f"  ({med(ups) / med(base):.1f}x baseline)")  # fmt: skip
    print(f"  LocalCluster.close():              {med(downs) * 1000:7.1f} ms")
    print(f"  `harness cluster up` (new process): {med(cli_ups) * 1000:6.1f} ms"
          f"  ({med(cli_ups) / med(base):.1f}x baseline; target < 2000 ms)")  # fmt: skip
    print(f"  `harness cluster down`:            {med(cli_downs) * 1000:7.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
