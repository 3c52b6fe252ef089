"""Resolving what a pod gets: the pod, its NADs and devices, the delegate chain.

One room of the engine (``pymultus.engine``): reading the pod and its
networks annotation, fetching each NetworkAttachmentDefinition or config
file, allocating devices (pod-resources, device-info), the auxiliary chain
and the readiness indicator, ending in the ordered delegates of
:func:`pymultus.plan.build_plan`. A mixin of :class:`pymultus.engine.Engine`;
it reports a missing NAD as an event, so it builds on :class:`Publishing`.
"""

from __future__ import annotations

import os

# collections.abc without importing collections (~1.3 ms per CNI call, issue 16)
from _collections_abc import Mapping

from pymultus import events
from pymultus.cni.errors import (
    INVALID_CONFIG,
    INVALID_ENV,
    TRY_AGAIN_LATER,
    UNKNOWN_CONTAINER,
    CNIError,
)
from pymultus.cni.record import Record, init_fields
from pymultus.cni.request import DEL, CNIRequest
from pymultus.engine.publish import Publishing
from pymultus.model.config import MultusConfig
from pymultus.model.nad import (
    LABEL_RULE,
    NAD_NAME_RULE,
    is_dns1123_label,
    is_nad_name,
    load_conf_file,
    nad_resource_name,
    resolve_conf_reference,
    resolve_nad_config,
)
from pymultus.plan import (
    CLUSTER,
    CLUSTER_OVERRIDE,
    DEFAULT_NETWORKS,
    INLINE,
    Delegate,
    NetworkRef,
    ResolvedNetwork,
    build_plan,
    check_not_meta_plugin,
    delegate_network_config,
    requested_networks,
    status_name_for,
)

TYPE_CHECKING = False  # importing typing costs ~2 ms per CNI call: mypy reads this as True
if TYPE_CHECKING:
    # Types only: typing stays off the CNI path (issue 16).
    from typing import Any


class NetworkNotFound(CNIError):
    """A NAD named by the pod does not exist (reported as a NoNetworkFound event)."""


class PodIdentity(Record):
    """The pod a sandbox belongs to, as the runtime names it in CNI_ARGS."""

    namespace: str
    name: str
    uid: str

    __slots__ = ("name", "namespace", "uid")
    _frozen = True

    def __init__(
        self,
        namespace: str,
        name: str,
        uid: str,
    ) -> None:
        init_fields(
            self,
            namespace=namespace,
            name=name,
            uid=uid,
        )

    @classmethod
    def from_request(cls, request: CNIRequest) -> PodIdentity | None:
        """The pod named in CNI_ARGS, or None when the runtime names none.

        The names are checked before anything uses them: they become API paths,
        cache entries and messages, and Kubernetes never makes a pod whose
        namespace is not a DNS-1123 label or whose name is not a DNS-1123
        subdomain, so anything else is a broken runtime: code 4 (CNI SPEC.md
        Section 5, "Invalid necessary environment variables").
        """
        namespace = request.arg("K8S_POD_NAMESPACE")
        name = request.arg("K8S_POD_NAME")
        if not namespace or not name:
            return None
        if not is_dns1123_label(namespace):
            raise CNIError(
                INVALID_ENV,
                f"CNI_ARGS K8S_POD_NAMESPACE {namespace!r} is not a Kubernetes namespace "
                f"name ({LABEL_RULE})",
                "the runtime must pass the pod's namespace as Kubernetes names it",
            )
        if not is_nad_name(name):
            raise CNIError(
                INVALID_ENV,
                f"CNI_ARGS K8S_POD_NAME {name!r} is not a Kubernetes pod name ({NAD_NAME_RULE})",
                "the runtime must pass the pod's name as Kubernetes names it",
            )
        return cls(namespace, name, request.arg("K8S_POD_UID") or "")


READINESS_TIMEOUT = 45.0
READINESS_POLL = 0.25


def chain_base_dir(cfg: MultusConfig) -> str:
    """Where ``auxiliaryCNIChainName`` directories live: next to the cluster network's file."""
    cluster = cfg.cluster_network or ""
    if os.path.isabs(cluster):
        return cluster if os.path.isdir(cluster) else os.path.dirname(cluster)
    return cfg.conf_dir


def is_static_pod(pod: Mapping[str, Any]) -> bool:
    """Static pods' API mirror objects carry another UID than the kubelet's."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    return annotations.get("kubernetes.io/config.source") not in (None, "api")


class Resolving(Publishing):
    """The pod, NADs, devices and chains, for the engine (see the module doc).

    Its attributes are declared once, on :class:`Publishing`."""

    __slots__ = ()

    def plan(
        self, request: CNIRequest, pod_id: PodIdentity | None, pod: dict[str, Any] | None
    ) -> list[Delegate]:
        namespace = pod_id.namespace if pod_id else ""
        refs = requested_networks(self.cfg, pod, namespace)
        if not refs:
            raise CNIError(INVALID_CONFIG, "no default network: set clusterNetwork or delegates")
        resolved: list[ResolvedNetwork] = []
        for ref in refs:
            try:
                resolved.append(self.resolve(ref))
            except NetworkNotFound as exc:
                if pod is not None and request.command != DEL:
                    self.emit(
                        pod,
                        events.NO_NETWORK_FOUND,
                        events.no_network_found_message(ref.namespace, ref.name, exc.msg),
                        "Warning",
                    )
                raise
        device_ids = self.allocate_devices(pod_id, resolved)
        delegates = build_plan(refs, resolved, request.ifname, self.cfg.runtime_config, device_ids)
        return delegates + self.auxiliary_chain(request)

    def auxiliary_chain(self, request: CNIRequest) -> list[Delegate]:
        """``auxiliaryCNIChainName``: every config in that directory, as chained plugins.

        The reference runs each config found in the directory of that name
        next to the cluster network's config file (for a clusterNetwork that
        is not a path: in confDir) on the pod's default interface, with the
        default network's result as prevResult, after all attachments
        (e.g. istio-cni, tuning). A missing directory means nothing to run.
        """
        name = self.cfg.auxiliary_cni_chain_name
        if not name:
            return []
        directory = os.path.join(chain_base_dir(self.cfg), name)
        try:
            entries = sorted(os.listdir(directory))
        except OSError:
            self.log.verbose(f"auxiliaryCNIChainName: {directory} does not exist; nothing to run")
            return []
        chain = []
        for entry in entries:
            path = os.path.join(directory, entry)
            if entry.endswith((".conf", ".conflist", ".json")) and os.path.isfile(path):
                conf = load_conf_file(path)
                label = f"auxiliary chain {conf.get('name') or entry}"
                check_not_meta_plugin(delegate_network_config(conf, label), label)
                chain.append(
                    Delegate(
                        status_name=str(conf.get("name") or entry),
                        conf=conf,
                        ifname=request.ifname,
                        is_default=False,
                        auxiliary=True,
                    )
                )
        return chain

    def allocate_devices(
        self, pod_id: PodIdentity | None, resolved: list[ResolvedNetwork]
    ) -> dict[int, str]:
        """Hand each NAD with a resourceName one of the pod's devices of that resource.

        The kubelet's pod-resources API lists the device IDs it allocated to
        the pod per resource; attachments of the same resource take them in
        order, as the reference does.
        """
        wanted = [i for i, network in enumerate(resolved) if network.resource_name]
        if not wanted or pod_id is None:
            return {}
        if self.pod_resources is not None:
            allocated = self.pod_resources(pod_id.namespace, pod_id.name)
        else:
            from pymultus.podresources.client import list_pod_devices

            allocated = list_pod_devices(
                pod_id.namespace, pod_id.name, self.cfg.pod_resources_socket
            )
        taken: dict[str, int] = {}
        device_ids: dict[int, str] = {}
        for index in wanted:
            resource = resolved[index].resource_name
            devices = allocated.get(resource) or []
            position = taken.get(resource, 0)
            if position >= len(devices):
                raise CNIError(
                    INVALID_CONFIG,
                    f"network {resolved[index].status_name} needs a device of resource "
                    f"{resource!r} but the kubelet allocated {len(devices)} to pod "
                    f"{pod_id.namespace}/{pod_id.name}",
                    f"request {resource} in the pod's container resources (one per attachment)",
                )
            device_ids[index] = devices[position]
            taken[resource] = position + 1
        return device_ids

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
                    return self.from_nad(ref, nad)
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
            where = (
                "v1.multus-cni.io/default-network"
                if ref.source == CLUSTER_OVERRIDE
                else "k8s.v1.cni.cncf.io/networks"
            )
            raise NetworkNotFound(
                INVALID_CONFIG,
                f"NetworkAttachmentDefinition {ref.key} not found",
                f"create it, or fix the pod's {where} annotation",
            )
        return self.from_nad(ref, nad)

    def from_nad(self, ref: NetworkRef, nad: Mapping[str, Any]) -> ResolvedNetwork:
        conf = resolve_nad_config(nad, self.cfg.conf_dir)
        return ResolvedNetwork(
            conf, status_name_for(ref, conf, from_nad=True), nad_resource_name(nad) or ""
        )

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
    def static_networks(self) -> list[tuple[str, dict[str, Any]]]:
        """The networks every pod gets (cluster network, delegates, defaultNetworks)."""
        refs = requested_networks(self.cfg, None, "")
        return [(net.status_name, dict(net.conf)) for net in map(self.resolve, refs)]

    def cached_networks(self) -> list[tuple[str, dict[str, Any]]]:
        """One config per network name among the attachments the cache knows."""
        seen: dict[str, dict[str, Any]] = {}
        for _, entry in self.cache_entries():
            for item in entry.get("delegates", []):
                if isinstance(item, dict) and isinstance(item.get("conf"), dict):
                    seen.setdefault(str(item.get("name")), item["conf"])
        return list(seen.items())

    def cache_entries(self) -> list[tuple[str, dict[str, Any]]]:
        return self.cache.entries()

    # ------------------------------------------------------------------ GC
