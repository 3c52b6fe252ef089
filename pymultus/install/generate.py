"""Choosing the master network and generating pymultus's own config (pure).

The node's runtime uses the *first* config of its conf dir in lexical order
(CNI SPEC.md section 3 leaves discovery to the runtime; containerd and
CRI-O take the first file). The installer therefore names its file
``00-pymultus.*`` and wraps the first config that is not its own, the
"master" (the cluster's default network, e.g. ``10-kindnet.conflist``).

File format by version: CNI 1.0.0 removed the single-plugin ``.conf``
format (CNI SPEC.md section 1, "Network configuration lists" is the only
format from 1.0.0 on), so a master of 1.0.0 or newer gets a ``.conflist``
and an older one a ``.conf``. Capabilities (CNI CONVENTIONS.md) are copied
from the master, so the runtime passes pymultus the runtimeConfig its
default network can use (portMappings, bandwidth, ...).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pymultus.cni.errors import CNIError
from pymultus.cni.version import at_least

CONF_EXTENSIONS = (".conf", ".conflist", ".json")
OWN_PREFIX = "00-pymultus"
NETWORK_NAME = "pymultus-cni-network"


def pick_master(filenames: Iterable[str], own_prefix: str = OWN_PREFIX) -> str | None:
    """The first CNI config file name in lexical order that is not pymultus's own."""
    for name in sorted(filenames):
        if name.startswith(".") or not name.endswith(CONF_EXTENSIONS):
            continue
        if name.startswith(own_prefix):
            continue
        return name
    return None


def master_capabilities(master: Mapping[str, Any]) -> dict[str, bool]:
    """The union of the master's declared capabilities (all its plugins' for a list)."""
    plugins = master.get("plugins")
    sources = plugins if isinstance(plugins, list) else [master]
    caps: dict[str, bool] = {}
    for plugin in sources:
        declared = plugin.get("capabilities") if isinstance(plugin, Mapping) else None
        if isinstance(declared, Mapping):
            for key, value in declared.items():
                if value is True:
                    caps[str(key)] = True
    return caps


@dataclass(frozen=True)
class InstallOptions:
    mode: str = "thin"  # or "thick"
    conf_dir: str = "/etc/cni/net.d"  # as the node sees it
    bin_dir: str = "/opt/cni/bin"
    cni_dir: str = "/var/lib/cni/pymultus"
    multus_conf_dir: str = "/etc/cni/multus/net.d"
    kubeconfig: str = "/etc/cni/net.d/pymultus.d/pymultus.kubeconfig"
    readiness_indicator_file: str = ""
    socket_dir: str = "/run/pymultus"
    daemon_config: str = "/etc/cni/net.d/pymultus.d/daemon-config.json"
    log_level: str = ""
    log_file: str = ""
    extra: tuple[tuple[str, Any], ...] = ()  # further keys for the generated config


def config_filename(master: Mapping[str, Any]) -> str:
    version = master.get("cniVersion")
    try:
        as_list = isinstance(version, str) and at_least(version, "1.0.0")
    except CNIError:
        as_list = False
    return f"{OWN_PREFIX}.conflist" if as_list else f"{OWN_PREFIX}.conf"


def plugin_config(master_path: str, options: InstallOptions) -> dict[str, Any]:
    """The meta-plugin's keys (thin mode's CNI config, or the daemon's config in thick)."""
    conf: dict[str, Any] = {
        "kubeconfig": options.kubeconfig,
        "clusterNetwork": master_path,
        "confDir": options.multus_conf_dir,
        "cniDir": options.cni_dir,
        "binDir": options.bin_dir,
    }
    if options.readiness_indicator_file:
        conf["readinessindicatorfile"] = options.readiness_indicator_file
    if options.log_level:
        conf["logLevel"] = options.log_level
    if options.log_file:
        conf["logFile"] = options.log_file
    conf.update(dict(options.extra))
    return conf


def generate(
    master_name: str, master: Mapping[str, Any], options: InstallOptions
) -> tuple[str, dict[str, Any]]:
    """(file name, content) of pymultus's config wrapping ``master``."""
    version = str(master.get("cniVersion") or "0.3.1")
    master_path = f"{options.conf_dir.rstrip('/')}/{master_name}"
    plugin: dict[str, Any]
    if options.mode == "thick":
        plugin = {
            "type": "pymultus-shim",
            "daemonSocketDir": options.socket_dir,
            "daemonConfig": options.daemon_config,
        }
    else:
        plugin = {"type": "pymultus", **plugin_config(master_path, options)}
    caps = master_capabilities(master)
    if caps:
        plugin["capabilities"] = caps
    filename = config_filename(master)
    if filename.endswith(".conflist"):
        return filename, {"cniVersion": version, "name": NETWORK_NAME, "plugins": [plugin]}
    return filename, {"cniVersion": version, "name": NETWORK_NAME, **plugin}


def kubeconfig_text(server: str, ca_data_b64: str, token: str, name: str = "pymultus") -> str:
    """A kubeconfig for the host-side plugin, self-contained (CA inline, token inline).

    The token is inline because the host cannot read the pod's projected
    token file; the installer rewrites the file when the token rotates
    (bound service-account tokens expire, the reference's generated
    kubeconfig is known to go stale).
    """
    import json

    cluster: dict[str, str] = {"server": server}
    if ca_data_b64:
        cluster["certificate-authority-data"] = ca_data_b64
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }
    # JSON, which is YAML (kubectl reads it): the CNI path decodes it with the
    # C JSON scanner instead of importing a YAML parser (issue 16).
    return json.dumps(doc, indent=2) + "\n"
