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


#: v1 names of kernel and plugin needs, still the keys some backends' probes use.
LEGACY_KEYS = {
    "kernel:macvlan": "macvlan",
    "kernel:ipvlan": "ipvlan",
    "kernel:vlan": "vlan",
}

#: What the harness must be able to do for a scenario that uses a step or check:
#: ``implied_needs`` adds these before the first step, so a backend that cannot do
#: one skips the scenario up front instead of stopping it half-way.
STEP_NEEDS = {
    "cni": "cni-runtime",
    "stopApi": "api-faults",
    "startApi": "api-faults",
    "apiFault": "api-faults",
    "writeFile": "node-files",
    "removeFile": "node-files",
    "restartDaemon": "daemon-control",
    "kill": "daemon-control",
    "hotplug": "hotplug",
    "installer": "installer",
    "rotateToken": "token-rotation",
}


def legacy_key(need: str) -> str:
    """The probe key a backend written for format v1 uses for ``need``."""
    if need.startswith("plugin:"):
        return need.split(":", 1)[1]
    return LEGACY_KEYS.get(need, need)


def missing(needs: Sequence[str], probes: Mapping[str, Probe]) -> str | None:
    """The skip reason for the first unmet need, or None when all are met.

    Pure apart from calling the probes, so it is tested with fake probes."""
    for need in needs:
        probe = probes.get(need) or probes.get(legacy_key(need))
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
    kernel's link kinds, every piece of machinery (it owns the API server, the
    nodes and the runtime), and the daemon only when the run is thick."""
    thick = lambda: None if mode == "thick" else "the run is in thin mode (--mode thick)"  # noqa: E731
    probes: dict[str, Probe] = {
        "eth1": lambda: None,
        "ipv6": probe_ipv6,
        "kernel:macvlan": lambda: probe_link_kind("macvlan"),
        "kernel:ipvlan": lambda: probe_link_kind("ipvlan"),
        "kernel:vlan": lambda: probe_link_kind("vlan"),
        "thick": thick,
        "daemon-control": thick,
        "hotplug": thick,
    }
    for need in (
        "api-faults",
        "node-exec",
        "node-files",
        "pod-exec",
        "cni-runtime",
        "sandbox-id",
        "installer",
        "token-rotation",
        "devices",
    ):
        probes[need] = lambda: None
    return PluginProbes(probes, cni_bin_dir)


class PluginProbes(dict[str, Probe]):
    """Probes that also answer any ``plugin:NAME`` need from the CNI bin dir."""

    def __init__(self, probes: Mapping[str, Probe], cni_bin_dir: str) -> None:
        super().__init__(probes)
        self.cni_bin_dir = cni_bin_dir

    def get(self, key: str, default: Probe | None = None) -> Probe | None:  # type: ignore[override]
        if key.startswith("plugin:") and key not in self:
            return plugin_probe(self.cni_bin_dir, key.split(":", 1)[1])
        return super().get(key, default)
