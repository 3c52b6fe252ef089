"""ADD/DEL latency of pymultus thin and thick against the same delegates called
directly, a 50-pod burst, daemon and plugin memory, and the CNI entry path's
import time (issue 8).

    sudo .venv/bin/python benchmarks/cni_latency.py [--iterations 30] [--burst 50]
        [--networks 0,1,2,4] [--meta-plugin PATH] [--out benchmarks/results]

A single-node local cluster in thick mode provides the node (network + mount
namespaces), the embedded API server (in use: every meta-plugin ADD reads
the pod and its NADs and writes network-status) and the daemon. Pods are
bound to a node without a kubelet, so nothing but this benchmark calls CNI;
the calls are made from *inside* the node by ``_cni_driver.py``:

- baseline: the default network (ptp + host-local) and k macvlan NADs
  (host-local), run directly with ``pymultus.cni.conflist`` (each plugin exec'd
  once, as a runtime would if it knew the delegates itself);
- thin: the ``pymultus`` launcher as ``pymultus-install`` lays it out
  (interpreter ``-IS`` + the package), with the thin config;
- thick: ``pymultus-shim`` with the shim config, the node's daemon;
- other (``--meta-plugin``): another meta-plugin binary with the thin config.

Variants alternate within each iteration (rotating order), so drift on this
shared machine hits all of them alike. Prints medians and ratios; writes
``cni_latency.json`` and PNG plots (if matplotlib is installed:
``pip install -e '.[bench]'``) to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from harness.backends.local import thick  # noqa: E402
from harness.backends.local.cluster import LocalCluster  # noqa: E402
from pymultus.install.layout import PYZ_NAME, build_zipapp, launcher  # noqa: E402

NO_KUBELET_NODE = "bench-node"  # pods bound here are never run by a kubelet


def nad(i: int) -> dict[str, Any]:
    conf = {
        "cniVersion": "0.3.1",
        "name": f"bench-mv{i}",
        "type": "macvlan",
        "master": "eth1",
        "mode": "bridge",
        "ipam": {"type": "host-local", "subnet": f"192.168.{20 + i}.0/24"},
    }
    return {
        "apiVersion": "k8s.cni.cncf.io/v1",
        "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": f"bench-mv{i}", "namespace": "default"},
        "spec": {"config": json.dumps(conf)},
    }


def profile_pod(cluster: Any, networks: int, name: str = "prof") -> dict[str, Any]:
    """The profilers' one pod: the k NADs applied, annotated with them, bound kubelet-less."""
    for i in range(1, networks + 1):
        cluster.apply(nad(i))
    meta: dict[str, Any] = {"name": name, "namespace": "default"}
    if networks:
        meta["annotations"] = {
            "k8s.v1.cni.cncf.io/networks": ",".join(f"bench-mv{j}" for j in range(1, networks + 1))
        }
    pod: dict[str, Any] = cluster.create_pod(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": meta,
            "spec": {"nodeName": NO_KUBELET_NODE, "containers": [{"name": "c", "image": "p"}]},
        }
    )
    return pod


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def summarize(samples: list[float]) -> dict[str, float]:
    return {
        "p50": pct(samples, 0.5) * 1000,
        "p90": pct(samples, 0.9) * 1000,
        "p99": pct(samples, 0.99) * 1000,
        "n": len(samples),
    }


def median_exec_ms(argv: list[str], env: dict[str, str], stdin: bytes, runs: int = 30) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, input=stdin, env=env, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def import_ms(module: str) -> float:
    """Cumulative import time of ``module`` (python -X importtime, -IS like the launchers)."""
    code = f"import sys; sys.path.insert(0, {ROOT!r}); import {module}"
    totals = []
    for _ in range(15):
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-IS", "-c", code],
            capture_output=True,
            text=True,
            check=True,
        )
        for line in proc.stderr.splitlines():
            parts = line.split("|")
            if len(parts) == 3 and parts[2].strip() == module:
                totals.append(int(parts[1]) / 1000)
    return statistics.median(totals)


def startup(bin_dir: str) -> dict[str, float]:
    env = {"CNI_COMMAND": "VERSION", "PATH": "/usr/bin:/bin"}
    conf = b'{"cniVersion": "1.0.0"}'
    return {
        "python -IS -c pass": median_exec_ms([sys.executable, "-IS", "-c", "pass"], env, b""),
        "thin VERSION (exec)": median_exec_ms([os.path.join(bin_dir, "pymultus-bench")], env, conf),
        "shim VERSION (exec)": median_exec_ms(
            [os.path.join(bin_dir, "pymultus-shim-bench")], env, conf
        ),
        "import pymultus.thin": import_ms("pymultus.thin"),
        "import pymultus.shim": import_ms("pymultus.shim"),
    }


def copy_binary(source: str, target: str) -> None:
    if os.path.lexists(target):
        os.unlink(target)
    shutil.copy2(source, target)


def cpu_ms(argv: list[str], env: dict[str, str], stdin: bytes, runs: int = 40) -> float:
    """Median CPU time (user + system) of one exec of ``argv``, from the children's rusage."""
    import resource

    times = []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(argv, input=stdin, env=env, capture_output=True, check=False)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        times.append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000)
    return statistics.median(times)


def version_cpu(node: Any, multus_bin_dir: str) -> dict[str, float]:
    """CPU per VERSION call, alternating the binaries run after run (A B A B)."""
    env = {"CNI_COMMAND": "VERSION", "PATH": "/usr/bin:/bin"}
    conf = b'{"cniVersion": "0.4.0"}'
    binaries = {
        "python -IS -c pass": [sys.executable, "-IS", "-c", "pass"],
        "pymultus thin (zipapp, -IS)": [node.host_path("/opt/cni/bin/pymultus-bench")],
        "pymultus-shim (zipapp, -IS)": [node.host_path("/opt/cni/bin/pymultus-shim-bench")],
    }
    for name in ("multus", "multus-shim"):
        path = os.path.join(multus_bin_dir, name) if multus_bin_dir else ""
        if path and os.access(path, os.X_OK):
            binaries[f"Multus {name} (Go)"] = [path]
    samples: dict[str, list[float]] = {name: [] for name in binaries}
    for _ in range(8):
        for name, argv in binaries.items():
            samples[name].append(cpu_ms(argv, env, conf, runs=5))
    return {name: statistics.median(values) for name, values in samples.items()}


def start_multus_thick(
    cluster: Any, node: Any, multus_bin_dir: str, thin_conf: dict[str, Any]
) -> tuple[dict[str, Any], int] | None:
    """Multus v4.1.4's multus-daemon on the same node, laid out by the ``multus-thick``
    profile (harness/profiles.py), caching the benchmark's node; its shim variant and pid.

    The daemon writes its own CNI config (``multusConfigFile: auto``) from the first
    config in its ``cniConfigDir``: a private directory holding only the default
    network, so it wraps the same delegates as every other variant.
    """
    import dataclasses
    import types

    from harness.profiles import BUILTIN, Binaries

    daemon = os.path.join(multus_bin_dir, "multus-daemon") if multus_bin_dir else ""
    shim = os.path.join(multus_bin_dir, "multus-shim") if multus_bin_dir else ""
    missing = [p for p in (daemon, shim) if not (p and os.access(p, os.X_OK))]
    if missing:
        if multus_bin_dir:
            print(f"skipped: Multus thick: no executable {', '.join(missing)}", file=sys.stderr)
        return None
    conf_dir = "/etc/cni/multus-bench.d"
    os.makedirs(node.host_path(conf_dir), exist_ok=True)
    shutil.copy2(
        node.host_path("/etc/cni/net.d/10-kindnet.conflist"),
        node.host_path(f"{conf_dir}/10-kindnet.conflist"),
    )
    base = BUILTIN["multus-thick"]
    profile = dataclasses.replace(
        base,
        daemon_config_extra={
            **base.daemon_config_extra,
            "cniConfigDir": conf_dir,
            "multusAutoconfigDir": conf_dir,
            "logLevel": "error",  # the profile's verbose logging would cost Multus time
        },
    )
    proxy = types.SimpleNamespace(
        profile=profile,
        binaries=Binaries(daemon=(daemon,), shim=shim),
        cluster_id=f"{cluster.cluster_id}-multus",
        topology=cluster.topology,
        errors=[],
        node_server=cluster.node_server,
    )
    conf = thick.daemon_config(thin_conf, node, profile, proxy)
    config_host = node.host_path(profile.daemon_config)
    os.makedirs(os.path.dirname(config_host), mode=0o700, exist_ok=True)
    thick.write_file(config_host, json.dumps(conf, indent=2), 0o600)
    shim_host = node.host_path("/opt/cni/bin/multus-shim")
    if os.path.lexists(shim_host):
        os.unlink(shim_host)
    os.symlink(shim, shim_host)  # the reference's binary stays where it was built
    pid = thick.start_daemon(proxy, node, node_name=NO_KUBELET_NODE)
    generated = node.host_path(f"{conf_dir}/{profile.conf_file}")
    thick.wait_for_conf(node, generated, profile)
    with open(generated, encoding="utf-8") as f:
        shim_conf = json.load(f)
    assert pid is not None
    variant = {
        "name": "multus-thick",
        "binary": "/opt/cni/bin/multus-shim",
        "conf": json.dumps(shim_conf),
    }
    return variant, pid


def run(args: argparse.Namespace) -> dict[str, Any]:
    networks = [int(n) for n in args.networks.split(",")]
    with LocalCluster(nodes=1, mode="thick") as cluster:
        node = cluster.topology.node("node-1")
        for i in range(1, max([*networks, 2]) + 1):
            cluster.apply(nad(i))
        nad_confs = [json.loads(nad(i)["spec"]["config"]) for i in range(1, max(networks) + 1)]
        pods: dict[str, dict[str, str]] = {}
        names = [f"lat-{k}" for k in networks] + [f"burst-{i}" for i in range(args.burst)]
        if "lat-2" not in names:
            names.append("lat-2")
        for name in names:
            k = int(name.split("-")[1]) if name.startswith("lat-") else 2
            meta: dict[str, Any] = {"name": name, "namespace": "default"}
            if k:
                meta["annotations"] = {
                    "k8s.v1.cni.cncf.io/networks": ",".join(f"bench-mv{j}" for j in range(1, k + 1))
                }
            created = cluster.create_pod(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": meta,
                    "spec": {
                        "nodeName": NO_KUBELET_NODE,
                        "containers": [{"name": "c", "image": "pause"}],
                    },
                }
            )
            netns = f"{cluster.cluster_id}-b{len(pods)}"
            cluster.topology.add_netns(netns)
            subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True)
            pods[name] = {
                "name": name,
                "uid": created["metadata"]["uid"],
                "netnsPath": f"/var/run/netns/{netns}",
            }

        # The daemon caches the pods of its node: make that the benchmark's node.
        thick.restart_daemon(cluster, node, node_name=NO_KUBELET_NODE)
        bin_dir = node.host_path("/opt/cni/bin")
        # The installed layout: the zipapp (bytecode inside) and a -IS launcher.
        build_zipapp(os.path.join(bin_dir, PYZ_NAME))
        pyz = "/opt/cni/bin/" + PYZ_NAME
        thick.write_file(
            os.path.join(bin_dir, "pymultus-bench"),
            launcher(sys.executable, pyz, "pymultus.thin"),
            0o755,
        )
        thick.write_file(
            os.path.join(bin_dir, "pymultus-shim-bench"),
            launcher(sys.executable, pyz, "pymultus.shim"),
            0o755,
        )
        with open(node.host_path(thick.DAEMON_CONFIG_IN_NODE)) as f:
            daemon_conf = json.load(f)
        multus = {k: v for k, v in daemon_conf.items() if k not in ("socketDir", "nodeName")}
        thin_conf = {"cniVersion": "1.0.0", "name": "pymultus-cni-network", **multus}
        with open(node.host_path(f"/etc/cni/net.d/00-{cluster.meta_name}.conf")) as f:
            shim_conf = f.read()
        variants = [
            {
                "name": "thin",
                "binary": "/opt/cni/bin/pymultus-bench",
                "conf": json.dumps({**thin_conf, "type": "pymultus-bench"}),
            },
            {
                # The installed layout (zipapp + -IS launcher), as thin and as the
                # reference's installed binaries; the harness's own shim launcher
                # runs from the source tree.
                "name": "thick",
                "binary": "/opt/cni/bin/pymultus-shim-bench",
                "conf": shim_conf,
            },
        ]
        multus_thin = os.path.join(args.multus_bin_dir, "multus") if args.multus_bin_dir else ""
        if multus_thin and os.access(multus_thin, os.X_OK):
            copy_binary(multus_thin, os.path.join(bin_dir, "multus"))
            # The token inline, as Multus's installer writes its kubeconfig.
            multus_kubeconfig = "/etc/cni/net.d/multus.d/multus-bench.kubeconfig"
            cluster.write_kubeconfig(node.host_path(multus_kubeconfig))
            variants.append(
                {
                    "name": "multus-thin",
                    "binary": "/opt/cni/bin/multus",
                    "conf": json.dumps(
                        {
                            **thin_conf,
                            "type": "multus",
                            "kubeconfig": multus_kubeconfig,
                            "cniDir": "/var/lib/cni/multus-bench",
                        }
                    ),
                }
            )
        elif args.multus_bin_dir:
            print(f"skipped: Multus thin: no executable {multus_thin}", file=sys.stderr)
        multus_thick = start_multus_thick(cluster, node, args.multus_bin_dir, thin_conf)
        daemon_pids = {"thick": thick.daemon_pid(cluster, node)}
        if multus_thick is not None:
            variants.append(multus_thick[0])
            daemon_pids["multus-thick"] = multus_thick[1]
        if args.meta_plugin:
            other = os.path.basename(args.meta_plugin)
            target = os.path.join(bin_dir, other)
            if os.path.lexists(target):
                os.unlink(target)
            shutil.copy2(args.meta_plugin, target)
            variants.append(
                {
                    "name": f"other:{other}",
                    "binary": f"/opt/cni/bin/{other}",
                    "conf": json.dumps(
                        {**thin_conf, "type": other, "cniDir": "/var/lib/cni/other"}
                    ),
                }
            )
        params = {
            "iterations": args.iterations,
            "warmup": 3,
            "networks": networks,
            "pods": pods,
            "burstPods": [f"burst-{i}" for i in range(args.burst)],
            "nadConfs": nad_confs,
            "defaultConflist": "/etc/cni/net.d/10-kindnet.conflist",
            "variants": variants,
            "daemonPid": thick.daemon_pid(cluster, node),
            "daemonPids": daemon_pids,
            "daemonSocket": thick.socket_path(node),
        }
        work = os.path.join(cluster.run_dir, "bench")
        os.makedirs(work)
        with open(os.path.join(work, "params.json"), "w") as f:
            json.dump(params, f)
        driver = os.path.join(ROOT, "benchmarks", "_cni_driver.py")
        subprocess.run(
            [
                *node.exec_prefix(),
                sys.executable,
                driver,
                os.path.join(work, "params.json"),
                os.path.join(work, "out.json"),
            ],
            check=True,
        )
        with open(os.path.join(work, "out.json")) as f:
            raw = json.load(f)
        raw["startup"] = startup(bin_dir)
        raw["versionCpu"] = version_cpu(node, args.multus_bin_dir)
        _, metrics = thick.http_get(thick.socket_path(node), "/metrics")
        raw["daemonRejected"] = [
            line for line in metrics.splitlines() if line.startswith("pymultus_requests_rejected")
        ]
        raw["daemonMetrics"] = {
            line.split(" ")[0]: float(line.split(" ")[1])
            for line in metrics.splitlines()
            if line.startswith(
                (
                    "pymultus_cni_request_duration_seconds_sum",
                    "pymultus_delegate_duration_seconds_sum",
                    "pymultus_cni_request_duration_seconds_count",
                    "pymultus_cache_lookups_total",
                )
            )
        }
        leaks = [x for x in cluster.leaks() if "network namespace" not in x]
        raw["leaks"] = leaks
    return raw


def report(raw: dict[str, Any]) -> dict[str, Any]:
    summary: dict[str, Any] = {"latency": {}, "overhead": {}}
    base = raw["latency"]["baseline"]
    for name, cells in raw["latency"].items():
        for k, cell in cells.items():
            summary["latency"].setdefault(name, {})[k] = {
                "add": summarize(cell["add"]),
                "del": summarize(cell["del"]),
            }
            if name != "baseline":
                b = base[k]
                summary["overhead"].setdefault(name, {})[k] = {
                    op: {
                        "p50_ms": (pct(cell[op], 0.5) - pct(b[op], 0.5)) * 1000,
                        "ratio": pct(cell[op], 0.5) / pct(b[op], 0.5),
                    }
                    for op in ("add", "del")
                }
    for key in (
        "burst",
        "startup",
        "versionCpu",
        "peakRssKiB",
        "daemonRssStartKiB",
        "daemonRssIdleKiB",
        "daemonRssBurstPeakKiB",
        "daemonRssAfterKiB",
        "daemonsRssKiB",
        "daemonLatencyPhase",
        "daemonRejected",
        "leaks",
        "daemonMetrics",
    ):
        summary[key] = raw.get(key)
    return summary


def versus(summary: dict[str, Any]) -> dict[str, Any]:
    """pymultus against the reference in the same run: p50 ratios per k (ours / theirs)."""
    pairs = {"thin": "multus-thin", "thick": "multus-thick"}
    out: dict[str, Any] = {}
    latency = summary["latency"]
    for ours, theirs in pairs.items():
        if ours not in latency or theirs not in latency:
            continue
        for k in latency[ours]:
            if k not in latency[theirs]:
                continue
            out.setdefault(f"{ours} / {theirs}", {})[k] = {
                op: latency[ours][k][op]["p50"] / latency[theirs][k][op]["p50"]
                for op in ("add", "del")
            }
    cpu = summary.get("versionCpu") or {}
    go = cpu.get("Multus multus (Go)")
    if go:
        out["VERSION CPU thin / multus"] = cpu["pymultus thin (zipapp, -IS)"] / go
    go_shim = cpu.get("Multus multus-shim (Go)")
    if go_shim:
        out["VERSION CPU shim / multus-shim"] = cpu["pymultus-shim (zipapp, -IS)"] / go_shim
    return out


def print_summary(summary: dict[str, Any]) -> None:
    print("\nADD / DEL latency, ms (p50 / p90 / p99), API in use")
    print(
        f"{'variant':<22}{'k':>3}  {'ADD p50':>8}{'p90':>8}{'p99':>8}  {'DEL p50':>8}{'p90':>8}"
        f"{'p99':>8}  {'ADD +ms':>8}{'ratio':>7}"
    )
    for name, cells in summary["latency"].items():
        for k, cell in sorted(cells.items(), key=lambda kv: int(kv[0])):
            a, d = cell["add"], cell["del"]
            over = summary["overhead"].get(name, {}).get(k, {}).get("add")
            extra = f"{over['p50_ms']:>8.1f}{over['ratio']:>7.2f}" if over else f"{'-':>8}{'-':>7}"
            print(
                f"{name:<22}{k:>3}  {a['p50']:>8.1f}{a['p90']:>8.1f}{a['p99']:>8.1f}  "
                f"{d['p50']:>8.1f}{d['p90']:>8.1f}{d['p99']:>8.1f}  {extra}"
            )
    print("\n50-pod burst (2 extra networks each), wall seconds")
    for name, t in summary["burst"].items():
        print(f"  {name:<20} ADD {t['add']:.2f} s   DEL {t['del']:.2f} s")
    mib = 1024

    def in_mib(kib: float | None) -> str:  # None: not measured (--burst 0)
        return "-" if kib is None else f"{kib / mib:.1f}"

    print("\nMemory (MiB)")
    print(
        f"  daemon RSS at start {in_mib(summary['daemonRssStartKiB'])}, idle after the latency "
        f"runs {in_mib(summary['daemonRssIdleKiB'])}, burst peak "
        f"{in_mib(summary['daemonRssBurstPeakKiB'])}, "
        f"after {in_mib(summary['daemonRssAfterKiB'])}"
    )
    for name, rss in (summary.get("daemonsRssKiB") or {}).items():
        print(
            f"  {name} daemon: idle {rss['idle'] / mib:.1f}, "
            f"50-pod burst peak {rss.get('burstPeak', 0) / mib:.1f}"
        )
    for name, rss in summary["peakRssKiB"].items():
        print(
            f"  {name}: peak RSS of an ADD with 2 networks {rss['add2'] / mib:.1f} "
            f"(process tree), of VERSION {rss['version'] / mib:.1f}"
        )
    print("\nStart-up (median ms)")
    for what, ms in summary["startup"].items():
        print(f"  {what:<24}{ms:>7.1f}")
    m = summary.get("daemonMetrics") or {}
    for command in ("ADD", "DEL"):
        label = f'{{command="{command}"}}'
        total = m.get(f"pymultus_cni_request_duration_seconds_sum{label}", 0.0)
        count = m.get(f"pymultus_cni_request_duration_seconds_count{label}", 0.0)
        delegates = m.get(f"pymultus_delegate_duration_seconds_sum{label}", 0.0)
        if count:
            print(
                f"  daemon {command}: {total / count * 1000:.1f} ms per call, of which delegates "
                f"{delegates / count * 1000:.1f} ms (all calls incl. burst, from /metrics)"
            )
    phase = summary.get("daemonLatencyPhase") or {}
    for command in ("ADD", "DEL"):
        label = f'{{command="{command}"}}'
        count = phase.get(f"pymultus_cni_request_duration_seconds_count{label}", 0.0)
        if count:
            total = phase[f"pymultus_cni_request_duration_seconds_sum{label}"] / count * 1000
            dele = phase.get(f"pymultus_delegate_duration_seconds_sum{label}", 0.0) / count * 1000
            print(
                f"  daemon {command} in the latency runs: {total:.1f} ms per call inside the "
                f"daemon, of which delegates {dele:.1f} ms, the rest {total - dele:.1f} ms"
            )
    hits = {k: v for k, v in m.items() if k.startswith("pymultus_cache_lookups_total")}
    print(f"  daemon cache lookups: {hits}")
    print("\nVERSION, CPU per call (median ms, binaries alternating)")
    for what, ms in (summary.get("versionCpu") or {}).items():
        print(f"  {what:<32}{ms:>7.1f}")
    print("\npymultus / Multus v4.1.4, p50 in the same run")
    for pair, cells in summary.get("versus", {}).items():
        if isinstance(cells, dict):
            for k, r in sorted(cells.items(), key=lambda kv: int(kv[0])):
                print(f"  {pair:<26} k={k}  ADD {r['add']:.2f}x  DEL {r['del']:.2f}x")
        else:
            print(f"  {pair:<26} {cells:.2f}x")
    print(f"\nleft behind: {summary['leaks'] or 'nothing'}; {summary['daemonRejected']}")


def markdown(summary: dict[str, Any]) -> str:
    """The side-by-side tables for benchmarks/README.md (from cni_latency.json)."""
    lat = summary["latency"]
    names = list(lat)
    ks = sorted(lat["baseline"], key=int)
    out = []
    for op in ("add", "del"):
        out.append(f"| {op.upper()} p50 ms | " + " | ".join(f"k={k}" for k in ks) + " |")
        out.append("|---|" + "---|" * len(ks))
        for name in names:
            cells = [f"{lat[name][k][op]['p50']:.1f}" for k in ks if k in lat[name]]
            out.append(f"| {name} | " + " | ".join(cells) + " |")
        for pair, cells in summary.get("versus", {}).items():
            if isinstance(cells, dict):
                ratios = [f"**{cells[k][op]:.2f}x**" if k in cells else "-" for k in ks]
                out.append(f"| {pair} | " + " | ".join(ratios) + " |")
        base = lat["baseline"]
        for name in ("thick", "multus-thick"):
            if name in lat:
                over = [f"{lat[name][k][op]['p50'] - base[k][op]['p50']:+.1f}" for k in ks]
                out.append(f"| {name} over the delegates | " + " | ".join(over) + " |")
        out.append("")
    out.append("| 50 pods at once, 2 extra networks | ADD wall s | DEL wall s |")
    out.append("|---|---|---|")
    for name, t in summary["burst"].items():
        out.append(f"| {name} | {t['add']:.2f} | {t['del']:.2f} |")
    out.append("")
    out.append("| VERSION | CPU ms per call (median) |")
    out.append("|---|---|")
    for name, ms in (summary.get("versionCpu") or {}).items():
        out.append(f"| {name} | {ms:.1f} |")
    for pair, ratio in summary.get("versus", {}).items():
        if not isinstance(ratio, dict):
            out.append(f"| {pair} | **{ratio:.2f}x** |")
    out.append("")
    out.append("| node daemon RSS | idle MiB | 50-pod burst peak MiB |")
    out.append("|---|---|---|")
    for name, rss in (summary.get("daemonsRssKiB") or {}).items():
        out.append(f"| {name} | {rss['idle'] / 1024:.1f} | {rss.get('burstPeak', 0) / 1024:.1f} |")
    return "\n".join(out)


def plot(summary: dict[str, Any], out_dir: str) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plots (pip install -e '.[bench]')")
        return []
    written = []
    for op in ("add", "del"):
        fig, ax = plt.subplots(figsize=(7, 4))
        names = list(summary["latency"])
        ks = sorted(summary["latency"]["baseline"], key=int)
        width = 0.8 / len(names)
        for i, name in enumerate(names):
            p50 = [summary["latency"][name][k][op]["p50"] for k in ks]
            p90 = [summary["latency"][name][k][op]["p90"] for k in ks]
            xs = [int(j) + (i - (len(names) - 1) / 2) * width for j in range(len(ks))]
            ax.bar(xs, p50, width, label=f"{name} p50")
            ax.errorbar(
                xs,
                p50,
                yerr=[[0] * len(ks), [b - a for a, b in zip(p50, p90, strict=True)]],
                fmt="none",
                ecolor="black",
                capsize=2,
            )
        ax.set_xticks(range(len(ks)), [f"{k} extra" for k in ks])
        ax.set_ylabel("ms (bar p50, whisker p90)")
        ax.set_title(f"CNI {op.upper()} latency, API in use")
        ax.legend()
        fig.tight_layout()
        path = os.path.join(out_dir, f"cni_{op}_latency.png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    written += plot_extras(summary, out_dir, plt)
    return written


def plot_extras(summary: dict[str, Any], out_dir: str, plt: Any) -> list[str]:
    """One plot per remaining table: VERSION CPU, the 50-pod burst, daemon memory."""
    written = []
    cpu = summary.get("versionCpu") or {}
    if cpu:
        fig, ax = plt.subplots(figsize=(7, 3.5))
        ax.barh(list(cpu), list(cpu.values()))
        ax.set_xlabel("CPU ms per VERSION call (median)")
        ax.set_title("VERSION: CPU per call, binaries alternating")
        fig.tight_layout()
        path = os.path.join(out_dir, "cni_version_cpu.png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    burst = summary.get("burst") or {}
    if burst:
        fig, ax = plt.subplots(figsize=(7, 3.5))
        names = list(burst)
        xs = range(len(names))
        ax.bar([x - 0.2 for x in xs], [burst[n]["add"] for n in names], 0.4, label="ADD")
        ax.bar([x + 0.2 for x in xs], [burst[n]["del"] for n in names], 0.4, label="DEL")
        ax.set_xticks(list(xs), names)
        ax.set_ylabel("wall seconds, 50 pods at once")
        ax.set_title("50-pod burst, 2 extra networks each")
        ax.legend()
        fig.tight_layout()
        path = os.path.join(out_dir, "cni_burst.png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    daemons = summary.get("daemonsRssKiB") or {}
    if daemons:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        names = list(daemons)
        xs = range(len(names))
        ax.bar([x - 0.2 for x in xs], [daemons[n]["idle"] / 1024 for n in names], 0.4, label="idle")
        ax.bar(
            [x + 0.2 for x in xs],
            [daemons[n].get("burstPeak", 0) / 1024 for n in names],
            0.4,
            label="burst peak",
        )
        ax.axhline(40, color="grey", linestyle=":", label="target idle 40 MiB")
        ax.set_xticks(list(xs), [f"{n} daemon" for n in names])
        ax.set_ylabel("RSS MiB")
        ax.set_title("Node daemon memory")
        ax.legend()
        fig.tight_layout()
        path = os.path.join(out_dir, "daemon_rss.png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--networks", default="0,1,2,4")
    parser.add_argument("--meta-plugin", default="", help="also measure this meta-plugin binary")
    parser.add_argument(
        "--multus-bin-dir",
        default="",
        help="a directory with the reference's multus (thin), multus-daemon and multus-shim: "
        "also measured, side by side (each one skipped with a message when absent)",
    )
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results"))
    parser.add_argument("--replot", default="", help="only redraw the plots of a cni_latency.json")
    args = parser.parse_args()
    if args.replot:
        with open(args.replot) as f:
            summary = json.load(f)["summary"]
        print_summary(summary)
        print("\n" + markdown(summary))
        for path in plot(summary, os.path.dirname(os.path.abspath(args.replot))):
            print(f"plot: {path}")
        return 0
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        return 2
    started = time.time()
    load_start = os.getloadavg()
    raw = run(args)
    summary = report(raw)
    summary["versus"] = versus(summary)
    summary["loadAverageStart"] = load_start
    summary["loadAverage"] = os.getloadavg()
    summary["machine"] = {
        "cpus": os.cpu_count(),
        "kernel": os.uname().release,
        "python": sys.version.split()[0],
    }
    summary["seconds"] = round(time.time() - started, 1)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "cni_latency.json"), "w") as f:
        json.dump({"summary": summary, "raw": raw}, f, indent=1)
    print_summary(summary)
    for path in plot(summary, args.out):
        print(f"plot: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
