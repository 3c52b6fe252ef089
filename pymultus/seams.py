"""What the engine receives from the outside world, as types (the seams for fakes).

``typing.Protocol`` classes and callable aliases: this module imports
``typing``, so the CNI entry path imports it only under ``TYPE_CHECKING``
(issue 16: no ``typing`` at run time); the daemon imports it freely.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol


class KubeAPI(Protocol):
    """What the engine needs from the Kubernetes API (the seam for fakes)."""

    def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def get_nad(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def patch_pod_status_annotations(
        self, namespace: str, name: str, annotations: dict[str, str | None]
    ) -> dict[str, Any] | None: ...


class EventSink(Protocol):
    """Optional on a KubeAPI: ``kube.client.KubeClient.create_event``."""

    def create_event(
        self,
        namespace: str,
        involved: Mapping[str, Any],
        reason: str,
        message: str,
        type: str = "Normal",
    ) -> dict[str, Any]: ...


#: Sets the pod's default route: (netns path, family, ifname, gateway).
RouteSetter = Callable[[str, int, str, str], None]
#: The pod's links: netns path -> link names.
LinkLister = Callable[[str], set[str]]
#: Devices the kubelet allocated to a pod: (namespace, name) -> {resourceName: [deviceID]}.
PodResources = Callable[[str, str], dict[str, list[str]]]
