"""The ``existing`` backend: the scenarios on any cluster a kubeconfig reaches.

For a vendor's staging cluster, where pymultus (or another meta-plugin) and
the plugins are already installed. The harness installs nothing and changes
nothing it did not create: every scenario runs in namespaces of its own
(labelled with the run id), deleted at the end of the scenario, and objects
a scenario must place in a shared namespace (kube-system) are deleted one by
one. There is no shell on the nodes, so node files and node-level leak
checks are unavailable: scenarios needing them are skipped, and the leak
check looks only at what the API shows (pods left behind).
"""

from __future__ import annotations

import json
import shutil
from typing import TYPE_CHECKING, Any

from harness.backends.remote import (
    ClusterAccess,
    Command,
    RemoteBackend,
    Tools,
    backend_entry,
    machinery_probes,
    started,
)
from harness.scenario.needs import Probe

if TYPE_CHECKING:
    from harness.backends.options import Options

CONTROL_PLANE_LABELS = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")
NAD_CRD = "network-attachment-definitions.k8s.cni.cncf.io"


def kubectl_base(kubeconfig: str | None, context: str | None) -> tuple[str, ...]:
    argv: tuple[str, ...] = ("kubectl",)
    if kubeconfig:
        argv += ("--kubeconfig", kubeconfig)
    if context:
        argv += ("--context", context)
    return argv


def pod_nodes(node_list: dict[str, Any]) -> list[str]:
    """Nodes a scenario pod can be placed on: Ready, schedulable, not control planes."""
    names: list[str] = []
    for node in node_list.get("items") or []:
        metadata = node.get("metadata") or {}
        spec = node.get("spec") or {}
        status = node.get("status") or {}
        labels = metadata.get("labels") or {}
        if any(label in labels for label in CONTROL_PLANE_LABELS) or spec.get("unschedulable"):
            continue
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        if ready:
            names.append(str(metadata["name"]))
    return sorted(names)


def has_ipv6(node_list: dict[str, Any]) -> bool:
    for node in node_list.get("items") or []:
        for cidr in (node.get("spec") or {}).get("podCIDRs") or []:
            if ":" in str(cidr):
                return True
    return False


def probes(ipv6: bool, eth1: bool) -> dict[str, Probe]:
    return {
        "eth1": lambda: (
            None
            if eth1
            else "the harness cannot tell whether this cluster's nodes have an eth1 fabric"
        ),
        "ipv6": lambda: None if ipv6 else "no node has an IPv6 pod CIDR",
        "macvlan": lambda: None,
    }


class ExistingBackend(RemoteBackend):
    name = "existing"

    def __init__(
        self,
        tools: Tools,
        kubeconfig: str | None = None,
        context: str | None = None,
        report_dir: str = "reports",
        eth1: bool = False,
    ) -> None:
        # keep=True: the cluster is not ours, there is nothing to tear down.
        super().__init__(tools, report_dir, keep=True)
        self.kubectl = kubectl_base(kubeconfig, context)
        self.eth1 = eth1

    def setup_commands(self) -> list[Command]:
        return [
            Command((*self.kubectl, "get", "crd", NAD_CRD, "-o", "name")),
            Command((*self.kubectl, "get", "nodes", "-o", "json"), capture="nodes"),
        ]

    def start(self) -> ClusterAccess:
        crd, nodes = self.setup_commands()
        self.tools.run(crd)
        node_list = json.loads(self.tools.run(nodes).stdout or "{}")
        names = pod_nodes(node_list)
        if not names:
            raise RuntimeError("the cluster has no Ready, schedulable worker node for pods")
        return ClusterAccess(
            name="existing",
            kubectl=self.kubectl,
            nodes={f"node-{i}": name for i, name in enumerate(names, 1)},
            tools=self.tools,
            node_exec=None,
            probes=probes(has_ipv6(node_list), self.eth1),
        )


# ------------------------------------------------------ the registry's entry
def build(options: Options, tools: Tools) -> ExistingBackend:
    return ExistingBackend(
        tools, options.kubeconfig, options.context, options.report_dir, eth1=False
    )


def probes_for(options: Options) -> dict[str, Probe]:
    """Answers for ``cluster.needs``: the cluster is asked lazily (on first use)."""

    def lazy(need: str) -> Probe:
        def probe() -> str | None:
            answer = started(options, build).probes.get(need)
            return answer() if answer else f"the cluster cannot provide {need}"

        return probe

    probes = {need: lazy(need) for need in ("eth1", "ipv6", "macvlan")}
    return {**probes, **machinery_probes(lambda: started(options, build).node_exec is not None)}


def unavailable_for(options: Options) -> str | None:
    if shutil.which("kubectl") is None:
        return "the existing backend needs kubectl on PATH"
    return None


BACKEND = backend_entry(build, probes_for, unavailable_for)
