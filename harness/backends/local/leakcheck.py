"""The local cluster's leak check: what deleted pods left on the nodes.

A pod's DEL must remove everything its ADD made (CNI spec, DEL): network
namespaces, links in the node, IPAM leases and cache files under
/var/lib/cni, and on containerd nodes the runtime's sandboxes. What is the
cluster's own (the fabric, the nodes' uplinks, node-level bridges, live
pods' sandboxes, host-local's bookkeeping) is not a leak.
"""

from __future__ import annotations

import os
import time

from harness.backends.local import sh
from harness.backends.local.clusterbase import ClusterBase
from harness.backends.local.kubelet import Kubelet
from harness.backends.local.topology import NETNS_DIR, Node
from harness.netstate import parse_addresses


class LeakCheck(ClusterBase):
    def leaks(self) -> list[str]:
        """What deleted pods left behind: namespaces, links, leases, caches."""
        for busy in self.kubelets.values():  # not an attempt in the middle of its ADD
            wait_idle(busy)
        found: list[str] = []
        infra = {self.topology.fabric_netns} | {n.netns for n in self.topology.nodes}
        # A live pod's sandbox (e.g. a failing pod's retry in flight) is not a leak.
        for kubelet in self.kubelets.values():
            with kubelet.lock:
                infra |= {s.netns for s in kubelet.sandboxes.values()}
        for name in sorted(os.listdir(NETNS_DIR)) if os.path.isdir(NETNS_DIR) else []:
            if name.startswith(self.cluster_id + "-") and name not in infra:
                found.append(f"network namespace {name}")
        for node in self.topology.nodes:
            links = parse_addresses(sh.run(["ip", "-n", node.netns, "-d", "-j", "addr", "show"]))
            for link in links:
                # The bridge plugin makes a node-level bridge and never removes
                # it (neither on a real node): infrastructure, not a pod's leak.
                # Veths left on it still count.
                if link.name not in ("lo", "eth0", "eth1") and link.kind != "bridge":
                    found.append(f"{node.name}: link {link.name} ({link.kind})")
            found += [f"{node.name}: {leak}" for leak in node_file_leaks(node)]
            runtime = self.runtimes.get(node.name)
            if runtime is not None:
                found += [f"{node.name}: {leak}" for leak in runtime.leaks()]
                found += [f"{node.name}: {leak}" for leak in self._cri_leaks(node.name)]
        return found

    def leak_blind_spots(self) -> list[str]:
        """Nothing: the harness sees every node's namespaces, links and files."""
        return []

    def _cri_leaks(self, node: str) -> list[str]:
        """Sandboxes containerd still has after their pods were deleted."""
        from harness.backends.local.containerd.kubelet import CRIKubelet

        kubelet = self.kubelets.get(node)
        if not isinstance(kubelet, CRIKubelet):
            return []
        found: list[str] = []
        for item in kubelet.cri.list_pod_sandboxes():
            meta = item.metadata
            found.append(f"containerd sandbox {item.id[:12]} ({meta.namespace}/{meta.name})")
        return found


def wait_idle(kubelet: Kubelet, timeout: float = 10.0) -> None:
    """Wait (bounded) until the kubelet runs no sandbox setup or teardown.

    A retried sandbox of a failing pod has a netns while the attempt runs
    (a RunPodSandbox on containerd nodes takes ~1 s): not a leak, so nodes
    are inspected between attempts (the back-off leaves at least 1 s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with kubelet.lock:
            if not kubelet.inflight:
                return
        time.sleep(0.02)


def node_file_leaks(node: Node) -> list[str]:
    """IPAM leases and cache files left in a node's /var/lib/cni."""
    found: list[str] = []
    root = node.host_path("/var/lib/cni")
    for dirpath, _dirs, files in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for name in files:
            if rel.startswith("networks") and (name == "lock" or name.startswith("last_reserved")):
                continue  # host-local's bookkeeping, not a lease
            found.append(f"file /var/lib/cni/{os.path.join(rel, name)}".replace("/./", "/"))
    return found
