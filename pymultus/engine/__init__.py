"""The engine: one CNI operation run from its plan, in three rooms.

- :mod:`pymultus.engine.resolve`: what the pod gets: the pod, its NADs and
  devices, the delegate chain and the auxiliary chain;
- :mod:`pymultus.engine.commands`: the per-command operations (ADD with
  rollback, DEL in reverse, CHECK, STATUS, GC, default-route) and
  :func:`run_command`;
- :mod:`pymultus.engine.publish`: network-status and events.

The engine owns the I/O of a CNI operation but receives every channel to the
outside world as an argument (the plugin executor, the Kubernetes API, the
delegate cache, the logger, the pod-netns route setter), so the same engine
runs in the thin plugin, in the node daemon and under fakes in unit tests.
"""

from __future__ import annotations

from pymultus.engine.commands import (
    Engine,
    cached_delegates,
    host_link_hint,
    request_from_cache,
    run_command,
    without_default_routes,
    without_empty_dns,
)
from pymultus.engine.publish import DEVICE_INFO_DIR, build_status, read_device_info
from pymultus.engine.resolve import NetworkNotFound, PodIdentity, chain_base_dir

__all__ = [
    "DEVICE_INFO_DIR",
    "Engine",
    "NetworkNotFound",
    "PodIdentity",
    "build_status",
    "cached_delegates",
    "chain_base_dir",
    "host_link_hint",
    "read_device_info",
    "request_from_cache",
    "run_command",
    "without_default_routes",
    "without_empty_dns",
]
