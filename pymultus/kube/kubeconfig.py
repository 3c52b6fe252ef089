"""Kubeconfig files and in-cluster credentials.

A kubeconfig is read once per CNI call, so the document is decoded as
cheaply as it can be (:func:`parse_document`): the JSON kubeconfig
``pymultus-install`` writes with the C JSON scanner, any YAML kubeconfig a
user names with PyYAML, imported only for it. Then the current context's
cluster and user become a :class:`ClusterAccess` (token, token file, client
certificate, CA; exec and auth-provider plugins are refused by name).
"""

from __future__ import annotations

import os

# collections.abc without importing collections (~1.3 ms per CNI call, issue 16)
from _collections_abc import Mapping

from pymultus.cni import jsonlite
from pymultus.cni.errors import INVALID_CONFIG, CNIError
from pymultus.cni.record import Record, init_fields

TYPE_CHECKING = False  # importing typing costs ~2 ms per CNI call: mypy reads this as True
if TYPE_CHECKING:
    from typing import Any

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


class ClusterAccess(Record):
    """Everything needed to reach one API server as one user."""

    server: str
    ca_file: str | None
    ca_data: bytes | None
    insecure: bool
    token: str | None
    # Re-read at each request, so rotated service-account tokens just work.
    token_file: str | None
    client_cert_file: str | None
    client_key_file: str | None
    client_cert_data: bytes | None
    client_key_data: bytes | None
    # The context's namespace, when the kubeconfig names one.
    namespace: str | None

    __slots__ = (
        "ca_data",
        "ca_file",
        "client_cert_data",
        "client_cert_file",
        "client_key_data",
        "client_key_file",
        "insecure",
        "namespace",
        "server",
        "token",
        "token_file",
    )

    def __init__(
        self,
        server: str,
        ca_file: str | None = None,
        ca_data: bytes | None = None,
        insecure: bool = False,
        token: str | None = None,
        token_file: str | None = None,
        client_cert_file: str | None = None,
        client_key_file: str | None = None,
        client_cert_data: bytes | None = None,
        client_key_data: bytes | None = None,
        namespace: str | None = None,
    ) -> None:
        init_fields(
            self,
            server=server,
            ca_file=ca_file,
            ca_data=ca_data,
            insecure=insecure,
            token=token,
            token_file=token_file,
            client_cert_file=client_cert_file,
            client_key_file=client_key_file,
            client_cert_data=client_cert_data,
            client_key_data=client_key_data,
            namespace=namespace,
        )


# --------------------------------------------------------------------------
# Reading the document: JSON at once, YAML with PyYAML
# --------------------------------------------------------------------------


def parse_document(text: str, source: str) -> Any:
    """A kubeconfig's document: JSON with ``jsonlite``, anything else with PyYAML.

    ``pymultus-install`` writes JSON (valid YAML, so kubectl reads it too), so
    the CNI path decodes it without importing a YAML parser. Any other
    kubeconfig a user names (kubectl's, kind's, Multus's generated one) is YAML
    and goes to PyYAML's ``safe_load``, imported only then (the zipapp ships
    it: ``pymultus.install.layout``). Errors are CNIError(INVALID_CONFIG)
    naming the file and line.
    """
    stripped = text.lstrip(" \t\r\n")
    if stripped.startswith("{"):
        try:
            return jsonlite.loads(text)
        except RecursionError:
            raise CNIError(INVALID_CONFIG, f"kubeconfig {source}: nested too deeply") from None
        except ValueError as exc:
            where = ""
            if getattr(exc, "lineno", None) is not None:
                where = f" at line {exc.lineno} column {exc.colno}"  # type: ignore[attr-defined]
            msg = getattr(exc, "msg", str(exc))
            raise CNIError(
                INVALID_CONFIG, f"kubeconfig {source} is not valid JSON: {msg}{where}"
            ) from None
    return _yaml_document(text, source)


def _yaml_document(text: str, source: str) -> Any:
    try:
        import yaml
    except ImportError:
        raise CNIError(
            INVALID_CONFIG,
            f"kubeconfig {source} is YAML and this interpreter has no PyYAML to read it",
            "write the kubeconfig as JSON (JSON is YAML; pymultus-install does so), or run "
            "pymultus from the installed zipapp, which ships PyYAML",
        ) from None
    try:
        return yaml.safe_load(text)
    except RecursionError:
        raise CNIError(INVALID_CONFIG, f"kubeconfig {source}: nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CNIError(
            INVALID_CONFIG, f"kubeconfig {source} is not valid YAML: {problem}{where}"
        ) from None


# --------------------------------------------------------------------------
# Kubeconfig semantics
# --------------------------------------------------------------------------


def _named(doc: Mapping[str, Any], section: str, field: str, path: str) -> dict[str, Any]:
    """``clusters: [{name, cluster: {...}}]`` as ``{name: {...}}``."""
    entries = doc.get(section) or []
    if not isinstance(entries, list):
        raise CNIError(INVALID_CONFIG, f"kubeconfig {path}: '{section}' must be a list")
    out: dict[str, Any] = {}
    for n, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise CNIError(
                INVALID_CONFIG, f"kubeconfig {path}: {section}[{n}] needs a 'name' string"
            )
        body = entry.get(field) or {}
        if not isinstance(body, dict):
            raise CNIError(
                INVALID_CONFIG,
                f"kubeconfig {path}: {section}[{entry['name']}].{field} must be a mapping",
            )
        out[entry["name"]] = body
    return out


def _b64(value: Any, what: str, path: str) -> bytes | None:
    if value in (None, ""):
        return None
    # binascii, not base64: ``import base64`` brings ``re`` and ``struct``, ~9 ms
    # of CPU per CNI call (issue 16); this is what base64.b64decode(validate=True) runs.
    import binascii

    try:
        try:
            data = str(value).encode("ascii")
        except UnicodeEncodeError:
            raise ValueError("string argument should contain only ASCII characters") from None
        return binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise CNIError(
            INVALID_CONFIG, f"kubeconfig {path}: {what} is not valid base64 ({exc})"
        ) from exc


def _file(value: Any, base: str) -> str | None:
    if value in (None, ""):
        return None
    # kubectl resolves relative paths against the kubeconfig's directory.
    return os.path.normpath(os.path.join(base, str(value)))


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def load_kubeconfig(path: str) -> ClusterAccess:
    """The cluster and user of the current context (or of the only context)."""
    from pymultus.cni.limits import MAX_FILE_BYTES, read_bounded

    try:
        text = read_bounded(path, MAX_FILE_BYTES, f"kubeconfig {path}").decode("utf-8")
    except OSError as exc:
        raise CNIError(
            INVALID_CONFIG,
            f"cannot read kubeconfig {path}: {exc.strerror or exc}",
            "check the 'kubeconfig' path in the pymultus configuration",
        ) from exc
    except UnicodeDecodeError as exc:
        raise CNIError(INVALID_CONFIG, f"kubeconfig {path} is not UTF-8 text: {exc}") from exc
    doc = parse_document(text, path)
    if not isinstance(doc, dict):
        raise CNIError(
            INVALID_CONFIG, f"kubeconfig {path} must be a mapping (apiVersion, clusters...)"
        )
    contexts = _named(doc, "contexts", "context", path)
    current = doc.get("current-context")
    if current:
        if current not in contexts:
            raise CNIError(
                INVALID_CONFIG,
                f"kubeconfig {path}: current-context {current!r} is not in contexts "
                f"(have: {', '.join(sorted(contexts)) or 'none'})",
            )
        ctx_name = str(current)
    elif len(contexts) == 1:
        ctx_name = next(iter(contexts))
    else:
        raise CNIError(
            INVALID_CONFIG,
            f"kubeconfig {path}: no current-context and {len(contexts)} contexts: set "
            "current-context",
        )
    ctx = contexts[ctx_name]
    cluster_name = ctx.get("cluster")
    if not cluster_name:
        raise CNIError(INVALID_CONFIG, f"kubeconfig {path}: context {ctx_name!r} has no 'cluster'")
    clusters = _named(doc, "clusters", "cluster", path)
    if cluster_name not in clusters:
        raise CNIError(
            INVALID_CONFIG,
            f"kubeconfig {path}: context {ctx_name!r} names cluster {cluster_name!r}, which is "
            f"not in clusters (have: {', '.join(sorted(clusters)) or 'none'})",
        )
    cluster = clusters[cluster_name]
    server = cluster.get("server")
    if not server or not isinstance(server, str):
        raise CNIError(
            INVALID_CONFIG, f"kubeconfig {path}: cluster {cluster_name!r} has no 'server'"
        )
    user: dict[str, Any] = {}
    user_name = ctx.get("user")
    if user_name:
        users = _named(doc, "users", "user", path)
        if user_name not in users:
            raise CNIError(
                INVALID_CONFIG,
                f"kubeconfig {path}: context {ctx_name!r} names user {user_name!r}, which is not "
                f"in users (have: {', '.join(sorted(users)) or 'none'})",
            )
        user = users[user_name]
    base = os.path.dirname(os.path.abspath(path))
    access = ClusterAccess(
        server=server.rstrip("/"),
        ca_file=_file(cluster.get("certificate-authority"), base),
        ca_data=_b64(
            cluster.get("certificate-authority-data"),
            f"clusters[{cluster_name}].certificate-authority-data",
            path,
        ),
        insecure=_truthy(cluster.get("insecure-skip-tls-verify")),
        token=str(user["token"]) if user.get("token") else None,
        token_file=_file(user.get("tokenFile"), base),
        client_cert_file=_file(user.get("client-certificate"), base),
        client_key_file=_file(user.get("client-key"), base),
        client_cert_data=_b64(
            user.get("client-certificate-data"), f"users[{user_name}].client-certificate-data", path
        ),
        client_key_data=_b64(
            user.get("client-key-data"), f"users[{user_name}].client-key-data", path
        ),
        namespace=str(ctx["namespace"]) if ctx.get("namespace") else None,
    )
    has_credential = any(
        (access.token, access.token_file, access.client_cert_file, access.client_cert_data)
    )
    if not has_credential:
        for plugin in ("exec", "auth-provider", "username"):
            if user.get(plugin):
                raise CNIError(
                    INVALID_CONFIG,
                    f"kubeconfig {path}: user {user_name!r} authenticates with '{plugin}', "
                    "which pymultus does not support: use token, tokenFile or a client "
                    "certificate",
                )
    if (access.client_cert_file or access.client_cert_data) and not (
        access.client_key_file or access.client_key_data
    ):
        raise CNIError(
            INVALID_CONFIG,
            f"kubeconfig {path}: user {user_name!r} has a client certificate but no client-key "
            "or client-key-data",
        )
    return access


def in_cluster(
    env: Mapping[str, str], *, sa_dir: str = SERVICE_ACCOUNT_DIR
) -> ClusterAccess | None:
    """In-cluster access from ``KUBERNETES_SERVICE_HOST``/``_PORT``, or None when unset.

    The token is given as ``token_file`` so that it is re-read when the
    kubelet rotates the projected service-account token.
    """
    host = env.get("KUBERNETES_SERVICE_HOST", "").strip()
    port = env.get("KUBERNETES_SERVICE_PORT", "").strip()
    if not host or not port:
        return None
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    token_file = os.path.join(sa_dir, "token")
    if not os.path.isfile(token_file):
        raise CNIError(
            INVALID_CONFIG,
            f"KUBERNETES_SERVICE_HOST is set but the service-account token {token_file} does "
            "not exist: mount the service-account token or set 'kubeconfig' in the pymultus "
            "configuration",
        )
    ca_file = os.path.join(sa_dir, "ca.crt")
    namespace: str | None = None
    try:
        with open(os.path.join(sa_dir, "namespace"), encoding="utf-8") as fh:
            namespace = fh.read().strip() or None
    except OSError:
        pass
    return ClusterAccess(
        server=f"https://{host}:{port}",
        ca_file=ca_file if os.path.isfile(ca_file) else None,
        token_file=token_file,
        namespace=namespace,
    )
