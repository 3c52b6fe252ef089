"""A shell on the local nodes: their files, commands, and CNI calls as the runtime.

A node is a network namespace plus a directory that backs its file system
(``node.host_path``): files are read and written there, commands run in the
node's namespaces (``node.exec_prefix()``), as ``docker exec`` into a kind
node would. :meth:`NodeAccess.cni_call` is the harness acting as the node's
runtime for one CNI call (:mod:`harness.backends.local.cnicall`); every
call on a node is recorded by its wiretap (:mod:`harness.wiretap`), judged
against the configs the nodes and the NADs declare.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from typing import Any

from harness.backends.local import sh
from harness.backends.local.files import write_atomic
from harness.backends.local.podaccess import PodAccess
from harness.cluster import CNICall, CNICallOutcome
from harness.netstate import parse_addresses

NAD_PATH = "/apis/k8s.cni.cncf.io/v1/network-attachment-definitions"
# Where a node keeps the configs its networks declare capabilities in: the
# runtime's conf dir and the meta-plugin's own (Multus's confDir default).
CONF_DIRS = ("/etc/cni/net.d", "/etc/cni/multus/net.d")


def conf_files(directory: str) -> list[Any]:
    """The parseable CNI config files of a directory, in name order."""
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


class NodeAccess(PodAccess):
    def write_node_file(self, node: str, path: str, content: str) -> None:
        target = self.topology.node(node).host_path(path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        write_atomic(target, content)

    def remove_node_file(self, node: str, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.topology.node(node).host_path(path))

    def read_node_file(self, node: str, path: str) -> str | None:
        try:
            with open(self.topology.node(node).host_path(path), encoding="utf-8") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def exec_on_node(self, node: str, argv: list[str], timeout: float = 30.0) -> tuple[int, str]:
        proc = subprocess.run(
            [*self.topology.node(node).exec_prefix(), *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return proc.returncode, proc.stdout + proc.stderr

    def cni_call(self, call: CNICall) -> CNICallOutcome:
        """One CNI call as the node's runtime would make it (harness/backends/local/cnicall.py)."""
        from harness.backends.local import cnicall

        target = cnicall.find_target(call, self.kubelets, self.get_pod)
        # On containerd nodes /run is the node's own: a new sandbox's netns is
        # made there, where the plugins (run inside the node) look for it.
        inside = (
            ["nsenter", f"--mount={target.kubelet.node.mount_ns}", "--"]
            if self.runtime == "containerd"
            else []
        )

        def new_netns(name: str) -> None:
            if inside:
                sh.run([*inside, "ip", "netns", "add", name])
            else:
                self.topology.add_netns(name)
            sh.run([*inside, "ip", "-n", name, "link", "set", "lo", "up"])

        def drop_netns(name: str) -> None:
            if inside:
                sh.run([*inside, "ip", "netns", "delete", name], check=False)
            else:
                self.topology.remove_netns(name)

        def links(name: str) -> list[str]:
            argv = [*inside, "ip", "-n", name, "-d", "-j", "addr", "show"]
            found = parse_addresses(sh.run(argv))
            return [link.name for link in found if link.name != "lo"]

        return cnicall.make_call(call, target, new_netns, drop_netns, links, self.cluster_id)

    # ------------------------------------------------------------ wiretap
    def wiretap_files(self) -> list[tuple[str, str]]:
        """Each node's wiretap record (the kubelet wraps the node's bin dir)."""
        found = [(name, k.wiretap_record) for name, k in sorted(self.kubelets.items())]
        return [(name, path) for name, path in found if path]

    def network_configs(self) -> list[dict[str, Any]]:
        """The nodes' CNI conf files and every NAD's config (NPWG 3.4.2: named after
        its NAD when the config has no name)."""
        configs: list[Any] = []
        for kubelet in self.kubelets.values():
            for directory in CONF_DIRS:
                configs += conf_files(kubelet.node.host_path(directory))
        try:
            listing = self.client().request("GET", NAD_PATH)
        except Exception:  # no NADs readable: only the node files declare anything
            listing = {}
        for nad in (listing or {}).get("items", []):
            try:
                conf = json.loads((nad.get("spec") or {}).get("config") or "{}")
            except ValueError:
                continue
            if isinstance(conf, dict):
                conf.setdefault("name", nad["metadata"]["name"])  # NPWG 3.4.2
                configs.append(conf)
        return configs
