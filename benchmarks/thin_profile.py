"""Where a thin ADD's time goes: one ADD + DEL of the installed zipapp, profiled.

    sudo .venv/bin/python benchmarks/thin_profile.py [--networks 2] [--runs 5]

A one-node local cluster (the same https API on the node's loopback, the
same delegates as cni_latency.py: ptp + host-local default network and k
macvlan NADs). The thin binary runs inside the node exactly as installed
(``-IS`` + ``pymultus.pyz``), wrapped only to measure: ``-X importtime`` for
the imports, ``cProfile`` for the run, and ``time.perf_counter`` around the
whole ``main()``. Prints per phase medians (interpreter start-up, imports,
work) and the top functions by cumulative time of the median run.

``--phases`` (no profiler) instead reports, per phase, the CPU time of the
thin process (``time.process_time``) and its wall time: interpreter start-up,
imports, kubeconfig, TLS set-up (with ``import _ssl``), connect + handshake,
API requests, the delegate (wall; the thin process's own CPU while it runs),
the rest. ``--against DIR`` (a pymultus source directory, e.g. from ``git
archive``) runs that code too, alternating with this checkout's, so the two
columns come from one run on one node.
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

from cni_latency import profile_pod  # noqa: E402

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


PHASES_WRAPPER = """
import time
cpu0, wall0 = time.process_time(), time.perf_counter()
import sys
sys.path.insert(0, {pyz!r})
import pymultus.thin, pymultus.thincall, pymultus.kube.client, pymultus.kube.kubeconfig
import pymultus.kube.transport, pymultus.cni.invoke
cpu1, wall1 = time.process_time(), time.perf_counter()
phases = {{}}
def timed(owner, name, key):
    inner = getattr(owner, name)
    def wrapper(*args, **kwargs):
        c, w = time.process_time(), time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            p = phases.setdefault(key, [0.0, 0.0])
            p[0] += time.process_time() - c
            p[1] += time.perf_counter() - w
    setattr(owner, name, wrapper)
timed(pymultus.kube.kubeconfig, "load_kubeconfig", "kubeconfig")
timed(pymultus.kube.client, "tls_context", "TLS set-up")
timed(pymultus.kube.transport.Connection, "connect", "connect + handshake")
timed(pymultus.kube.client.KubeClient, "_exchange", "API requests")
timed(pymultus.cni.invoke, "exec_plugin", "delegate")
code = pymultus.thin.main()
cpu2, wall2 = time.process_time(), time.perf_counter()
# the TLS set-up (first connection) and connect + handshake happen inside the first request
api = phases.get("API requests", [0.0, 0.0])
for inner in ("connect + handshake", "TLS set-up"):
    if inner in phases:
        api[0] -= phases[inner][0]
        api[1] -= phases[inner][1]
out = {{"interpreter": [cpu0, None], "imports": [cpu1 - cpu0, wall1 - wall0]}}
out.update(phases)
out["rest"] = [cpu2 - cpu1 - sum(v[0] for v in phases.values()),
               wall2 - wall1 - sum(v[1] for v in phases.values())]
out["total"] = [cpu2, None]
with open({report!r}, "w") as f:
    f.write(repr(out))
sys.exit(code)
"""
PHASE_ORDER = (
    "interpreter", "imports", "kubeconfig", "TLS set-up", "connect + handshake",
    "API requests", "delegate", "rest", "total",
)  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--networks", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--phases", action="store_true", help="CPU and wall per phase, no profiler")
    parser.add_argument(
        "--against", default="", help="with --phases: also this pymultus source dir"
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        return 2
    with LocalCluster(nodes=1) as cluster:
        node = cluster.topology.node("node-1")
        pod = profile_pod(cluster, args.networks)
        netns = f"{cluster.cluster_id}-prof"
        cluster.topology.add_netns(netns)
        build_zipapp(node.host_path(f"/opt/cni/bin/{PYZ_NAME}"))
        if args.phases:
            variants = {"this": f"/opt/cni/bin/{PYZ_NAME}"}
            if args.against:
                build_zipapp(node.host_path("/opt/cni/bin/against.pyz"), args.against)
                variants["against"] = "/opt/cni/bin/against.pyz"
        conf_path = node.host_path(f"/etc/cni/net.d/00-{cluster.meta_name}.conf")
        with open(conf_path) as f:
            conf = json.load(f)
        conf = (
            conf["plugins"][0] | {"cniVersion": conf["cniVersion"]} if "plugins" in conf else conf
        )
        if args.phases:
            return phases(cluster, node, pod, netns, conf, variants, args)
        rows = []
        for run in range(args.runs):
            report = os.path.join(cluster.run_dir, f"prof-{run}.txt")
            code = WRAPPER.format(pyz=f"/opt/cni/bin/{PYZ_NAME}", report=report)
            timings = {}
            for command in ("ADD", "DEL"):
                if not run_thin(node, pod, netns, conf, command, f"prof-{run}", code):
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


def run_thin(
    node: Any, pod: dict[str, Any], netns: str, conf: dict[str, Any], command: str, cid: str,
    code: str,
) -> bool:  # fmt: skip
    """One thin call inside the node, as installed (``-IS``); False (output printed) on failure."""
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": cid,
        "CNI_NETNS": f"/var/run/netns/{netns}",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": "/opt/cni/bin",
        "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=prof;"
        f"K8S_POD_UID={pod['metadata']['uid']}",
    }
    argv = [*node.exec_prefix(), sys.executable, "-IS", "-c", code]
    proc = subprocess.run(argv, input=json.dumps(conf).encode(), env=env, capture_output=True)
    if proc.returncode != 0:
        print(proc.stdout.decode(), proc.stderr.decode()[-2000:], file=sys.stderr)
        return False
    return True


def phases(
    cluster: Any, node: Any, pod: dict[str, Any], netns: str, conf: dict[str, Any],
    variants: dict[str, str], args: argparse.Namespace,
) -> int:  # fmt: skip
    """ADD then DEL, ``args.runs`` times per variant, alternating; a table of medians."""
    import ast

    got: dict[tuple[str, str], list[dict[str, list[float | None]]]] = {}
    for run in range(args.runs):
        for name, pyz in variants.items():
            for command in ("ADD", "DEL"):
                report = os.path.join(cluster.run_dir, f"phases-{name}-{run}-{command}.txt")
                code = PHASES_WRAPPER.format(pyz=pyz, report=report)
                if not run_thin(node, pod, netns, conf, command, f"ph-{name}-{run}", code):
                    return 1
                with open(report) as f:
                    got.setdefault((name, command), []).append(ast.literal_eval(f.read()))
    for command in ("ADD", "DEL"):
        print(f"\n== thin {command}, k={args.networks}: ms, median of {args.runs} "
              "(CPU of the thin process / wall)")  # fmt: skip
        print(f"{'phase':22s}" + "".join(f"{name:>22s}" for name in variants))
        for phase in PHASE_ORDER:
            cells = []
            for name in variants:
                rows = [r[phase] for r in got[(name, command)] if phase in r]
                if not rows:
                    cells.append(f"{'-':>22s}")
                    continue
                cpu = statistics.median(r[0] for r in rows if r[0] is not None) * 1000
                walls = [r[1] for r in rows if r[1] is not None]
                wall = f"{statistics.median(walls) * 1000:6.1f}" if walls else "     -"
                cells.append(f"{cpu:13.1f} / {wall}")
            print(f"{phase:22s}" + "".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
