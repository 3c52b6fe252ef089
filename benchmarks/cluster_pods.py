"""100 pods with two extra networks each, created and deleted on a 3-node cluster
(issue 4: < 60 s, nothing left behind).

    sudo .venv/bin/python benchmarks/cluster_pods.py [--pods 100] [--nodes 3] [--workers 4]

Baseline, measured in the same run on the same cluster: the same number of
pods with the default network only (one meta-plugin call and one delegate
per pod and operation); the ratio shows the cost of the two extra
attachments (macvlan on eth1 and a bridge, host-local each). After each
phase the cluster's leak check must be empty.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

from harness.backends.local.cluster import LocalCluster

NADS = [
    {
        "apiVersion": "k8s.cni.cncf.io/v1",
        "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": "bench-macvlan", "namespace": "default"},
        "spec": {
            "config": '{"cniVersion": "0.3.1", "type": "macvlan", "master": "eth1", '
            '"mode": "bridge", "ipam": {"type": "host-local", "subnet": "192.168.10.0/24"}}'
        },
    },
    {
        "apiVersion": "k8s.cni.cncf.io/v1",
        "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": "bench-bridge", "namespace": "default"},
        "spec": {
            "config": '{"cniVersion": "0.3.1", "type": "bridge", "bridge": "benchbr0", '
            '"ipam": {"type": "host-local", "subnet": "192.168.11.0/24"}}'
        },
    },
]


def pod(name: str, networks: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default"}
    if networks:
        meta["annotations"] = {"k8s.v1.cni.cncf.io/networks": networks}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"containers": [{"name": "main", "image": "busybox"}]},
    }


def phase(
    cluster: LocalCluster, count: int, networks: str | None
) -> tuple[float, float, list[float]]:
    names = [f"bench-{i}" for i in range(count)]
    started = time.monotonic()
    for name in names:
        cluster.create_pod(pod(name, networks))
    adds: list[float] = []
    for name in names:
        outcome = cluster.wait_pod("default", name, 120)
        if not outcome.ready:
            raise RuntimeError(f"{name}: {outcome}")
        adds.append(outcome.seconds)
    created = time.monotonic() - started
    started = time.monotonic()
    for name in names:
        cluster.client().delete(f"/api/v1/namespaces/default/pods/{name}")
    deadline = time.monotonic() + 120
    while cluster.client().request("GET", "/api/v1/namespaces/default/pods")["items"]:
        if time.monotonic() > deadline:
            raise RuntimeError("pods not deleted within 120 s")
        time.sleep(0.05)
    deleted = time.monotonic() - started
    leaks = cluster.leaks()
    if leaks:
        raise RuntimeError("left behind:\n" + "\n".join(leaks))
    return created, deleted, adds


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--pods", type=int, default=100)
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--workers", type=int, default=4, help="sandbox workers per kubelet")
    p.add_argument("--meta-plugin")
    args = p.parse_args()
    if os.geteuid() != 0:
        print("needs root", file=sys.stderr)
        return 2
    with LocalCluster(
        nodes=args.nodes, meta_plugin=args.meta_plugin, kubelet_workers=args.workers
    ) as cluster:
        for nad in NADS:
            cluster.apply(nad)
        b_add, b_del, b_each = phase(cluster, args.pods, None)
        x_add, x_del, x_each = phase(cluster, args.pods, "bench-macvlan,bench-bridge")
    base, extra = b_add + b_del, x_add + x_del
    med = statistics.median
    print(f"{args.pods} pods on {args.nodes} nodes, {args.workers} workers per kubelet:")
    print(f"  baseline (default network only): create {b_add:6.2f} s, delete {b_del:6.2f} s, "
          f"total {base:6.2f} s, median ADD {med(b_each) * 1000:5.0f} ms")  # fmt: skip
    print(f"  two extra networks per pod:      create {x_add:6.2f} s, delete {x_del:6.2f} s, "
          f"total {extra:6.2f} s, median ADD {med(x_each) * 1000:5.0f} ms")  # fmt: skip
    print(f"  ratio: {extra / base:.2f}x baseline; target < 60 s; leaks: none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
