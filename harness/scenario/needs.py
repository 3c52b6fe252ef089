"""What a scenario needs from the cluster (``cluster.needs``), and what this
machine offers: a scenario whose needs are not met is skipped with the reason,
never faked (an ipvlan scenario on a kernel without ipvlan proves nothing).

Kernel features are probed by trying them in a scratch network namespace,
once per process: the answer cannot change during a run.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Callable, Mapping, Sequence
from functools import cache, lru_cache

# need -> why it would be missing, as a reason a reader can act on
Probe = Callable[[], str | None]


def missing(needs: Sequence[str], probes: Mapping[str, Probe]) -> str | None:
    """The skip reason for the first unmet need, or None when all are met.

    Pure apart from calling the probes, so it is tested with fake probes."""
    for need in needs:
        probe = probes.get(need)
        if probe is None:
            return f"needs {need}, which this backend cannot provide"
        reason = probe()
        if reason:
            return f"needs {need}: {reason}"
    return None


def _ip(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False, timeout=10)


@cache
def probe_link_kind(kind: str) -> str | None:
    """Try to create a ``kind`` link on a veth in a scratch namespace."""
    if os.geteuid() != 0:
        return "probing the kernel needs root"
    ns = f"hxprobe-{secrets.token_hex(3)}"
    extra = {"vlan": ["id", "10"], "ipvlan": ["mode", "l2"], "macvlan": ["mode", "bridge"]}
    try:
        if _ip(["netns", "add", ns]).returncode != 0:
            return "cannot create a network namespace to probe the kernel"
        _ip(["-n", ns, "link", "add", "pa", "type", "veth", "peer", "name", "pb"])
        proc = _ip(
            ["-n", ns, "link", "add", "link", "pa", "name", "px", "type", kind] + extra[kind]
        )
        if proc.returncode != 0:
            return f"the kernel cannot create {kind} links ({proc.stderr.strip()})"
        return None
    finally:
        _ip(["netns", "del", ns])


@lru_cache(maxsize=1)
def probe_ipv6() -> str | None:
    if not os.path.isdir("/proc/sys/net/ipv6"):
        return "IPv6 is disabled in this kernel"
    return None


def plugin_probe(cni_bin_dir: str, plugin: str) -> Probe:
    def probe() -> str | None:
        if not os.access(os.path.join(cni_bin_dir, plugin), os.X_OK):
            return f"no {plugin} plugin in {cni_bin_dir}"
        return None

    return probe


def local_probes(cni_bin_dir: str, mode: str) -> dict[str, Probe]:
    """What the local backend offers: eth1 on every node (a second fabric), the
    kernel's link kinds, and thick mode only when the run asks for it."""
    return {
        "eth1": lambda: None,
        "ipv6": probe_ipv6,
        "macvlan": lambda: probe_link_kind("macvlan"),
        "ipvlan": lambda: probe_link_kind("ipvlan"),
        "vlan": lambda: probe_link_kind("vlan"),
        "bandwidth": plugin_probe(cni_bin_dir, "bandwidth"),
        "portmap": plugin_probe(cni_bin_dir, "portmap"),
        "thick": lambda: None if mode == "thick" else "the run is in thin mode (--mode thick)",
    }
