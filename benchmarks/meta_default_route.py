"""What default-route costs inside the pod's netns (issue 3), as root.

pymultus.podnet moves a pod's default route with one
``nsenter --net=PATH ip -4 -batch -`` process (flush the default routes of
the family, add the requested one). Measured here against two baselines in
the same run: ``ip -n NAME route replace`` (what one would do with a named
netns, which CNI_NETNS is not in general) and the process start of
``nsenter --net=PATH true`` alone. Also the link listing CHECK does.

    .venv/bin/python benchmarks/meta_default_route.py --runs 50

It creates one namespace ``metabench-<hex>`` with a veth pair and removes it
at the end, also on failure. The root namespace is not touched.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import subprocess
import time
from collections.abc import Callable

from pymultus import podnet


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def median_ms(action: Callable[[], None], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    name = f"metabench-{secrets.token_hex(3)}"
    path = f"/var/run/netns/{name}"
    sh("ip", "netns", "add", name)
    try:
        sh("ip", "-n", name, "link", "add", "va", "type", "veth", "peer", "name", "vb")
        for dev, address in (("va", "10.0.0.2/24"), ("vb", "10.0.1.2/24")):
            sh("ip", "-n", name, "addr", "add", address, "dev", dev)
            sh("ip", "-n", name, "link", "set", dev, "up")
        sh("ip", "-n", name, "route", "add", "default", "via", "10.0.0.1", "dev", "va")

        baseline = median_ms(lambda: sh("nsenter", f"--net={path}", "true"), args.runs)
        named = median_ms(
            lambda: sh(
                "ip", "-n", name, "route", "replace", "default", "via", "10.0.1.1", "dev", "vb"
            ),
            args.runs,
        )
        ours = median_ms(lambda: podnet.set_default_route(path, 4, "vb", "10.0.1.1"), args.runs)
        links = median_ms(lambda: podnet.list_links(path), args.runs)
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)
    print(f"runs: {args.runs}")
    print(f"baseline  nsenter --net true            {baseline:6.2f} ms  1.00x")
    print(f"          ip -n NAME route replace      {named:6.2f} ms  {named / baseline:.2f}x")
    print(f"podnet    set_default_route (batch)     {ours:6.2f} ms  {ours / baseline:.2f}x")
    print(f"podnet    list_links (CHECK)            {links:6.2f} ms  {links / baseline:.2f}x")


if __name__ == "__main__":
    main()
