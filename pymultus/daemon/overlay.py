"""The daemon's configuration and how it overlays a request's (pure).

In thick mode the runtime hands the shim a small network configuration
(``cniVersion``, ``name``, ``type: pymultus-shim``, ``daemonSocketDir``,
capabilities); the meta-plugin configuration proper (``clusterNetwork``,
``kubeconfig``, ``cniDir``...) lives in the daemon's config file, so one
place decides it for every pod on the node. The daemon config therefore
overlays the request's, except for the keys that belong to the call itself:
``cniVersion`` (the runtime's protocol version: results are converted to it,
CNI SPEC.md section 5), ``name``, ``runtimeConfig`` (capability arguments of
this call, CNI CONVENTIONS.md) and ``prevResult``/``args``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pymultus.cni.errors import INVALID_CONFIG, CNIError

DEFAULT_SOCKET_DIR = "/run/pymultus"
SOCKET_NAME = "pymultus.sock"
# Per-call keys: the request's value wins over the daemon's.
REQUEST_KEYS = ("cniVersion", "name", "runtimeConfig", "prevResult", "args")
# Shim-only keys: meaningless to the engine.
SHIM_KEYS = ("daemonSocketDir", "daemonConfig", "type")


@dataclass(frozen=True)
class DaemonOptions:
    """The daemon's own settings (the rest of its config file is meta-plugin config)."""

    socket_dir: str = DEFAULT_SOCKET_DIR
    node_name: str = ""
    max_concurrent: int = 8
    max_queue: int = 64
    drain_timeout: float = 30.0

    @property
    def socket_path(self) -> str:
        return f"{self.socket_dir.rstrip('/')}/{SOCKET_NAME}"


DAEMON_KEYS = {
    "socketDir": ("socket_dir", str),
    "nodeName": ("node_name", str),
    "maxConcurrent": ("max_concurrent", int),
    "maxQueue": ("max_queue", int),
    "drainTimeoutSeconds": ("drain_timeout", float),
}


def split_daemon_config(
    conf: Mapping[str, Any], source: str = "daemon config"
) -> tuple[DaemonOptions, dict[str, Any]]:
    """(daemon options, the meta-plugin config to overlay) from a daemon config file."""
    values: dict[str, Any] = {}
    for key, (attr, kind) in DAEMON_KEYS.items():
        if key not in conf:
            continue
        value = conf[key]
        ok = (
            isinstance(value, str)
            if kind is str
            else isinstance(value, int | float) and not isinstance(value, bool)
        )
        if not ok or (kind is not str and value <= 0) or (kind is int and value != int(value)):
            expected = {str: "a string", int: "a positive integer", float: "a positive number"}
            raise CNIError(
                INVALID_CONFIG,
                f"{source}: {key} must be {expected[kind]}, got {value!r}",
            )
        values[attr] = kind(value)
    rest = {k: v for k, v in conf.items() if k not in DAEMON_KEYS}
    return DaemonOptions(**values), rest


def overlay_config(
    request_conf: Mapping[str, Any], daemon_conf: Mapping[str, Any]
) -> dict[str, Any]:
    """The configuration the engine runs with: the daemon's over the request's."""
    merged = {k: v for k, v in request_conf.items() if k not in SHIM_KEYS}
    merged.update({k: v for k, v in daemon_conf.items() if k not in SHIM_KEYS})
    for key in REQUEST_KEYS:
        if key in request_conf:
            merged[key] = request_conf[key]
    return merged
