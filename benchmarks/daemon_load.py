"""Daemon under hostile load (issue 15, item 6): RSS and /healthz latency.

    .venv/bin/python benchmarks/daemon_load.py [--connections 500] [--stalled 40]
        [--stalled-bytes 4194304] [--hold 5] [--json out.json] [--pythonpath DIR]

Starts the real node daemon (``python -m pymultus.daemon``, delegates-only
config, no API) on a private socket, measures its idle RSS, then holds at
once ``--connections`` connections that never finish their request head
(slowloris) and ``--stalled`` POST /cni requests that announce
``--stalled-bytes`` and send all but the last byte, for ``--hold`` seconds,
while sampling the daemon's RSS and timing ``/healthz`` every 50 ms on
fresh connections (after ``--ramp`` seconds; the first probe, which waits
behind every connect still in the listen backlog, is reported apart). Then
it closes them all and measures again after ``--settle`` seconds. It
stops by itself (every wait is bounded) and kills the daemon at the end.

Budget (the issue's): peak RSS <= 80 MiB and every ``/healthz`` under
100 ms during the load; RSS <= idle + 10 MiB after. Exit status 1 when a
budget is missed. ``--pythonpath`` runs the daemon from another checkout
(e.g. an export of main) to measure the "before" figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

MIB = 1024 * 1024


def rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def threads(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


def healthz(path: str, timeout: float = 5.0) -> float | None:
    """Seconds for one GET /healthz on a fresh connection; None if it failed."""
    start = time.monotonic()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
        sock.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    except OSError:
        return None
    finally:
        sock.close()
    return time.monotonic() - start if data.startswith(b"HTTP/1.0 200") else None


def start_daemon(root: str, pythonpath: str) -> tuple[subprocess.Popen[bytes], str]:
    config = {
        "socketDir": os.path.join(root, "run"),
        "cniDir": os.path.join(root, "cache"),
        "delegates": [{"cniVersion": "1.0.0", "name": "d", "type": "none"}],
    }
    path = os.path.join(root, "daemon.json")
    with open(path, "w") as f:
        json.dump(config, f)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    proc = subprocess.Popen(
        [sys.executable, "-m", "pymultus.daemon", "--config", path],
        env=env,
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    socket_path = os.path.join(root, "run", "pymultus.sock")
    deadline = time.monotonic() + 20
    while healthz(socket_path, 1.0) is None:
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise SystemExit("daemon_load: the daemon did not come up")
        time.sleep(0.1)
    return proc, socket_path


def open_slowloris(path: str, count: int) -> tuple[list[socket.socket], int]:
    held, refused = [], 0
    for _ in range(count):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.connect(path)
            sock.send(b"GET /heal")
        except OSError:
            refused += 1
            sock.close()
            continue
        held.append(sock)
    return held, refused


def stalled_body(path: str, size: int, held: list[socket.socket], stop: threading.Event) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(2.0)
    try:
        sock.connect(path)
        head = f"POST /cni HTTP/1.0\r\nContent-Length: {size}\r\n\r\n".encode()
        sock.sendall(head)
        held.append(sock)
        chunk = b"x" * 65536
        left = size - 1
        while left > 0 and not stop.is_set():
            try:
                sent = sock.send(chunk[: min(left, len(chunk))])
            except TimeoutError:
                continue  # the server is not reading (admission refused or budget)
            left -= sent
    except OSError:
        pass


def measure(args: argparse.Namespace) -> dict[str, Any]:
    root = tempfile.mkdtemp(prefix="pymultus-daemon-load-")
    proc, path = start_daemon(root, args.pythonpath)
    out: dict[str, Any] = {"daemon_from": args.pythonpath or "this checkout"}
    try:
        for _ in range(20):
            healthz(path)
        time.sleep(0.5)
        idle = rss(proc.pid)
        out["idle_rss_mib"] = round(idle / MIB, 1)
        out["idle_threads"] = threads(proc.pid)

        held, refused = open_slowloris(path, args.connections)
        stop = threading.Event()
        bodies: list[socket.socket] = []
        senders = [
            threading.Thread(target=stalled_body, args=(path, args.stalled_bytes, bodies, stop))
            for _ in range(args.stalled)
        ]
        for sender in senders:
            sender.start()
        # The first probe queues behind every connect still in the backlog:
        # reported apart; the budget holds for the load once it is in place.
        first = healthz(path, 5.0)
        out["healthz_first_probe_ms"] = round(first * 1000, 1) if first is not None else None
        time.sleep(args.ramp)
        latencies: list[float] = []
        failures = 0
        peak_rss, peak_threads = 0, 0
        deadline = time.monotonic() + args.hold
        while time.monotonic() < deadline:
            took = healthz(path, 2.0)
            if took is None:
                failures += 1
            else:
                latencies.append(took)
            peak_rss = max(peak_rss, rss(proc.pid))
            peak_threads = max(peak_threads, threads(proc.pid))
            time.sleep(0.05)
        out["connections_refused"] = refused
        out["load_peak_rss_mib"] = round(peak_rss / MIB, 1)
        out["load_peak_threads"] = peak_threads
        out["healthz_during_load"] = summary(latencies, failures)

        stop.set()
        for sender in senders:
            sender.join(10)
        for sock in held + bodies:
            sock.close()
        time.sleep(args.settle)
        after: list[float] = []
        after_failures = 0
        for _ in range(20):
            took = healthz(path)
            if took is None:
                after_failures += 1
            else:
                after.append(took)
        out["after_rss_mib"] = round(rss(proc.pid) / MIB, 1)
        out["after_threads"] = threads(proc.pid)
        out["healthz_after"] = summary(after, after_failures)
    finally:
        proc.kill()
        proc.wait(10)
        shutil.rmtree(root, ignore_errors=True)
    during = out["healthz_during_load"]
    out["budget"] = {
        "peak_rss_le_80_mib": out["load_peak_rss_mib"] <= 80,
        "healthz_under_100_ms": during["failures"] == 0 and during["max_ms"] < 100,
        "after_le_idle_plus_10_mib": out["after_rss_mib"] <= out["idle_rss_mib"] + 10,
    }
    return out


def summary(latencies: list[float], failures: int) -> dict[str, Any]:
    if not latencies:
        return {"requests": failures, "failures": failures, "p50_ms": None, "max_ms": 1e9}
    ms = sorted(x * 1000 for x in latencies)
    return {
        "requests": len(ms) + failures,
        "failures": failures,
        "p50_ms": round(statistics.median(ms), 1),
        "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 1),
        "max_ms": round(ms[-1], 1),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--connections", type=int, default=500)
    p.add_argument("--stalled", type=int, default=40)
    p.add_argument("--stalled-bytes", type=int, default=4 * MIB)
    p.add_argument(
        "--hold", type=float, default=3.5, help="seconds under load (< the 5 s header timeout)"
    )
    p.add_argument("--ramp", type=float, default=0.5, help="seconds before sampling")
    p.add_argument("--settle", type=float, default=2.0, help="seconds before the after sample")
    p.add_argument("--pythonpath", default="", help="run the daemon from this checkout")
    p.add_argument("--json", default="", help="also write the figures here")
    args = p.parse_args()
    out = measure(args)
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    return 0 if all(out["budget"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
