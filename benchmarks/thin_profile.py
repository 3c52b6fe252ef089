"""Where a thin ADD's time goes: one ADD + DEL of the installed zipapp, profiled.

    sudo .venv/bin/python benchmarks/thin_profile.py [--networks 2] [--runs 5]

A one-node local cluster (the same https API on the node's loopback, the
same delegates as cni_latency.py: ptp + host-local default network and k
macvlan NADs). The thin binary runs inside the node exactly as installed
(``-IS`` + ``pymultus.pyz``), wrapped only to measure: ``-X importtime`` for
the imports, ``cProfile`` for the run, and ``time.perf_counter`` around the
whole ``main()``. Prints per phase medians (interpreter start-up, imports,
work) and the top functions by cumulative time of the median run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from cni_latency import NO_KUBELET_NODE, nad  # noqa: E402

from harness.backends.local.cluster import LocalCluster  # noqa: E402
from pymultus.install.layout import PYZ_NAME, build_zipapp  # noqa: E402

WRAPPER = """
import sys, time, cProfile, pstats, io
t0 = time.perf_counter()
sys.path.insert(0, {pyz!r})
import pymultus.thin, pymultus.thincall, pymultus.kube.client, pymultus.kube.kubeconfig, _ssl
t1 = time.perf_counter()
prof = cProfile.Profile()
prof.enable()
code = pymultus.thin.main()
prof.disable()
t2 = time.perf_counter()
out = io.StringIO()
pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(18)
with open({report!r}, "w") as f:
    f.write(f"imports_ms {{(t1 - t0) * 1000:.2f}}\\nwork_ms {{(t2 - t1) * 1000:.2f}}\\n")
    f.write(out.getvalue())
sys.exit(code)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--networks", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        return 2
    with LocalCluster(nodes=1) as cluster:
        node = cluster.topology.node("node-1")
        for i in range(1, args.networks + 1):
            cluster.apply(nad(i))
        meta: dict[str, Any] = {"name": "prof", "namespace": "default"}
        if args.networks:
            meta["annotations"] = {
                "k8s.v1.cni.cncf.io/networks": ",".join(
                    f"bench-mv{j}" for j in range(1, args.networks + 1)
                )
            }
        pod = cluster.create_pod(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": meta,
                "spec": {"nodeName": NO_KUBELET_NODE, "containers": [{"name": "c", "image": "p"}]},
            }
        )
        netns = f"{cluster.cluster_id}-prof"
        cluster.topology.add_netns(netns)
        build_zipapp(node.host_path(f"/opt/cni/bin/{PYZ_NAME}"))
        conf_path = node.host_path(f"/etc/cni/net.d/00-{cluster.meta_name}.conf")
        with open(conf_path) as f:
            conf = json.load(f)
        conf = (
            conf["plugins"][0] | {"cniVersion": conf["cniVersion"]} if "plugins" in conf else conf
        )
        rows = []
        for run in range(args.runs):
            report = os.path.join(cluster.run_dir, f"prof-{run}.txt")
            code = WRAPPER.format(pyz=f"/opt/cni/bin/{PYZ_NAME}", report=report)
            timings = {}
            for command in ("ADD", "DEL"):
                env = {
                    "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                    "CNI_COMMAND": command,
                    "CNI_CONTAINERID": f"prof-{run}",
                    "CNI_NETNS": f"/var/run/netns/{netns}",
                    "CNI_IFNAME": "eth0",
                    "CNI_PATH": "/opt/cni/bin",
                    "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=prof;"
                    f"K8S_POD_UID={pod['metadata']['uid']}",
                }
                argv = [*node.exec_prefix(), sys.executable, "-IS", "-c", code]
                proc = subprocess.run(
                    argv, input=json.dumps(conf).encode(), env=env, capture_output=True
                )
                if proc.returncode != 0:
                    print(proc.stdout.decode(), proc.stderr.decode()[-2000:], file=sys.stderr)
                    return 1
                with open(report) as f:
                    text = f.read()
                lines = text.splitlines()
                timings[command] = {
                    "imports": float(lines[0].split()[1]),
                    "work": float(lines[1].split()[1]),
                    "profile": "\n".join(lines[2:]),
                }
            rows.append(timings)
        for command in ("ADD", "DEL"):
            imports = [r[command]["imports"] for r in rows]
            work = [r[command]["work"] for r in rows]
            median_work = statistics.median(work)
            typical = min(rows, key=lambda r: abs(r[command]["work"] - median_work))
            print(
                f"\n== thin {command}, k={args.networks}: "
                f"imports {statistics.median(imports):.1f} ms"
                f" (entry path + kube client + _ssl), work {median_work:.1f} ms (median of "
                f"{args.runs})\n"
            )
            print(typical[command]["profile"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
