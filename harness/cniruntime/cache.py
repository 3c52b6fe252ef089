"""The libcni result cache: what a runtime remembers of an ADD until DEL.

Layout and fields as libcni writes them (``/var/lib/cni/results/
<network>-<containerID>-<ifname>``, ``kind: cniCacheV1``, the network config
base64-encoded, the result exactly as the plugin printed it). Other tools
read these files (e.g. the GC of a runtime restarted), so the shape matters.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from typing import Any

CACHE_KIND = "cniCacheV1"


class ResultCache:
    def __init__(self, directory: str) -> None:
        self.directory = directory

    def path_for(self, network: str, container_id: str, ifname: str) -> str:
        return os.path.join(self.directory, f"{network}-{container_id}-{ifname}")

    def save(
        self,
        network: str,
        container_id: str,
        ifname: str,
        config: bytes,
        result: dict[str, Any],
        cni_args: tuple[tuple[str, str], ...] = (),
        capability_args: dict[str, Any] | None = None,
    ) -> None:
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        entry = {
            "kind": CACHE_KIND,
            "containerId": container_id,
            "config": base64.b64encode(config).decode(),
            "ifName": ifname,
            "networkName": network,
            "cniArgs": [list(a) for a in cni_args],
            "capabilityArgs": capability_args or {},
            "result": result,
        }
        path = self.path_for(network, container_id, ifname)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(entry, f)
        os.replace(tmp, path)

    def load(self, network: str, container_id: str, ifname: str) -> dict[str, Any] | None:
        """The cached result, or None when there is none (or it cannot be read)."""
        try:
            with open(self.path_for(network, container_id, ifname)) as f:
                entry = json.load(f)
        except (OSError, ValueError):
            return None
        result = entry.get("result") if isinstance(entry, dict) else None
        return result if isinstance(result, dict) else None

    def remove(self, network: str, container_id: str, ifname: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path_for(network, container_id, ifname))
