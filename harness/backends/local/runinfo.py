"""What a later ``harness`` command reads of a running local cluster.

``harness cluster up`` keeps a cluster running for kubectl, ``harness exec``
and ``harness cluster down``, which run in other processes: they find it
through two files in its run directory, the cluster's info (servers,
token, nodes, who owns it) and the map of running sandboxes (pod -> netns,
and on containerd nodes the CRI socket and container IDs). Both are
rewritten whenever they change (the token rotates, a sandbox comes or goes).
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

from harness.backends.local.clusterbase import ClusterBase
from harness.backends.local.files import write_private_json, write_private_text
from harness.backends.local.runs import INFO_FILE, SANDBOXES_FILE


class RunInfo(ClusterBase):
    def info(self) -> dict[str, Any]:
        """What a later ``harness`` command needs to find and use this cluster."""
        return {
            "id": self.cluster_id,
            "name": self.name,
            "ownerPid": os.getpid(),
            "mode": self.mode,
            "profile": self.profile.name,
            "binaries": self.binaries.describe(),
            "runtime": self.runtime,
            "metaPlugin": self.meta_plugin,
            "nodes": [
                {"name": n.name, "netns": n.netns, "ip": n.ip, "podCIDR": n.pod_cidr}
                for n in self.topology.nodes
            ],
            "server": self.server,
            "secureServer": self.secure_server,
            "nodeServer": self.node_server,
            "token": self.token,
            "kubeconfig": self.kubeconfig,
        }

    def write_info(self) -> None:
        write_private_json(os.path.join(self.run_dir, INFO_FILE), self.info())
        self.write_sandboxes()

    def sandboxes(self) -> dict[str, dict[str, Any]]:
        """Running sandboxes by pod uid: namespace, name, node, netns."""
        out: dict[str, dict[str, Any]] = {}
        for node_name, kubelet in self.kubelets.items():
            with kubelet.lock:
                items = list(kubelet.sandboxes.values())
            for sandbox in items:
                if sandbox.ready:
                    namespace, _, name = sandbox.pod_key.partition("/")
                    out[sandbox.uid] = {
                        "namespace": namespace,
                        "name": name,
                        "node": node_name,
                        "netns": sandbox.netns,
                        "netnsPath": kubelet.netns_path(sandbox),
                    }
                    if self.runtime == "containerd":  # harness exec goes through CRI
                        out[sandbox.uid]["criSocket"] = self.runtimes[node_name].socket
                        out[sandbox.uid]["containers"] = kubelet.container_ids(sandbox.uid)
        return out

    def write_sandboxes(self) -> None:
        """Publish the pod -> netns map for ``harness exec`` (only when it changed)."""
        if not os.path.isdir(self.run_dir):
            return
        text = json.dumps(self.sandboxes(), sort_keys=True)
        with self.changed:
            if text == self._sandboxes_written:
                return
            self._sandboxes_written = text
            with contextlib.suppress(OSError):
                write_private_text(os.path.join(self.run_dir, SANDBOXES_FILE), text)

    def _notify(self) -> None:
        """A kubelet's sandboxes changed: wake waiters, republish the sandbox map."""
        with self.changed:
            self.changed.notify_all()
        self.write_sandboxes()
