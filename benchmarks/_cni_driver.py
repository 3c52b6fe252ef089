"""Inner half of cni_latency.py: runs *inside* the simulated node (its network
and mount namespaces), so every variant execs its binaries the same way a
runtime on that node would, with nothing (nsenter, the harness) in between.

    python _cni_driver.py PARAMS.json RESULTS.json
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pymultus.cni.conflist import add_list, del_list, load_network_config
from pymultus.cni.invoke import ProcessExecutor
from pymultus.cni.request import CNIRequest

BIN_DIR = "/opt/cni/bin"


def exec_cni(binary: str, conf: bytes, env: dict[str, str]) -> tuple[float, int, bytes, int]:
    """(seconds, exit status, stdout, 0) of one CNI exec (no RSS: plain waitpid)."""
    import subprocess

    start = time.perf_counter()
    proc = subprocess.Popen(
        [binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
    )
    out, _ = proc.communicate(conf)
    elapsed = time.perf_counter() - start
    return elapsed, proc.returncode, out, 0


def exec_cni_rss(binary: str, conf: bytes, env: dict[str, str]) -> tuple[float, int, bytes, int]:
    """Like exec_cni, reaped with wait4 for the peak RSS (largest of the process tree)."""
    import subprocess

    start = time.perf_counter()
    proc = subprocess.Popen(
        [binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(conf)
    proc.stdin.close()
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return elapsed, proc.returncode, out, int(usage.ru_maxrss)


def cni_env(command: str, cid: str, netns: str, pod: dict[str, str]) -> dict[str, str]:
    return {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": cid,
        "CNI_NETNS": netns,
        "CNI_IFNAME": "eth0",
        "CNI_PATH": BIN_DIR,
        "CNI_ARGS": (
            f"IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME={pod['name']};"
            f"K8S_POD_INFRA_CONTAINER_ID={cid};K8S_POD_UID={pod['uid']}"
        ),
    }


class Baseline:
    """The same delegates the meta-plugin would run, called directly (no meta-plugin)."""

    def __init__(self, params: dict[str, Any]) -> None:
        with open(params["defaultConflist"], "rb") as f:
            default = json.loads(f.read())
        self.default = load_network_config(default, "default network")
        self.nads = [load_network_config(c, f"nad {i}") for i, c in enumerate(params["nadConfs"])]
        self.execute = ProcessExecutor([BIN_DIR], base_env={"PATH": "/usr/sbin:/usr/bin:/bin"})
        self.prev: dict[str, list[dict[str, Any]]] = {}

    def plan(self, k: int) -> list[tuple[Any, str]]:
        return [(self.default, "eth0")] + [(self.nads[j], f"net{j + 1}") for j in range(k)]

    def add(self, k: int, cid: str, netns: str) -> float:
        request = CNIRequest("ADD", cid, netns, "eth0", (), (BIN_DIR,))
        start = time.perf_counter()
        results = [
            add_list(ncl, request.with_(ifname=ifname), {}, self.execute)
            for ncl, ifname in self.plan(k)
        ]
        elapsed = time.perf_counter() - start
        self.prev[cid] = results
        return elapsed

    def delete(self, k: int, cid: str, netns: str) -> float:
        request = CNIRequest("DEL", cid, netns, "eth0", (), (BIN_DIR,))
        results = self.prev.pop(cid)
        start = time.perf_counter()
        for (ncl, ifname), prev in reversed(list(zip(self.plan(k), results, strict=True))):
            del_list(ncl, request.with_(ifname=ifname), {}, prev, self.execute)
        return time.perf_counter() - start


def meta_call(
    variant: dict[str, Any],
    command: str,
    cid: str,
    netns: str,
    pod: dict[str, str],
    rss: bool = False,
) -> tuple[float, int]:
    run = exec_cni_rss if rss else exec_cni
    elapsed, rc, out, maxrss = run(
        variant["binary"], variant["conf"].encode(), cni_env(command, cid, netns, pod)
    )
    if rc != 0:
        raise RuntimeError(f"{variant['name']} {command} {cid} failed ({rc}): {out[:400]!r}")
    return elapsed, maxrss


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def daemon_sums(path: str) -> dict[str, float]:
    """The daemon's request and delegate duration sums and counts, from GET /metrics."""
    import socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5)
    try:
        sock.connect(path)
        sock.sendall(b"GET /metrics HTTP/1.0\r\nHost: pymultus\r\n\r\n")
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    except OSError:
        return {}
    finally:
        sock.close()
    wanted = (
        "pymultus_cni_request_duration_seconds_sum",
        "pymultus_cni_request_duration_seconds_count",
        "pymultus_delegate_duration_seconds_sum",
    )
    sums = {}
    for line in b"".join(chunks).decode("utf-8", "replace").splitlines():
        if line.startswith(wanted):
            name, _, value = line.rpartition(" ")
            sums[name] = float(value)
    return sums


def latency(params: dict[str, Any], baseline: Baseline, out: dict[str, Any]) -> None:
    socket_path = params.get("daemonSocket", "")
    before = daemon_sums(socket_path) if socket_path else {}
    variants = params["variants"]
    iterations, warmup = params["iterations"], params["warmup"]
    for k in params["networks"]:
        pod = params["pods"][f"lat-{k}"]
        netns = pod["netnsPath"]
        for name in ["baseline", *[v["name"] for v in variants]]:
            out["latency"].setdefault(name, {}).setdefault(str(k), {"add": [], "del": []})
        for i in range(warmup + iterations):
            order = ["baseline", *[v["name"] for v in variants]]
            order = order[i % len(order) :] + order[: i % len(order)]  # rotate: no fixed order
            for name in order:
                cid = f"{name}-{k}-{i}"
                if name == "baseline":
                    add = baseline.add(k, cid, netns)
                    dele = baseline.delete(k, cid, netns)
                else:
                    variant = next(v for v in variants if v["name"] == name)
                    add, _ = meta_call(variant, "ADD", cid, netns, pod)
                    dele, _ = meta_call(variant, "DEL", cid, netns, pod)
                if i >= warmup:
                    cell = out["latency"][name][str(k)]
                    cell["add"].append(add)
                    cell["del"].append(dele)
    if socket_path:
        after = daemon_sums(socket_path)
        # Only the latency runs (warm-up included): the thick calls' time inside the daemon.
        out["daemonLatencyPhase"] = {k: after[k] - before.get(k, 0.0) for k in after}


def burst(params: dict[str, Any], baseline: Baseline, out: dict[str, Any]) -> None:
    pods = [params["pods"][name] for name in params["burstPods"]]
    daemon_pid = params["daemonPid"]
    daemon_pids: dict[str, int] = params.get("daemonPids") or {"thick": daemon_pid}
    out["daemonRssIdleKiB"] = rss_kib(daemon_pid)
    out["daemonsRssKiB"] = {name: {"idle": rss_kib(pid)} for name, pid in daemon_pids.items()}
    for name in ["baseline", *[v["name"] for v in params["variants"]]]:
        samples: list[int] = []
        stop = threading.Event()
        watched = daemon_pids.get(name, daemon_pid)

        def sample(
            samples: list[int] = samples, stop: threading.Event = stop, pid: int = watched
        ) -> None:
            while not stop.is_set():
                samples.append(rss_kib(pid))
                stop.wait(0.005)

        sampler = threading.Thread(target=sample)
        sampler.start()
        timings: dict[str, float] = {}
        for command in ("ADD", "DEL"):

            def one(p: dict[str, str], command: str = command, name: str = name) -> None:
                cid = f"burst-{name}-{p['name']}"
                if name == "baseline":
                    (baseline.add if command == "ADD" else baseline.delete)(2, cid, p["netnsPath"])
                else:
                    variant = next(v for v in params["variants"] if v["name"] == name)
                    meta_call(variant, command, cid, p["netnsPath"], p)

            start = time.perf_counter()
            with ThreadPoolExecutor(max_workers=len(pods)) as pool:
                list(pool.map(one, pods))
            timings[command.lower()] = time.perf_counter() - start
        stop.set()
        sampler.join()
        out["burst"][name] = timings
        if name == "thick":
            out["daemonRssBurstPeakKiB"] = max(samples or [0])
        if name in daemon_pids:
            out["daemonsRssKiB"][name]["burstPeak"] = max(samples or [0])
    out["daemonRssAfterKiB"] = rss_kib(daemon_pid)


def peak_rss(params: dict[str, Any], out: dict[str, Any]) -> None:
    pod = params["pods"]["lat-2"]
    for variant in params["variants"]:
        _, rss_add = meta_call(
            variant, "ADD", f"rss-{variant['name']}", pod["netnsPath"], pod, rss=True
        )
        meta_call(variant, "DEL", f"rss-{variant['name']}", pod["netnsPath"], pod)
        version_env = {"CNI_COMMAND": "VERSION", "PATH": "/usr/bin:/bin"}
        _, _, _, rss_version = exec_cni_rss(
            variant["binary"], b'{"cniVersion":"1.0.0"}', version_env
        )
        out["peakRssKiB"][variant["name"]] = {"add2": rss_add, "version": rss_version}


def main() -> int:
    with open(sys.argv[1]) as f:
        params = json.load(f)
    out: dict[str, Any] = {"latency": {}, "burst": {}, "peakRssKiB": {}}
    baseline = Baseline(params)
    out["daemonRssStartKiB"] = rss_kib(params["daemonPid"])
    latency(params, baseline, out)
    peak_rss(params, out)
    if params["burstPods"]:  # --burst 0: latency only
        burst(params, baseline, out)
    with open(sys.argv[2], "w") as f:
        json.dump(out, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
