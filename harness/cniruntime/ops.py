"""The runtime's operations on a network configuration list (CNI SPEC.md Section 4).

- ADD: every plugin in order, each given the previous plugin's result as
  ``prevResult``; the list's result is the last plugin's, exactly as printed.
- DEL: every plugin in reverse order, with the cached ADD result as
  ``prevResult`` from 0.4.0 on (below, none is sent), stopping at the first error.
- CHECK (0.4.0+): every plugin in order with the cached result; not run when
  the list sets ``disableCheck``.
- STATUS, GC (1.1.0+): every plugin; GC gets ``cni.dev/valid-attachments``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.cniruntime.config import NetworkConfigList, plugin_conf
from harness.cniruntime.errors import INCOMPATIBLE_VERSION, UNKNOWN_CONTAINER, CNIError
from harness.cniruntime.invoke import Executor
from harness.cniruntime.request import CNIRequest
from harness.cniruntime.version import at_least

VALID_ATTACHMENTS_KEY = "cni.dev/valid-attachments"


def add_list(
    ncl: NetworkConfigList,
    request: CNIRequest,
    runtime_config: Mapping[str, Any],
    execute: Executor,
) -> dict[str, Any]:
    prev: dict[str, Any] | None = None
    for plugin in ncl.plugins:
        conf = plugin_conf(ncl, plugin, runtime_config, prev)
        prev = execute(str(plugin["type"]), "ADD", conf, request.with_(command="ADD"))
    return prev or {}


def del_list(
    ncl: NetworkConfigList,
    request: CNIRequest,
    runtime_config: Mapping[str, Any],
    cached: dict[str, Any] | None,
    execute: Executor,
) -> None:
    prev = cached if at_least(ncl.cni_version, "0.4.0") else None
    for plugin in reversed(ncl.plugins):
        conf = plugin_conf(ncl, plugin, runtime_config, prev)
        execute(str(plugin["type"]), "DEL", conf, request.with_(command="DEL"))


def check_list(
    ncl: NetworkConfigList,
    request: CNIRequest,
    runtime_config: Mapping[str, Any],
    cached: dict[str, Any] | None,
    execute: Executor,
) -> None:
    if not at_least(ncl.cni_version, "0.4.0"):
        raise CNIError(
            INCOMPATIBLE_VERSION,
            f"network {ncl.name!r} is cniVersion {ncl.cni_version}: CHECK needs 0.4.0",
        )
    if ncl.disable_check:
        return
    if cached is None:
        raise CNIError(
            UNKNOWN_CONTAINER,
            f"no cached result for network {ncl.name!r} and container {request.container_id}",
        )
    for plugin in ncl.plugins:
        conf = plugin_conf(ncl, plugin, runtime_config, cached)
        execute(str(plugin["type"]), "CHECK", conf, request.with_(command="CHECK"))


def status_list(ncl: NetworkConfigList, execute: Executor, path: Sequence[str] = ()) -> None:
    for plugin in ncl.plugins:
        conf = plugin_conf(ncl, plugin, {}, None)
        execute(str(plugin["type"]), "STATUS", conf, CNIRequest("STATUS", path=tuple(path)))


def gc_list(
    ncl: NetworkConfigList,
    valid: Sequence[dict[str, str]],
    execute: Executor,
    path: Sequence[str] = (),
) -> None:
    if ncl.disable_gc:
        return
    for plugin in ncl.plugins:
        conf = plugin_conf(ncl, plugin, {}, None)
        conf[VALID_ATTACHMENTS_KEY] = [dict(v) for v in valid]
        execute(str(plugin["type"]), "GC", conf, CNIRequest("GC", path=tuple(path)))


def version_of(
    plugin_type: str, cni_version: str, execute: Executor, path: Sequence[str] = ()
) -> dict[str, Any]:
    """VERSION as libcni asks it: stdin carries only ``cniVersion``; CNI_NETNS,
    CNI_IFNAME and CNI_PATH are "dummy" (plugins built on an old skel want
    them set); ``path`` is ignored, kept for callers that pass one."""
    return execute(plugin_type, "VERSION", {"cniVersion": cni_version}, version_request())


def version_request() -> CNIRequest:
    return CNIRequest("VERSION", netns="dummy", ifname="dummy", path=("dummy",))
