"""The meta-plugin's own CNI network configuration (every Multus key).

The runtime hands pymultus a network configuration on stdin (CNI SPEC.md:
Section 1 "Network configuration format"). Besides the standard keys
(``cniVersion``, ``name``, ``type``) it carries the Multus keys listed in the
reference (``docs/configuration.md`` of Multus CNI), which :func:`parse_config`
turns into a frozen :class:`MultusConfig` with Multus's defaults.

Compatibility choices, and why:

* Unknown keys are ignored, as Multus does, so a config written for Multus
  (including thick-mode daemon keys such as ``socketDir``) loads unchanged;
  everything stays available in :attr:`MultusConfig.raw`.
* Keys match case-insensitively, exact spelling first: Multus decodes with Go's
  ``encoding/json``, which accepts any letter case for a field name. That is
  how the legacy spellings seen in the wild (``readinessIndicatorFile``,
  ``LogFile``, ``LogLevel``) keep working. When several spellings are present
  the last one in the document wins, as in Go.
* A JSON ``null`` means "not set" (the default applies). Empty strings for the
  directory and namespace keys also mean "not set": an empty ``confDir`` can
  only be a templating accident and would otherwise point lookups at the
  runtime's working directory.
* Wrong types are errors (code 7) that name the key and the expected type,
  instead of Go's generic unmarshalling message.
* ``logLevel`` is checked against the four levels Multus knows; Multus prints a
  warning on stderr (which nobody reads) and logs at "panic" instead.
"""

from __future__ import annotations

# collections.abc without importing collections (~1.3 ms per CNI call, issue 16)
from _collections_abc import Mapping

from pymultus.cni.errors import INVALID_CONFIG, CNIError
from pymultus.cni.record import Record, init_fields

TYPE_CHECKING = False  # importing typing costs ~2 ms per CNI call: mypy reads this as True
if TYPE_CHECKING:
    from typing import Any

DEFAULT_CONF_DIR = "/etc/cni/multus/net.d"
DEFAULT_CNI_DIR = "/var/lib/cni/multus"
DEFAULT_BIN_DIR = "/opt/cni/bin"
DEFAULT_MULTUS_NAMESPACE = "kube-system"
DEFAULT_POD_RESOURCES_SOCKET = "/var/lib/kubelet/pod-resources/kubelet.sock"
DEFAULT_GLOBAL_NAMESPACES: tuple[str, ...] = ("default",)
DEFAULT_SYSTEM_NAMESPACES: tuple[str, ...] = ("kube-system",)
DEFAULT_DELEGATE_TIMEOUT = 60.0
LOG_LEVELS: tuple[str, ...] = ("panic", "error", "verbose", "debug")


class MultusConfig(Record):
    """The parsed meta-plugin configuration; field defaults are Multus's.

    Dict-valued fields hold the decoded JSON as given: treat them as
    read-only (the dataclass is frozen, its contents cannot be).
    """

    name: str
    cni_version: str
    cluster_network: str | None
    default_networks: tuple[str, ...]
    delegates: tuple[dict[str, Any], ...]
    kubeconfig: str
    conf_dir: str
    cni_dir: str
    bin_dir: str
    namespace_isolation: bool
    global_namespaces: tuple[str, ...]
    system_namespaces: tuple[str, ...]
    multus_namespace: str
    readiness_indicator_file: str
    log_file: str
    log_level: str
    # Multus logs to stderr unless told otherwise (GetDefaultNetConf).
    log_to_stderr: bool
    log_options: dict[str, Any]
    capabilities: dict[str, bool]
    runtime_config: dict[str, Any]
    retry_delete_on_error: bool
    auxiliary_cni_chain_name: str
    # pymultus extension: also write k8s.v1.cni.cncf.io/networks-status (the old name).
    legacy_network_status: bool
    # pymultus extension: the kubelet's pod-resources socket (resourceName -> deviceID).
    pod_resources_socket: str
    # Seconds a delegate may run before it is killed (pymultus extension).
    delegate_timeout: float
    raw: dict[str, Any]

    __slots__ = (
        "auxiliary_cni_chain_name",
        "bin_dir",
        "capabilities",
        "cluster_network",
        "cni_dir",
        "cni_version",
        "conf_dir",
        "default_networks",
        "delegate_timeout",
        "delegates",
        "global_namespaces",
        "kubeconfig",
        "legacy_network_status",
        "log_file",
        "log_level",
        "log_options",
        "log_to_stderr",
        "multus_namespace",
        "name",
        "namespace_isolation",
        "pod_resources_socket",
        "raw",
        "readiness_indicator_file",
        "retry_delete_on_error",
        "runtime_config",
        "system_namespaces",
    )
    _frozen = True

    def __init__(
        self,
        name: str,
        cni_version: str,
        cluster_network: str | None = None,
        default_networks: tuple[str, ...] = (),
        delegates: tuple[dict[str, Any], ...] = (),
        kubeconfig: str = "",
        conf_dir: str = DEFAULT_CONF_DIR,
        cni_dir: str = DEFAULT_CNI_DIR,
        bin_dir: str = DEFAULT_BIN_DIR,
        namespace_isolation: bool = False,
        global_namespaces: tuple[str, ...] = DEFAULT_GLOBAL_NAMESPACES,
        system_namespaces: tuple[str, ...] = DEFAULT_SYSTEM_NAMESPACES,
        multus_namespace: str = DEFAULT_MULTUS_NAMESPACE,
        readiness_indicator_file: str = "",
        log_file: str = "",
        log_level: str = "",
        log_to_stderr: bool = True,
        log_options: dict[str, Any] | None = None,
        capabilities: dict[str, bool] | None = None,
        runtime_config: dict[str, Any] | None = None,
        retry_delete_on_error: bool = False,
        auxiliary_cni_chain_name: str = "",
        legacy_network_status: bool = False,
        pod_resources_socket: str = DEFAULT_POD_RESOURCES_SOCKET,
        delegate_timeout: float = DEFAULT_DELEGATE_TIMEOUT,
        raw: dict[str, Any] | None = None,
    ) -> None:
        init_fields(
            self,
            name=name,
            cni_version=cni_version,
            cluster_network=cluster_network,
            default_networks=default_networks,
            delegates=delegates,
            kubeconfig=kubeconfig,
            conf_dir=conf_dir,
            cni_dir=cni_dir,
            bin_dir=bin_dir,
            namespace_isolation=namespace_isolation,
            global_namespaces=global_namespaces,
            system_namespaces=system_namespaces,
            multus_namespace=multus_namespace,
            readiness_indicator_file=readiness_indicator_file,
            log_file=log_file,
            log_level=log_level,
            log_to_stderr=log_to_stderr,
            log_options=log_options if log_options is not None else {},
            capabilities=capabilities if capabilities is not None else {},
            runtime_config=runtime_config if runtime_config is not None else {},
            retry_delete_on_error=retry_delete_on_error,
            auxiliary_cni_chain_name=auxiliary_cni_chain_name,
            legacy_network_status=legacy_network_status,
            pod_resources_socket=pod_resources_socket,
            delegate_timeout=delegate_timeout,
            raw=raw if raw is not None else {},
        )

    @property
    def uses_delegates(self) -> bool:
        """True when the default network comes from inline ``delegates``.

        Multus ignores ``delegates`` whenever ``clusterNetwork`` is set.
        """
        return self.cluster_network is None


_MISSING: Any = object()


def go_json_get(obj: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """Look ``key`` up the way Go's ``encoding/json`` matches struct fields.

    Go accepts any ASCII letter case for a field name and, when several keys
    match, the last one in the document wins. Multus and the reference CNI
    libraries decode configs and annotations that way, so pymultus must too, or
    a config that works with Multus would silently lose settings here.
    """
    value = obj.get(key, _MISSING)
    folded = key.lower()
    for candidate in obj:
        if isinstance(candidate, str) and candidate.isascii() and candidate.lower() == folded:
            value = obj[candidate]
    return default if value is _MISSING else value


def json_type_name(value: object) -> str:
    """The JSON name of a decoded value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def cni_config_shape_problem(conf: Mapping[str, Any]) -> str | None:
    """Why ``conf`` is neither a CNI network config nor a config list, or None.

    CNI SPEC.md Section 1: a single-plugin configuration names its plugin in
    ``type``; a configuration list has a non-empty ``plugins`` array whose
    every element has a ``type``. Multus applies the same minimal check
    (``LoadDelegateNetConf``) before running a delegate.
    """
    plugin_type = go_json_get(conf, "type")
    if isinstance(plugin_type, str) and plugin_type:
        return None
    if plugin_type is not None and not isinstance(plugin_type, str):
        return f'"type" must be a string, got {json_type_name(plugin_type)}'
    plugins = go_json_get(conf, "plugins")
    if plugins is None:
        return 'it has neither "type" (a plugin config) nor "plugins" (a config list)'
    if not isinstance(plugins, list) or not plugins:
        return f'"plugins" must be a non-empty array, got {_describe(plugins)}'
    for index, plugin in enumerate(plugins):
        if not isinstance(plugin, dict):
            return f"plugins[{index}] must be an object, got {json_type_name(plugin)}"
        inner = go_json_get(plugin, "type")
        if not isinstance(inner, str) or not inner:
            return f'plugins[{index}] has no "type" naming the plugin to run'
    return None


def _describe(value: object) -> str:
    if isinstance(value, list) and not value:
        return "an empty array"
    return json_type_name(value)


def _error(key: str, problem: str) -> CNIError:
    return CNIError(
        INVALID_CONFIG,
        f'invalid meta-plugin network configuration: "{key}" {problem}',
    )


def _wrong_type(key: str, expected: str, value: object) -> CNIError:
    return _error(key, f"must be {expected}, got {json_type_name(value)}")


def _string(conf: Mapping[str, Any], key: str, default: str) -> str:
    value = go_json_get(conf, key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise _wrong_type(key, "a string", value)
    return value


def _string_or_default(conf: Mapping[str, Any], key: str, default: str) -> str:
    """Like :func:`_string`, but an empty string also selects the default."""
    return _string(conf, key, default) or default


def _no_nul(key: str, value: str) -> str:
    """Refuse a NUL byte in a value used as a file path or name.

    The OS cannot take one (Python raises ValueError deep inside ``open``);
    found by tests/unit/test_props_entry.py, where it escaped as an internal
    error instead of naming the key.
    """
    if "\0" in value:
        raise _error(key, "contains a NUL character, which no file path or name can hold")
    return value


def _path(conf: Mapping[str, Any], key: str, default: str) -> str:
    """A file or directory path setting: a string without NUL; empty selects ``default``."""
    return _no_nul(key, _string_or_default(conf, key, default))


def _bool(conf: Mapping[str, Any], key: str, default: bool) -> bool:
    value = go_json_get(conf, key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _wrong_type(key, "a boolean (true or false)", value)
    return value


def _positive_seconds(conf: Mapping[str, Any], key: str, default: float) -> float:
    value = go_json_get(conf, key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _wrong_type(key, "a number of seconds", value)
    if not 0 < value <= 3600:
        raise _error(key, f"must be more than 0 and at most 3600 seconds, not {value}")
    return float(value)


def _object(conf: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = go_json_get(conf, key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _wrong_type(key, "an object", value)
    return value


def _string_list(conf: Mapping[str, Any], key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = go_json_get(conf, key)
    if value is None:
        return default
    if not isinstance(value, list):
        raise _wrong_type(key, "an array of strings", value)
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise _error(key, f"[{index}] must be a string, got {json_type_name(item)}")
    return tuple(value)


def _global_namespaces(conf: Mapping[str, Any]) -> tuple[str, ...]:
    """``globalNamespaces``: Multus takes a comma-separated string; a list also works."""
    key = "globalNamespaces"
    value = go_json_get(conf, key)
    if value is None:
        return DEFAULT_GLOBAL_NAMESPACES
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",")]
    elif isinstance(value, list):
        items = []
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise _error(key, f"[{index}] must be a string, got {json_type_name(item)}")
            items.append(item.strip())
    else:
        raise _wrong_type(key, "a comma-separated string or an array of strings", value)
    names = tuple(item for item in items if item)
    # An empty setting selects the default, as in Multus (RawNonIsolatedNamespaces == "").
    return names or DEFAULT_GLOBAL_NAMESPACES


def _log_level(conf: Mapping[str, Any]) -> str:
    level = _string(conf, "logLevel", "").strip().lower()
    if level and level not in LOG_LEVELS:
        raise _error(
            "logLevel",
            f"must be one of {', '.join(LOG_LEVELS)} (or empty), got {level!r}",
        )
    return level


def _log_options(conf: Mapping[str, Any]) -> dict[str, Any]:
    options = _object(conf, "logOptions")
    for key in ("maxAge", "maxSize", "maxBackups"):
        value = go_json_get(options, key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            raise _error(f"logOptions.{key}", f"must be a non-negative integer, got {value!r}")
    compress = go_json_get(options, "compress")
    if compress is not None and not isinstance(compress, bool):
        raise _wrong_type("logOptions.compress", "a boolean", compress)
    return options


def _capabilities(conf: Mapping[str, Any]) -> dict[str, bool]:
    capabilities = _object(conf, "capabilities")
    for name, enabled in capabilities.items():
        if not isinstance(enabled, bool):
            raise _error(f"capabilities.{name}", f"must be a boolean, got {enabled!r}")
    return capabilities


def _delegates(conf: Mapping[str, Any], check_shape: bool) -> tuple[dict[str, Any], ...]:
    key = "delegates"
    value = go_json_get(conf, key)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _wrong_type(key, "an array of CNI configurations (objects)", value)
    for index, delegate in enumerate(value):
        if not isinstance(delegate, dict):
            raise _error(
                key,
                f"[{index}] must be a CNI configuration or configuration list object, "
                f"got {json_type_name(delegate)}",
            )
        problem = cni_config_shape_problem(delegate) if check_shape else None
        if problem is not None:
            raise _error(key, f"[{index}] is not a usable CNI configuration: {problem}")
    return tuple(value)


def parse_config(conf: Mapping[str, Any]) -> MultusConfig:
    """Turn the decoded stdin configuration into a :class:`MultusConfig`.

    Raises :class:`CNIError` (code 7, INVALID_CONFIG) naming the key at fault.
    Either ``clusterNetwork`` or a non-empty ``delegates`` is required
    (Multus ``LoadNetConf``); with ``clusterNetwork`` set, ``delegates`` is
    ignored, so its entries are only checked for their JSON type.
    """
    if not isinstance(conf, Mapping):
        raise CNIError(
            INVALID_CONFIG,
            "invalid meta-plugin network configuration: it must be a JSON object, "
            f"got {json_type_name(conf)}",
        )
    # CNI SPEC.md Section 1: cniVersion is required in every network configuration.
    cni_version = _string(conf, "cniVersion", "")
    if not cni_version:
        raise _error("cniVersion", "is missing: set the CNI version of this configuration")
    # Checked here, on the value every later step uses: with two spellings of
    # the key ("cniVersion" and "cniversion") the last one wins, and checking
    # only the exact spelling let an unusable version reach the result
    # conversion after the delegates had run (found by tests/fuzz).
    from pymultus.cni.version import check_supported

    check_supported(cni_version, "cniVersion of the meta-plugin configuration")

    cluster_network = _no_nul("clusterNetwork", _string(conf, "clusterNetwork", "")).strip() or None
    delegates = _delegates(conf, check_shape=cluster_network is None)
    if cluster_network is None and not delegates:
        raise CNIError(
            INVALID_CONFIG,
            'invalid meta-plugin network configuration: set "clusterNetwork" (a '
            "NetworkAttachmentDefinition name, a CNI config name, directory or file) or a "
            'non-empty "delegates" list; the default network must come from one of them',
        )
    default_networks = _string_list(conf, "defaultNetworks", ())
    for index, reference in enumerate(default_networks):
        if not reference.strip():
            raise _error("defaultNetworks", f"[{index}] is empty: name a network or remove it")
        _no_nul(f"defaultNetworks[{index}]", reference)

    return MultusConfig(
        name=_string(conf, "name", ""),
        cni_version=cni_version,
        cluster_network=cluster_network,
        default_networks=tuple(reference.strip() for reference in default_networks),
        delegates=delegates,
        kubeconfig=_path(conf, "kubeconfig", ""),
        conf_dir=_path(conf, "confDir", DEFAULT_CONF_DIR),
        cni_dir=_path(conf, "cniDir", DEFAULT_CNI_DIR),
        bin_dir=_path(conf, "binDir", DEFAULT_BIN_DIR),
        namespace_isolation=_bool(conf, "namespaceIsolation", False),
        global_namespaces=_global_namespaces(conf),
        system_namespaces=_string_list(conf, "systemNamespaces", DEFAULT_SYSTEM_NAMESPACES),
        multus_namespace=_string_or_default(conf, "multusNamespace", DEFAULT_MULTUS_NAMESPACE),
        readiness_indicator_file=_path(conf, "readinessindicatorfile", ""),
        log_file=_path(conf, "logFile", ""),
        log_level=_log_level(conf),
        log_to_stderr=_bool(conf, "logToStderr", True),
        log_options=_log_options(conf),
        capabilities=_capabilities(conf),
        runtime_config=_object(conf, "runtimeConfig"),
        retry_delete_on_error=_bool(conf, "retryDeleteOnError", False),
        auxiliary_cni_chain_name=_string(conf, "auxiliaryCNIChainName", ""),
        legacy_network_status=_bool(conf, "legacyNetworkStatus", False),
        pod_resources_socket=_string_or_default(
            conf, "podResourcesSocket", DEFAULT_POD_RESOURCES_SOCKET
        ),
        delegate_timeout=_positive_seconds(conf, "delegateTimeout", DEFAULT_DELEGATE_TIMEOUT),
        raw=dict(conf),
    )
