"""The in-memory object store behind the embedded Kubernetes API server.

It follows the conventions of the real API server (API conventions doc,
"Concurrency Control and Consistency", "Metadata", "Objects"), because the
harness, kubectl and pymultus itself talk to it as if it were one:

- a single global, monotonically increasing ``resourceVersion`` (a decimal
  string) bumped by every write; a write that changes nothing is a no-op;
- ``uid`` (uuid4), ``creationTimestamp``, and ``generation`` bumped when
  anything besides ``metadata`` and ``status`` changes;
- optimistic concurrency: a ``resourceVersion`` in an update is a
  precondition (409 Conflict when stale); absent means unconditional;
- status subresources: the main resource ignores ``status`` and the
  ``/status`` subresource changes only ``status``, labels and annotations;
- graceful deletion of pods bound to a node (``deletionTimestamp`` then the
  kubelet's grace-0 delete), finalizers, and namespaces that terminate by
  deleting their contents first;
- a bounded watch history; a watch that resumes from a version older than
  the history receives a ``410 Expired`` ERROR event, as from the real watch
  cache.

Every object held in the store is treated as immutable: writes build a new
dict and swap it in, so readers can serialise without copying under the lock.
Errors are :class:`APIError`, which the HTTP layer renders as a ``Status``.
"""

from __future__ import annotations

import bisect
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

Obj = dict[str, Any]
T = TypeVar("T")

# --------------------------------------------------------------------------
# Resource types
# --------------------------------------------------------------------------

_COMMON_FIELDS = frozenset({"metadata.name", "metadata.namespace"})


@dataclass(frozen=True)
class ResourceType:
    """One served resource (a row of an APIResourceList)."""

    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    status_subresource: bool = False
    # Real registries differ: pods and namespaces answer DELETE with the
    # object, most others with a Status "Success".
    return_deleted_object: bool = False
    # Served from a CustomResourceDefinition: no strategic merge patch.
    custom: bool = False
    # Field selectors the real API accepts for this resource (besides
    # metadata.name and metadata.namespace); others are 400 BadRequest.
    field_labels: frozenset[str] = frozenset()
    categories: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        return self.api_version

    @property
    def qualified(self) -> str:
        """``pods`` or ``network-attachment-definitions.k8s.cni.cncf.io``: used in messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def verbs(self) -> tuple[str, ...]:
        return (
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        )


NAMESPACES = ResourceType(
    "",
    "v1",
    "namespaces",
    "namespace",
    "Namespace",
    namespaced=False,
    short_names=("ns",),
    status_subresource=True,
    return_deleted_object=True,
    field_labels=frozenset({"status.phase"}),
)
NODES = ResourceType(
    "",
    "v1",
    "nodes",
    "node",
    "Node",
    namespaced=False,
    short_names=("no",),
    status_subresource=True,
    field_labels=frozenset({"spec.unschedulable"}),
)
PODS = ResourceType(
    "",
    "v1",
    "pods",
    "pod",
    "Pod",
    namespaced=True,
    short_names=("po",),
    status_subresource=True,
    return_deleted_object=True,
    field_labels=frozenset(
        {
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        }
    ),
    categories=("all",),
)
EVENTS = ResourceType(
    "",
    "v1",
    "events",
    "event",
    "Event",
    namespaced=True,
    short_names=("ev",),
    field_labels=frozenset(
        {
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        }
    ),
)
NADS = ResourceType(
    "k8s.cni.cncf.io",
    "v1",
    "network-attachment-definitions",
    "network-attachment-definition",
    "NetworkAttachmentDefinition",
    namespaced=True,
    short_names=("net-attach-def",),
    custom=True,
)
CRDS = ResourceType(
    "apiextensions.k8s.io",
    "v1",
    "customresourcedefinitions",
    "customresourcedefinition",
    "CustomResourceDefinition",
    namespaced=False,
    short_names=("crd", "crds"),
    status_subresource=True,
    categories=("api-extensions",),
)

RESOURCE_TYPES: tuple[ResourceType, ...] = (NAMESPACES, NODES, PODS, EVENTS, NADS, CRDS)

# Namespaces that exist from the start; the real API forbids deleting them.
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public")
PROTECTED_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})


def nad_crd_manifest() -> Obj:
    """The CustomResourceDefinition of NetworkAttachmentDefinition (NPWG spec section 3)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": NADS.qualified},
        "spec": {
            "group": NADS.group,
            "scope": "Namespaced",
            "names": {
                "plural": NADS.plural,
                "singular": NADS.singular,
                "kind": NADS.kind,
                "listKind": NADS.list_kind,
                "shortNames": list(NADS.short_names),
            },
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "description": (
                                "NetworkAttachmentDefinition is a CRD schema specified by the "
                                "Network Plumbing Working Group to express the intent for "
                                "attaching pods to one or more logical or physical networks."
                            ),
                            "type": "object",
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": {
                                    "type": "object",
                                    "properties": {"config": {"type": "string"}},
                                },
                            },
                        }
                    },
                }
            ],
        },
    }


# --------------------------------------------------------------------------
# Errors as Status objects
# --------------------------------------------------------------------------


class APIError(Exception):
    """An API failure; :meth:`status` is the ``Status`` object the server returns."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        name: str | None = None,
        kind: str | None = None,
        group: str | None = None,
        causes: list[Obj] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details: Obj = {}
        if name is not None:
            self.details["name"] = name
        if group:
            self.details["group"] = group
        if kind is not None:
            self.details["kind"] = kind
        if causes:
            self.details["causes"] = causes
        if retry_after is not None:
            self.details["retryAfterSeconds"] = retry_after

    def status(self) -> Obj:
        return status_object(self.code, self.reason, self.message, self.details)

    # Constructors named like the real API's errors.
    @classmethod
    def not_found(cls, rt: ResourceType, name: str) -> APIError:
        return cls(
            404,
            "NotFound",
            f'{rt.qualified} "{name}" not found',
            name=name,
            kind=rt.plural,
            group=rt.group,
        )

    @classmethod
    def already_exists(cls, rt: ResourceType, name: str) -> APIError:
        return cls(
            409,
            "AlreadyExists",
            f'{rt.qualified} "{name}" already exists',
            name=name,
            kind=rt.plural,
            group=rt.group,
        )

    @classmethod
    def conflict(cls, rt: ResourceType, name: str, why: str) -> APIError:
        return cls(
            409,
            "Conflict",
            f'Operation cannot be fulfilled on {rt.qualified} "{name}": {why}',
            name=name,
            kind=rt.plural,
            group=rt.group,
        )

    @classmethod
    def invalid(cls, rt: ResourceType, name: str, causes: list[tuple[str, str]]) -> APIError:
        text = ", ".join(f"{f}: {m}" for f, m in causes)
        return cls(
            422,
            "Invalid",
            f'{rt.kind} "{name}" is invalid: {text}',
            name=name,
            kind=rt.kind,
            group=rt.group,
            causes=[{"reason": "FieldValueInvalid", "message": m, "field": f} for f, m in causes],
        )

    @classmethod
    def bad_request(cls, message: str) -> APIError:
        return cls(400, "BadRequest", message)

    @classmethod
    def forbidden(cls, rt: ResourceType, name: str, why: str) -> APIError:
        return cls(
            403,
            "Forbidden",
            f'{rt.plural} "{name}" is forbidden: {why}',
            name=name,
            kind=rt.plural,
            group=rt.group,
        )

    @classmethod
    def expired(cls, message: str) -> APIError:
        return cls(410, "Expired", message)


def status_object(code: int, reason: str, message: str, details: Obj | None = None) -> Obj:
    """A ``meta/v1 Status`` of a failure (API conventions: "Response Status Kind")."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": details or {},
        "code": code,
    }


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------


def clone(value: T) -> T:
    """A deep copy of JSON data; also proves the value is JSON (else 400)."""
    try:
        return json.loads(json.dumps(value))  # type: ignore[no-any-return]
    except (TypeError, ValueError) as exc:
        raise APIError.bad_request(f"object is not valid JSON data: {exc}") from exc


def rfc3339(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
# Characters the real API uses for generateName suffixes (no vowels, no 0/1/3).
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def _name_problem(rt: ResourceType, name: str) -> str | None:
    if rt is NAMESPACES:
        if len(name) > 63 or not _DNS1123_LABEL.fullmatch(name):
            return (
                f'Invalid value: "{name}": a lowercase RFC 1123 label must consist of lower '
                "case alphanumeric characters or '-', and must start and end with an "
                "alphanumeric character (at most 63 characters)"
            )
        return None
    if len(name) > 253 or not _DNS1123_SUBDOMAIN.fullmatch(name):
        return (
            f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of lower '
            "case alphanumeric characters, '-' or '.', and must start and end with an "
            "alphanumeric character (at most 253 characters)"
        )
    return None


def _meta(obj: Obj) -> Obj:
    meta = obj.get("metadata")
    if meta is None:
        meta = {}
        obj["metadata"] = meta
    if not isinstance(meta, dict):
        raise APIError.bad_request("metadata must be an object")
    return meta


def _check_string_map(rt: ResourceType, name: str, meta: Obj, key: str) -> None:
    value = meta.get(key)
    if value is None:
        return
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise APIError.bad_request(
            f'{rt.kind} "{name}": metadata.{key} must map strings to strings '
            "(quote numbers and booleans in YAML)"
        )


def _ordered(rt: ResourceType, obj: Obj) -> Obj:
    """apiVersion, kind, metadata first: what humans expect when reading dumps."""
    out: Obj = {"apiVersion": rt.api_version, "kind": rt.kind, "metadata": obj["metadata"]}
    for k, v in obj.items():
        if k not in out:
            out[k] = v
    return out


# --------------------------------------------------------------------------
# Selectors
# --------------------------------------------------------------------------

_LABEL_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_LABEL_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_RE_EXISTS = re.compile(rf"\s*(?P<neg>!?)\s*(?P<key>{_LABEL_KEY})\s*")
_RE_EQ = re.compile(rf"\s*(?P<key>{_LABEL_KEY})\s*(?P<op>==|=|!=)\s*(?P<value>{_LABEL_VALUE})\s*")
_RE_SET = re.compile(rf"\s*(?P<key>{_LABEL_KEY})\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)\s*")


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside parentheses (``a in (x,y),b``)."""
    parts: list[str] = []
    depth = 0
    start = 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


@dataclass(frozen=True)
class LabelSelector:
    """A parsed ``labelSelector`` (equality- and set-based requirements)."""

    requirements: tuple[tuple[str, str, frozenset[str]], ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> LabelSelector:
        if not text or not text.strip():
            return cls()
        reqs: list[tuple[str, str, frozenset[str]]] = []
        for part in _split_top_level(text):
            m = _RE_SET.fullmatch(part)
            if m:
                values = frozenset(v.strip() for v in m["values"].split(",") if v.strip())
                reqs.append((m["key"], m["op"], values))
                continue
            m = _RE_EQ.fullmatch(part)
            if m:
                op = "!=" if m["op"] == "!=" else "="
                reqs.append((m["key"], op, frozenset({m["value"]})))
                continue
            m = _RE_EXISTS.fullmatch(part)
            if m:
                reqs.append((m["key"], "!" if m["neg"] else "exists", frozenset()))
                continue
            raise APIError.bad_request(
                f"unable to parse requirement {part.strip()!r} in labelSelector {text!r}: "
                "use key=value, key!=value, key in (a,b), key notin (a,b), key or !key"
            )
        return cls(tuple(reqs))

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        for key, op, values in self.requirements:
            present = key in labels
            value = labels.get(key)
            if op == "=" or op == "in":
                if not present or value not in values:
                    return False
            elif op == "!=" or op == "notin":
                if present and value in values:
                    return False
            elif op == "exists":
                if not present:
                    return False
            elif op == "!" and present:
                return False
        return True


def _unescape_field_value(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


@dataclass(frozen=True)
class FieldSelector:
    """A parsed ``fieldSelector``: ``path=value``, ``path==value``, ``path!=value``."""

    requirements: tuple[tuple[str, bool, str], ...] = ()

    @classmethod
    def parse(cls, text: str | None, rt: ResourceType) -> FieldSelector:
        if not text or not text.strip():
            return cls()
        reqs: list[tuple[str, bool, str]] = []
        for part in re.split(r"(?<!\\),", text):
            m = re.fullmatch(r"\s*([A-Za-z0-9_.]+)\s*(==|=|!=)(.*)", part)
            if not m:
                raise APIError.bad_request(
                    f"invalid fieldSelector {text!r}: expected field=value or field!=value"
                )
            path, op, value = m[1], m[2], _unescape_field_value(m[3].strip())
            if path not in _COMMON_FIELDS and path not in rt.field_labels:
                supported = ", ".join(sorted(_COMMON_FIELDS | rt.field_labels))
                raise APIError.bad_request(
                    f'field label not supported: "{path}" for {rt.qualified} '
                    f"(supported: {supported})"
                )
            reqs.append((path, op != "!=", value))
        return cls(tuple(reqs))

    def matches(self, obj: Obj) -> bool:
        for path, equal, value in self.requirements:
            if (field_value(obj, path) == value) != equal:
                return False
        return True


def field_value(obj: Obj, path: str) -> str:
    """The string form of a field for selectors: missing is "" (e.g. unscheduled pods)."""
    if path == "source":  # events: the real API maps "source" to source.component
        path = "source.component"
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


# --------------------------------------------------------------------------
# Patches
# --------------------------------------------------------------------------

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
PATCH_TYPES = {
    "merge": MERGE_PATCH,
    "strategic": STRATEGIC_MERGE_PATCH,
    "json": JSON_PATCH,
    MERGE_PATCH: MERGE_PATCH,
    STRATEGIC_MERGE_PATCH: STRATEGIC_MERGE_PATCH,
    JSON_PATCH: JSON_PATCH,
}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge recursively, ``null`` deletes a key."""
    if not isinstance(patch, dict):
        return patch
    result: Obj = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# Lists that strategic merge patch merges by a key instead of replacing
# (patchMergeKey tags of the core/v1 and meta/v1 types we serve).
STRATEGIC_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "ports": "containerPort",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "volumes": "name",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "ownerReferences": "uid",
    "conditions": "type",
    "addresses": "type",
    "resourceClaims": "name",
    "podIPs": "ip",
    "hostIPs": "ip",
    "topologySpreadConstraints": "topologyKey",
    "readinessGates": "conditionType",
}
# Primitive lists with patchStrategy "merge" (union, not replace).
STRATEGIC_MERGE_PRIMITIVES = frozenset({"finalizers"})

_DELETE = object()


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [
            _strip_directives(v) for v in value if not (isinstance(v, dict) and v.get("$patch"))
        ]
    return value


def _merge_keyed_list(current: list[Any], patch: list[Any], key: str) -> list[Any]:
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [_strip_directives(i) for i in patch if not (isinstance(i, dict) and "$patch" in i)]
    result = list(current)
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            result.append(_strip_directives(item))
            continue
        idx = next(
            (
                i
                for i, cur in enumerate(result)
                if isinstance(cur, dict) and cur.get(key) == item[key]
            ),
            None,
        )
        if item.get("$patch") == "delete":
            if idx is not None:
                del result[idx]
            continue
        if idx is None:
            result.append(_strip_directives(item))
        else:
            result[idx] = strategic_merge_patch(result[idx], item)
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Kubernetes strategic merge patch, for the types we serve.

    A merge patch (``null`` deletes) plus: lists named in
    :data:`STRATEGIC_MERGE_KEYS` merge item by item on their key, ``finalizers``
    is a set union, and the directives ``$patch`` (replace/delete/merge),
    ``$retainKeys``, ``$deleteFromPrimitiveList/<f>`` and
    ``$setElementOrder/<f>`` (accepted, used only to order) are honoured, so
    that what ``kubectl apply`` sends works.
    """
    if not isinstance(patch, dict):
        return _strip_directives(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return _strip_directives(patch)
    if directive == "delete":
        return _DELETE
    if directive not in (None, "merge"):
        raise APIError(
            422, "Invalid", f"unknown strategic merge patch directive $patch={directive}"
        )
    result: Obj = dict(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain or k in patch}
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys"):
            continue
        if key.startswith("$setElementOrder/"):
            if isinstance(value, list):
                orders[key.split("/", 1)[1]] = value
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            cur = result.get(name)
            if isinstance(cur, list) and isinstance(value, list):
                result[name] = [x for x in cur if x not in value]
            continue
        if value is None:
            result.pop(key, None)
            continue
        cur = result.get(key)
        if isinstance(value, dict):
            merged = strategic_merge_patch(cur, value)
            if merged is _DELETE:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list) and isinstance(cur, list) and key in STRATEGIC_MERGE_KEYS:
            result[key] = _merge_keyed_list(cur, value, STRATEGIC_MERGE_KEYS[key])
        elif (
            isinstance(value, list) and isinstance(cur, list) and key in STRATEGIC_MERGE_PRIMITIVES
        ):
            result[key] = cur + [x for x in value if x not in cur]
        else:
            result[key] = _strip_directives(value)
    for name, order in orders.items():
        items = result.get(name)
        mkey = STRATEGIC_MERGE_KEYS.get(name)
        if not isinstance(items, list):
            continue

        def rank(item: Any, order: list[Any] = order, mkey: str | None = mkey) -> int:
            probe = item.get(mkey) if (mkey and isinstance(item, dict)) else item
            for i, o in enumerate(order):
                if (o.get(mkey) if (mkey and isinstance(o, dict)) else o) == probe:
                    return i
            return len(order)

        result[name] = sorted(items, key=rank)
    return result


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise APIError(
            422, "Invalid", f"invalid JSON pointer {path!r}: must be '' or start with '/'"
        )
    if path == "":
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _resolve_parent(doc: Any, tokens: list[str], path: str) -> Any:
    cur = doc
    for tok in tokens[:-1]:
        cur = _child(cur, tok, path)
    return cur


def _child(container: Any, tok: str, path: str) -> Any:
    if isinstance(container, dict):
        if tok not in container:
            raise APIError(422, "Invalid", f"JSON patch: path {path!r} does not exist")
        return container[tok]
    if isinstance(container, list):
        idx = _index(tok, len(container) - 1, path)
        return container[idx]
    raise APIError(422, "Invalid", f"JSON patch: path {path!r} goes through a scalar")


def _index(tok: str, maximum: int, path: str) -> int:
    if not re.fullmatch(r"0|[1-9][0-9]*", tok) or int(tok) > maximum:
        raise APIError(422, "Invalid", f"JSON patch: bad array index {tok!r} in {path!r}")
    return int(tok)


def json_patch(doc: Any, ops: Any) -> Any:
    """RFC 6902 JSON patch (add, remove, replace, move, copy, test)."""
    if not isinstance(ops, list):
        raise APIError.bad_request("a JSON patch must be a JSON array of operations")

    def get(path: str) -> Any:
        cur = doc
        for tok in _pointer(path):
            cur = _child(cur, tok, path)
        return cur

    def add(path: str, value: Any) -> None:
        nonlocal doc
        tokens = _pointer(path)
        if not tokens:
            doc = value
            return
        parent = _resolve_parent(doc, tokens, path)
        last = tokens[-1]
        if isinstance(parent, dict):
            parent[last] = value
        elif isinstance(parent, list):
            if last == "-":
                parent.append(value)
            else:
                parent.insert(_index(last, len(parent), path), value)
        else:
            raise APIError(422, "Invalid", f"JSON patch: cannot add at {path!r}")

    def remove(path: str) -> Any:
        tokens = _pointer(path)
        if not tokens:
            raise APIError(422, "Invalid", "JSON patch: cannot remove the whole document")
        parent = _resolve_parent(doc, tokens, path)
        last = tokens[-1]
        if isinstance(parent, dict):
            if last not in parent:
                raise APIError(422, "Invalid", f"JSON patch: path {path!r} does not exist")
            return parent.pop(last)
        if isinstance(parent, list):
            return parent.pop(_index(last, len(parent) - 1, path))
        raise APIError(422, "Invalid", f"JSON patch: cannot remove {path!r}")

    for n, op in enumerate(ops):
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise APIError.bad_request(f"JSON patch operation {n} needs 'op' and 'path'")
        kind, path = op["op"], op["path"]
        if kind in ("add", "replace", "test") and "value" not in op:
            raise APIError.bad_request(f"JSON patch operation {n} ({kind}) needs 'value'")
        if kind == "add":
            add(path, clone(op["value"]))
        elif kind == "remove":
            remove(path)
        elif kind == "replace":
            if _pointer(path):
                remove(path)
            add(path, clone(op["value"]))
        elif kind == "move":
            value = remove(op.get("from", ""))
            add(path, value)
        elif kind == "copy":
            add(path, clone(get(op.get("from", ""))))
        elif kind == "test":
            if get(path) != op["value"]:
                raise APIError(422, "Invalid", f"JSON patch test failed at {path!r}")
        else:
            raise APIError.bad_request(f"JSON patch operation {n}: unknown op {kind!r}")
    return doc


def apply_patch(target: Obj, patch: Any, patch_type: str, rt: ResourceType) -> Any:
    kind = PATCH_TYPES.get(patch_type)
    if kind is None:
        raise APIError(
            415,
            "UnsupportedMediaType",
            f"the body of the request was in an unknown format - accepted media types include: "
            f"{MERGE_PATCH}, {STRATEGIC_MERGE_PATCH}, {JSON_PATCH} (got {patch_type!r})",
        )
    if kind == STRATEGIC_MERGE_PATCH and rt.custom:
        raise APIError(
            415,
            "UnsupportedMediaType",
            f"strategic merge patch is not supported for custom resources ({rt.qualified}): "
            f"use {MERGE_PATCH}",
        )
    if kind == JSON_PATCH:
        return json_patch(clone(target), patch)
    if not isinstance(patch, dict):
        raise APIError.bad_request("a merge patch must be a JSON object")
    if kind == STRATEGIC_MERGE_PATCH:
        merged = strategic_merge_patch(target, patch)
        return {} if merged is _DELETE else clone(merged)
    return clone(merge_patch(target, patch))


# --------------------------------------------------------------------------
# Watch events
# --------------------------------------------------------------------------


class _Entry:
    """One write, kept in the bounded watch history."""

    __slots__ = ("_json", "obj", "old", "rt", "rv", "type")

    def __init__(self, rv: int, type_: str, rt: ResourceType, obj: Obj, old: Obj | None) -> None:
        self.rv = rv
        self.type = type_
        self.rt = rt
        self.obj = obj
        self.old = old
        self._json: str | None = None

    def json(self) -> str:
        if self._json is None:
            self._json = json.dumps(self.obj, separators=(",", ":"))
        return self._json


@dataclass
class WatchEvent:
    """``{"type": ..., "object": ...}`` as sent on a watch stream."""

    type: str
    raw: Obj = field(repr=False)  # shared with the store: never mutate
    _json: str | None = field(default=None, repr=False)

    @property
    def object(self) -> Obj:
        """A private copy of the object."""
        return clone(self.raw)

    def line(self) -> bytes:
        body = self._json if self._json is not None else json.dumps(self.raw, separators=(",", ":"))
        return b'{"type":"' + self.type.encode() + b'","object":' + body.encode() + b"}\n"


# --------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------

Key = tuple[str, str]  # (namespace or "", name)


def check_resource_version(rt: ResourceType, name: str, old: Obj, want: Any) -> None:
    """Optimistic concurrency: a stated resourceVersion must be the stored one (409)."""
    if want and want != old["metadata"]["resourceVersion"]:
        raise APIError.conflict(
            rt,
            name,
            "the object has been modified; please apply your changes to the latest "
            "version and try again",
        )


class Store:
    """Thread-safe in-memory objects with resourceVersions and a watch history.

    ``resource`` arguments accept a plural (``pods``), a kind (``Pod``), a
    short name (``po``) or a qualified plural
    (``network-attachment-definitions.k8s.cni.cncf.io``).
    """

    def __init__(
        self,
        *,
        history: int = 4096,
        clock: Callable[[], float] = time.time,
        bookmark_interval: float = 60.0,
    ) -> None:
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._clock = clock
        self._rv = 0
        self._objects: dict[ResourceType, dict[Key, Obj]] = {rt: {} for rt in RESOURCE_TYPES}
        self._history: list[_Entry] = []
        self._history_rvs: list[int] = []
        self._history_max = max(1, history)
        self._compacted = 0  # events with rv <= this may have been dropped
        self._closed = False
        self.bookmark_interval = bookmark_interval
        self._by_name: dict[str, ResourceType] = {}
        for rt in RESOURCE_TYPES:
            for alias in (rt.plural, rt.singular, rt.kind.lower(), rt.qualified, *rt.short_names):
                self._by_name[alias.lower()] = rt
        for ns in INITIAL_NAMESPACES:
            self.create(NAMESPACES, {"metadata": {"name": ns}})
        self.create(CRDS, nad_crd_manifest())

    # ---- lookup ---------------------------------------------------------

    def resolve(self, resource: str | ResourceType) -> ResourceType:
        if isinstance(resource, ResourceType):
            return resource
        rt = self._by_name.get(resource.lower())
        if rt is None:
            raise APIError(
                404,
                "NotFound",
                f"the server doesn't have a resource type {resource!r} "
                f"(served: {', '.join(r.plural for r in RESOURCE_TYPES)})",
            )
        return rt

    @property
    def resource_version(self) -> str:
        with self._lock:
            return str(self._rv)

    def _key(self, rt: ResourceType, namespace: str | None, name: str) -> Key:
        return ((namespace or "") if rt.namespaced else "", name)

    def _ns_for(self, rt: ResourceType, namespace: str | None, obj: Obj | None = None) -> str:
        if not rt.namespaced:
            return ""
        if namespace:
            return namespace
        if obj is not None:
            ns = _meta(obj).get("namespace")
            if isinstance(ns, str) and ns:
                return ns
        return "default"

    def get(
        self, resource: str | ResourceType, name: str, namespace: str | None = None
    ) -> Obj | None:
        """A copy of one object, or None."""
        rt = self.resolve(resource)
        with self._lock:
            obj = self._objects[rt].get(self._key(rt, self._ns_for(rt, namespace), name))
        return clone(obj) if obj is not None else None

    def get_raw(self, rt: ResourceType, name: str, namespace: str | None) -> Obj:
        """The stored (shared, read-only) object or 404: for the HTTP layer."""
        with self._lock:
            obj = self._objects[rt].get(self._key(rt, namespace, name))
        if obj is None:
            raise APIError.not_found(rt, name)
        return obj

    def list_raw(
        self,
        rt: ResourceType,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[list[Obj], str]:
        """Matching stored objects (shared, read-only) sorted by key, and the list's rv."""
        lsel = LabelSelector.parse(label_selector)
        fsel = FieldSelector.parse(field_selector, rt)
        with self._lock:
            rv = str(self._rv)
            items = [
                obj
                for key, obj in sorted(self._objects[rt].items())
                if (not namespace or key[0] == namespace)
                and lsel.matches(obj["metadata"].get("labels"))
                and fsel.matches(obj)
            ]
        return items, rv

    def list_objects(
        self,
        resource: str | ResourceType,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[Obj]:
        """Copies of the matching objects (all namespaces when ``namespace`` is None)."""
        rt = self.resolve(resource)
        items, _ = self.list_raw(
            rt, namespace, label_selector=label_selector, field_selector=field_selector
        )
        return [clone(o) for o in items]

    # ---- writes -----------------------------------------------------------

    def _record(self, type_: str, rt: ResourceType, obj: Obj, old: Obj | None) -> None:
        entry = _Entry(self._rv, type_, rt, obj, old)
        self._history.append(entry)
        self._history_rvs.append(self._rv)
        if len(self._history) > 2 * self._history_max:
            drop = len(self._history) - self._history_max
            self._compacted = self._history_rvs[drop - 1]
            del self._history[:drop]
            del self._history_rvs[:drop]
        self._cond.notify_all()

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _require_namespace(self, rt: ResourceType, namespace: str) -> None:
        if not rt.namespaced:
            return
        ns = self._objects[NAMESPACES].get(("", namespace))
        if ns is None:
            raise APIError.not_found(NAMESPACES, namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise APIError(
                403,
                "Forbidden",
                f'{rt.plural} "{namespace}" is forbidden: unable to create new content in '
                f"namespace {namespace} because it is being terminated",
                name=namespace,
                kind=rt.plural,
                group=rt.group,
            )

    def create(self, resource: str | ResourceType, obj: Obj, namespace: str | None = None) -> Obj:
        """POST: a new object (409 AlreadyExists if taken; ``generateName`` honoured)."""
        rt = self.resolve(resource)
        if not isinstance(obj, dict):
            raise APIError.bad_request(f"a {rt.kind} must be a JSON object")
        obj = clone(obj)
        self._check_type(rt, obj)
        meta = _meta(obj)
        body_ns = meta.get("namespace")
        ns = self._ns_for(rt, namespace, obj)
        if rt.namespaced and namespace and body_ns and body_ns != namespace:
            raise APIError.bad_request(
                f"the namespace of the provided object ({body_ns}) does not match the "
                f"namespace sent on the request ({namespace})"
            )
        if meta.get("resourceVersion"):
            raise APIError.bad_request(
                f"resourceVersion should not be set on objects to be created "
                f"({rt.kind} {meta.get('name') or meta.get('generateName') or ''})"
            )
        with self._lock:
            self._require_namespace(rt, ns)
            name = meta.get("name")
            if not name:
                prefix = meta.get("generateName")
                if not prefix or not isinstance(prefix, str):
                    raise APIError.invalid(
                        rt,
                        "",
                        [("metadata.name", "Required value: name or generateName is required")],
                    )
                for _ in range(100):
                    name = prefix + "".join(secrets.choice(_NAME_ALPHABET) for _ in range(5))
                    if self._key(rt, ns, name) not in self._objects[rt]:
                        break
            if not isinstance(name, str):
                raise APIError.bad_request("metadata.name must be a string")
            problem = _name_problem(rt, name)
            if problem:
                raise APIError.invalid(rt, name, [("metadata.name", problem)])
            _check_string_map(rt, name, meta, "labels")
            _check_string_map(rt, name, meta, "annotations")
            key = self._key(rt, ns, name)
            if key in self._objects[rt]:
                raise APIError.already_exists(rt, name)
            now = self._clock()
            for drop in ("deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
                meta.pop(drop, None)
            meta["name"] = name
            if rt.namespaced:
                meta["namespace"] = ns
            else:
                meta.pop("namespace", None)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = rfc3339(now)
            meta["generation"] = 1
            self._prepare_create(rt, obj, name)
            meta["resourceVersion"] = self._next_rv()
            stored = _ordered(rt, obj)
            self._objects[rt][key] = stored
            self._record("ADDED", rt, stored, None)
            return clone(stored)

    def _check_type(self, rt: ResourceType, obj: Obj) -> None:
        kind = obj.get("kind")
        if kind is not None and kind != rt.kind:
            raise APIError.bad_request(
                f"kind {kind!r} in the body does not match the resource {rt.qualified} "
                f"(expected kind {rt.kind!r})"
            )
        api_version = obj.get("apiVersion")
        if api_version is not None and api_version != rt.api_version:
            raise APIError.bad_request(
                f"the API version in the data ({api_version}) does not match the expected "
                f"API version ({rt.api_version})"
            )

    def _prepare_create(self, rt: ResourceType, obj: Obj, name: str) -> None:
        """Defaulting and validation done by the real registries on create."""
        if rt is PODS:
            spec = obj.get("spec")
            self._validate_pod_spec(name, spec)
            assert isinstance(spec, dict)
            spec.setdefault("restartPolicy", "Always")
            spec.setdefault("terminationGracePeriodSeconds", 30)
            spec.setdefault("dnsPolicy", "ClusterFirst")
            spec.setdefault("schedulerName", "default-scheduler")
            obj["status"] = {"phase": "Pending"}
        elif rt is NAMESPACES:
            obj["spec"] = {"finalizers": ["kubernetes"]}
            obj["status"] = {"phase": "Active"}
        elif rt is NADS:
            self._validate_nad(name, obj)

    @staticmethod
    def _validate_pod_spec(name: str, spec: Any) -> None:
        if not isinstance(spec, dict):
            raise APIError.invalid(PODS, name, [("spec", "Required value")])
        containers = spec.get("containers")
        if not isinstance(containers, list) or not containers:
            raise APIError.invalid(PODS, name, [("spec.containers", "Required value")])
        for i, c in enumerate(containers):
            if not isinstance(c, dict) or not c.get("name"):
                raise APIError.invalid(
                    PODS, name, [(f"spec.containers[{i}].name", "Required value")]
                )
            if not c.get("image"):
                raise APIError.invalid(
                    PODS, name, [(f"spec.containers[{i}].image", "Required value")]
                )

    @staticmethod
    def _validate_nad(name: str, obj: Obj) -> None:
        spec = obj.get("spec")
        if spec is None:
            return
        if not isinstance(spec, dict):
            raise APIError.invalid(NADS, name, [("spec", "Invalid value: must be an object")])
        config = spec.get("config")
        if config is not None and not isinstance(config, str):
            raise APIError.invalid(
                NADS,
                name,
                [("spec.config", "Invalid value: must be a string holding the CNI JSON config")],
            )

    _POD_MUTABLE_SPEC = ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds")

    @classmethod
    def _pod_spec_fixed_part(cls, spec: Any) -> Any:
        if not isinstance(spec, dict):
            return spec
        out = {k: v for k, v in spec.items() if k not in cls._POD_MUTABLE_SPEC}
        for key in ("containers", "initContainers"):
            if isinstance(out.get(key), list):
                out[key] = [
                    {k: v for k, v in c.items() if k != "image"} if isinstance(c, dict) else c
                    for c in out[key]
                ]
        return out

    def _build_update(
        self, rt: ResourceType, old: Obj, incoming: Obj, subresource: str | None
    ) -> Obj:
        """The object an update would store (before no-op detection)."""
        name = old["metadata"]["name"]
        in_meta = _meta(incoming)
        _check_string_map(rt, name, in_meta, "labels")
        _check_string_map(rt, name, in_meta, "annotations")
        if subresource == "status":
            new = clone(old)
            if "status" in incoming:
                new["status"] = incoming["status"]
            else:
                new.pop("status", None)
            for key in ("labels", "annotations"):
                if in_meta.get(key):
                    new["metadata"][key] = in_meta[key]
                else:
                    new["metadata"].pop(key, None)
            return new
        if subresource is not None:
            raise APIError(404, "NotFound", f"{rt.plural}/{subresource} cannot be updated")
        new = dict(incoming)
        meta = dict(in_meta)
        for key in (
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "resourceVersion",
        ):
            if key in old["metadata"]:
                meta[key] = old["metadata"][key]
            else:
                meta.pop(key, None)
        new["metadata"] = meta
        if rt.status_subresource:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        if rt is NAMESPACES:
            new["spec"] = old.get("spec", {})
        if rt is PODS:
            self._validate_pod_spec(name, new.get("spec"))
            if self._pod_spec_fixed_part(new.get("spec")) != self._pod_spec_fixed_part(
                old.get("spec")
            ):
                raise APIError.invalid(
                    PODS,
                    name,
                    [
                        (
                            "spec",
                            "Forbidden: pod updates may not change fields other than "
                            "spec.containers[*].image, spec.initContainers[*].image, "
                            "spec.activeDeadlineSeconds, spec.tolerations, "
                            "spec.terminationGracePeriodSeconds (use the binding "
                            "subresource to set spec.nodeName)",
                        )
                    ],
                )
        if rt is NADS:
            self._validate_nad(name, new)
        return _ordered(rt, new)

    def _commit_update(self, rt: ResourceType, old: Obj, new: Obj) -> Obj:
        """Store ``new`` unless it equals ``old``; delete if its last finalizer went away."""
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        if new == old:
            return old
        spec_changed = any(
            new.get(k) != old.get(k)
            for k in set(new) | set(old)
            if k not in ("metadata", "status", "apiVersion", "kind")
        )
        if spec_changed:
            new["metadata"]["generation"] = int(old["metadata"].get("generation", 1)) + 1
        key = self._key(rt, new["metadata"].get("namespace"), new["metadata"]["name"])
        meta = new["metadata"]
        if (
            meta.get("deletionTimestamp")
            and not meta.get("finalizers")
            and (rt is not PODS or meta.get("deletionGracePeriodSeconds") == 0)
        ):
            return self._remove(rt, key, new)
        meta["resourceVersion"] = self._next_rv()
        self._objects[rt][key] = new
        self._record("MODIFIED", rt, new, old)
        return new

    def update(
        self,
        resource: str | ResourceType,
        obj: Obj,
        namespace: str | None = None,
        *,
        name: str | None = None,
        subresource: str | None = None,
    ) -> Obj:
        """PUT: replace an object (or its ``status``); a stale resourceVersion is 409."""
        return clone(
            self.update_raw(
                self.resolve(resource), obj, namespace, name=name, subresource=subresource
            )
        )

    def update_raw(
        self,
        rt: ResourceType,
        obj: Obj,
        namespace: str | None,
        *,
        name: str | None = None,
        subresource: str | None = None,
    ) -> Obj:
        if not isinstance(obj, dict):
            raise APIError.bad_request(f"a {rt.kind} must be a JSON object")
        obj = clone(obj)
        self._check_type(rt, obj)
        meta = _meta(obj)
        body_name = meta.get("name")
        name = name or body_name
        if not name:
            raise APIError.bad_request("name is required for an update (metadata.name)")
        if body_name and body_name != name:
            raise APIError.bad_request(
                f"the name of the object ({body_name}) does not match the name on the URL ({name})"
            )
        ns = self._ns_for(rt, namespace, obj)
        body_ns = meta.get("namespace")
        if rt.namespaced and body_ns and body_ns != ns:
            raise APIError.bad_request(
                f"the namespace of the provided object ({body_ns}) does not match the "
                f"namespace sent on the request ({ns})"
            )
        with self._lock:
            old = self._objects[rt].get(self._key(rt, ns, name))
            if old is None:
                raise APIError.not_found(rt, name)
            check_resource_version(rt, name, old, meta.get("resourceVersion"))
            new = self._build_update(rt, old, obj, subresource)
            return self._commit_update(rt, old, new)

    def patch(
        self,
        resource: str | ResourceType,
        name: str,
        patch: Any,
        patch_type: str = "merge",
        namespace: str | None = None,
        *,
        subresource: str | None = None,
    ) -> Obj:
        """PATCH: ``patch_type`` is merge/strategic/json or the media type."""
        return clone(
            self.patch_raw(
                self.resolve(resource), name, patch, patch_type, namespace, subresource=subresource
            )
        )

    def patch_raw(
        self,
        rt: ResourceType,
        name: str,
        patch: Any,
        patch_type: str,
        namespace: str | None,
        *,
        subresource: str | None = None,
    ) -> Obj:
        ns = self._ns_for(rt, namespace)
        patch = clone(patch)
        with self._lock:
            old = self._objects[rt].get(self._key(rt, ns, name))
            if old is None:
                raise APIError.not_found(rt, name)
            patched = apply_patch(old, patch, patch_type, rt)
            if not isinstance(patched, dict):
                raise APIError(
                    422, "Invalid", f'{rt.kind} "{name}": the patch result is not an object'
                )
            self._check_type(rt, patched)
            pmeta = _meta(patched)
            if pmeta.get("name", name) != name:
                raise APIError.invalid(
                    rt, name, [("metadata.name", "Invalid value: field is immutable")]
                )
            check_resource_version(rt, name, old, pmeta.get("resourceVersion"))
            new = self._build_update(rt, old, patched, subresource)
            return self._commit_update(rt, old, new)

    def bind_pod(self, namespace: str, name: str, node: str) -> Obj:
        """The ``pods/binding`` subresource: set ``spec.nodeName`` once (scheduler's job)."""
        with self._lock:
            key = (namespace, name)
            old = self._objects[PODS].get(key)
            if old is None:
                raise APIError.not_found(PODS, name)
            current = old.get("spec", {}).get("nodeName")
            if current:
                raise APIError.conflict(
                    PODS, name, f"pod {name} is already assigned to node {current!r}"
                )
            new = clone(old)
            new["spec"]["nodeName"] = node
            return clone(self._commit_update(PODS, old, new))

    def delete(
        self,
        resource: str | ResourceType,
        name: str,
        namespace: str | None = None,
        *,
        grace_period_seconds: int | None = None,
        preconditions: Mapping[str, str] | None = None,
    ) -> tuple[Obj, bool]:
        """DELETE: ``(object, removed)``; ``removed`` is False while deletion is pending.

        A pod bound to a node is deleted gracefully (CNI DEL must run first):
        it gets ``deletionTimestamp``/``deletionGracePeriodSeconds`` and stays
        until a delete with grace period 0 (the kubelet's). Objects with
        finalizers stay until the last finalizer is removed.
        """
        rt = self.resolve(resource)
        obj, removed = self.delete_raw(
            rt,
            name,
            namespace,
            grace_period_seconds=grace_period_seconds,
            preconditions=preconditions,
        )
        return clone(obj), removed

    def delete_raw(
        self,
        rt: ResourceType,
        name: str,
        namespace: str | None,
        *,
        grace_period_seconds: int | None = None,
        preconditions: Mapping[str, str] | None = None,
    ) -> tuple[Obj, bool]:
        ns = self._ns_for(rt, namespace)
        with self._lock:
            key = self._key(rt, ns, name)
            old = self._objects[rt].get(key)
            if old is None:
                raise APIError.not_found(rt, name)
            pre = preconditions or {}
            if pre.get("uid") and pre["uid"] != old["metadata"]["uid"]:
                raise APIError.conflict(
                    rt,
                    name,
                    f"Precondition failed: UID in precondition: {pre['uid']}, "
                    f"UID in object meta: {old['metadata']['uid']}",
                )
            if (
                pre.get("resourceVersion")
                and pre["resourceVersion"] != old["metadata"]["resourceVersion"]
            ):
                raise APIError.conflict(
                    rt,
                    name,
                    f"Precondition failed: ResourceVersion in precondition: "
                    f"{pre['resourceVersion']}, ResourceVersion in object meta: "
                    f"{old['metadata']['resourceVersion']}",
                )
            if rt is NAMESPACES:
                return self._delete_namespace(name, old), name not in (
                    k[1] for k in self._objects[NAMESPACES]
                )
            return self._delete_locked(rt, key, old, grace_period_seconds)

    def _delete_locked(
        self, rt: ResourceType, key: Key, old: Obj, grace: int | None
    ) -> tuple[Obj, bool]:
        meta = old["metadata"]
        now = self._clock()
        if rt is PODS and grace != 0 and self._pod_needs_graceful_delete(old):
            if grace is None:
                grace = int(old.get("spec", {}).get("terminationGracePeriodSeconds", 30))
            grace = max(grace, 1)
            current = meta.get("deletionGracePeriodSeconds")
            if meta.get("deletionTimestamp") and current is not None and current <= grace:
                return old, False
            new = clone(old)
            new["metadata"]["deletionTimestamp"] = rfc3339(now + grace)
            new["metadata"]["deletionGracePeriodSeconds"] = grace
            new["metadata"]["resourceVersion"] = self._next_rv()
            self._objects[rt][key] = new
            self._record("MODIFIED", rt, new, old)
            return new, False
        if meta.get("finalizers"):
            if meta.get("deletionTimestamp") and meta.get("deletionGracePeriodSeconds") == 0:
                return old, False
            new = clone(old)
            new["metadata"].setdefault("deletionTimestamp", rfc3339(now))
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            new["metadata"]["resourceVersion"] = self._next_rv()
            self._objects[rt][key] = new
            self._record("MODIFIED", rt, new, old)
            return new, False
        return self._remove(rt, key, old), True

    @staticmethod
    def _pod_needs_graceful_delete(pod: Obj) -> bool:
        spec = pod.get("spec") or {}
        phase = (pod.get("status") or {}).get("phase")
        return bool(spec.get("nodeName")) and phase not in ("Succeeded", "Failed")

    def _remove(self, rt: ResourceType, key: Key, last: Obj) -> Obj:
        gone = clone(last)
        gone["metadata"]["resourceVersion"] = self._next_rv()
        self._objects[rt].pop(key, None)
        self._record("DELETED", rt, gone, None)
        if rt.namespaced:
            self._maybe_finalize_namespace(key[0])
        return gone

    def _delete_namespace(self, name: str, old: Obj) -> Obj:
        """Namespaces terminate: contents are deleted, the namespace goes when empty."""
        if name in PROTECTED_NAMESPACES:
            raise APIError.forbidden(NAMESPACES, name, "this namespace may not be deleted")
        current = old
        if not old["metadata"].get("deletionTimestamp"):
            current = clone(old)
            current["metadata"]["deletionTimestamp"] = rfc3339(self._clock())
            current["metadata"]["deletionGracePeriodSeconds"] = 0
            current["status"] = {"phase": "Terminating"}
            current["metadata"]["resourceVersion"] = self._next_rv()
            self._objects[NAMESPACES][("", name)] = current
            self._record("MODIFIED", NAMESPACES, current, old)
        for rt in RESOURCE_TYPES:
            if not rt.namespaced:
                continue
            for key, obj in sorted(self._objects[rt].items()):
                if key[0] == name and not obj["metadata"].get("deletionTimestamp"):
                    self._delete_locked(rt, key, obj, None)
        self._maybe_finalize_namespace(name)
        return self._objects[NAMESPACES].get(("", name), current)

    def _maybe_finalize_namespace(self, namespace: str) -> None:
        ns = self._objects[NAMESPACES].get(("", namespace))
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return
        for rt in RESOURCE_TYPES:
            if rt.namespaced and any(k[0] == namespace for k in self._objects[rt]):
                return
        self._remove(NAMESPACES, ("", namespace), ns)

    def delete_collection(
        self,
        resource: str | ResourceType,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        grace_period_seconds: int | None = None,
    ) -> list[Obj]:
        """DELETE on a collection: every matching object, as by :meth:`delete`."""
        rt = self.resolve(resource)
        out: list[Obj] = []
        with self._lock:
            items, _ = self.list_raw(
                rt, namespace, label_selector=label_selector, field_selector=field_selector
            )
            for obj in items:
                meta = obj["metadata"]
                try:
                    if rt is NAMESPACES:
                        got = self._delete_namespace(meta["name"], obj)
                    else:
                        got, _ = self._delete_locked(
                            rt,
                            self._key(rt, meta.get("namespace"), meta["name"]),
                            obj,
                            grace_period_seconds,
                        )
                except APIError:
                    continue
                out.append(clone(got))
        return out

    # ---- watch --------------------------------------------------------------

    def watch(
        self,
        resource: str | ResourceType,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
        timeout: float | None = None,
        send_initial_events: bool | None = None,
        allow_bookmarks: bool = False,
        should_stop: Callable[[], bool] | None = None,
        poll: float = 0.5,
    ) -> Iterator[WatchEvent]:
        """Watch events, as the HTTP watch sends them.

        ``resource_version`` None/""/"0": ADDED for every current object first,
        then changes. A version: changes after it; older than the history ->
        one ERROR event with a 410 Expired Status (what the real watch cache
        does). Bad selectors or versions raise :class:`APIError` here, before
        iteration starts, so the HTTP layer can still answer 400.
        """
        rt = self.resolve(resource)
        lsel = LabelSelector.parse(label_selector)
        fsel = FieldSelector.parse(field_selector, rt)
        deadline = None if timeout is None else time.monotonic() + timeout
        initial: list[Obj] = []
        expired: str | None = None
        with self._lock:
            if resource_version in (None, "", "0") or send_initial_events:
                if send_initial_events is not False:
                    initial = [
                        o
                        for k, o in sorted(self._objects[rt].items())
                        if (not namespace or k[0] == namespace)
                        and lsel.matches(o["metadata"].get("labels"))
                        and fsel.matches(o)
                    ]
                cursor = self._rv
            else:
                assert resource_version is not None
                if not re.fullmatch(r"[0-9]+", resource_version):
                    raise APIError.bad_request(
                        f"invalid resourceVersion {resource_version!r}: expected a number"
                    )
                cursor = int(resource_version)
                if cursor < self._compacted:
                    expired = f"too old resource version: {cursor} ({self._compacted + 1})"
        return self._watch_iter(
            rt,
            namespace,
            lsel,
            fsel,
            cursor,
            initial,
            expired,
            deadline,
            bool(send_initial_events) and allow_bookmarks,
            allow_bookmarks,
            should_stop,
            poll,
        )

    def _bookmark(self, rt: ResourceType, rv: int, initial_end: bool = False) -> WatchEvent:
        meta: Obj = {"resourceVersion": str(rv)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return WatchEvent(
            "BOOKMARK", {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta}
        )

    def _watch_iter(
        self,
        rt: ResourceType,
        namespace: str | None,
        lsel: LabelSelector,
        fsel: FieldSelector,
        cursor: int,
        initial: list[Obj],
        expired: str | None,
        deadline: float | None,
        initial_end_bookmark: bool,
        allow_bookmarks: bool,
        should_stop: Callable[[], bool] | None,
        poll: float,
    ) -> Iterator[WatchEvent]:
        if expired:
            yield WatchEvent("ERROR", APIError.expired(expired).status())
            return
        for obj in initial:
            yield WatchEvent("ADDED", obj)
        if initial_end_bookmark:
            yield self._bookmark(rt, cursor, initial_end=True)
        last_sent = time.monotonic()

        def matches(o: Obj) -> bool:
            meta = o["metadata"]
            return (
                (not namespace or meta.get("namespace") == namespace)
                and lsel.matches(meta.get("labels"))
                and fsel.matches(o)
            )

        while True:
            batch: list[_Entry] = []
            bookmark = False
            with self._cond:
                while True:
                    if self._closed:
                        return
                    if cursor < self._compacted:
                        expired = f"too old resource version: {cursor} ({self._compacted + 1})"
                        break
                    idx = bisect.bisect_right(self._history_rvs, cursor)
                    if idx < len(self._history):
                        batch = self._history[idx:]
                        cursor = batch[-1].rv
                        break
                    now = time.monotonic()
                    if deadline is not None and now >= deadline:
                        return
                    if should_stop is not None and should_stop():
                        return
                    if allow_bookmarks and now - last_sent >= self.bookmark_interval:
                        cursor = max(cursor, self._rv)
                        bookmark = True
                        break
                    wait = poll if deadline is None else min(poll, deadline - now)
                    self._cond.wait(max(wait, 0.0))
            if expired:
                yield WatchEvent("ERROR", APIError.expired(expired).status())
                return
            if bookmark:
                last_sent = time.monotonic()
                yield self._bookmark(rt, cursor)
                continue
            for entry in batch:
                if entry.rt is not rt:
                    continue
                new_match = matches(entry.obj)
                if entry.type == "MODIFIED":
                    old_match = entry.old is not None and matches(entry.old)
                    if new_match and old_match:
                        type_ = "MODIFIED"
                    elif new_match:
                        type_ = "ADDED"
                    elif old_match:
                        type_ = "DELETED"
                    else:
                        continue
                elif new_match:
                    type_ = entry.type
                else:
                    continue
                last_sent = time.monotonic()
                yield WatchEvent(type_, entry.obj, entry.json())
            if deadline is not None and time.monotonic() >= deadline:
                return

    # ---- waiting --------------------------------------------------------------

    def wait_for(self, predicate: Callable[[], T | None], timeout: float) -> T:
        """Block until ``predicate()`` (run under the store lock after each write) is truthy."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                result = predicate()
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"condition not met within {timeout}s")
                self._cond.wait(remaining)

    def close(self) -> None:
        """End every watch iterator (the store stays readable)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def counts(self) -> dict[str, int]:
        """How many objects of each resource: handy for leak checks."""
        with self._lock:
            return {rt.plural: len(objs) for rt, objs in self._objects.items()}

    def all_objects(self, resources: Iterable[str | ResourceType] = ()) -> list[Obj]:
        """Copies of every object (of the given resources): for dumps on failure."""
        wanted = [self.resolve(r) for r in resources] or list(RESOURCE_TYPES)
        with self._lock:
            return [clone(o) for rt in wanted for _, o in sorted(self._objects[rt].items())]
