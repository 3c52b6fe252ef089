"""NetworkAttachmentDefinitions and the CNI config files they may point at.

NPWG multi-net spec v1.3, Section 3: a NetworkAttachmentDefinition (NAD)
carries the delegate's CNI configuration in ``spec.config``; when that is
empty, the configuration is the on-disk file whose ``name`` equals the NAD's
name. The same file lookups resolve the meta-plugin's ``clusterNetwork`` and
``defaultNetworks`` references (Multus ``getNetDelegate``).

Everything here is a function of its arguments; the only I/O is reading the
directory or file the caller names.
"""

from __future__ import annotations

import os

# collections.abc without importing collections (~1.3 ms per CNI call, issue 16)
from _collections_abc import Mapping

from pymultus.cni import jsonlite
from pymultus.cni.errors import INVALID_CONFIG, IO_FAILURE, CNIError
from pymultus.cni.limits import MAX_FILE_BYTES, check_size, read_bounded
from pymultus.cni.request import reject_constant
from pymultus.model.config import cni_config_shape_problem, go_json_get, json_type_name

TYPE_CHECKING = False  # importing typing costs ~2 ms per CNI call: mypy reads this as True
if TYPE_CHECKING:
    from typing import Any

NAD_GROUP = "k8s.cni.cncf.io"
NAD_VERSION = "v1"
NAD_PLURAL = "network-attachment-definitions"
NAD_KIND = "NetworkAttachmentDefinition"
RESOURCE_NAME_ANNOTATION = "k8s.v1.cni.cncf.io/resourceName"

# CNI config files, in lookup order (NPWG v1.3 3.4.1: a config list before a
# single config). libcni also reads ".json" as a single config.
CONFLIST_EXTENSIONS: tuple[str, ...] = (".conflist",)
CONF_EXTENSIONS: tuple[str, ...] = (".conf", ".json")
ALL_CONF_EXTENSIONS: tuple[str, ...] = CONFLIST_EXTENSIONS + CONF_EXTENSIONS

# Kubernetes' DNS-1123 label, [a-z0-9]([-a-z0-9]*[a-z0-9])?, checked by hand:
# ``re`` (with ``enum``) costs milliseconds per CNI call (issue 16).
_LABEL_ENDS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_LABEL_CHARS = _LABEL_ENDS | {"-"}
DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253

LABEL_RULE = "lower case alphanumerics and '-', starting and ending alphanumeric, at most 63"
NAD_NAME_RULE = (
    "lower case alphanumerics, '-' and '.'; each dot-separated part starts and ends "
    "alphanumeric and has at most 63; at most 253 in total"
)


def is_dns1123_label(text: str) -> bool:
    """Kubernetes' DNS-1123 label: how namespaces are named."""
    return (
        0 < len(text) <= DNS1123_LABEL_MAX
        and text[0] in _LABEL_ENDS
        and text[-1] in _LABEL_ENDS
        and all(c in _LABEL_CHARS for c in text)
    )


def is_nad_name(text: str) -> bool:
    """A valid NetworkAttachmentDefinition name.

    NPWG v1.3 3.3: names are "comprised of units of the DNS-1123 label format".
    Read together with Kubernetes, which accepts DNS-1123 subdomains for
    custom-resource names, that is dot-separated labels of at most 253
    characters. The Multus comma-format parser accepts a single label only;
    accepting what the API server accepts means every NAD that can exist can
    be selected.
    """
    if not text or len(text) > DNS1123_SUBDOMAIN_MAX:
        return False
    return all(is_dns1123_label(part) for part in text.split("."))


def nad_ref(namespace: str, name: str) -> str:
    """The ``namespace/name`` form used in messages and in network-status."""
    return f"{namespace}/{name}"


def nad_path(namespace: str, name: str) -> str:
    """REST path of one NAD (NPWG v1.3 3.1: namespaced CRD in group k8s.cni.cncf.io/v1).

    The parts are validated, not escaped: a name that is not a Kubernetes name
    could never match an object, and must not be able to change the path.
    """
    if not is_dns1123_label(namespace):
        raise CNIError(
            INVALID_CONFIG,
            f"cannot look up NetworkAttachmentDefinition {nad_ref(namespace, name)}: "
            f'namespace "{namespace}" is not a valid DNS-1123 label ({LABEL_RULE})',
        )
    if not is_nad_name(name):
        raise CNIError(
            INVALID_CONFIG,
            f"cannot look up NetworkAttachmentDefinition {nad_ref(namespace, name)}: "
            f'name "{name}" is not valid ({NAD_NAME_RULE})',
        )
    return f"{nad_collection_path(namespace)}/{name}"


def nad_collection_path(namespace: str | None = None) -> str:
    """REST path listing NADs in one namespace, or in all when ``namespace`` is None."""
    if namespace is None:
        return f"/apis/{NAD_GROUP}/{NAD_VERSION}/{NAD_PLURAL}"
    return f"/apis/{NAD_GROUP}/{NAD_VERSION}/namespaces/{namespace}/{NAD_PLURAL}"


def _metadata(nad: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = nad.get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


def nad_identity(nad: Mapping[str, Any]) -> tuple[str, str]:
    """(namespace, name) of a NAD object; the namespace may be empty."""
    metadata = _metadata(nad)
    namespace = metadata.get("namespace")
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise CNIError(
            INVALID_CONFIG,
            "NetworkAttachmentDefinition object has no metadata.name: "
            "pass the object as returned by the Kubernetes API",
        )
    return (namespace if isinstance(namespace, str) else ""), name


def nad_resource_name(nad: Mapping[str, Any]) -> str | None:
    """The device-plugin resource named by the NAD's resourceName annotation, if any."""
    annotations = _metadata(nad).get("annotations")
    if not isinstance(annotations, Mapping):
        return None
    value = annotations.get(RESOURCE_NAME_ANNOTATION)
    return value if isinstance(value, str) and value else None


def resolve_nad_config(nad: Mapping[str, Any], conf_dir: str) -> dict[str, Any]:
    """The delegate CNI configuration (conf or conflist) a NAD stands for.

    NPWG v1.3 3.4.1: ``spec.config`` when present; otherwise a ``.conflist``,
    then a ``.conf``/``.json`` in ``conf_dir`` whose ``name`` equals the NAD
    name; otherwise the request fails. NPWG v1.3 3.4.2: a config without a
    ``name`` gets the NAD's name. Returns a new dict the caller may modify.
    """
    namespace, name = nad_identity(nad)
    where = f"NetworkAttachmentDefinition {nad_ref(namespace, name)}"
    if not is_nad_name(name):
        # The API server never returns such a name; refuse it before it is used
        # to look anything up in conf_dir.
        raise CNIError(INVALID_CONFIG, f"{where}: name is not valid ({NAD_NAME_RULE})")
    spec = nad.get("spec")
    if spec is not None and not isinstance(spec, Mapping):
        raise CNIError(
            INVALID_CONFIG, f"{where}: spec must be an object, got {json_type_name(spec)}"
        )
    raw_config = (spec or {}).get("config")
    if raw_config is not None and not isinstance(raw_config, str):
        raise CNIError(
            INVALID_CONFIG,
            f"{where}: spec.config must be a string holding CNI JSON, "
            f"got {json_type_name(raw_config)}",
        )
    if raw_config:
        check_size(
            len(raw_config.encode("utf-8", "surrogatepass")),
            MAX_FILE_BYTES,
            f"{where}: spec.config",
        )
    if raw_config and raw_config.strip():
        conf = _decode_conf(raw_config, f"{where}: spec.config", "fix the object's spec.config")
    else:
        found = find_conf_by_name(conf_dir, name)
        if found is None:
            raise CNIError(
                INVALID_CONFIG,
                f"{where} has an empty spec.config and {conf_dir} holds no "
                f'.conflist, .conf or .json file whose "name" is "{name}": '
                "set spec.config or install such a file on the node",
            )
        conf = found
    if not go_json_get(conf, "name"):
        conf["name"] = name
    return conf


def _decode_conf(text: str, what: str, remedy: str) -> dict[str, Any]:
    """Decode and shape-check CNI JSON; ``what`` names its source in errors."""
    try:
        conf = jsonlite.loads(text, parse_constant=reject_constant)
    except (ValueError, RecursionError) as exc:
        raise CNIError(INVALID_CONFIG, f"{what} is not valid JSON ({exc}): {remedy}") from None
    if not isinstance(conf, dict):
        raise CNIError(
            INVALID_CONFIG, f"{what} must be a JSON object, got {json_type_name(conf)}: {remedy}"
        )
    problem = cni_config_shape_problem(conf)
    if problem is not None:
        raise CNIError(INVALID_CONFIG, f"{what} is not a CNI configuration: {problem}: {remedy}")
    return conf


def _list_conf_files(conf_dir: str, extensions: tuple[str, ...]) -> list[str] | None:
    """Sorted paths of regular files in ``conf_dir`` with one of ``extensions``.

    None when the directory does not exist; an unreadable directory is an
    I/O failure (code 5), since retrying after fixing permissions may work.
    """
    try:
        names = os.listdir(conf_dir)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise CNIError(
            IO_FAILURE,
            f"cannot read CNI configuration directory {conf_dir}: {exc.strerror or exc}",
        ) from None
    paths = []
    for entry in sorted(names):
        if entry.endswith(extensions):
            path = os.path.join(conf_dir, entry)
            if os.path.isfile(path):
                paths.append(path)
    return paths


def _read_text(path: str) -> str:
    """A config file's text, at most MAX_FILE_BYTES (CNIError(7) beyond)."""
    data = read_bounded(path, MAX_FILE_BYTES, f"CNI configuration file {path}")
    return data.decode("utf-8")


def find_conf_by_name(conf_dir: str, name: str) -> dict[str, Any] | None:
    """The CNI config in ``conf_dir`` whose ``name`` is ``name``, or None.

    Config lists are searched before single configs (NPWG v1.3 3.4.1), each
    group in file-name order. A file that cannot be read or decoded is skipped,
    so one broken file does not hide the others (libcni stops at the first);
    but if nothing matches, the broken files are reported, since the wanted
    network may be among them.
    """
    lists = _list_conf_files(conf_dir, CONFLIST_EXTENSIONS)
    if lists is None:
        return None
    singles = _list_conf_files(conf_dir, CONF_EXTENSIONS) or []
    broken: list[str] = []
    for path in lists + singles:
        try:
            conf = jsonlite.loads(_read_text(path), parse_constant=reject_constant)
        except (OSError, ValueError, RecursionError, CNIError) as exc:
            broken.append(f"{os.path.basename(path)} ({exc})")
            continue
        if not isinstance(conf, dict) or go_json_get(conf, "name") != name:
            continue
        problem = cni_config_shape_problem(conf)
        if problem is not None:
            raise CNIError(
                INVALID_CONFIG,
                f'CNI configuration file {path} (network "{name}") is not usable: {problem}',
            )
        return conf
    if broken:
        raise CNIError(
            INVALID_CONFIG,
            f'no CNI configuration named "{name}" in {conf_dir}, and these files there '
            f"could not be read: {'; '.join(broken)}: fix or remove them",
        )
    return None


def load_conf_file(path: str) -> dict[str, Any]:
    """Read one CNI config or config list file and check its shape."""
    try:
        text = _read_text(path)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise CNIError(
            INVALID_CONFIG, f"CNI configuration file {path} does not exist or is not a file"
        ) from None
    except UnicodeDecodeError as exc:
        raise CNIError(
            INVALID_CONFIG, f"CNI configuration file {path} is not UTF-8 text ({exc.reason})"
        ) from None
    except OSError as exc:
        raise CNIError(
            IO_FAILURE, f"cannot read CNI configuration file {path}: {exc.strerror or exc}"
        ) from None
    return _decode_conf(text, f"CNI configuration file {path}", "fix the file")


def resolve_conf_reference(ref: str, conf_dir: str) -> dict[str, Any] | None:
    """Resolve a ``clusterNetwork``/``defaultNetworks`` reference without the API.

    The caller looks for a NAD of that name first (in ``multusNamespace``);
    this covers the remaining Multus cases, in its order:

    1. a name (no ``/``): the config in ``conf_dir`` with that ``name``;
    2. an absolute directory: its alphabetically first .conf/.conflist/.json;
    3. an absolute file path: that file.

    Returns None when nothing matches. Relative paths are not resolved: they
    would depend on the working directory the runtime happens to start
    plugins in.
    """
    ref = ref.strip()
    if not ref:
        return None
    if "/" not in ref:
        return find_conf_by_name(conf_dir, ref)
    if not os.path.isabs(ref):
        return None
    if os.path.isdir(ref):
        files = _list_conf_files(ref, ALL_CONF_EXTENSIONS)
        return load_conf_file(files[0]) if files else None
    if os.path.isfile(ref):
        return load_conf_file(ref)
    return None
