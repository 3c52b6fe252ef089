"""The container statuses a kubelet reports for a pod (kubectl's READY column reads them)."""

from __future__ import annotations

from typing import Any


def container_statuses(pod: dict[str, Any], running_since: str | None) -> list[dict[str, Any]]:
    """Container statuses as kubelet reports them (kubectl's READY column reads them).

    There are no containers: once the sandbox is up they are reported running
    and ready; before, waiting in ``ContainerCreating`` (what a pod whose
    sandbox keeps failing shows on a real node).
    """
    out: list[dict[str, Any]] = []
    for container in (pod.get("spec") or {}).get("containers") or []:
        state: dict[str, Any] = (
            {"running": {"startedAt": running_since}}
            if running_since
            else {"waiting": {"reason": "ContainerCreating"}}
        )
        out.append(
            {
                "name": str(container.get("name", "")),
                "image": str(container.get("image", "")),
                "imageID": "",
                "ready": running_since is not None,
                "started": running_since is not None,
                "restartCount": 0,
                "state": state,
            }
        )
    return out
