"""The resource types the embedded API server serves, and their registry.

A :class:`ResourceType` is one row of an ``APIResourceList`` (discovery).
The built-in kinds are constants here; every served version of a
CustomResourceDefinition becomes a type when the CRD is created
(:func:`types_from_crd`) and goes when it is deleted, as the real
apiextensions server does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.backends.local.apierrors import APIError, Obj

# --------------------------------------------------------------------------

COMMON_FIELDS = frozenset({"metadata.name", "metadata.namespace"})
ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


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
    verbs: tuple[str, ...] = ALL_VERBS

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


def _core(plural: str, kind: str, *short: str, **kw: Any) -> ResourceType:
    """A core/v1 kind that is only stored (no controller runs it)."""
    return ResourceType("", "v1", plural, kind.lower(), kind, short_names=short, **kw)


def _grouped(group: str, plural: str, kind: str, *short: str, **kw: Any) -> ResourceType:
    return ResourceType(group, "v1", plural, kind.lower(), kind, short_names=short, **kw)


# The kinds a manifest brings (deploy/, the Multus quickstart, Helm charts):
# stored and served like the real registries, but nothing acts on them -
# a Deployment never makes pods, a Service never proxies.
CONFIGMAPS = _core("configmaps", "ConfigMap", "cm", namespaced=True)
SECRETS = _core("secrets", "Secret", namespaced=True, field_labels=frozenset({"type"}))
SERVICEACCOUNTS = _core("serviceaccounts", "ServiceAccount", "sa", namespaced=True)
SERVICES = _core(
    "services", "Service", "svc", namespaced=True, status_subresource=True, categories=("all",)
)
ENDPOINTS = _core("endpoints", "Endpoints", "ep", namespaced=True)
APPS = "apps"
DAEMONSETS = _grouped(
    APPS, "daemonsets", "DaemonSet", "ds", namespaced=True, status_subresource=True,
    categories=("all",),
)  # fmt: skip
DEPLOYMENTS = _grouped(
    APPS, "deployments", "Deployment", "deploy", namespaced=True, status_subresource=True,
    categories=("all",),
)  # fmt: skip
REPLICASETS = _grouped(
    APPS, "replicasets", "ReplicaSet", "rs", namespaced=True, status_subresource=True,
    categories=("all",),
)  # fmt: skip
RBAC = "rbac.authorization.k8s.io"
CLUSTERROLES = _grouped(RBAC, "clusterroles", "ClusterRole", namespaced=False)
CLUSTERROLEBINDINGS = _grouped(RBAC, "clusterrolebindings", "ClusterRoleBinding", namespaced=False)
ROLES = _grouped(RBAC, "roles", "Role", namespaced=True)
ROLEBINDINGS = _grouped(RBAC, "rolebindings", "RoleBinding", namespaced=True)
LEASES = _grouped("coordination.k8s.io", "leases", "Lease", namespaced=True)
# Answered, never stored (the real API computes a review and forgets it).
SELFSUBJECTACCESSREVIEWS = _grouped(
    "authorization.k8s.io",
    "selfsubjectaccessreviews",
    "SelfSubjectAccessReview",
    namespaced=False,
    verbs=("create",),
)
SELFSUBJECTRULESREVIEWS = _grouped(
    "authorization.k8s.io",
    "selfsubjectrulesreviews",
    "SelfSubjectRulesReview",
    namespaced=False,
    verbs=("create",),
)
REVIEWS = frozenset({SELFSUBJECTACCESSREVIEWS, SELFSUBJECTRULESREVIEWS})

BUILTIN_TYPES: tuple[ResourceType, ...] = (
    NAMESPACES,
    NODES,
    PODS,
    EVENTS,
    CONFIGMAPS,
    SECRETS,
    SERVICEACCOUNTS,
    SERVICES,
    ENDPOINTS,
    DAEMONSETS,
    DEPLOYMENTS,
    REPLICASETS,
    CLUSTERROLES,
    CLUSTERROLEBINDINGS,
    ROLES,
    ROLEBINDINGS,
    LEASES,
    SELFSUBJECTACCESSREVIEWS,
    SELFSUBJECTRULESREVIEWS,
    CRDS,
)

# Namespaces that exist from the start; the real API forbids deleting them.
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
PROTECTED_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})


def types_from_crd(crd: Obj) -> list[ResourceType]:
    """The resources a CustomResourceDefinition serves: one per served version."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    out: list[ResourceType] = []
    for v in spec.get("versions") or []:
        if not isinstance(v, dict) or not v.get("served", True) or not v.get("name"):
            continue
        out.append(
            ResourceType(
                str(spec.get("group", "")),
                str(v["name"]),
                str(names.get("plural", "")),
                str(names.get("singular") or str(names.get("kind", "")).lower()),
                str(names.get("kind", "")),
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()),
                status_subresource="status" in (v.get("subresources") or {}),
                custom=True,
                categories=tuple(names.get("categories") or ()),
            )
        )
    return out


class Registry:
    """The served resource types: the built-in kinds plus one per CRD version.

    Lookups accept a plural (``pods``), a kind (``Pod``), a short name
    (``po``) or a qualified plural
    (``network-attachment-definitions.k8s.cni.cncf.io``).
    """

    def __init__(self, types: tuple[ResourceType, ...] = BUILTIN_TYPES) -> None:
        self._types: list[ResourceType] = []
        self._by_name: dict[str, ResourceType] = {}
        for rt in types:
            self.add(rt)

    def add(self, rt: ResourceType) -> ResourceType:
        """Serve ``rt``; an equal type already served is returned instead."""
        for have in self._types:
            if have == rt:
                return have
        self._types.append(rt)
        self._reindex()
        return rt

    def remove(self, rt: ResourceType) -> None:
        self._types = [t for t in self._types if t != rt]
        self._reindex()

    def _reindex(self) -> None:
        self._by_name = {}
        # Built-in kinds win a name clash, as kubectl's discovery prefers core.
        for rt in reversed(self._types):
            for alias in (rt.plural, rt.singular, rt.kind.lower(), rt.qualified, *rt.short_names):
                self._by_name[alias.lower()] = rt

    def all(self) -> tuple[ResourceType, ...]:
        return tuple(self._types)

    def find(self, group: str, version: str, plural: str) -> ResourceType | None:
        for rt in self._types:
            if (rt.group, rt.version, rt.plural) == (group, version, plural):
                return rt
        return None

    def resolve(self, resource: str | ResourceType) -> ResourceType:
        if isinstance(resource, ResourceType):
            return resource
        rt = self._by_name.get(resource.lower())
        if rt is None:
            raise APIError(
                404,
                "NotFound",
                f"the server doesn't have a resource type {resource!r} "
                f"(served: {', '.join(r.plural for r in self._types)})",
            )
        return rt

    def groups(self) -> dict[str, list[str]]:
        """Served API groups and their versions (discovery)."""
        out: dict[str, list[str]] = {}
        for rt in self._types:
            if rt.group:
                versions = out.setdefault(rt.group, [])
                if rt.version not in versions:
                    versions.append(rt.version)
        return out


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
                                    "description": "The desired attachment.",
                                    "type": "object",
                                    "properties": {
                                        "config": {
                                            "description": (
                                                "A CNI network configuration (JSON, as a string)."
                                            ),
                                            "type": "string",
                                        }
                                    },
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
