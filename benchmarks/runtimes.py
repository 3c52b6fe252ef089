"""Pod start and delete on both runtimes: simulated nodes vs containerd nodes (issue 14).

    sudo .venv/bin/python benchmarks/runtimes.py [--pods 30] [--nodes 3] [--runtime both]

On each runtime: a 3-node cluster, ``--pods`` pods per node (bound
round-robin by the scheduler) with two extra networks each (the macvlan and
bridge NADs of cluster_pods.py), all created, waited for, deleted; per pod
the sandbox's ADD time (simulated: the CNI ADD; containerd: RunPodSandbox,
which includes the CNI ADD, plus PodSandboxStatus) and delete time
(simulated: CNI DEL + netns; containerd: StopContainer, RemoveContainer,
StopPodSandbox, RemovePodSandbox, which run DEL twice). After the delete the
cluster's leak check must be empty, and after the cluster closes no
containerd process, shim or cgroup of it may be left. Bounded: every wait
has a deadline, the cluster is closed in a ``finally``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from cluster_pods import NADS, pod

from harness.backends.local.cluster import LocalCluster
from harness.backends.local.containerd.daemon import cgroup_dirs, processes_marked

TIMEOUT = 300.0


def one_runtime(runtime: str, nodes: int, per_node: int) -> dict[str, float]:
    cluster = LocalCluster(nodes=nodes, runtime=runtime)
    up_started = time.monotonic()
    cluster.start()
    up = time.monotonic() - up_started
    run_dir, cluster_id = cluster.run_dir, cluster.cluster_id
    try:
        for nad in NADS:
            cluster.apply(nad)
        names = [f"bench-{i}" for i in range(nodes * per_node)]
        started = time.monotonic()
        for name in names:
            cluster.create_pod(pod(name, "bench-macvlan,bench-bridge"))
        adds = []
        for name in names:
            outcome = cluster.wait_pod("default", name, TIMEOUT)
            if not outcome.ready:
                raise RuntimeError(f"{runtime}: {name}: {outcome}")
            adds.append(outcome.seconds)
        created = time.monotonic() - started
        started = time.monotonic()
        for name in names:
            cluster.client().delete(f"/api/v1/namespaces/default/pods/{name}")
        deadline = time.monotonic() + TIMEOUT
        while cluster.client().request("GET", "/api/v1/namespaces/default/pods")["items"]:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{runtime}: pods not deleted within {TIMEOUT:.0f} s")
            time.sleep(0.05)
        deleted = time.monotonic() - started
        dels = []
        for kubelet in cluster.kubelets.values():
            with kubelet.lock:
                dels += [s.timings["del"] for s, _pod in kubelet.removed.values()]
        leaks = cluster.leaks()
        if leaks:
            raise RuntimeError(f"{runtime}: left behind:\n" + "\n".join(leaks))
    finally:
        cluster.close()
    left = [a for _p, a in processes_marked(run_dir)]
    for node in range(1, nodes + 1):
        left += [a for _p, a in processes_marked(f"/run/containerd/{cluster_id}-node-{node}.sock")]
        left += cgroup_dirs(f"/harness-{cluster_id}-node-{node}")
    if left:
        raise RuntimeError(f"{runtime}: after close:\n" + "\n".join(left))
    return {
        "up": up,
        "created": created,
        "deleted": deleted,
        "add_median": statistics.median(adds),
        "del_median": statistics.median(dels),
        "pods": float(len(names)),
    }


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--pods", type=int, default=30, help="pods per node")
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--runtime", default="both", choices=("both", "simulated", "containerd"))
    args = p.parse_args()
    if os.geteuid() != 0:
        print("needs root", file=sys.stderr)
        return 2
    runtimes = ("simulated", "containerd") if args.runtime == "both" else (args.runtime,)
    print(f"{args.nodes} nodes x {args.pods} pods, two extra networks each")
    print(f"{'runtime':<11} {'up':>7} {'create all':>11} {'delete all':>11} "
          f"{'start median':>13} {'delete median':>14}  left")  # fmt: skip
    for runtime in runtimes:
        r = one_runtime(runtime, args.nodes, args.pods)
        print(f"{runtime:<11} {r['up']:6.2f}s {r['created']:10.2f}s {r['deleted']:10.2f}s "
              f"{r['add_median'] * 1000:11.0f}ms {r['del_median'] * 1000:12.0f}ms  nothing")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
