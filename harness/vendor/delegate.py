"""The ``delegate`` check: the plugin behind a NetworkAttachmentDefinition.

The plugin is installed on a one-node :class:`LocalCluster` under its ``type``
name (replacing the reference plugin of that name on the node), its
configuration becomes the NAD ``vendor-net``, and the standard quickstart
runs: a pod annotated with the network gets ``net1``, the network-status
annotation has the right
entries (NPWG v1.3 4.1.2.1.2), its IPs and MAC are the kernel's, and after
the pod is deleted nothing is left (the cluster's leak check).
"""

from __future__ import annotations

import json
import os
from typing import Any

from harness.vendor.judge import status_ip_problems
from harness.vendor.sandbox import UNSUPPORTED_MARKERS, Subject

NAD_NAME = "vendor-net"
POD_NAME = "vendorpod"
STATUS_ANNOTATION = "k8s.v1.cni.cncf.io/network-status"
POD_TIMEOUT = 20.0


class DelegateSkip(Exception):
    pass


def nad_object(config: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "k8s.cni.cncf.io/v1",
        "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": NAD_NAME, "namespace": "default"},
        "spec": {"config": json.dumps(config)},
    }


EXPECTED_STATUS: list[dict[str, Any]] = [
    {"interface": "eth0", "default": True},
    {"name": f"default/{NAD_NAME}", "interface": "net1", "default": False},
]


def run_delegate(subject: Subject, cni_version: str) -> list[str]:
    """Problems found (empty: passed). Raises DelegateSkip when the kernel cannot run it."""
    from harness.backends.local.cluster import LocalCluster
    from harness.runner import pod_object

    cluster = LocalCluster(nodes=1, cni_bin_dir=subject.cni_path[0])
    cluster.start()
    try:
        for node in cluster.topology.nodes:
            link = os.path.join(node.host_path("/opt/cni/bin"), subject.plugin_type)
            if os.path.lexists(link):
                os.unlink(link)
            os.symlink(os.path.realpath(subject.binary), link)
        cluster.apply(nad_object(subject.config_factory(cni_version)))
        cluster.create_pod(pod_object({"name": POD_NAME, "networks": NAD_NAME}))
        outcome = cluster.wait_pod("default", POD_NAME, POD_TIMEOUT)
        problems: list[str] = []
        if outcome.error is not None:
            message = outcome.error.message
            if any(m in message.lower() for m in UNSUPPORTED_MARKERS):
                raise DelegateSkip(f"the kernel cannot run this plugin here: {message}")
            problems.append(f"the pod's sandbox failed: {outcome.error.describe()}")
        elif not outcome.ready:
            problems.append(f"the pod's sandbox was not ready within {POD_TIMEOUT:g} s")
        else:
            problems += _status_problems(cluster)
        error = cluster.delete_pod("default", POD_NAME, POD_TIMEOUT)
        if error is not None:
            problems.append(f"deleting the pod: {error.describe()}")
        problems += [f"left after the pod was deleted: {leak}" for leak in cluster.leaks()]
        return problems
    finally:
        cluster.close()


def _status_problems(cluster: Any) -> list[str]:
    from harness.matchers import match_status

    pod = cluster.get_pod("default", POD_NAME) or {}
    text = ((pod.get("metadata") or {}).get("annotations") or {}).get(STATUS_ANNOTATION)
    entries = json.loads(text) if text else []
    problems = match_status(EXPECTED_STATUS, entries)
    network = cluster.pod_network("default", POD_NAME)
    for entry in entries:
        if entry.get("interface") == "net1":
            problems += status_ip_problems(entry, network.interface("net1"))
    if problems:
        problems.append(f"network-status: {text}\n{network.describe()}")
    return problems
