"""The Node object a simulated node registers, complete as a real kubelet writes it.

Clients read more of a Node than the harness does: the official Python
client refuses a ``nodeInfo`` without bootID, machineID, systemUUID and
kubeProxyVersion; ``kubectl describe node`` divides requests by
``allocatable`` and prints condition heartbeats. So every field a kubelet
reports is here (core/v1 NodeStatus), with values true of this machine
(CPUs, memory, boot id, kernel) or stable per node (machine id, system
UUID: derived from the cluster and node names).
"""

from __future__ import annotations

import calendar
import os
import time
import uuid
from typing import Any

KUBELET_VERSION = "v1.31.0-harness"
HEARTBEAT_CONDITIONS = ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready")
_CONDITION_TEXT = {
    "MemoryPressure": ("KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    "DiskPressure": ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    "PIDPressure": ("KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    "Ready": ("KubeletReady", "kubelet is posting ready status"),
}


def rfc3339(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _read(path: str, default: str = "") -> str:
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return default


def memory_kib(meminfo: str) -> int:
    """MemTotal of /proc/meminfo, in KiB (0 when absent)."""
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return 0


def conditions(now: float, since: float) -> list[dict[str, Any]]:
    """The kubelet's node conditions: healthy, heartbeat ``now``, unchanged ``since``."""
    out = []
    for type_ in HEARTBEAT_CONDITIONS:
        reason, message = _CONDITION_TEXT[type_]
        out.append(
            {
                "type": type_,
                "status": "True" if type_ == "Ready" else "False",
                "reason": reason,
                "message": message,
                "lastHeartbeatTime": rfc3339(now),
                "lastTransitionTime": rfc3339(since),
            }
        )
    return out


def node_object(
    name: str,
    ip: str,
    pod_cidr: str,
    *,
    cluster_id: str = "",
    now: float | None = None,
) -> dict[str, Any]:
    """The Node a kubelet registers (metadata, spec and a full status)."""
    now = time.time() if now is None else now
    machine = os.uname().machine
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
    ident = uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}.{cluster_id or 'harness'}.local")
    cpus = str(os.cpu_count() or 1)
    memory = f"{memory_kib(_read('/proc/meminfo'))}Ki"
    capacity = {
        "cpu": cpus,
        "memory": memory,
        "pods": "110",
        "ephemeral-storage": "10Gi",
        "hugepages-2Mi": "0",
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": arch,
                "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": arch,
            },
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr]},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": ip},
                {"type": "Hostname", "address": name},
            ],
            "capacity": capacity,
            "allocatable": dict(capacity),
            "conditions": conditions(now, now),
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            # kubectl's VERSION column, `describe node` and the official clients read these.
            "nodeInfo": {
                "machineID": ident.hex,
                "systemUUID": str(ident),
                "bootID": _read("/proc/sys/kernel/random/boot_id", str(uuid.UUID(int=0))),
                "kernelVersion": os.uname().release,
                "osImage": "simulated node (network + mount namespace)",
                "containerRuntimeVersion": "harness-local://1",
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": KUBELET_VERSION,
                "operatingSystem": "linux",
                "architecture": arch,
            },
        },
    }


def heartbeat_patch(node: dict[str, Any], now: float) -> dict[str, Any]:
    """A status patch that renews every condition's heartbeat (transitions kept)."""
    since = now
    for c in (node.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready" and c.get("lastTransitionTime"):
            since = calendar.timegm(time.strptime(c["lastTransitionTime"], "%Y-%m-%dT%H:%M:%SZ"))
    return {"status": {"conditions": conditions(now, since)}}
