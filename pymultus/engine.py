"""Running a plan: ADD with rollback, DEL in reverse, network-status.

The engine owns the I/O of a CNI operation but receives every channel to the
outside world as an argument (the plugin executor, the Kubernetes API, the
delegate cache, the logger), so the same engine runs in the thin plugin, in
the node daemon and under fakes in unit tests.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pymultus.cni.conflist import add_list, del_list
from pymultus.cni.errors import (
    INVALID_CONFIG,
    TRY_AGAIN_LATER,
    UNKNOWN_CONTAINER,
    CNIError,
)
from pymultus.cni.invoke import Executor
from pymultus.cni.request import CNIRequest
from pymultus.cni.result import convert_result
from pymultus.log import Logger
from pymultus.model.config import MultusConfig
from pymultus.model.nad import resolve_conf_reference, resolve_nad_config
from pymultus.model.status import NETWORK_STATUS_ANNOTATION, encode_status, status_entry
from pymultus.plan import (
    CLUSTER,
    DEFAULT_NETWORKS,
    INLINE,
    Delegate,
    NetworkRef,
    ResolvedNetwork,
    build_plan,
    delegate_network_config,
    requested_networks,
    status_name_for,
)
from pymultus.state import DelegateCache


class KubeAPI(Protocol):
    """What the engine needs from the Kubernetes API (the seam for fakes)."""

    def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def get_nad(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def patch_pod_status_annotations(
        self, namespace: str, name: str, annotations: dict[str, str | None]
    ) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class PodIdentity:
    """The pod a sandbox belongs to, as the runtime names it in CNI_ARGS."""

    namespace: str
    name: str
    uid: str

    @classmethod
    def from_request(cls, request: CNIRequest) -> PodIdentity | None:
        namespace = request.arg("K8S_POD_NAMESPACE")
        name = request.arg("K8S_POD_NAME")
        if not namespace or not name:
            return None
        return cls(namespace, name, request.arg("K8S_POD_UID") or "")


@dataclass
class Engine:
    cfg: MultusConfig
    execute: Executor
    cache: DelegateCache
    kube: KubeAPI | None
    log: Logger
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic

    # ----------------------------------------------------------------- ADD
    def add(self, request: CNIRequest) -> dict[str, Any]:
        """Attach every network the pod asks for; return the default network's result.

        Fail fast (NPWG v1.3 section 7.2): on the first failing delegate the
        ones already added are deleted in reverse and the cache is removed,
        so a failed ADD leaves nothing behind and a later DEL has nothing to
        trip over.
        """
        self.wait_for_readiness_indicator()
        pod_id = PodIdentity.from_request(request)
        pod = self.fetch_pod(pod_id, retry=True)
        delegates = self.plan(request, pod_id, pod)
        entry = self.cache_entry(request, pod_id, delegates)
        self.cache.save(request.container_id, entry)

        results: list[dict[str, Any]] = []
        for index, delegate in enumerate(delegates):
            try:
                results.append(self.run_add(request, delegate))
            except CNIError as exc:
                self.log.error(f"ADD {delegate.status_name} ({delegate.ifname}) failed: {exc}")
                self.rollback(request, delegates[: index + 1], results)
                self.cache.remove(request.container_id)
                raise CNIError(
                    exc.code,
                    f"ADD of network {delegate.status_name} as {delegate.ifname} failed: {exc.msg}",
                    exc.details,
                ) from exc

        for item, result in zip(entry["delegates"], results, strict=True):
            item["result"] = result
        self.cache.save(request.container_id, entry)

        try:
            self.publish_status(request, pod_id, pod, delegates, results)
        except CNIError as exc:
            self.log.error(f"writing network-status failed, rolling back: {exc}")
            self.rollback(request, delegates, results)
            self.cache.remove(request.container_id)
            raise
        return convert_result(results[0], self.cfg.cni_version)

    def run_add(self, request: CNIRequest, delegate: Delegate) -> dict[str, Any]:
        ncl = delegate_network_config(delegate.conf, f"network {delegate.status_name}")
        self.log.verbose(f"ADD {delegate.status_name} as {delegate.ifname}")
        return add_list(
            ncl, request.with_(ifname=delegate.ifname), delegate.runtime_config, self.execute
        )

    def rollback(
        self, request: CNIRequest, attempted: list[Delegate], results: list[dict[str, Any]]
    ) -> None:
        """DEL what an ADD attempted, newest first, ignoring errors.

        The failing delegate is included: a plugin that failed half-way may
        have created something, and DEL is idempotent by spec.
        """
        for index in range(len(attempted) - 1, -1, -1):
            prev = results[index] if index < len(results) else None
            try:
                self.run_del(request, attempted[index], prev)
            except CNIError as exc:
                self.log.error(f"rollback DEL of {attempted[index].status_name} failed: {exc}")

    # ----------------------------------------------------------------- DEL
    def delete(self, request: CNIRequest) -> None:
        """Detach everything; succeed when there is nothing left to clean.

        Delegates come from the cache; without one they are recomputed from
        the pod and its NADs; when that is impossible too, nothing is known
        to clean and DEL succeeds (a sandbox must never get stuck).
        """
        entry = self.cache.load(request.container_id)
        delegates: list[Delegate]
        prev_results: list[dict[str, Any] | None]
        if entry is not None:
            delegates = [Delegate.from_dict(d) for d in entry.get("delegates", [])]
            prev_results = [d.get("result") for d in entry.get("delegates", [])]
        else:
            try:
                pod_id = PodIdentity.from_request(request)
                pod = self.fetch_pod(pod_id, retry=False)
                delegates = self.plan(request, pod_id, pod)
            except CNIError as exc:
                self.log.error(
                    f"DEL {request.container_id}: no cache and cannot recompute the "
                    f"delegates ({exc}); nothing to clean"
                )
                return
            prev_results = [None] * len(delegates)

        failures: list[str] = []
        first: CNIError | None = None
        for delegate, prev in reversed(list(zip(delegates, prev_results, strict=True))):
            try:
                self.run_del(request, delegate, prev)
            except CNIError as exc:
                failures.append(f"{delegate.status_name} ({delegate.ifname}): {exc}")
                first = first or exc
        if first is None or not self.cfg.retry_delete_on_error:
            self.cache.remove(request.container_id)
        if first is not None:
            raise CNIError(
                first.code,
                f"DEL failed for {len(failures)} of {len(delegates)} networks",
                "; ".join(failures),
            )

    def run_del(
        self, request: CNIRequest, delegate: Delegate, prev_result: dict[str, Any] | None
    ) -> None:
        ncl = delegate_network_config(delegate.conf, f"network {delegate.status_name}")
        self.log.verbose(f"DEL {delegate.status_name} as {delegate.ifname}")
        del_list(
            ncl,
            request.with_(ifname=delegate.ifname),
            delegate.runtime_config,
            prev_result,
            self.execute,
        )

    # ------------------------------------------------------------ planning
    def plan(
        self, request: CNIRequest, pod_id: PodIdentity | None, pod: dict[str, Any] | None
    ) -> list[Delegate]:
        namespace = pod_id.namespace if pod_id else ""
        refs = requested_networks(self.cfg, pod, namespace)
        if not refs:
            raise CNIError(INVALID_CONFIG, "no default network: set clusterNetwork or delegates")
        resolved = [self.resolve(ref) for ref in refs]
        return build_plan(refs, resolved, request.ifname, self.cfg.runtime_config)

    def resolve(self, ref: NetworkRef) -> ResolvedNetwork:
        """Fetch one network's configuration (the I/O half of planning)."""
        if ref.source == INLINE:
            conf = dict(ref.inline_conf or {})
            return ResolvedNetwork(conf, status_name_for(ref, conf, from_nad=False))
        if ref.source in (CLUSTER, DEFAULT_NETWORKS):
            # The reference's order: a NAD in multusNamespace, then a conf name
            # in confDir, a directory, an absolute file path.
            if self.kube is not None and "/" not in ref.name:
                nad = self.kube.get_nad(ref.namespace, ref.name)
                if nad is not None:
                    conf = resolve_nad_config(nad, self.cfg.conf_dir)
                    return ResolvedNetwork(conf, status_name_for(ref, conf, from_nad=True))
            found = resolve_conf_reference(ref.name, self.cfg.conf_dir)
            if found is None:
                raise CNIError(
                    INVALID_CONFIG,
                    f"cannot find the network {ref.name!r} named by "
                    f"{'clusterNetwork' if ref.source == CLUSTER else 'defaultNetworks'}",
                    f"looked for a NetworkAttachmentDefinition {ref.key}, a config named "
                    f"{ref.name!r} in confDir {self.cfg.conf_dir}, a directory and a file path",
                )
            return ResolvedNetwork(found, status_name_for(ref, found, from_nad=False))
        # A NAD named by the pod's annotations.
        if self.kube is None:
            raise CNIError(
                INVALID_CONFIG,
                f"network {ref.key} is requested but no Kubernetes API is configured",
                "set kubeconfig in the pymultus config (or run in-cluster)",
            )
        nad = self.kube.get_nad(ref.namespace, ref.name)
        if nad is None:
            raise CNIError(
                INVALID_CONFIG,
                f"NetworkAttachmentDefinition {ref.key} not found",
                "create it, or fix the pod's k8s.v1.cni.cncf.io/networks annotation",
            )
        conf = resolve_nad_config(nad, self.cfg.conf_dir)
        return ResolvedNetwork(conf, status_name_for(ref, conf, from_nad=True))

    def fetch_pod(self, pod_id: PodIdentity | None, *, retry: bool) -> dict[str, Any] | None:
        """The pod, or None in delegates-only mode or when it no longer exists."""
        if self.kube is None or pod_id is None:
            return None
        pod = self.kube.get_pod(pod_id.namespace, pod_id.name)
        if pod is None:
            self.log.verbose(f"pod {pod_id.namespace}/{pod_id.name} not found")
            return None
        uid = str((pod.get("metadata") or {}).get("uid", ""))
        if pod_id.uid and uid and uid != pod_id.uid and not is_static_pod(pod):
            raise CNIError(
                UNKNOWN_CONTAINER,
                f"pod {pod_id.namespace}/{pod_id.name} has UID {uid}, but the runtime asked "
                f"for UID {pod_id.uid}",
                "the sandbox belongs to an older pod of the same name; the runtime will "
                "retry with the new pod",
            )
        return pod

    def wait_for_readiness_indicator(self) -> None:
        """Wait (bounded) for `readinessindicatorfile`: the default network is up."""
        path = self.cfg.readiness_indicator_file
        if not path:
            return
        deadline = self.monotonic() + READINESS_TIMEOUT
        while not os.path.exists(path):
            if self.monotonic() >= deadline:
                raise CNIError(
                    TRY_AGAIN_LATER,
                    f"readinessindicatorfile {path} did not appear within "
                    f"{READINESS_TIMEOUT:.0f} s",
                    "the default network is not ready yet; the runtime will retry",
                )
            self.sleep(READINESS_POLL)

    # -------------------------------------------------------------- status
    def cache_entry(
        self, request: CNIRequest, pod_id: PodIdentity | None, delegates: list[Delegate]
    ) -> dict[str, Any]:
        return {
            "containerID": request.container_id,
            "netns": request.netns,
            "ifname": request.ifname,
            "podNamespace": pod_id.namespace if pod_id else "",
            "podName": pod_id.name if pod_id else "",
            "podUID": pod_id.uid if pod_id else "",
            "delegates": [d.to_dict() for d in delegates],
        }

    def publish_status(
        self,
        request: CNIRequest,
        pod_id: PodIdentity | None,
        pod: dict[str, Any] | None,
        delegates: list[Delegate],
        results: list[dict[str, Any]],
    ) -> None:
        """Write k8s.v1.cni.cncf.io/network-status (NPWG v1.3 section 5)."""
        if self.kube is None or pod_id is None or pod is None:
            return
        entries = build_status(request, delegates, results)
        patched = self.kube.patch_pod_status_annotations(
            pod_id.namespace, pod_id.name, {NETWORK_STATUS_ANNOTATION: encode_status(entries)}
        )
        if patched is None:
            self.log.verbose(f"pod {pod_id.namespace}/{pod_id.name} is gone; status not written")


READINESS_TIMEOUT = 45.0
READINESS_POLL = 0.25


def build_status(
    request: CNIRequest, delegates: list[Delegate], results: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The network-status entries for a pod's delegates and their results."""
    return [
        status_entry(
            delegate.status_name,
            delegate.ifname,
            result,
            default=delegate.is_default,
            sandbox=request.netns,
        )
        for delegate, result in zip(delegates, results, strict=True)
    ]


def is_static_pod(pod: Mapping[str, Any]) -> bool:
    """Static pods' API mirror objects carry another UID than the kubelet's."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    return annotations.get("kubernetes.io/config.source") not in (None, "api")
