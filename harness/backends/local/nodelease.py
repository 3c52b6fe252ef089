"""Node heartbeats as a kubelet sends them: the node Lease and the node conditions.

A kubelet renews ``coordination.k8s.io/v1`` Lease ``kube-node-lease/<node>``
every ``renew`` seconds (a quarter of the 40 s lease duration) and posts its
conditions' ``lastHeartbeatTime`` less often (nodeStatusReportFrequency; a
minute here). ``kubectl describe node`` shows both. The kubelet starts one
:class:`NodeHeartbeat` and stops it with its own stop event.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from harness.backends.local.apiclient import APIError
from harness.backends.local.nodestatus import heartbeat_patch, rfc3339

LEASE_NAMESPACE = "kube-node-lease"
LEASE_SECONDS = 40


class _API(Protocol):
    """What a heartbeat needs of a client (apiclient.ClusterClient has it)."""

    def renew_lease(self, namespace: str, name: str, patch: dict[str, Any]) -> None: ...

    def create_lease(self, namespace: str, lease: dict[str, Any]) -> None: ...

    def read_node(self, name: str) -> dict[str, Any]: ...

    def patch_node_status(self, name: str, patch: dict[str, Any]) -> None: ...


def lease_object(node: str, node_uid: str, now: float) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": node, "namespace": LEASE_NAMESPACE}
    if node_uid:
        meta["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "Node", "name": node, "uid": node_uid}
        ]
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": meta,
        "spec": {
            "holderIdentity": node,
            "leaseDurationSeconds": LEASE_SECONDS,
            "renewTime": rfc3339(now).replace("Z", ".000000Z"),
        },
    }


class NodeHeartbeat:
    """Renews one node's Lease and condition heartbeats until ``stopping`` is set."""

    def __init__(
        self,
        node: str,
        api: _API,
        stopping: threading.Event,
        *,
        renew: float = LEASE_SECONDS / 4,
        status_every: float = 60.0,
        clock: Callable[[], float] = time.time,
        on_error: Callable[[str], None] = lambda _msg: None,
    ) -> None:
        self.node = node
        self.api = api
        self.stopping = stopping
        self.renew = renew
        self.status_every = status_every
        self.clock = clock
        self.on_error = on_error
        self.renewals = 0
        self.thread: threading.Thread | None = None

    def start(self) -> NodeHeartbeat:
        self.thread = threading.Thread(
            target=self._loop, name=f"heartbeat-{self.node}", daemon=True
        )
        self.thread.start()
        return self

    def beat(self, with_status: bool) -> None:
        """One renewal: the Lease (created when missing) and, if asked, the conditions."""
        now = self.clock()
        renew = {"spec": {"renewTime": rfc3339(now).replace("Z", ".000000Z")}}
        try:
            self.api.renew_lease(LEASE_NAMESPACE, self.node, renew)
        except APIError as exc:
            if exc.status != 404:
                raise
            node = self.api.read_node(self.node)
            uid = str((node.get("metadata") or {}).get("uid", ""))
            self.api.create_lease(LEASE_NAMESPACE, lease_object(self.node, uid, now))
        self.renewals += 1
        if with_status:
            node = self.api.read_node(self.node)
            self.api.patch_node_status(self.node, heartbeat_patch(node, now))

    def _loop(self) -> None:
        last_status = self.clock()
        first = True
        while not self.stopping.is_set():
            due = self.clock() - last_status >= self.status_every
            try:
                self.beat(with_status=due)
                if due:
                    last_status = self.clock()
            except Exception as exc:  # the API may be paused by a fault test
                if not first and not self.stopping.is_set():
                    self.on_error(f"node heartbeat: {exc}")
            first = False
            self.stopping.wait(self.renew)
