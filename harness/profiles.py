"""Meta-plugin profiles: how a meta-plugin is installed and run on a node.

A profile is pure data: the CNI type the node's configuration names, where
the plugin keeps its cache, its kubeconfig and config file, and in thick
form how its daemon is started (arguments, environment, config file,
socket, readiness endpoint) and what its shim's configuration says. The
harness never guesses these from a binary's name: a run names a profile
(built in, or from a file) and the binaries' paths, and what the profile
cannot run is refused (:class:`ProfileError`), never substituted by
pymultus's own parts.

Values may use ``{nodeName}``, ``{nodeRoot}`` (the node's backing directory,
the same path inside the node and outside), ``{socketDir}``,
``{daemonConfig}``, ``{apiHost}``, ``{apiPort}``: :func:`expand` fills them
per node. Built-in profiles: ``pymultus-thin``, ``pymultus-thick``,
``multus-thin``, ``multus-thick`` (the reference v4.1.4 laid out as its
``deployments/multus-daemonset-thick.yml`` lays it out). docs/profiles.md
describes the file format.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

FORMS = ("thin", "thick")
IMPLEMENTATIONS = ("pymultus", "foreign")
TEMPLATE_KEYS = ("nodeName", "nodeRoot", "socketDir", "daemonConfig", "apiHost", "apiPort")
# The in-cluster view every DaemonSet pod has: client-go's rest.InClusterConfig
# reads these (k8s.io/client-go/rest/config.go), the reference's daemon uses it.
IN_CLUSTER_ENV = {"KUBERNETES_SERVICE_HOST": "{apiHost}", "KUBERNETES_SERVICE_PORT": "{apiPort}"}
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


class ProfileError(ValueError):
    """A profile that is malformed, or that cannot run with the binaries given."""


@dataclass(frozen=True)
class Profile:
    """How one meta-plugin is installed and run on a node (see the module doc)."""

    name: str
    form: str  # "thin": one process per CNI call; "thick": a node daemon + shim
    implementation: str  # "pymultus" (the harness may use pymultus's installer) or "foreign"
    cni_type: str  # the ``type`` of the node's config: the thin binary's or the shim's name
    conf_file: str  # its config's file name in the node's /etc/cni/net.d
    cache_dir: str  # where it caches delegate results (its ``cniDir``)
    conf_dir: str = "/etc/cni/multus/net.d"  # its ``confDir`` (delegate configs by name)
    kubeconfig: str = ""  # the node path of the kubeconfig written for it ("" = none)
    kubeconfig_token_file: bool = False  # the kubeconfig names the token file, not the token
    description: str = ""
    # thick form only
    shim_name: str = ""  # its name in /opt/cni/bin (defaults to cni_type)
    daemon_args: tuple[str, ...] = ()  # after the daemon executable
    daemon_env: Mapping[str, str] = field(default_factory=dict)
    daemon_config: str = ""  # node path of the daemon's config file
    daemon_config_drop: tuple[str, ...] = ("type", "name")  # keys of the node config left out
    daemon_config_extra: Mapping[str, Any] = field(default_factory=dict)
    daemon_writes_conf: bool = False  # the daemon writes conf_file itself (Multus "auto")
    shim_conf: Mapping[str, Any] = field(default_factory=dict)  # keys the shim's config adds
    socket_dir: str = ""  # node path of the daemon's socket directory
    socket_name: str = ""
    readiness_path: str = "/readyz"  # GET on the socket answers 200 when ready
    node_mounts: tuple[tuple[str, str], ...] = ()  # extra node-private dirs (name, node path)

    @property
    def binary_name(self) -> str:
        """The name of the executable the runtime runs, in the node's /opt/cni/bin."""
        return self.cni_type if self.form == "thin" else (self.shim_name or self.cni_type)

    def placeholders(self) -> dict[str, str]:
        """What scenario text may name as ``{{ key }}`` (harness.scenario.placeholders)."""
        out = {
            "cacheDir": self.cache_dir,
            "confDir": self.conf_dir,
            "cniType": self.cni_type,
            "confFile": self.conf_file,
            "kubeconfig": self.kubeconfig,
            "profile": self.name,
            "form": self.form,
        }
        if self.form == "thick":
            out["daemonConfig"] = self.daemon_config
        return out


@dataclass(frozen=True)
class Binaries:
    """The executables actually run: the thin plugin, or the daemon (argv) and shim."""

    meta_plugin: str = ""
    daemon: tuple[str, ...] = ()  # argv prefix: [path] or [python, -m, pymultus.daemon]
    shim: str = ""  # "" with pymultus-thick: the harness's fast launcher of pymultus.shim

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.meta_plugin:
            out["metaPlugin"] = self.meta_plugin
        if self.daemon:
            out["daemon"] = " ".join(self.daemon)
        if self.shim:
            out["shim"] = self.shim
        return out


# ----------------------------------------------------------------- built in
PYMULTUS_KUBECONFIG = "/etc/cni/net.d/pymultus.d/pymultus.kubeconfig"
MULTUS_KUBECONFIG = "/etc/cni/net.d/multus.d/multus.kubeconfig"

BUILTIN: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            name="pymultus-thin",
            form="thin",
            implementation="pymultus",
            cni_type="pymultus",
            conf_file="00-pymultus.conf",
            cache_dir="/var/lib/cni/pymultus",
            kubeconfig=PYMULTUS_KUBECONFIG,
            description="pymultus, one process per CNI call",
        ),
        Profile(
            name="pymultus-thick",
            form="thick",
            implementation="pymultus",
            cni_type="pymultus-shim",
            conf_file="00-pymultus.conf",
            cache_dir="/var/lib/cni/pymultus",
            # The daemon reads the token file at each request (a projected token).
            kubeconfig=PYMULTUS_KUBECONFIG,
            kubeconfig_token_file=True,
            description="pymultus daemon per node + pymultus-shim",
            daemon_args=("--config", "{daemonConfig}", "--node-name", "{nodeName}"),
            daemon_env={"NODE_NAME": "{nodeName}", **IN_CLUSTER_ENV},
            daemon_config="/etc/cni/pymultus/daemon-config.json",
            daemon_config_drop=("type", "name", "cniVersion"),
            daemon_config_extra={"socketDir": "{socketDir}", "nodeName": "{nodeName}"},
            shim_conf={"daemonSocketDir": "{socketDir}", "daemonConfig": "{daemonConfig}"},
            socket_dir="{nodeRoot}/run/pymultus",
            socket_name="pymultus.sock",
            readiness_path="/readyz",
        ),
        Profile(
            name="multus-thin",
            form="thin",
            implementation="foreign",
            cni_type="multus",
            conf_file="00-multus.conf",
            cache_dir="/var/lib/cni/multus",
            kubeconfig=MULTUS_KUBECONFIG,
            description="Multus CNI thin plugin (cmd/multus)",
        ),
        Profile(
            name="multus-thick",
            form="thick",
            implementation="foreign",
            cni_type="multus-shim",
            conf_file="00-multus.conf",
            cache_dir="/var/lib/cni/multus",
            description=(
                "Multus CNI thick: multus-daemon (in-cluster client, config in "
                "/etc/cni/net.d/multus.d/daemon-config.json, multusConfigFile auto) + multus-shim"
            ),
            daemon_args=("-config", "{daemonConfig}"),
            daemon_env={"MULTUS_NODE_NAME": "{nodeName}", **IN_CLUSTER_ENV},
            daemon_config="/etc/cni/net.d/multus.d/daemon-config.json",
            # The daemon uses its in-cluster client (service-account token + CA).
            daemon_config_drop=("type", "name", "kubeconfig"),
            # deployments/multus-daemonset-thick.yml (v4.1.4)'s daemon-config.json,
            # with the node's own paths (no /host prefix: the daemon runs in the
            # node's mount namespace, so no chrootDir either). daemonSocketDir
            # makes the generated 00-multus.conf name the socket dir for the shim.
            daemon_config_extra={
                "logLevel": "verbose",
                "logToStderr": True,
                "cniConfigDir": "/etc/cni/net.d",
                "multusAutoconfigDir": "/etc/cni/net.d",
                "multusConfigFile": "auto",
                "socketDir": "{socketDir}",
                "daemonSocketDir": "{socketDir}",
            },
            daemon_writes_conf=True,
            # The DaemonSet's /host/run/multus is the host's /run/multus; the
            # daemon removes and recreates the directory at start, so it cannot
            # be a mount point: it lives in the node's run directory (the same
            # path inside the node and out), and daemonSocketDir above tells the
            # shim (whose default is /run/multus).
            socket_dir="{nodeRoot}/run/multus",
            socket_name="multus.sock",
            readiness_path="/healthz",
        ),
    )
}


def builtin(name: str) -> Profile:
    try:
        return BUILTIN[name]
    except KeyError:
        raise ProfileError(
            f"unknown profile {name!r}: built in are {', '.join(BUILTIN)}; "
            "or describe yours in a file and pass --profile-file"
        ) from None


# ------------------------------------------------------------- file format
_FIELDS = {f.name: f for f in dataclasses.fields(Profile)}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


_CAMEL = {_camel(name): name for name in _FIELDS}


def to_document(profile: Profile) -> dict[str, Any]:
    """A profile as its file format (camelCase keys), defaults left out."""
    out: dict[str, Any] = {}
    for name, f in _FIELDS.items():
        value = getattr(profile, name)
        default = f.default if f.default is not dataclasses.MISSING else None
        if f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        if value == default and name not in ("name", "form"):
            continue
        if isinstance(value, tuple):
            value = [list(v) if isinstance(v, tuple) else v for v in value]
        elif isinstance(value, Mapping):
            value = dict(value)
        out[_camel(name)] = value
    return out


def from_document(doc: Any, where: str = "profile") -> Profile:
    """A profile from its file format; ProfileError names the file and key."""
    if not isinstance(doc, dict):
        raise ProfileError(f"{where}: a profile is a mapping of keys (see docs/profiles.md)")
    kwargs: dict[str, Any] = {}
    for key, value in doc.items():
        name = _CAMEL.get(str(key))
        if name is None:
            raise ProfileError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(_CAMEL))})")
        kwargs[name] = _coerce(name, value, where)
    missing = [
        _camel(n)
        for n, f in _FIELDS.items()
        if f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
        and n not in kwargs
    ]
    if missing:
        raise ProfileError(f"{where}: missing required key(s) {', '.join(missing)}")
    profile = Profile(**kwargs)
    problems = validate(profile)
    if problems:
        raise ProfileError(f"{where}: " + "; ".join(problems))
    return profile


def _coerce(name: str, value: Any, where: str) -> Any:
    key = _camel(name)
    if name in ("daemon_args", "daemon_config_drop"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ProfileError(f"{where}: {key} must be a list of strings")
        return tuple(value)
    if name == "node_mounts":
        ok = isinstance(value, list) and all(
            isinstance(v, list) and len(v) == 2 and all(isinstance(x, str) for x in v)
            for v in value
        )
        if not ok:
            raise ProfileError(f"{where}: nodeMounts must be a list of [name, node path] pairs")
        return tuple(tuple(v) for v in value)
    if name in ("daemon_env", "daemon_config_extra", "shim_conf"):
        if not isinstance(value, dict):
            raise ProfileError(f"{where}: {key} must be a mapping")
        if name == "daemon_env" and not all(isinstance(v, str) for v in value.values()):
            raise ProfileError(f"{where}: daemonEnv values must be strings")
        return dict(value)
    if name in ("kubeconfig_token_file", "daemon_writes_conf"):
        if not isinstance(value, bool):
            raise ProfileError(f"{where}: {key} must be true or false")
        return value
    if not isinstance(value, str):
        raise ProfileError(f"{where}: {key} must be a string")
    return value


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_TEMPLATE = re.compile(r"\{([A-Za-z]+)\}")


def validate(profile: Profile) -> list[str]:
    """What is wrong with a profile (empty when it can be used)."""
    problems: list[str] = []
    if profile.form not in FORMS:
        problems.append(f"form must be one of {', '.join(FORMS)}, not {profile.form!r}")
    if profile.implementation not in IMPLEMENTATIONS:
        problems.append(
            f"implementation must be one of {', '.join(IMPLEMENTATIONS)}, "
            f"not {profile.implementation!r}"
        )
    for key in ("cni_type", "conf_file", "shim_name", "socket_name"):
        value = getattr(profile, key)
        if value and not _NAME.match(value):
            problems.append(f"{_camel(key)} {value!r} must be a plain file name")
    if profile.conf_file and not profile.conf_file.endswith((".conf", ".conflist", ".json")):
        problems.append(f"confFile {profile.conf_file!r} must end in .conf, .conflist or .json")
    for key in ("cache_dir", "conf_dir"):
        if not getattr(profile, key).startswith("/"):
            problems.append(f"{_camel(key)} must be an absolute node path")
    if profile.kubeconfig and not profile.kubeconfig.startswith("/"):
        problems.append("kubeconfig must be an absolute node path")
    if profile.form == "thick":
        for key in ("daemon_config", "socket_dir", "socket_name"):
            if not getattr(profile, key):
                problems.append(f"a thick profile needs {_camel(key)}")
        if profile.daemon_config and not profile.daemon_config.startswith("/"):
            problems.append("daemonConfig must be an absolute node path")
        if not profile.readiness_path.startswith("/"):
            problems.append("readinessPath must start with /")
    for source, target in profile.node_mounts:
        if not _NAME.match(source) or not target.startswith("/"):
            problems.append(f"nodeMounts entry [{source!r}, {target!r}] must be [name, /path]")
    for text in _template_texts(profile):
        for key in _TEMPLATE.findall(text):
            if key not in TEMPLATE_KEYS:
                problems.append(
                    f"unknown template {{{key}}} in {text!r} (known: {', '.join(TEMPLATE_KEYS)})"
                )
    return problems


def _template_texts(profile: Profile) -> list[str]:
    texts = [profile.socket_dir, *profile.daemon_args, *profile.daemon_env.values()]
    for mapping in (profile.daemon_config_extra, profile.shim_conf):
        texts += [v for v in mapping.values() if isinstance(v, str)]
    return texts


def load_file(path: str) -> Profile:
    """A profile from a YAML or JSON file."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise ProfileError(f"profile file {path}: {exc.strerror or exc}") from None
    try:
        if path.endswith(".json"):
            doc = json.loads(text)
        else:
            import yaml

            doc = yaml.safe_load(text)
    except Exception as exc:  # json.JSONDecodeError, yaml.YAMLError
        raise ProfileError(f"profile file {path}: not valid JSON/YAML: {exc}") from None
    return from_document(doc, where=f"profile file {path}")


# -------------------------------------------------------------- templates
def expand(value: Any, values: Mapping[str, str]) -> Any:
    """Fill ``{key}`` templates in a string (recursively in lists and mappings)."""
    if isinstance(value, str):
        return _TEMPLATE.sub(lambda m: str(values.get(m.group(1), m.group(0))), value)
    if isinstance(value, list | tuple):
        return [expand(v, values) for v in value]
    if isinstance(value, Mapping):
        return {k: expand(v, values) for k, v in value.items()}
    return value


# -------------------------------------------------------------- selection
def choose(
    profile: str | None = None,
    profile_file: str | None = None,
    mode: str | None = None,
) -> Profile:
    """The profile a run names: ``--profile-file``, ``--profile``, or the ``--mode`` alias."""
    if profile and profile_file:
        raise ProfileError("give --profile or --profile-file, not both")
    if profile_file:
        chosen = load_file(profile_file)
    elif profile:
        chosen = builtin(profile)
    else:
        chosen = builtin(f"pymultus-{mode or 'thin'}")
    if mode and chosen.form != mode and (profile or profile_file):
        raise ProfileError(
            f"--mode {mode} contradicts profile {chosen.name} (a {chosen.form} profile); "
            "drop --mode: the profile says how the plugin runs"
        )
    return chosen


def resolve_binaries(
    profile: Profile,
    meta_plugin: str | None = None,
    daemon: str | None = None,
    shim: str | None = None,
    pymultus_executable: str | None = None,
    python: str | None = None,
) -> Binaries:
    """The executables a run will start for ``profile``, or ProfileError saying why not.

    pymultus profiles default to this installation's pymultus; a foreign
    profile needs every binary given. A binary that is not pymultus is never
    run under a pymultus profile, and a foreign thick profile never falls
    back to pymultus's daemon or shim.
    """
    for label, path in (("--meta-plugin", meta_plugin), ("--daemon", daemon), ("--shim", shim)):
        if path and not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise ProfileError(f"{label} {path}: not an executable file")
    if profile.form == "thin":
        if daemon or shim:
            raise ProfileError(
                f"profile {profile.name} is thin (one binary): --daemon/--shim do not apply"
            )
        if profile.implementation == "pymultus":
            path = meta_plugin or pymultus_executable or ""
            if meta_plugin and os.path.basename(meta_plugin) != "pymultus":
                raise ProfileError(
                    f"profile {profile.name} runs pymultus, and {meta_plugin} is not named "
                    "pymultus: for another meta-plugin give its profile (--profile "
                    "multus-thin, or --profile-file FILE)"
                )
            if not path:
                raise ProfileError("cannot find the pymultus executable; pass --meta-plugin PATH")
            return Binaries(meta_plugin=os.path.abspath(path))
        if not meta_plugin:
            raise ProfileError(
                f"profile {profile.name} needs --meta-plugin PATH (its {profile.cni_type} binary)"
            )
        return Binaries(meta_plugin=os.path.abspath(meta_plugin))
    # thick
    if profile.implementation == "pymultus":
        if meta_plugin and os.path.basename(meta_plugin) != "pymultus":
            raise ProfileError(
                f"profile {profile.name} runs pymultus's daemon and shim; {meta_plugin} would "
                "not be run: for another meta-plugin's thick form give its profile and "
                "--daemon PATH --shim PATH"
            )
        daemon_argv = (
            (os.path.abspath(daemon),) if daemon else (python or "python3", "-m", "pymultus.daemon")
        )
        return Binaries(daemon=daemon_argv, shim=os.path.abspath(shim) if shim else "")
    missing = [label for label, path in (("--daemon", daemon), ("--shim", shim)) if not path]
    if missing:
        raise ProfileError(
            f"profile {profile.name} is thick: it needs {' and '.join(missing)} PATH "
            f"(its own daemon and shim; pymultus's are never used in their place)"
        )
    assert daemon and shim
    return Binaries(
        meta_plugin=os.path.abspath(meta_plugin) if meta_plugin else "",
        daemon=(os.path.abspath(daemon),),
        shim=os.path.abspath(shim),
    )
