"""Reading the result cache containerd's CNI library (libcni) keeps on a node.

On containerd nodes the runtime, not the harness, caches every ADD result:
libcni writes ``/var/lib/cni/results/<network>-<containerID>-<ifname>``,
a JSON record of kind ``cniCacheV1`` whose ``config`` is the network config
as base64 (Go's encoding of []byte) and ``result`` the ADD's result. The
harness's ``cni`` step (cnicall.py) needs that result as the prevResult of
the CHECK or DEL it sends, as the runtime would. Read only: the harness
never writes the runtime's cache.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from pymultus.cni.errors import DECODE_FAILURE, CNIError
from pymultus.cni.resultcache import ResultCache

LIBCNI_KIND = "cniCacheV1"


def parse_record(data: bytes, path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config, result) of one libcni cache record; CNIError naming the file if not one."""
    try:
        record = json.loads(data)
        config = json.loads(base64.b64decode(record["config"]))
        result = record["result"]
        if record.get("kind") != LIBCNI_KIND or not isinstance(result, dict):
            raise ValueError(f"kind {record.get('kind')!r}")
        if not isinstance(config, dict):
            raise ValueError("config is not a JSON object")
    except (ValueError, KeyError, TypeError) as exc:
        raise CNIError(DECODE_FAILURE, f"libcni cache: {path} is not a record: {exc}") from None
    return config, result


class LibcniCache(ResultCache):
    """libcni's file names and record format, behind the ResultCache interface."""

    def path_for(self, network: str, container_id: str, ifname: str) -> str:
        return os.path.join(self.directory, f"{network}-{container_id}-{ifname}")

    def load(
        self, network: str, container_id: str, ifname: str
    ) -> tuple[dict[str, Any], dict[str, Any]] | None:
        path = self.path_for(network, container_id, ifname)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return None
        return parse_record(data, path)

    def save(self, *args: Any, **kwargs: Any) -> None:
        """The runtime writes its cache; nothing to do."""

    def remove(self, network: str, container_id: str, ifname: str) -> None:
        """The runtime removes its records on DEL; nothing to do."""
