"""Soak: N ADD/DEL cycles of pods with two extra networks; nothing may leak.

    sudo .venv/bin/python benchmarks/soak.py [--cycles 2000] [--batch 10] [--mode thin|thick]

Each round creates ``--batch`` pods (macvlan on eth1 + a bridge, host-local
each, besides the default network) on a one-node LocalCluster, waits until
they are ready, deletes them and waits until they are gone: ``--cycles``
pods in all. After every round the cluster's leak check (network
namespaces, links, IPAM leases, cache files) must be empty; file
descriptors and threads of this process (the harness: API server, kubelet,
scheduler) and, in thick mode, of the node daemon are sampled, with the
daemon's RSS. The run fails on any leak, and on fd/thread growth beyond a
small allowance (pools warm up in the first rounds).

Baseline, measured in the same run: the first tenth of the rounds. The
ratio of the last tenth's median round time to it shows drift (1.0: none);
RSS is reported as a least-squares slope in KiB per 100 cycles.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from typing import Any

from harness.backends.local.cluster import LocalCluster

NADS = [
    {
        "apiVersion": "k8s.cni.cncf.io/v1",
        "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": "soak-macvlan", "namespace": "default"},
        "spec": {
            "config": '{"cniVersion": "0.3.1", "type": "macvlan", "master": "eth1", '
            '"mode": "bridge", "ipam": {"type": "host-local", "subnet": "192.168.12.0/24"}}'
        },
    },
    {
        "apiVersion": "k8s.cni.cncf.io/v1",
        "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": "soak-bridge", "namespace": "default"},
        "spec": {
            "config": '{"cniVersion": "0.3.1", "type": "bridge", "bridge": "soakbr0", '
            '"ipam": {"type": "host-local", "subnet": "192.168.13.0/24"}}'
        },
    },
]
ALLOWANCE = 8  # fds/threads a warm-up may add (connection and worker pools)


def pod(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "default",
            "annotations": {"k8s.v1.cni.cncf.io/networks": "soak-macvlan,soak-bridge"},
        },
        "spec": {"containers": [{"name": "main", "image": "busybox"}]},
    }


def proc_sample(pid: int) -> tuple[int, int, int]:
    """(open fds, threads, RSS in KiB) of a process, from /proc."""
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    threads = rss = 0
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("Threads:"):
                threads = int(line.split()[1])
            elif line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return fds, threads, rss


def daemon_pid(cluster: LocalCluster) -> int | None:
    if cluster.mode != "thick":
        return None
    from harness.backends.local import thick

    return thick.daemon_pid(cluster, cluster.topology.nodes[0])


def one_round(cluster: LocalCluster, first: int, batch: int) -> tuple[float, list[float]]:
    names = [f"soak-{i}" for i in range(first, first + batch)]
    started = time.monotonic()
    for name in names:
        cluster.create_pod(pod(name))
    adds = []
    for name in names:
        outcome = cluster.wait_pod("default", name, 120)
        if not outcome.ready:
            raise RuntimeError(f"{name}: not ready: {outcome}")
        adds.append(outcome.seconds)
    for name in names:
        error = cluster.delete_pod("default", name, 120)
        if error is not None:
            raise RuntimeError(f"{name}: DEL failed: {error.describe()}")
    return time.monotonic() - started, adds


def slope(points: list[tuple[int, int]]) -> float:
    """Least-squares slope of y over x."""
    if len(points) < 2:
        return 0.0
    mx = statistics.fmean(x for x, _ in points)
    my = statistics.fmean(y for _, y in points)
    den = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / den if den else 0.0


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--cycles", type=int, default=2000)
    p.add_argument("--batch", type=int, default=10, help="pods created and deleted per round")
    p.add_argument("--mode", choices=("thin", "thick"), default="thin")
    args = p.parse_args()
    if os.geteuid() != 0:
        print("needs root", file=sys.stderr)
        return 2
    rounds = max(1, args.cycles // args.batch)
    me = os.getpid()
    with LocalCluster(nodes=1, mode=args.mode, kubelet_workers=4) as cluster:
        for nad in NADS:
            cluster.apply(nad)
        one_round(cluster, 0, args.batch)  # warm-up, not counted
        start_fd, start_threads, _ = proc_sample(me)
        start_pythreads = threading.active_count()
        dpid = daemon_pid(cluster)
        d_start = proc_sample(dpid) if dpid else None
        times: list[float] = []
        adds: list[float] = []
        rss: list[tuple[int, int]] = []
        worst = {"harness fds": 0, "harness threads": 0, "daemon fds": 0, "daemon threads": 0}
        for r in range(rounds):
            seconds, each = one_round(cluster, (r + 1) * args.batch, args.batch)
            times.append(seconds)
            adds += each
            leaks = cluster.leaks()
            if leaks:
                raise RuntimeError(f"round {r}: left behind:\n" + "\n".join(leaks))
            fds, threads, _ = proc_sample(me)
            worst["harness fds"] = max(worst["harness fds"], fds - start_fd)
            worst["harness threads"] = max(worst["harness threads"], threads - start_threads)
            if dpid and d_start:
                dfd, dthreads, drss = proc_sample(dpid)
                worst["daemon fds"] = max(worst["daemon fds"], dfd - d_start[0])
                worst["daemon threads"] = max(worst["daemon threads"], dthreads - d_start[1])
                rss.append(((r + 1) * args.batch, drss))
            if (r + 1) % max(1, rounds // 10) == 0:
                print(f"  {(r + 1) * args.batch} cycles, round {seconds:.2f} s, fds {fds}, "
                      f"threads {threads}", flush=True)  # fmt: skip
        end_fd, end_threads, _ = proc_sample(me)
        end_pythreads = threading.active_count()
    tenth = max(1, rounds // 10)
    med = statistics.median
    base, last = med(times[:tenth]), med(times[-tenth:])
    print(f"{rounds * args.batch} ADD/DEL cycles ({args.mode}, rounds of {args.batch} pods, "
          "two extra networks each), leak check after every round: no leaks")  # fmt: skip
    print(f"  median round {med(times):.2f} s, median ADD {med(adds) * 1000:.0f} ms")
    print(f"  ratio last/first tenth of rounds: {last / base:.2f}x "
          f"({last:.2f} s vs baseline {base:.2f} s)")  # fmt: skip
    print(f"  harness fds {start_fd} -> {end_fd}, threads {start_threads} -> {end_threads} "
          f"(python threads {start_pythreads} -> {end_pythreads}); "
          f"worst growth {worst}")  # fmt: skip
    if rss:
        print(f"  daemon RSS {rss[0][1]} -> {rss[-1][1]} KiB, slope "
              f"{slope(rss) * 100:.1f} KiB per 100 cycles")  # fmt: skip
    grew = {k: v for k, v in worst.items() if v > ALLOWANCE}
    if end_fd - start_fd > ALLOWANCE or end_threads - start_threads > ALLOWANCE or grew:
        print(f"  LEAK: growth beyond {ALLOWANCE}: {grew}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
