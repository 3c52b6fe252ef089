"""Network configurations as a runtime loads them (CNI SPEC.md Section 1).

A runtime reads the node's conf dir in lexical order and uses the first file
that is a valid configuration (containerd's CRI plugin, ``.conf``,
``.conflist`` and ``.json``); a single-plugin ``.conf`` is used as a list of
one plugin, with the list's ``name`` and ``cniVersion`` taken from it, as
libcni's ``ConfListFromConf`` does.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.cniruntime.errors import INVALID_CONFIG, CNIError
from harness.cniruntime.version import KNOWN_VERSIONS, parse

CONF_EXTENSIONS = (".conf", ".conflist", ".json")


@dataclass(frozen=True)
class NetworkConfigList:
    """One network configuration, always in list form, as read from ``source``."""

    name: str
    cni_version: str
    plugins: tuple[dict[str, Any], ...]
    disable_check: bool
    disable_gc: bool
    raw: dict[str, Any]
    source: str = ""

    @property
    def raw_bytes(self) -> bytes:
        """The configuration as the libcni cache stores it (JSON)."""
        return json.dumps(self.raw, sort_keys=True).encode()


def chosen_version(conf: dict[str, Any], source: str) -> str:
    """``cniVersion``, or from 1.1.0 the highest known one of ``cniVersions``
    (SPEC.md v1.1.0 Section 1: "the runtime picks the highest it supports")."""
    versions = conf.get("cniVersions")
    if isinstance(versions, list) and versions:
        known = [v for v in versions if isinstance(v, str) and v in KNOWN_VERSIONS]
        if known:
            return max(known, key=parse)
    version = conf.get("cniVersion")
    if not isinstance(version, str) or not version:
        raise CNIError(INVALID_CONFIG, f"{source}: cniVersion is missing or not a string")
    try:
        parse(version)
    except ValueError as exc:
        raise CNIError(INVALID_CONFIG, f"{source}: cniVersion {exc}") from None
    return version


def load_config(conf: Any, source: str) -> NetworkConfigList:
    """A list or single-plugin configuration object as a :class:`NetworkConfigList`."""
    if not isinstance(conf, dict):
        raise CNIError(INVALID_CONFIG, f"{source}: a network configuration must be a JSON object")
    name = conf.get("name")
    if not isinstance(name, str) or not name:
        raise CNIError(INVALID_CONFIG, f"{source}: name is missing or empty")
    version = chosen_version(conf, source)
    if "plugins" in conf:
        plugins = conf["plugins"]
        if not isinstance(plugins, list) or not plugins:
            raise CNIError(INVALID_CONFIG, f"{source}: plugins must be a non-empty list")
    else:  # a single plugin (.conf): a list of one
        plugins = [conf]
    for i, plugin in enumerate(plugins):
        if not isinstance(plugin, dict) or not isinstance(plugin.get("type"), str):
            raise CNIError(INVALID_CONFIG, f"{source}: plugins[{i}] has no string type")
    return NetworkConfigList(
        name=name,
        cni_version=version,
        plugins=tuple(dict(p) for p in plugins),
        disable_check=conf.get("disableCheck") is True,
        disable_gc=conf.get("disableGC") is True,
        raw=conf,
        source=source,
    )


def load_bytes(data: bytes, source: str) -> NetworkConfigList:
    try:
        conf = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CNIError(INVALID_CONFIG, f"{source}: not JSON: {exc}") from None
    return load_config(conf, source)


def first_config(conf_dir: str, shown_dir: str = "") -> NetworkConfigList:
    """The first valid configuration of ``conf_dir`` in lexical order.

    ``shown_dir`` is how the caller names the directory in errors (the node's
    view, e.g. ``/etc/cni/net.d``, when ``conf_dir`` is a host path).
    """
    shown = shown_dir or conf_dir
    try:
        names = sorted(n for n in os.listdir(conf_dir) if n.endswith(CONF_EXTENSIONS))
    except OSError as exc:
        raise CNIError(INVALID_CONFIG, f"cannot read {shown}: {exc.strerror}") from None
    problems = []
    for name in names:
        try:
            with open(os.path.join(conf_dir, name), "rb") as f:
                return load_bytes(f.read(), f"{shown}/{name}")
        except CNIError as exc:
            problems.append(exc.msg)
        except OSError as exc:
            problems.append(f"{shown}/{name}: {exc.strerror}")
    raise CNIError(
        INVALID_CONFIG,
        f"no network config found in {shown}",
        "; ".join(problems) or "cni plugin not initialized",
    )


def plugin_conf(
    ncl: NetworkConfigList,
    plugin: dict[str, Any],
    runtime_config: Mapping[str, Any],
    prev_result: dict[str, Any] | None,
) -> dict[str, Any]:
    """The execution configuration of one plugin of the list.

    SPEC.md Section 4, "Deriving execution configuration from plugin
    configuration": ``cniVersion`` and ``name`` come from the list; a
    capability argument goes into ``runtimeConfig`` only when the plugin
    declares that capability (``capabilities: {key: true}``), and
    ``capabilities`` itself is not sent; ``prevResult`` is the previous
    plugin's result (ADD) or the cached one (CHECK, DEL).
    """
    out = {k: v for k, v in plugin.items() if k != "capabilities"}
    out["cniVersion"] = ncl.cni_version
    out["name"] = ncl.name
    declared = plugin.get("capabilities")
    caps = declared if isinstance(declared, dict) else {}
    wanted = {k: v for k, v in runtime_config.items() if caps.get(k) is True}
    if wanted:
        current = plugin.get("runtimeConfig")
        merged = dict(current) if isinstance(current, dict) else {}
        merged.update(wanted)
        out["runtimeConfig"] = merged
    if prev_result is not None:
        out["prevResult"] = prev_result
    return out
