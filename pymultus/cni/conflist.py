"""Network configuration lists: loading, and running a list the way a runtime must.

CNI SPEC.md Section 1 defines the format; Section 3 ("Execution of Network
Configurations") how a runtime runs it: ADD forward with ``prevResult``
chained, DEL in reverse with the final ADD result, CHECK forward, GC and
STATUS (1.1.0) on every plugin; and how each plugin's execution configuration
is derived ("Deriving execution configuration from plugin configuration").

The functions here take an :class:`~pymultus.cni.invoke.Executor` so the same
code runs real binaries, or fakes in unit tests.
"""

from __future__ import annotations

# collections.abc without importing collections (~1.3 ms per CNI call, issue 16)
from _collections_abc import Mapping, Sequence

from pymultus.cni.errors import INCOMPATIBLE_VERSION, INVALID_CONFIG, CNIError
from pymultus.cni.invoke import plugin_type_problem
from pymultus.cni.record import Record, init_fields
from pymultus.cni.request import ADD, CHECK, DEL, GC, STATUS, CNIRequest
from pymultus.cni.result import convert_result
from pymultus.cni.version import SUPPORTED_VERSIONS, at_least, check_supported, highest_supported

TYPE_CHECKING = False  # importing typing costs ~2 ms per CNI call: mypy reads this as True
if TYPE_CHECKING:
    from typing import Any

    from pymultus.cni.seams import Executor

#: The GC input key (CNI SPEC.md v1.1.0 Section 2, GC).
VALID_ATTACHMENTS_KEY = "cni.dev/valid-attachments"
# The reference runtime library also sends the list under this key, because an
# early draft of the spec named it so; plugins built against that draft read it.
_LEGACY_ATTACHMENTS_KEY = "cni.dev/attachments"

_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_NAME_CHARS = _ALNUM | frozenset("_.-")


class NetworkConfigList(Record):
    """A validated network configuration (always in list form).

    ``cni_version`` is the version in use: the highest supported one among
    ``cniVersion`` and ``cniVersions`` (CNI SPEC.md v1.1.0 Section 1).
    ``plugins`` are the plugin objects as written; ``raw`` the whole input.
    """

    name: str
    cni_version: str
    plugins: tuple[dict[str, Any], ...]
    disable_check: bool
    disable_gc: bool
    raw: dict[str, Any]

    __slots__ = ("cni_version", "disable_check", "disable_gc", "name", "plugins", "raw")
    _frozen = True

    def __init__(
        self,
        name: str,
        cni_version: str,
        plugins: tuple[dict[str, Any], ...],
        disable_check: bool,
        disable_gc: bool,
        raw: dict[str, Any],
    ) -> None:
        init_fields(
            self,
            name=name,
            cni_version=cni_version,
            plugins=plugins,
            disable_check=disable_check,
            disable_gc=disable_gc,
            raw=raw,
        )


def network_name_problem(name: Any) -> str | None:
    """Why ``name`` is not a valid network name, or None.

    CNI SPEC.md Section 1: "Must start with an alphanumeric character,
    optionally followed by any combination of one or more alphanumeric
    characters, underscore, dot (.) or hyphen (-)."
    """
    if not isinstance(name, str):
        return "must be a string"
    if not name:
        return "is empty"
    if name[0] not in _ALNUM or not all(c in _NAME_CHARS for c in name):
        return (
            "must start with a letter or digit and contain only letters, digits, '_', '.' and '-'"
        )
    return None


def _flag(conf: dict[str, Any], key: str, source: str) -> bool:
    """A boolean flag; the strings "true"/"false" are accepted as the reference does."""
    value = conf.get(key, False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise CNIError(
        INVALID_CONFIG,
        f"{source}: {key} must be true or false, got {value!r}",
    )


def _select_version(conf: dict[str, Any], source: str, default_version: str | None) -> str:
    declared = conf.get("cniVersion")
    if declared is None or declared == "":
        if default_version is None:
            raise CNIError(
                INVALID_CONFIG,
                f'{source}: cniVersion is missing; add e.g. "cniVersion": "1.0.0"',
            )
        declared = default_version
    versions = conf.get("cniVersions")
    if versions is None:
        check_supported(declared, f"{source}: cniVersion")
        return str(declared)
    if not isinstance(versions, list) or not all(isinstance(v, str) for v in versions):
        raise CNIError(INVALID_CONFIG, f"{source}: cniVersions must be a list of strings")
    best = highest_supported([declared, *versions])
    if best is None:
        raise CNIError(
            INCOMPATIBLE_VERSION,
            f"{source}: none of cniVersion {declared!r} / cniVersions {versions!r} is "
            "supported; include one of " + ", ".join(SUPPORTED_VERSIONS),
        )
    return best


def _check_plugin(plugin: Any, where: str, source: str) -> None:
    if not isinstance(plugin, dict):
        raise CNIError(INVALID_CONFIG, f"{source}: {where} must be a JSON object")
    if "type" not in plugin:
        raise CNIError(INVALID_CONFIG, f"{source}: {where} has no type (the plugin to run)")
    problem = plugin_type_problem(plugin["type"])
    if problem:
        raise CNIError(INVALID_CONFIG, f"{source}: {where}.type {plugin['type']!r} {problem}")
    caps = plugin.get("capabilities")
    if caps is not None and (
        not isinstance(caps, dict) or not all(isinstance(v, bool) for v in caps.values())
    ):
        raise CNIError(
            INVALID_CONFIG,
            f"{source}: {where}.capabilities must be an object of booleans, "
            'e.g. {"portMappings": true}',
        )


def load_network_config(
    conf: dict[str, Any], source: str, *, default_version: str | None = None
) -> NetworkConfigList:
    """Validate a single plugin configuration (has ``type``) or a list (has
    ``plugins``) and return it as a list.

    ``source`` labels the configuration in every error ("NetworkAttachmentDefinition
    default/macvlan-conf", a file path). ``default_version`` is used when the
    configuration has no ``cniVersion`` (the reference plugins read that as
    0.1.0); without it a missing cniVersion is an error.
    """
    if not isinstance(conf, dict):
        raise CNIError(INVALID_CONFIG, f"{source}: the configuration must be a JSON object")
    if "name" not in conf:
        raise CNIError(INVALID_CONFIG, f"{source}: name is missing; give the network a name")
    problem = network_name_problem(conf["name"])
    if problem:
        raise CNIError(INVALID_CONFIG, f"{source}: name {conf['name']!r} {problem}")
    version = _select_version(conf, source, default_version)
    if "plugins" in conf:
        plugins = conf["plugins"]
        if not isinstance(plugins, list) or not plugins:
            raise CNIError(
                INVALID_CONFIG, f"{source}: plugins must be a non-empty list of plugin objects"
            )
        for i, plugin in enumerate(plugins):
            _check_plugin(plugin, f"plugins[{i}]", source)
        plugin_tuple = tuple(plugins)
    elif "type" in conf:
        _check_plugin(conf, "the configuration", source)
        plugin_tuple = (conf,)
    else:
        raise CNIError(
            INVALID_CONFIG,
            f"{source}: the configuration has neither plugins (a list) nor type (a single "
            "plugin); add one of them",
        )
    return NetworkConfigList(
        name=conf["name"],
        cni_version=version,
        plugins=plugin_tuple,
        disable_check=_flag(conf, "disableCheck", source),
        disable_gc=_flag(conf, "disableGC", source),
        raw=conf,
    )


def capabilities(ncl: NetworkConfigList) -> set[str]:
    """Every capability some plugin of the list declares as true."""
    found: set[str] = set()
    for plugin in ncl.plugins:
        caps = plugin.get("capabilities") or {}
        found.update(k for k, v in caps.items() if v is True)
    return found


def plugin_conf(
    ncl: NetworkConfigList,
    plugin: dict[str, Any],
    runtime_config: Mapping[str, Any],
    prev_result: dict[str, Any] | None,
) -> dict[str, Any]:
    """The configuration a runtime sends to one plugin of the list.

    CNI SPEC.md Section 3, "Deriving execution configuration from plugin
    configuration": insert ``cniVersion`` and ``name`` from the list; insert
    ``runtimeConfig`` with only the capability arguments the plugin declares
    (merged over a ``runtimeConfig`` already in the plugin object); insert
    ``prevResult`` when there is one; remove ``capabilities``. Everything else
    passes through unaltered. The inputs are not modified.
    """
    out = {k: v for k, v in plugin.items() if k != "capabilities"}
    out["cniVersion"] = ncl.cni_version
    out["name"] = ncl.name
    caps = plugin.get("capabilities") or {}
    wanted = {k: v for k, v in runtime_config.items() if caps.get(k) is True}
    if wanted:
        existing = plugin.get("runtimeConfig")
        merged = dict(existing) if isinstance(existing, dict) else {}
        merged.update(wanted)
        out["runtimeConfig"] = merged
    if prev_result is not None:
        out["prevResult"] = prev_result
    return out


def _in_list_version(ncl: NetworkConfigList, result: dict[str, Any]) -> dict[str, Any]:
    """A plugin's result in the list's version.

    A result without cniVersion is taken to be in the list's version (the
    reference runtime library does the same); one in another version is
    converted, so the next plugin gets a prevResult in the version it was
    configured for.
    """
    if not result.get("cniVersion"):
        result = {**result, "cniVersion": ncl.cni_version}
    if result["cniVersion"] != ncl.cni_version:
        result = convert_result(result, ncl.cni_version)
    return result


def _result_shape_problems(result: dict[str, Any]) -> list[str]:
    """Type errors in a result that no consumer could read past.

    Only the JSON shape is judged (lists are lists, their items objects,
    addresses strings): value-level checks are the vendor kit's job
    (:func:`pymultus.cni.result.validate_result`), and being stricter than the
    reference runtime library here would fail pods it accepts.
    """
    problems = []
    for key in ("interfaces", "ips", "routes"):
        value = result.get(key)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(x, dict) for x in value):
            problems.append(f"{key} must be a list of objects")
        elif key == "ips" and not all(isinstance(ip.get("address"), str) for ip in value):
            problems.append("every ips[].address must be a string")
    for key in ("ip4", "ip6", "dns"):
        if result.get(key) is not None and not isinstance(result[key], dict):
            problems.append(f"{key} must be an object")
    return problems


def _checked_add_result(result: dict[str, Any]) -> dict[str, Any]:
    """A plugin's ADD result, refused when its JSON shape is broken.

    CNI SPEC.md Section 5 ("Success"): the next plugin gets it as prevResult
    and the runtime parses it; a malformed one passed along would fail there,
    far from the plugin at fault (found by tests/fuzz: a delegate answering
    ``"ips": "x"`` reached the runtime as our result). DECODE_FAILURE (6).
    """
    problems = _result_shape_problems(result)
    if problems:
        from pymultus.cni.errors import DECODE_FAILURE

        raise CNIError(DECODE_FAILURE, "the result is malformed", "; ".join(problems))
    return result


def add_list(
    ncl: NetworkConfigList,
    request: CNIRequest,
    runtime_config: Mapping[str, Any],
    execute: Executor,
) -> dict[str, Any]:
    """ADD every plugin in order, each getting the previous one's result as
    ``prevResult``; return the last result, in the list's cniVersion.

    CNI SPEC.md Section 3, "Adding an attachment": the first error halts and is
    raised. Rolling back (DEL of the attachment) is the caller's business: it
    knows whether it must, and the spec asks the runtime to DEL even after a
    failed ADD.
    """
    req = request.with_(command=ADD)
    prev: dict[str, Any] | None = None
    for plugin in ncl.plugins:
        conf = plugin_conf(ncl, plugin, runtime_config, prev)
        result = execute(plugin["type"], ADD, conf, req)
        try:
            prev = _in_list_version(ncl, _checked_add_result(result))
        except CNIError as e:
            raise CNIError(e.code, f"{plugin['type']}: ADD result: {e.msg}", e.details) from None
    if prev is None:
        raise CNIError(INVALID_CONFIG, f"network {ncl.name!r} has no plugins to ADD")
    return prev


def _prev_for_list(
    ncl: NetworkConfigList, prev_result: dict[str, Any] | None
) -> dict[str, Any] | None:
    if prev_result is None:
        return None
    try:
        return _in_list_version(ncl, prev_result)
    except CNIError:
        return prev_result  # hand it over as it is; the plugin may still cope


def _aggregate(
    ncl: NetworkConfigList, command: str, failures: list[tuple[str, CNIError]]
) -> CNIError:
    # A plugin's own error already starts with its type (invoke names it): no doubling.
    summary = "; ".join(
        err.msg if err.msg.startswith(f"{ptype}: ") else f"{ptype}: {err.msg}"
        for ptype, err in failures
    )
    details = "; ".join(f"{ptype}: {err.details}" for ptype, err in failures if err.details)
    count = f"{len(failures)} of {len(ncl.plugins)} plugins" if len(ncl.plugins) > 1 else "plugin"
    return CNIError(
        failures[0][1].code,
        f"{command} of network {ncl.name!r} failed ({count}): {summary}",
        details,
    )


def del_list(
    ncl: NetworkConfigList,
    request: CNIRequest,
    runtime_config: Mapping[str, Any],
    prev_result: dict[str, Any] | None,
    execute: Executor,
) -> None:
    """DEL every plugin in reverse order with the final ADD result as ``prevResult``.

    CNI SPEC.md Section 3, "Deleting an attachment". Unlike the reference
    library we do not stop at the first failure: DEL must release as much as
    it can (Section 2, DEL), so every plugin is tried and one CNIError listing
    every failure is raised at the end (with the first failure's code).
    ``prevResult`` is only sent from 0.4.0 on, which introduced it for DEL.
    """
    req = request.with_(command=DEL)
    prev = _prev_for_list(ncl, prev_result) if at_least(ncl.cni_version, "0.4.0") else None
    failures: list[tuple[str, CNIError]] = []
    for plugin in reversed(ncl.plugins):
        conf = plugin_conf(ncl, plugin, runtime_config, prev)
        try:
            execute(plugin["type"], DEL, conf, req)
        except CNIError as e:
            failures.append((plugin["type"], e))
    if failures:
        raise _aggregate(ncl, DEL, failures)


def check_list(
    ncl: NetworkConfigList,
    request: CNIRequest,
    runtime_config: Mapping[str, Any],
    prev_result: dict[str, Any] | None,
    execute: Executor,
) -> None:
    """CHECK every plugin in order with the final ADD result; stop at the first error.

    CNI SPEC.md Section 3, "Checking an attachment". CHECK exists from 0.4.0:
    for older lists, and when ``disableCheck`` is set, this returns without
    calling anything. CHECK requires the ADD result: without one this raises
    INVALID_CONFIG instead of calling plugins that would all refuse.
    """
    if ncl.disable_check or not at_least(ncl.cni_version, "0.4.0"):
        return
    if prev_result is None:
        raise CNIError(
            INVALID_CONFIG,
            f"cannot CHECK network {ncl.name!r} for container {request.container_id} "
            f"interface {request.ifname}: no result of a previous ADD is known",
        )
    req = request.with_(command=CHECK)
    prev = _in_list_version(ncl, prev_result)
    for plugin in ncl.plugins:
        execute(plugin["type"], CHECK, plugin_conf(ncl, plugin, runtime_config, prev), req)


def status_list(ncl: NetworkConfigList, execute: Executor, *, path: Sequence[str] = ()) -> None:
    """STATUS every plugin in order; the first error is raised (1.1.0 only).

    CNI SPEC.md v1.1.0 Section 2, STATUS: a plugin not ready answers error 50
    or 51. Lists older than 1.1.0 have no STATUS: this returns without calling.
    """
    if not at_least(ncl.cni_version, "1.1.0"):
        return
    req = CNIRequest(command=STATUS, path=tuple(path))
    for plugin in ncl.plugins:
        execute(plugin["type"], STATUS, plugin_conf(ncl, plugin, {}, None), req)


def check_valid_attachments(valid_attachments: Any) -> list[dict[str, Any]]:
    """GC's ``cni.dev/valid-attachments`` checked and reduced to {containerID, ifname}.

    CNI SPEC.md v1.1.0 section 2 (GC): a list of objects with string
    ``containerID`` and ``ifname``; anything else names the bad item.
    """
    if not isinstance(valid_attachments, list):
        raise CNIError(
            INVALID_CONFIG,
            "GC: cni.dev/valid-attachments must be a list of {containerID, ifname} objects",
        )
    for i, att in enumerate(valid_attachments):
        if (
            not isinstance(att, dict)
            or not isinstance(att.get("containerID"), str)
            or not isinstance(att.get("ifname"), str)
        ):
            raise CNIError(
                INVALID_CONFIG,
                f"GC: cni.dev/valid-attachments[{i}] must be an object with string "
                f"containerID and ifname, got {att!r}",
            )
    return [{"containerID": a["containerID"], "ifname": a["ifname"]} for a in valid_attachments]


def gc_list(
    ncl: NetworkConfigList,
    valid_attachments: list[dict[str, Any]],
    execute: Executor,
    *,
    path: Sequence[str] = (),
) -> None:
    """GC every plugin, telling it which attachments are still valid (1.1.0 only).

    CNI SPEC.md v1.1.0 Section 3, "Garbage-collecting a network": each plugin
    gets ``cni.dev/valid-attachments`` (``[{containerID, ifname}]``); errors do
    not stop the others, and are raised together at the end. Skipped for lists
    older than 1.1.0 and when ``disableGC`` is set. DEL of stale cached
    attachments (which the reference library does first) is the caller's job.
    """
    if ncl.disable_gc or not at_least(ncl.cni_version, "1.1.0"):
        return
    attachments = check_valid_attachments(valid_attachments)
    req = CNIRequest(command=GC, path=tuple(path))
    failures: list[tuple[str, CNIError]] = []
    for plugin in ncl.plugins:
        conf = plugin_conf(ncl, plugin, {}, None)
        conf[VALID_ATTACHMENTS_KEY] = attachments
        conf[_LEGACY_ATTACHMENTS_KEY] = attachments
        try:
            execute(plugin["type"], GC, conf, req)
        except CNIError as e:
            failures.append((plugin["type"], e))
    if failures:
        raise _aggregate(ncl, GC, failures)
