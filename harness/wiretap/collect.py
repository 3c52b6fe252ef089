"""Getting a scenario's recorded calls out of a cluster (I/O; the judging is pure).

A cluster offers its record files either as ``wiretap_files()`` -> [(node,
path)] (any backend that wraps its nodes' bin dirs, e.g. containerd nodes),
or, on the local backend, through its kubelets' ``wiretap_record``. A cluster
with neither has no wiretap: its calls are "not checked", never passed.
"""

from __future__ import annotations

import json
import os
from typing import Any

from harness.wiretap.musts import Declared, declared_from_configs
from harness.wiretap.records import RUNTIME, Call, read_record

#: Networks a runtime calls on its own, not through the meta-plugin: containerd's
#: CRI plugin (go-cni) brings each pod's loopback up with a built-in config of
#: this name (containerd nodes, issue 14). Not the meta-plugin's calls: neither
#: judged nor counted by ``calls:`` expectations.
RUNTIME_OWN_NETWORKS = frozenset({"cni-loopback"})

#: Set to "0" to run without the wiretap (e.g. to measure its overhead).
ENV_SWITCH = "HARNESS_WIRETAP"
NAD_PATH = "/apis/k8s.cni.cncf.io/v1/network-attachment-definitions"


def enabled() -> bool:
    return os.environ.get(ENV_SWITCH, "1") != "0"


def record_files(cluster: Any) -> list[tuple[str, str]] | None:
    """(node, record file) of every node, or None when the cluster has no wiretap."""
    files = getattr(cluster, "wiretap_files", None)
    if callable(files):
        found = list(files())
        return found or None
    kubelets = getattr(cluster, "kubelets", None)
    if isinstance(kubelets, dict):
        out = [
            (str(name), str(getattr(k, "wiretap_record", "") or ""))
            for name, k in sorted(kubelets.items())
        ]
        out = [(n, p) for n, p in out if p]
        return out or None
    return None


def calls_since(cluster: Any, since: float) -> list[Call] | None:
    """Every node's calls that started at or after ``since`` (wall clock), or None."""
    files = record_files(cluster)
    if files is None:
        return None
    calls: list[Call] = []
    for node, path in files:
        calls += read_record(path, node, since)
    calls = [c for c in calls if not (c.caller == RUNTIME and c.network in RUNTIME_OWN_NETWORKS)]
    calls.sort(key=lambda c: c.start)
    return calls


def _conf_files(directory: str) -> list[Any]:
    out: list[Any] = []
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return out
    for name in names:
        if name.endswith((".conf", ".conflist", ".json")):
            try:
                with open(os.path.join(directory, name)) as f:
                    out.append(json.load(f))
            except (OSError, ValueError):
                continue
    return out


def declared_capabilities(cluster: Any) -> Declared:
    """What each (network, plugin) declares, from the node config dirs and the NADs."""
    configs: list[Any] = []
    for kubelet in (getattr(cluster, "kubelets", None) or {}).values():
        node = kubelet.node
        for directory in ("/etc/cni/net.d", "/etc/cni/multus/net.d"):
            configs += _conf_files(node.host_path(directory))
    client = getattr(cluster, "client", None)
    if callable(client):
        try:
            listing = client().request("GET", NAD_PATH)
        except Exception:
            listing = {}
        for nad in (listing or {}).get("items", []):
            try:
                conf = json.loads((nad.get("spec") or {}).get("config") or "{}")
            except ValueError:
                continue
            if isinstance(conf, dict):
                conf.setdefault("name", nad["metadata"]["name"])  # NPWG 3.4.2
                configs.append(conf)
    return declared_from_configs(configs)
