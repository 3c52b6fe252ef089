"""Pods and objects on the local cluster, as the runner sees them.

Objects go through the embedded API like kubectl's (create or replace,
delete); a pod's outcome and its network come from the kubelet that runs
its sandbox: the sandbox of the pod that has the name *now* (a pod of the
same name deleted earlier, maybe on another node, never answers for it).
``exec_in_pod`` and ``ping`` run in the sandbox's network namespace, as
``kubectl exec`` into the pod's container would.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from typing import Any

from harness.backends.local import sh
from harness.backends.local.apiclient import pod_path
from harness.backends.local.clusterbase import ClusterBase
from harness.backends.local.kubelet import Sandbox
from harness.backends.local.topology import NETNS_DIR
from harness.cluster import PodOutcome, SandboxError
from harness.netstate import PodNetwork, parse_addresses, parse_routes, ping_argv

NAD_API = "/apis/k8s.cni.cncf.io/v1"


def object_path(obj: dict[str, Any]) -> str:
    """The collection path of an object from its apiVersion and kind."""
    kind = obj.get("kind")
    namespace = (obj.get("metadata") or {}).get("namespace", "default")
    if kind == "NetworkAttachmentDefinition":
        return f"{NAD_API}/namespaces/{namespace}/network-attachment-definitions"
    if kind == "Namespace":
        return "/api/v1/namespaces"
    if kind == "Pod":
        return pod_path(namespace)
    raise ValueError(f"unsupported kind {kind!r} (NetworkAttachmentDefinition, Namespace, Pod)")


class PodAccess(ClusterBase):
    # ------------------------------------------------------------- objects
    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        path = object_path(obj)
        existing = self.client().get(f"{path}/{obj['metadata']['name']}")
        if existing is None:
            return self.client().request("POST", path, obj)
        body = dict(obj)
        body["metadata"] = {
            **obj["metadata"],
            "resourceVersion": existing["metadata"]["resourceVersion"],
        }
        return self.client().request("PUT", f"{path}/{obj['metadata']['name']}", body)

    def delete_object(self, obj: dict[str, Any]) -> None:
        self.client().delete(f"{object_path(obj)}/{obj['metadata']['name']}")

    def create_pod(self, pod: dict[str, Any]) -> dict[str, Any]:
        """Create a pod; an unbound one is bound at once (round-robin, creation order)."""
        pod = json.loads(json.dumps(pod))
        namespace = pod["metadata"].setdefault("namespace", "default")
        self.ensure_namespace(namespace)
        created = self.client().request("POST", pod_path(namespace), pod)
        if not (created.get("spec") or {}).get("nodeName") and self.scheduler is not None:
            node = self.scheduler.schedule(created)
            if node:
                created.setdefault("spec", {})["nodeName"] = node
        return created

    def ensure_namespace(self, namespace: str) -> None:
        if self.client().get(f"/api/v1/namespaces/{namespace}") is None:
            self.client().create_namespace(namespace)

    def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.client().get(pod_path(namespace, name))

    def node_of(self, namespace: str, name: str) -> str | None:
        pod = self.get_pod(namespace, name)
        node = ((pod or {}).get("spec") or {}).get("nodeName")
        return str(node) if node else None

    def events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        listing = self.client().request("GET", f"/api/v1/namespaces/{namespace}/events")
        return [
            e
            for e in listing.get("items", [])
            if (e.get("involvedObject") or {}).get("name") == name
        ]

    # ----------------------------------------------------------- sandboxes
    def _sandbox(self, namespace: str, name: str) -> Sandbox | None:
        """The sandbox of the pod that has this name *now* (a pod of the same name
        deleted earlier, maybe on another node, must not answer for it)."""
        pod = self.get_pod(namespace, name)
        if pod is not None:
            uid = str(pod["metadata"].get("uid", ""))
            node = (pod.get("spec") or {}).get("nodeName")
            kubelet = self.kubelets.get(str(node)) if node else None
            return kubelet.sandbox_by_uid(uid) if kubelet is not None else None
        for kubelet in self.kubelets.values():  # already gone from the API
            sandbox = kubelet.sandbox_for(namespace, name)
            if sandbox is not None:
                return sandbox
        return None

    def sandbox_id(self, namespace: str, name: str) -> str | None:
        sandbox = self._sandbox(namespace, name)
        return str(sandbox.container_id) if sandbox is not None else None

    def wait_pod(self, namespace: str, name: str, timeout: float) -> PodOutcome:
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                sandbox = self._sandbox(namespace, name)
                if sandbox is not None and sandbox.ready:
                    return PodOutcome(True, seconds=sandbox.timings.get("add", 0.0))
                failed = None if sandbox is None else sandbox.error or sandbox.previous_error
                remaining = deadline - time.monotonic()
                # A failed attempt is reported once the runtime has torn it down
                # (DEL, namespace removed), as RunPodSandbox returns only then: a
                # leak check right after sees what the failure left, not the
                # teardown still in progress.
                tearing_down = (
                    sandbox is not None and sandbox.error is not None and self._busy(sandbox.uid)
                )
                if (
                    sandbox is not None
                    and failed is not None
                    and not (tearing_down and remaining > 0)
                ):
                    # The first attempt's outcome: a retry in flight does not hide it.
                    err = SandboxError(failed.code, str(failed))
                    return PodOutcome(False, err, sandbox.timings.get("add", 0.0))
                if remaining <= 0:
                    return PodOutcome(False)
                self.changed.wait(min(remaining, 0.5))

    def _busy(self, uid: str) -> bool:
        """Whether a kubelet is still working on the pod (setup or its teardown)."""
        for kubelet in self.kubelets.values():
            with kubelet.lock:
                if uid in kubelet.inflight:
                    return True
        return False

    def delete_pod(self, namespace: str, name: str, timeout: float = 30.0) -> SandboxError | None:
        sandbox = self._sandbox(namespace, name)
        self.client().delete(pod_path(namespace, name))
        deadline = time.monotonic() + timeout
        while self.get_pod(namespace, name) is not None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"pod {namespace}/{name} still exists after {timeout:.0f} s")
            with self.changed:
                self.changed.wait(0.1)
        if sandbox is not None and sandbox.teardown_error is not None:
            return SandboxError(sandbox.teardown_error.code, str(sandbox.teardown_error))
        return None

    # ------------------------------------------------------------- kernel
    def pod_netns(self, namespace: str, name: str) -> str:
        """The name of the pod sandbox's network namespace (``ip -n`` on simulated
        nodes; on containerd nodes a name in the node's own /var/run/netns)."""
        sandbox = self._sandbox(namespace, name)
        if sandbox is None or not sandbox.ready:
            raise LookupError(f"pod {namespace}/{name} has no running sandbox")
        return str(sandbox.netns)

    def pod_netns_path(self, namespace: str, name: str) -> str:
        """The host path of the pod sandbox's network namespace (either runtime)."""
        sandbox = self._sandbox(namespace, name)
        if sandbox is None or not sandbox.ready:
            raise LookupError(f"pod {namespace}/{name} has no running sandbox")
        for kubelet in self.kubelets.values():
            if kubelet.sandbox_by_uid(sandbox.uid) is sandbox:
                return kubelet.netns_path(sandbox)
        return os.path.join(NETNS_DIR, str(sandbox.netns))

    def pod_network(self, namespace: str, name: str) -> PodNetwork:
        enter = ["nsenter", f"--net={self.pod_netns_path(namespace, name)}", "--"]
        interfaces = parse_addresses(sh.run([*enter, "ip", "-d", "-j", "addr", "show"]))
        routes = parse_routes(sh.run([*enter, "ip", "-j", "route", "show"]), 4)
        routes += parse_routes(sh.run([*enter, "ip", "-6", "-j", "route", "show"]), 6)
        return PodNetwork(tuple(interfaces), tuple(routes))

    def exec_in_pod(
        self, namespace: str, name: str, argv: list[str], timeout: float = 30.0
    ) -> tuple[int, str]:
        netns = self.pod_netns_path(namespace, name)
        proc = subprocess.run(
            ["nsenter", f"--net={netns}", "--", *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return proc.returncode, proc.stdout + proc.stderr

    def ping(
        self, namespace: str, name: str, address: str, interface: str | None, timeout: float = 2.0
    ) -> tuple[bool, str]:
        argv = ping_argv(address, interface, timeout)
        code, output = self.exec_in_pod(namespace, name, argv, timeout + 5)
        return code == 0, output
