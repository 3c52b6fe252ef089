"""A simulated kubelet + container runtime: the CNI caller of one node.

It does for the pods bound to its node what kubelet and containerd do for
networking, with the real protocol: watch the pods of its node through the
API, create each sandbox's network namespace, call the *first* config of the
node's CNI conf dir (re-read for every pod, lexical order, as containerd does)
with ``CNI_ARGS`` carrying ``K8S_POD_NAMESPACE``, ``K8S_POD_NAME``,
``K8S_POD_INFRA_CONTAINER_ID`` and ``K8S_POD_UID``, record the pod's IPs in
its status, and on deletion call DEL with the cached ADD result and remove
the namespace. A failed ADD is reported as a ``FailedCreatePodSandBox``
event, then torn down with DEL, as containerd does, and retried with a new
sandbox after an exponential back-off (1 s, 2 s, 4 s ... capped), as kubelet
retries ``RunPodSandbox``; a pod deleted meanwhile is simply released. A
failed DEL is reported (``FailedKillPod``) and retried a few times.

A failed sandbox whose cleanup DEL failed too is *kept*, netns and all, as
containerd keeps it: the kubelet stops it (DEL again) before it makes the
pod a new sandbox, and makes none while that fails (SyncPod kills a pod's
old sandboxes first and stops there on an error); at deletion it tries a
few times more. What still fails is left on the node, where the harness's
leak check finds it, as it finds what containerd leaves.

What the runtime does for a sandbox's network (namespace, ADD, the two DELs
of StopPodSandbox and RemovePodSandbox) is behind :class:`~harness.backends.
local.podnetwork.PodNetwork`; the default is the harness's own runtime
(:mod:`harness.cniruntime`, never pymultus), which runs the plugins inside the
node (its network and mount namespaces).
"""

from __future__ import annotations

import os
import secrets
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from harness.backends.local.apiclient import APIError, ClusterClient, pod_path
from harness.backends.local.devices import DevicePlugin
from harness.backends.local.events import EventRecorder
from harness.backends.local.nodelease import NodeHeartbeat
from harness.backends.local.podnetwork import (
    NODE_BIN_DIR,
    NODE_CONF_DIR,
    POD_IFNAME,
    NodeRuntime,
    PodNetwork,
    SandboxCreationError,
    SimulatedPodNetwork,
    plugin_type,
    runtime_config,
)
from harness.backends.local.podstatus import container_statuses
from harness.backends.local.sandbox import BACKOFF_CAP, DEL_ATTEMPTS, Sandbox, backoff_delay
from harness.backends.local.topology import NETNS_DIR, Node, Topology
from harness.cniruntime.config import NetworkConfigList
from harness.cniruntime.errors import RUNTIME_FAILURE, CNIError
from harness.cniruntime.invoke import ProcessExecutor
from harness.cniruntime.request import CNIRequest

__all__ = [
    "BACKOFF_CAP",
    "DEL_ATTEMPTS",
    "NODE_BIN_DIR",
    "NODE_CONF_DIR",
    "POD_IFNAME",
    "Sandbox",
    "backoff_delay",
    "container_statuses",
    "plugin_type",
    "runtime_config",
]


class Kubelet:
    def __init__(
        self,
        node: Node,
        topology: Topology,
        api: ClusterClient,
        on_change: Callable[[], None],
        workers: int = 4,
        network: PodNetwork | None = None,
    ) -> None:
        self.node = node
        self.topology = topology
        self.api = api
        self.devices: DevicePlugin | None = None  # the node's device plugin, if any
        self.on_change = on_change
        self.sandboxes: dict[str, Sandbox] = {}  # by pod uid
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=node.name)
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.inflight: set[str] = set()
        self.retries: dict[str, threading.Timer] = {}  # pod uid -> pending retry
        # pod uid -> failed sandboxes whose cleanup DEL failed (kept with their netns).
        self.stale: dict[str, list[Sandbox]] = {}
        # The harness as this node's CNI runtime (the cni step calls through it
        # too); ``network`` is how sandboxes get their network: by default that
        # runtime, a CRI-backed PodNetwork when a real runtime runs the node.
        self.runtime = NodeRuntime(node)
        self.cache = self.runtime.cache
        self.wiretap_record = self.runtime.wiretap_record  # harness.wiretap.collect reads it
        self.network: PodNetwork = network or SimulatedPodNetwork(self.runtime, topology)
        self.errors: list[str] = []  # unexpected failures of the kubelet itself
        # The last torn-down sandbox of each pod (namespace/name) with its pod
        # object, so the harness can repeat a DEL as a runtime may (cnicall.py).
        self.removed: dict[str, tuple[Sandbox, dict[str, Any]]] = {}
        self.recorder = EventRecorder(api, "kubelet", node.name, on_error=self._fail)

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        NodeHeartbeat(self.node.name, self.api, self.stopping).start()  # Lease + conditions
        self.runtime.wrap()  # every CNI call on the node is recorded from now on
        self.thread = threading.Thread(
            target=self._watch_loop, name=f"kubelet-{self.node.name}", daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        with self.lock:
            timers = list(self.retries.values())
            self.retries.clear()
        for timer in timers:
            timer.cancel()
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _watch_loop(self) -> None:
        selector = f"fieldSelector=spec.nodeName%3D{self.node.name}"
        path = f"/api/v1/pods?{selector}"
        rv = ""
        while not self.stopping.is_set():
            try:
                if not rv:
                    listing = self.api.request("GET", path)
                    rv = str(listing["metadata"]["resourceVersion"])
                    for pod in listing.get("items", []):
                        self._dispatch(pod)
                for event in self.api.watch(path, rv, timeout_seconds=5):
                    if self.stopping.is_set():
                        return
                    obj = event.get("object") or {}
                    if event.get("type") == "ERROR":
                        rv = ""
                        break
                    rv = str(obj.get("metadata", {}).get("resourceVersion", rv))
                    if event.get("type") in ("ADDED", "MODIFIED"):
                        self._dispatch(obj)
            except APIError as exc:
                if exc.status == 410:
                    rv = ""
                    continue
                self._fail(f"watch: {exc}")
                self.stopping.wait(0.2)
            except Exception as exc:  # the API went away: retry like a kubelet
                if self.stopping.is_set():
                    return
                self._fail(f"watch: {type(exc).__name__}: {exc}")
                self.stopping.wait(0.2)

    def _fail(self, message: str) -> None:
        self.errors.append(message)

    def _dispatch(self, pod: dict[str, Any], retry: bool = False) -> None:
        uid = str(pod["metadata"]["uid"])
        with self.lock:
            if uid in self.inflight or self.stopping.is_set():
                return
            sandbox = self.sandboxes.get(uid)
            deleting = bool(pod["metadata"].get("deletionTimestamp"))
            if deleting:
                timer = self.retries.pop(uid, None)
                if timer is not None:
                    timer.cancel()
                action: Callable[[dict[str, Any]], None] = self._teardown
            elif (sandbox is None and not retry) or (
                retry and sandbox is not None and sandbox.error is not None
            ):
                # A retry only retries a failed sandbox: once the pod was torn
                # down (sandbox forgotten) a late timer must not start it again.
                action = self._setup
            else:
                return
            self.inflight.add(uid)
        try:
            self.pool.submit(self._run, action, pod, uid)
        except RuntimeError:  # stop() shut the pool down meanwhile
            with self.lock:
                self.inflight.discard(uid)

    def _schedule_retry(self, pod: dict[str, Any], failures: int) -> None:
        """Try the pod again after the back-off, with a fresh sandbox (kubelet's way)."""
        uid = str(pod["metadata"]["uid"])
        path = pod_path(pod["metadata"]["namespace"], pod["metadata"]["name"])

        def fire() -> None:
            with self.lock:
                self.retries.pop(uid, None)
            try:
                current = self.api.get(path)
            except Exception as exc:  # API unreachable: keep backing off
                self._fail(f"retry {path}: {exc}")
                self._schedule_retry(pod, failures + 1)
                return
            if current is None or current["metadata"].get("uid") != uid:
                return  # deleted (or replaced) meanwhile: nothing to retry
            self._dispatch(current, retry=True)

        timer = threading.Timer(backoff_delay(failures), fire)
        timer.daemon = True
        with self.lock:
            if self.stopping.is_set():
                return
            old = self.retries.pop(uid, None)
            if old is not None:
                old.cancel()
            self.retries[uid] = timer
        timer.start()

    def _run(self, action: Callable[[dict[str, Any]], None], pod: dict[str, Any], uid: str) -> None:
        try:
            action(pod)
        except Exception:
            self._fail(traceback.format_exc())
        finally:
            with self.lock:
                self.inflight.discard(uid)
            self.on_change()
        # A deletion may have arrived while the setup ran: look again.
        if action == self._setup:
            meta = pod["metadata"]
            try:
                current = self.api.get(pod_path(meta["namespace"], meta["name"]))
            except Exception as exc:
                self._fail(f"re-reading {meta['namespace']}/{meta['name']}: {exc}")
                return
            if current and current["metadata"].get("deletionTimestamp"):
                self._dispatch(current)

    # ---------------------------------------------------------------- CNI
    def executor(self) -> ProcessExecutor:
        return self.runtime.executor()

    def network_config(self) -> NetworkConfigList:
        """The first config in the node's conf dir, re-read for every pod."""
        return self.runtime.network_config()

    def request(self, command: str, sandbox: Sandbox, pod: dict[str, Any]) -> CNIRequest:
        return self.runtime.request(command, sandbox, pod)

    def _setup(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        uid = str(meta["uid"])
        with self.lock:
            previous = self.sandboxes.get(uid)
        if previous is not None and not self._kill_stale(pod, attempts=1):
            # No new sandbox while an old one cannot be stopped (kubelet SyncPod).
            self._schedule_retry(pod, previous.attempt + 1)
            return
        sandbox = Sandbox(
            pod_key=f"{meta['namespace']}/{meta['name']}",
            uid=uid,
            container_id=secrets.token_hex(32),
            netns=f"{self.topology.cluster_id}-{uid[:13]}",
            attempt=previous.attempt + 1 if previous is not None else 1,
            previous_error=previous.error if previous is not None else None,
        )
        with self.lock:
            self.sandboxes[uid] = sandbox
        started = time.monotonic()
        try:
            if self.devices is not None:  # admission: devices before the sandbox
                self.devices.allocate(pod)
            result = self.network.run(sandbox, pod)
        except CNIError as exc:
            sandbox.error = exc
            sandbox.timings["add"] = time.monotonic() - started
            self._event(
                pod,
                "Warning",
                "FailedCreatePodSandBox",
                f"Failed to create pod sandbox: failed to setup network for sandbox "
                f'"{sandbox.container_id[:12]}": plugin type="{self.network.plugin_type()}" '
                f"failed (add): {exc}",
            )
            if sandbox.cleanup_error is not None:
                with self.lock:
                    self.stale.setdefault(uid, []).append(sandbox)
                self._event(
                    pod,
                    "Warning",
                    "FailedKillPod",
                    f"error killing pod: failed to destroy network for sandbox "
                    f'"{sandbox.container_id[:12]}": {sandbox.cleanup_error}',
                )
            self._report_pending(pod, exc)
            self._schedule_retry(pod, sandbox.attempt)
            return
        except (SandboxCreationError, Exception) as exc:  # the runtime's own failure
            error = CNIError(RUNTIME_FAILURE, str(exc))
            sandbox.error = error
            sandbox.timings["add"] = time.monotonic() - started
            self._event(
                pod, "Warning", "FailedCreatePodSandBox", f"Failed to create pod sandbox: {error}"
            )
            self._report_pending(pod, error)
            self._schedule_retry(pod, sandbox.attempt)
            return
        sandbox.timings["add"] = time.monotonic() - started
        sandbox.ready = True
        self._report_running(pod, result)

    def _teardown(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        uid = str(meta["uid"])
        with self.lock:
            sandbox = self.sandboxes.get(uid)
        if sandbox is not None and sandbox.ready:
            self.recorder.killing(pod)
            started = time.monotonic()
            if self._cni_del(sandbox, pod, self.network.stop):
                self._cni_del(sandbox, pod, self.network.remove)
            sandbox.timings["del"] = time.monotonic() - started
            sandbox.ready = False
        if not self._kill_stale(pod, attempts=DEL_ATTEMPTS):
            with self.lock:  # given up (bounded): left on the node for the leak check
                self.stale.pop(uid, None)
        if self.devices is not None:
            self.devices.release(str(meta["namespace"]), str(meta["name"]))
        self.api.delete(pod_path(meta["namespace"], meta["name"]), grace_seconds=0)
        with self.lock:  # forgotten, as a runtime forgets removed sandboxes
            if self.sandboxes.get(uid) is sandbox:
                del self.sandboxes[uid]
            if sandbox is not None:
                self.removed[sandbox.pod_key] = (sandbox, pod)

    def _kill_stale(self, pod: dict[str, Any], attempts: int) -> bool:
        """Stop (DEL with the netns, which then goes) and remove the pod's kept
        sandboxes; True once none is left. Every failure is a FailedKillPod event."""
        uid = str(pod["metadata"]["uid"])
        with self.lock:
            stale = list(self.stale.get(uid, []))
        for old in stale:
            if not self._cni_del(old, pod, self.network.stop, attempts):
                return False
            self._cni_del(old, pod, self.network.remove, attempts)
            with self.lock:
                kept = self.stale.get(uid, [])
                if old in kept:
                    kept.remove(old)
                if not kept:
                    self.stale.pop(uid, None)
        return True

    def _cni_del(
        self,
        sandbox: Sandbox,
        pod: dict[str, Any],
        step: Callable[[Sandbox, dict[str, Any]], None],
        attempts: int = DEL_ATTEMPTS,
    ) -> bool:
        """One teardown step (stop: DEL with the netns; remove: DEL with
        ``CNI_NETNS=""``), retried as a kubelet retries, an event per failure.

        Deviation: kubelet retries forever and the pod stays Terminating; we
        give up after ``attempts`` so a broken plugin cannot hang a test run,
        and report the error (``Sandbox.teardown_error``).
        """
        for attempt in range(1, attempts + 1):
            try:
                step(sandbox, pod)
                sandbox.teardown_error = None
                return True
            except CNIError as exc:
                sandbox.teardown_error = exc
                self._event(
                    pod,
                    "Warning",
                    "FailedKillPod",
                    f"error killing pod: failed to destroy network for sandbox "
                    f'"{sandbox.container_id[:12]}": {exc}',
                )
                if attempt < attempts:
                    time.sleep(backoff_delay(attempt, initial=0.2, cap=2.0))
        return False

    # ------------------------------------------------------------- status
    def _report_running(self, pod: dict[str, Any], result: dict[str, Any]) -> None:
        ips = [str(ip["address"]).split("/")[0] for ip in result.get("ips", [])]
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        status: dict[str, Any] = {
            "phase": "Running",
            "hostIP": self.node.ip,
            "hostIPs": [{"ip": self.node.ip}],
            "podIP": ips[0] if ips else None,
            "podIPs": [{"ip": ip} for ip in ips],
            "startTime": now,
            "containerStatuses": container_statuses(pod, running_since=now),
            "conditions": [
                {"type": "PodReadyToStartContainers", "status": "True"},
                {"type": "Initialized", "status": "True"},
                {"type": "Ready", "status": "True", "lastTransitionTime": now},
                {"type": "ContainersReady", "status": "True"},
                {"type": "PodScheduled", "status": "True"},
            ],
        }
        meta = pod["metadata"]
        self.api.merge_patch(
            pod_path(meta["namespace"], meta["name"]) + "/status", {"status": status}
        )

    def _report_pending(self, pod: dict[str, Any], error: CNIError) -> None:
        """Status of a pod whose sandbox failed: Pending, not ready, the reason given."""
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        message = f"failed to create pod sandbox: {error}"
        status: dict[str, Any] = {
            "phase": "Pending",
            "hostIP": self.node.ip,
            "hostIPs": [{"ip": self.node.ip}],
            "containerStatuses": container_statuses(pod, running_since=None),
            "conditions": [
                {
                    "type": "PodReadyToStartContainers",
                    "status": "False",
                    "lastTransitionTime": now,
                },
                {"type": "Initialized", "status": "True"},
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "ContainersNotReady",
                    "message": message[:1000],
                    "lastTransitionTime": now,
                },
                {"type": "ContainersReady", "status": "False", "reason": "ContainersNotReady"},
                {"type": "PodScheduled", "status": "True"},
            ],
        }
        meta = pod["metadata"]
        try:
            self.api.merge_patch(
                pod_path(meta["namespace"], meta["name"]) + "/status", {"status": status}
            )
        except Exception as exc:
            self._fail(f"status: {exc}")

    def _event(self, pod: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.recorder.record(pod, type_, reason, message)  # correlated: count, not copies

    # -------------------------------------------------------------- query
    def sandbox_by_uid(self, uid: str) -> Sandbox | None:
        with self.lock:
            return self.sandboxes.get(uid)

    def sandbox_for(self, namespace: str, name: str) -> Sandbox | None:
        key = f"{namespace}/{name}"
        with self.lock:
            found = [s for s in self.sandboxes.values() if s.pod_key == key]
        return found[-1] if found else None

    def netns_path(self, sandbox: Sandbox) -> str:
        return os.path.join(NETNS_DIR, sandbox.netns)

    def container_ids(self, uid: str) -> dict[str, str]:
        """Containers the runtime runs for the pod (the simulated runtime runs none)."""
        return {}
