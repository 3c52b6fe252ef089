"""Where a thick ADD's time goes: the daemon's handling of one call, and the shim's side.

    sudo .venv/bin/python benchmarks/daemon_profile.py [--networks 2] [--runs 20]

The same one-node local cluster as cni_latency.py and thin_profile.py (the
https API on the node's loopback, ptp + host-local default network and k
macvlan NADs), a pod bound to a node without a kubelet. Inside the node a
pymultus daemon is built from the node's daemon config exactly as
``pymultus-daemon`` builds it (its watch caches synced, so the pod and NADs
come from memory, as in the benchmark), and:

1. ``Daemon.handle_cni`` is called for ADD then DEL in this thread, under
   ``cProfile`` timed by ``time.thread_time``: CPU time per phase (request
   decoding, config, the delegates' spawning, the network-status PATCH,
   the event POSTs, the delegate cache) and the top functions. Wall time is
   reported too, but on a shared machine only the CPU figures mean much;
2. the installed shim layout (``-IS`` + the zipapp) is exec'd against that
   daemon's socket: its CPU per call from ``wait4`` (the delegates are the
   daemon's children, not the shim's, so they are not in it).

The daemon of this script is its own (own socket directory); the node's
daemon is untouched. Everything is removed with the cluster.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from cni_latency import NO_KUBELET_NODE, profile_pod  # noqa: E402

from harness.backends.local import thick  # noqa: E402
from harness.backends.local.cluster import LocalCluster  # noqa: E402
from pymultus.install.layout import PYZ_NAME, build_zipapp  # noqa: E402

#: Runs inside the node (its network and mount namespaces).
IN_NODE = r"""
import cProfile, dataclasses, io, json, os, pstats, statistics, subprocess, sys, tempfile, time
sys.path.insert(0, {root!r})
from pymultus.daemon.main import build_kube, load_config
from pymultus.daemon.overlay import split_daemon_config
from pymultus.daemon.server import Daemon
from pymultus.daemon.wire import encode_request
from pymultus.cni.invoke import ProcessExecutor
from pymultus.cni.nesting import DELEGATE_MARKER

args = json.loads({args!r})
conf = load_config(args["daemonConfig"])
options, multus = split_daemon_config(conf, args["daemonConfig"])
sock_dir = tempfile.mkdtemp(prefix="pymultus-prof-", dir="/run")
import atexit, shutil
atexit.register(shutil.rmtree, sock_dir, True)  # removed even when this script fails
options = dataclasses.replace(options, node_name=args["nodeName"], socket_dir=sock_dir)
DELEGATE_WALL = [0.0]


class Timed:
    # the daemon's own executor, timed (wall) so the rest of a call can be told apart

    def __init__(self, inner):
        self.inner = inner

    def __call__(self, *a):
        t = time.perf_counter()
        try:
            return self.inner(*a)
        finally:
            DELEGATE_WALL[0] += time.perf_counter() - t


def executors(dirs, env, timeout):
    return Timed(ProcessExecutor(
        dirs, base_env=env, timeout=timeout, extra_env={{DELEGATE_MARKER: "pymultus"}}
    ))


daemon = Daemon(options, multus, build_kube(multus, os.environ), executor_factory=executors)

# Unprofiled CPU per phase: thin wrappers (about a microsecond each) adding this
# thread's CPU time per named phase, so the figures need no profiler's inflation.
CPU = {{}}


def cpu_phase(owner, attr, name):
    inner = getattr(owner, attr)

    def wrapped(*a, **kw):
        t = time.thread_time()
        try:
            return inner(*a, **kw)
        finally:
            CPU[name] = CPU.get(name, 0.0) + time.thread_time() - t

    setattr(owner, attr, wrapped)


import pymultus.daemon.server as server_module
import pymultus.state as state_module
cpu_phase(Timed, "__call__", "delegates (spawn, pipes, wait)")
cpu_phase(daemon.kube, "patch_pod_status_annotations", "network-status PATCH")
cpu_phase(daemon.kube, "create_event", "event POSTs (in the call only)")
cpu_phase(state_module.DelegateCache, "save", "delegate cache writes")
cpu_phase(state_module.DelegateCache, "load", "delegate cache reads")
cpu_phase(state_module.DelegateCache, "remove", "delegate cache removal")
cpu_phase(server_module, "parse_config", "config parse")
cpu_phase(server_module, "overlay_config", "config overlay")
cpu_phase(server_module, "decode_request", "request decode")
cpu_phase(server_module, "run_command", "engine (all of it)")
if getattr(daemon, "events", None) is not None:
    cpu_phase(daemon.events, "create_event", "event queueing")
HANDLE_WALL = []
_handle = daemon.handle_cni


def timed_handle(body):
    t = time.perf_counter()
    d0 = DELEGATE_WALL[0]
    try:
        return _handle(body)
    finally:
        HANDLE_WALL.append(((time.perf_counter() - t) * 1000, (DELEGATE_WALL[0] - d0) * 1000))


daemon.handle_cni = timed_handle
daemon.start()
deadline = time.monotonic() + 30
while not daemon.ready() and time.monotonic() < deadline:
    time.sleep(0.05)
assert daemon.ready(), "the daemon's caches did not sync"
shim_conf = json.loads(args["shimConf"])
shim_conf["daemonSocketDir"] = sock_dir
stdin = json.dumps(shim_conf).encode()


def env(command, cid):
    return {{
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": cid,
        "CNI_NETNS": args["netns"],
        "CNI_IFNAME": "eth0",
        "CNI_PATH": "/opt/cni/bin",
        "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=prof;"
        f"K8S_POD_UID={{args['uid']}}",
    }}


def call(command, cid):
    status, out = daemon.handle_cni(encode_request(env(command, cid), stdin))
    assert status == 200, (command, status, out)
    replied = getattr(daemon, "replied", None)  # what the HTTP server does after a reply
    if replied is not None:
        replied()


PHASES = {{
    "delegates (spawn + wait, this thread)": ("server.py", "__call__"),
    "network-status PATCH": ("client.py", "patch_pod_status_annotations"),
    "event POSTs": ("client.py", "create_event"),
    "event queueing": ("eventwriter.py", "create_event"),
    "config parse + overlay": ("config.py", "parse_config"),
    "delegate cache save/load/remove": ("state.py", "save"),
    "request decode": ("wire.py", "decode_request"),
}}


def phase_times(stats):
    out = {{name: 0.0 for name in PHASES}}
    for (path, _, func), (_, _, _, ct, _) in stats.stats.items():
        for name, (file, fname) in PHASES.items():
            if path.endswith(file) and func == fname:
                out[name] += ct
    return out


for i in range(3):  # warm-up: connections opened, caches hot
    call("ADD", f"warm-{{i}}")
    call("DEL", f"warm-{{i}}")
results = {{}}
for command in ("ADD", "DEL"):
    results[command] = {{
        "cpu": [], "process_cpu": [], "wall": [], "phases": [], "wall_phases": [], "profile": ""
    }}
for i in range(args["runs"]):
    for command in ("ADD", "DEL"):
        r = results[command]
        # Unprofiled: the call's CPU (this thread) and the whole process's (every thread,
        # the asynchronous event writer included), and its wall time.
        c0, p0, w0 = time.thread_time(), time.process_time(), time.perf_counter()
        d0 = DELEGATE_WALL[0]
        CPU.clear()
        call(command, f"plain-{{i}}")
        r.setdefault("cpu_phases", []).append({{k: v * 1000 for k, v in CPU.items()}})
        c1, p1, w1 = time.thread_time(), time.process_time(), time.perf_counter()
        r["cpu"].append((c1 - c0) * 1000)
        r["process_cpu"].append((p1 - p0) * 1000)
        r["wall"].append((w1 - w0) * 1000)
        r.setdefault("rest_wall", []).append((w1 - w0 - DELEGATE_WALL[0] + d0) * 1000)
    for timer, key in ((time.thread_time, "phases"), (time.perf_counter, "wall_phases")):
        for command in ("ADD", "DEL"):
            r = results[command]
            prof = cProfile.Profile(timer)
            prof.enable()
            call(command, f"{{key}}-{{i}}")
            prof.disable()
            stats = pstats.Stats(prof)
            r[key].append({{k: v * 1000 for k, v in phase_times(stats).items()}})
            if key == "phases":
                if "agg" in r:
                    r["agg"].add(prof)
                else:
                    r["agg"] = stats
time.sleep(0.5)  # asynchronous events (if any) finish before the shim runs
for command in ("ADD", "DEL"):
    r = results[command]
    buf = io.StringIO()
    r["agg"].stream = buf
    r["agg"].sort_stats("tottime").print_stats(22)
    r["profile"] = buf.getvalue()
    del r["agg"]

# The daemon's HTTP layer alone: the shim's exchange() from this process (no exec).
from pymultus.shim import exchange, socket_path
http = {{"ADD": [], "DEL": [], "ADD loop": [], "DEL loop": []}}
loop_clock = time.pthread_getcpuclockid(daemon.server.thread.ident)
for i in range(args["runs"]):
    for command in ("ADD", "DEL"):
        HANDLE_WALL.clear()
        body = encode_request(env(command, f"http-{{i}}"), stdin)
        l0 = time.clock_gettime(loop_clock)
        t0 = time.perf_counter()
        status, out = exchange(socket_path(stdin), body, 60)
        elapsed = (time.perf_counter() - t0) * 1000
        http[command + " loop"].append((time.clock_gettime(loop_clock) - l0) * 1000)
        assert status == 200, (command, status, out)
        http[command].append(elapsed - HANDLE_WALL[0][0])
results["http"] = http
launch = [sys.executable, "-IS", "-c",
          f"import sys; sys.path.insert(0, {{args['pyz']!r}}); "
          "from pymultus.shim import main; sys.exit(main())"]
shim = {{"ADD": [], "DEL": [], "ADD wall": [], "DEL wall": []}}
for i in range(args["runs"]):
    cid = f"shim-{{i}}"
    for command in ("ADD", "DEL"):
        HANDLE_WALL.clear()
        t0 = time.perf_counter()
        proc = subprocess.Popen(launch, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env(command, cid))
        proc.stdin.write(stdin)
        proc.stdin.close()
        out = proc.stdout.read()
        proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = (time.perf_counter() - t0) * 1000
        inside, delegates = HANDLE_WALL[0]
        # the shim's exec, imports, connect and exchange, beyond the daemon's handling
        shim[command + " wall"].append(elapsed - inside)
        proc.returncode = 0
        assert status == 0, (command, out)
        shim[command].append((usage.ru_utime + usage.ru_stime) * 1000)
results["shim"] = shim
daemon.stop()
with open(args["report"], "w") as f:
    json.dump(results, f)
"""


def main() -> int:
    import statistics
    import subprocess

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--networks", type=int, default=2)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", default="", help="also write the raw figures here")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        return 2
    with LocalCluster(nodes=1, mode="thick") as cluster:
        node = cluster.topology.node("node-1")
        pod = profile_pod(cluster, args.networks)
        netns = f"{cluster.cluster_id}-prof"
        cluster.topology.add_netns(netns)
        build_zipapp(node.host_path(f"/opt/cni/bin/{PYZ_NAME}"))
        with open(node.host_path(f"/etc/cni/net.d/00-{cluster.meta_name}.conf")) as f:
            shim_conf = f.read()
        report = os.path.join(cluster.run_dir, "daemon-profile.json")
        inner = {
            "daemonConfig": thick.DAEMON_CONFIG_IN_NODE,
            "nodeName": NO_KUBELET_NODE,
            "shimConf": shim_conf,
            "netns": f"/var/run/netns/{netns}",
            "uid": pod["metadata"]["uid"],
            "runs": args.runs,
            "pyz": f"/opt/cni/bin/{PYZ_NAME}",
            "report": report,
        }
        code = IN_NODE.format(root=ROOT, args=json.dumps(inner))
        env = thick.daemon_env(cluster, node, NO_KUBELET_NODE)
        proc = subprocess.run(
            [*node.exec_prefix(), sys.executable, "-c", code], env=env, capture_output=True
        )
        if proc.returncode != 0:
            print(proc.stdout.decode(), proc.stderr.decode()[-3000:], file=sys.stderr)
            return 1
        with open(report) as f:
            results = json.load(f)
    med = statistics.median
    for command in ("ADD", "DEL"):
        r = results[command]
        print(
            f"\n== daemon {command}, k={args.networks}, {args.runs} runs, unprofiled: CPU in the "
            f"call's thread {med(r['cpu']):.2f} ms (median), wall {med(r['wall']):.1f} ms"
        )
        print(
            f"   unprofiled: the whole daemon process {med(r['process_cpu']):.2f} ms CPU per call"
        )
        print("   unprofiled CPU per phase (this thread, median):")
        names = sorted({n for p in r["cpu_phases"] for n in p})
        for name in names:
            values = [p.get(name, 0.0) for p in r["cpu_phases"]]
            print(f"     {name:38s} {med(values):6.2f} ms")
        print("   phases (profiled, so inflated: compare before/after, not absolute):")
        walls = r.get("wall_phases") or []
        for name in r["phases"][0]:
            values = [p[name] for p in r["phases"]]
            wall = f", wall {med([p[name] for p in walls]):6.2f} ms" if walls else ""
            if any(values):
                print(f"   {name:40s} {med(values):6.2f} ms CPU{wall}")
        print(
            f"   unprofiled: wall beyond the delegates (in handle_cni) {med(r['rest_wall']):.2f} ms"
        )
        print(
            f"   the daemon's HTTP layer (socket, loop, worker hand-off) beyond handle_cni: "
            f"{med(results['http'][command]):.2f} ms wall; the asyncio loop thread's CPU "
            f"{med(results['http'][command + ' loop']):.2f} ms"
        )
        print(
            f"   shim process (exec + imports + exchange): {med(results['shim'][command]):.2f} ms "
            f"CPU (wait4); wall beyond the daemon's handle_cni "
            f"{med(results['shim'][command + ' wall']):.1f} ms"
        )
        print(r["profile"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
