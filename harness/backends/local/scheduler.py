"""A minimal kube-scheduler: binds unbound pods to the node with the fewest pods.

Pods created without ``spec.nodeName`` (``kubectl apply`` of a plain pod) are
bound the way kube-scheduler binds them: a ``Binding`` POSTed to the
``pods/binding`` subresource (the API refuses ``spec.nodeName`` changes by
update), followed by a ``Scheduled`` event. Pods that name their node are left
alone, as the real scheduler leaves them. No filtering; the one score is the
number of live pods on a node (kube-scheduler's spreading, roughly), ties
broken round-robin, so pods spread evenly and, for the harness, predictably
(creation order decides the node).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from harness.backends.local.apiclient import APIError, ClusterClient

UNBOUND_PODS = "/api/v1/pods?fieldSelector=spec.nodeName%3D"


class LeastPods:
    """Pure choice of a node (kept apart so it is testable without an API).

    The node with the fewest live pods; among equals, the first one at or
    after the round-robin cursor.
    """

    def __init__(self, nodes: list[str]) -> None:
        if not nodes:
            raise ValueError("a scheduler needs at least one node")
        self.nodes = list(nodes)
        self.next = 0
        self.lock = threading.Lock()

    def pick(self, pods_per_node: dict[str, int] | None = None) -> str:
        counts = pods_per_node or {}
        with self.lock:
            n = len(self.nodes)
            order = [self.nodes[(self.next + i) % n] for i in range(n)]
            node = min(order, key=lambda name: counts.get(name, 0))  # first minimum wins
            self.next = (self.nodes.index(node) + 1) % n
            return node


def pods_per_node(pods: list[dict[str, Any]]) -> dict[str, int]:
    """Live (bound, not terminating, not finished) pods per node."""
    counts: dict[str, int] = {}
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        phase = (pod.get("status") or {}).get("phase")
        if not node or (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        if phase in ("Succeeded", "Failed"):
            continue
        counts[node] = counts.get(node, 0) + 1
    return counts


class Scheduler:
    """Watches unbound pods and binds each to the next node."""

    def __init__(
        self, api: ClusterClient, nodes: list[str], on_error: Callable[[str], None] | None = None
    ) -> None:
        self.api = api
        self.policy = LeastPods(nodes)
        self.on_error = on_error or (lambda _message: None)
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()  # one binding decision at a time
        self.bound: dict[str, str] = {}  # pod uid -> node, so a pod is never bound twice

    def start(self) -> None:
        self.thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()

    def schedule(self, pod: dict[str, Any]) -> str | None:
        """Bind ``pod`` now if it is unbound; returns the node it is (now) bound to.

        Called by the watch loop, and synchronously by the harness's
        ``create_pod`` so scenario pods land on predictable nodes.
        """
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        if spec.get("nodeName"):
            return str(spec["nodeName"])
        if meta.get("deletionTimestamp"):
            return None
        namespace, name = str(meta.get("namespace", "default")), str(meta["name"])
        uid = str(meta.get("uid", ""))
        with self.lock:
            if uid and uid in self.bound:
                return self.bound[uid]
            listing = self.api.request("GET", "/api/v1/pods")
            node = self.policy.pick(pods_per_node(listing.get("items", [])))
            try:
                self.api.bind_pod(namespace, name, node)
            except APIError as exc:
                if exc.status in (404, 409):  # deleted, or bound by someone else meanwhile
                    return None
                raise
            if uid:
                self.bound[uid] = node
        self._scheduled_event(pod, node)
        return node

    def _scheduled_event(self, pod: dict[str, Any], node: str) -> None:
        meta = pod["metadata"]
        namespace = str(meta.get("namespace", "default"))
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": namespace},
            "involvedObject": {
                "kind": "Pod",
                "namespace": namespace,
                "name": meta["name"],
                "uid": meta.get("uid", ""),
                "apiVersion": "v1",
            },
            "reason": "Scheduled",
            "message": f"Successfully assigned {namespace}/{meta['name']} to {node}",
            "type": "Normal",
            "source": {"component": "default-scheduler"},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            self.api.create_event(namespace, event)
        except Exception as exc:
            self.on_error(f"scheduler event: {exc}")

    def _loop(self) -> None:
        rv = ""
        while not self.stopping.is_set():
            try:
                if not rv:
                    listing = self.api.request("GET", UNBOUND_PODS)
                    rv = str(listing["metadata"]["resourceVersion"])
                    for pod in listing.get("items", []):
                        self.schedule(pod)
                for event in self.api.watch(UNBOUND_PODS, rv, timeout_seconds=5):
                    if self.stopping.is_set():
                        return
                    if event.get("type") == "ERROR":
                        rv = ""
                        break
                    obj = event.get("object") or {}
                    rv = str(obj.get("metadata", {}).get("resourceVersion", rv))
                    if event.get("type") == "ADDED":
                        self.schedule(obj)
            except APIError as exc:
                rv = "" if exc.status == 410 else rv
                if exc.status != 410:
                    self.on_error(f"scheduler: {exc}")
                    self.stopping.wait(0.2)
            except Exception as exc:  # the API went away: retry like kube-scheduler
                if self.stopping.is_set():
                    return
                self.on_error(f"scheduler: {type(exc).__name__}: {exc}")
                self.stopping.wait(0.2)
