"""Per-kind rules of the real registries ("strategies"): defaults, validation, updates.

Pure functions of objects: what a create stores, what an update may change,
which names are valid. The store calls them under its lock; they never
touch the store themselves.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
from typing import Any

from harness.backends.local.apierrors import APIError, Obj, clone
from harness.backends.local.resources import NADS, NAMESPACES, PODS, SERVICES, ResourceType

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
# Characters the real API uses for generateName suffixes (no vowels, no 0/1/3).
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def name_problem(rt: ResourceType, name: str) -> str | None:
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


def meta_of(obj: Obj) -> Obj:
    meta = obj.get("metadata")
    if meta is None:
        meta = {}
        obj["metadata"] = meta
    if not isinstance(meta, dict):
        raise APIError.bad_request("metadata must be an object")
    return meta


def check_string_map(rt: ResourceType, name: str, meta: Obj, key: str) -> None:
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


def ordered(rt: ResourceType, obj: Obj) -> Obj:
    """apiVersion, kind, metadata first: what humans expect when reading dumps."""
    out: Obj = {"apiVersion": rt.api_version, "kind": rt.kind, "metadata": obj["metadata"]}
    for k, v in obj.items():
        if k not in out:
            out[k] = v
    return out


def check_type(rt: ResourceType, obj: Obj) -> None:
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


def prepare_create(rt: ResourceType, obj: Obj, name: str) -> None:
    """Defaulting and validation done by the real registries on create."""
    if rt is PODS:
        spec = obj.get("spec")
        _validate_pod_spec(name, spec)
        assert isinstance(spec, dict)
        default_pod_spec(spec)
        obj["status"] = {"phase": "Pending"}
    elif rt is NAMESPACES:
        obj["spec"] = {"finalizers": ["kubernetes"]}
        obj["status"] = {"phase": "Active"}
    elif rt == NADS:
        _validate_nad(name, obj)
    elif rt is SERVICES:
        default_service(obj)


def default_service(obj: Obj) -> None:
    """Service defaults: type ClusterIP, an address from 10.96.0.0/12 (stable per
    namespace/name; nothing routes it), ports' protocol and targetPort."""
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        raise APIError.invalid(SERVICES, obj["metadata"]["name"], [("spec", "Required value")])
    spec.setdefault("type", "ClusterIP")
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
    if spec["type"] != "ExternalName" and not spec.get("clusterIP"):
        meta = obj["metadata"]
        digest = hashlib.sha256(f"{meta.get('namespace')}/{meta['name']}".encode()).digest()
        offset = 1 + int.from_bytes(digest[:4], "big") % ((1 << 20) - 2)
        spec["clusterIP"] = str(ipaddress.ip_address("10.96.0.0") + offset)
    if spec.get("clusterIP"):
        spec.setdefault("clusterIPs", [spec["clusterIP"]])


def default_pod_spec(spec: Obj) -> None:
    """The defaults the real API fills in on every write (create and update alike)."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")


def _validate_pod_spec(name: str, spec: Any) -> None:
    if not isinstance(spec, dict):
        raise APIError.invalid(PODS, name, [("spec", "Required value")])
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        raise APIError.invalid(PODS, name, [("spec.containers", "Required value")])
    for i, c in enumerate(containers):
        if not isinstance(c, dict) or not c.get("name"):
            raise APIError.invalid(PODS, name, [(f"spec.containers[{i}].name", "Required value")])
        if not c.get("image"):
            raise APIError.invalid(PODS, name, [(f"spec.containers[{i}].image", "Required value")])


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


def _pod_spec_fixed_part(spec: Any) -> Any:
    if not isinstance(spec, dict):
        return spec
    out = {k: v for k, v in spec.items() if k not in _POD_MUTABLE_SPEC}
    for key in ("containers", "initContainers"):
        if isinstance(out.get(key), list):
            out[key] = [
                {k: v for k, v in c.items() if k != "image"} if isinstance(c, dict) else c
                for c in out[key]
            ]
    return out


def build_update(rt: ResourceType, old: Obj, incoming: Obj, subresource: str | None) -> Obj:
    """The object an update would store (before no-op detection)."""
    name = old["metadata"]["name"]
    in_meta = meta_of(incoming)
    check_string_map(rt, name, in_meta, "labels")
    check_string_map(rt, name, in_meta, "annotations")
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
        _validate_pod_spec(name, new.get("spec"))
        new["spec"] = dict(new["spec"])
        default_pod_spec(new["spec"])
        if _pod_spec_fixed_part(new.get("spec")) != _pod_spec_fixed_part(old.get("spec")):
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
    if rt == NADS:
        _validate_nad(name, new)
    if rt is SERVICES and isinstance(new.get("spec"), dict):
        new["spec"] = dict(new["spec"])
        for key in ("clusterIP", "clusterIPs"):  # allocated once, kept by updates
            if key in (old.get("spec") or {}):
                new["spec"].setdefault(key, old["spec"][key])
        default_service(new)
    return ordered(rt, new)


def generated_name(prefix: str) -> str:
    """``generateName`` plus five characters, as the real API makes them."""
    return prefix + "".join(secrets.choice(NAME_ALPHABET) for _ in range(5))
