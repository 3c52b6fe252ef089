"""Publishing what a CNI operation did: the pod's network-status and events.

One room of the engine (``pymultus.engine``): the NPWG network-status
annotation written after ADD (v1.3 section 5) and the Kubernetes events
(AddedInterface, NoNetworkFound) the reference also emits. A mixin of
:class:`pymultus.engine.Engine`, which holds the state named below.
"""

from __future__ import annotations

import os

# collections.abc without importing collections (~1.3 ms per CNI call, issue 16)
from _collections_abc import Callable, Mapping

from pymultus import events
from pymultus.cni.errors import (
    CNIError,
)
from pymultus.cni.request import CNIRequest
from pymultus.log import Logger
from pymultus.model.config import MultusConfig
from pymultus.model.status import (
    LEGACY_NETWORK_STATUS_ANNOTATION,
    NETWORK_STATUS_ANNOTATION,
    apply_default_route,
    encode_status,
    status_entry,
)
from pymultus.plan import (
    Delegate,
)
from pymultus.state import DelegateCache

TYPE_CHECKING = False  # importing typing costs ~2 ms per CNI call: mypy reads this as True
if TYPE_CHECKING:
    # Types only: typing stays off the CNI path (issue 16).
    from typing import Any

    from pymultus.cni.seams import Executor
    from pymultus.engine.resolve import PodIdentity
    from pymultus.seams import KubeAPI, PodResources


#: NPWG device-info spec v1.1: where device plugins leave device-info files.
DEVICE_INFO_DIR = "/var/run/k8s.cni.cncf.io/devinfo/dp"


class Publishing:
    """network-status and events, for the engine (see the module doc)."""

    __slots__ = ()
    cfg: MultusConfig
    execute: Executor
    cache: DelegateCache
    kube: KubeAPI | None
    log: Logger
    sleep: Callable[[float], None]
    monotonic: Callable[[], float]
    pod_resources: PodResources | None
    device_info_dir: str

    def publish_status(
        self,
        request: CNIRequest,
        pod_id: PodIdentity | None,
        pod: dict[str, Any] | None,
        delegates: list[Delegate],
        results: list[dict[str, Any]],
        chosen: Mapping[int, tuple[int, str]] | None = None,
    ) -> None:
        """Write k8s.v1.cni.cncf.io/network-status (NPWG v1.3 section 5).

        With ``legacyNetworkStatus`` the same value also goes under the old
        name ``k8s.v1.cni.cncf.io/networks-status``, still read by older
        tooling. One JSON merge patch sets both: other annotations, written
        by anyone at the same time, are untouched.
        """
        if self.kube is None or pod_id is None or pod is None:
            return
        attached = [(d, r) for d, r in zip(delegates, results, strict=True) if not d.auxiliary]
        entries = build_status(
            request, [d for d, _ in attached], [r for _, r in attached], self.device_info_dir
        )
        if chosen:
            entries = apply_default_route(entries, chosen)
        value = encode_status(entries)
        annotations: dict[str, str | None] = {NETWORK_STATUS_ANNOTATION: value}
        if self.cfg.legacy_network_status:
            annotations[LEGACY_NETWORK_STATUS_ANNOTATION] = value
        patched = self.kube.patch_pod_status_annotations(pod_id.namespace, pod_id.name, annotations)
        if patched is None:
            self.log.verbose(f"pod {pod_id.namespace}/{pod_id.name} is gone; status not written")

    # -------------------------------------------------------------- events
    def emit(self, pod: Mapping[str, Any], reason: str, message: str, kind: str) -> None:
        """Post one event about ``pod`` now (before the process exits); never fail."""
        create = getattr(self.kube, "create_event", None)
        if create is None:
            return
        meta = pod.get("metadata") or {}
        namespace = str(meta.get("namespace") or "default")
        involved = {"kind": "Pod", "apiVersion": "v1", **pod}
        try:
            create(namespace, involved, reason, message, type=kind)
        except CNIError as exc:
            self.log.error(f"cannot post event {reason} for {namespace}/{meta.get('name')}: {exc}")

    def emit_added(
        self,
        pod_id: PodIdentity | None,
        pod: dict[str, Any] | None,
        delegates: list[Delegate],
        results: list[dict[str, Any]],
    ) -> None:
        if pod is None or pod_id is None:
            return
        for delegate, result in zip(delegates, results, strict=True):
            if delegate.auxiliary:
                continue
            message = events.added_interface_message(
                delegate.ifname, delegate.status_name, events.result_addresses(result)
            )
            self.emit(pod, events.ADDED_INTERFACE, message, "Normal")

    # --------------------------------------------------------------- CHECK


def build_status(
    request: CNIRequest,
    delegates: list[Delegate],
    results: list[dict[str, Any]],
    device_info_dir: str = DEVICE_INFO_DIR,
) -> list[dict[str, Any]]:
    """The network-status entries for a pod's delegates and their results."""
    return [
        status_entry(
            delegate.status_name,
            delegate.ifname,
            result,
            default=delegate.is_default,
            sandbox=request.netns,
            device_info=read_device_info(
                device_info_dir, delegate.resource_name, delegate.device_id
            ),
        )
        for delegate, result in zip(delegates, results, strict=True)
    ]


def read_device_info(directory: str, resource: str, device_id: str) -> dict[str, Any] | None:
    """The device plugin's device-info file for one device (NPWG device-info spec).

    Named ``<resource>-<deviceID>-device.json`` with "/" replaced by "-". A
    missing or unreadable file means no device-info (it is optional).
    """
    from pymultus.cni import jsonlite

    if not resource or not device_id:
        return None
    name = f"{resource.replace('/', '-')}-{device_id.replace('/', '-')}-device.json"
    try:
        with open(os.path.join(directory, name), encoding="utf-8") as f:
            info = jsonlite.loads(f.read())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None
