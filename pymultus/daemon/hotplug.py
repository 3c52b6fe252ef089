"""Hot-plug: add or remove one attachment on a running pod (``POST /delegate``).

The sandbox is found through the delegate cache (``cniDir``): its entry names
the pod, the network namespace and the delegates already attached, with
their results. An added attachment is planned exactly like an element of
the ``k8s.v1.cni.cncf.io/networks`` annotation (NPWG v1.3 section 4.1.2),
run through the same engine, appended to the cache entry (so the pod's DEL
removes it too) and network-status (NPWG v1.3 section 5) is rewritten for
all attachments; a removal runs the delegate's DEL with its cached result.

Body (JSON): ``{"podNamespace", "podName", "op": "add"|"remove", "network":
"[namespace/]name" (add), "interface": "net2" (remove: required; add:
default net<N+1>)}``. The pod's annotation is not changed: the hot-plugged
attachment is the daemon's record, visible in network-status.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

from pymultus.cni.errors import INVALID_CONFIG, UNKNOWN_CONTAINER, CNIError
from pymultus.cni.request import CNIRequest
from pymultus.engine import Engine, PodIdentity, cached_delegates
from pymultus.model.selection import parse_networks
from pymultus.plan import SELECTION, Delegate, NetworkRef, build_plan

_NET_INDEX = re.compile(r"^net(\d+)$")


def parse_body(body: bytes) -> dict[str, str]:
    """The validated request, or CNIError(INVALID_CONFIG) naming the bad field."""
    try:
        data = json.loads(body or b"{}")
    except ValueError as exc:
        raise CNIError(INVALID_CONFIG, f"POST /delegate: body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise CNIError(INVALID_CONFIG, "POST /delegate: body must be a JSON object")
    out: dict[str, str] = {}
    for key in ("podNamespace", "podName", "op", "network", "interface"):
        value = data.get(key, "")
        if not isinstance(value, str):
            raise CNIError(INVALID_CONFIG, f"POST /delegate: {key} must be a string")
        out[key] = value
    for key in ("podNamespace", "podName"):
        if not out[key]:
            raise CNIError(INVALID_CONFIG, f"POST /delegate: {key} is required")
    if out["op"] not in ("add", "remove"):
        raise CNIError(INVALID_CONFIG, 'POST /delegate: op must be "add" or "remove"')
    if out["op"] == "add" and not out["network"]:
        raise CNIError(INVALID_CONFIG, "POST /delegate: network is required to add")
    if out["op"] == "remove" and not out["interface"]:
        raise CNIError(INVALID_CONFIG, "POST /delegate: interface is required to remove")
    return out


def find_sandbox(engine: Engine, namespace: str, name: str) -> dict[str, Any]:
    """The newest cache entry of the pod ``namespace/name``."""
    found: list[tuple[float, dict[str, Any]]] = []
    for container_id in engine.cache.container_ids():
        entry = engine.cache.load(container_id)
        if entry and entry.get("podNamespace") == namespace and entry.get("podName") == name:
            try:
                mtime = os.stat(engine.cache.path(container_id)).st_mtime
            except OSError:
                continue
            found.append((mtime, entry))
    if not found:
        raise CNIError(
            UNKNOWN_CONTAINER,
            f"pod {namespace}/{name} has no sandbox on this node",
            "hot-plug needs a running pod attached by this node's pymultus",
        )
    return max(found, key=lambda item: item[0])[1]


def next_ifname(delegates: list[Delegate]) -> str:
    used = [int(m.group(1)) for d in delegates if (m := _NET_INDEX.match(d.ifname))]
    return f"net{max(used, default=0) + 1}"


def sandbox_request(entry: Mapping[str, Any], command: str, ifname: str) -> CNIRequest:
    args = (
        ("IgnoreUnknown", "1"),
        ("K8S_POD_NAMESPACE", str(entry.get("podNamespace", ""))),
        ("K8S_POD_NAME", str(entry.get("podName", ""))),
        ("K8S_POD_INFRA_CONTAINER_ID", str(entry.get("containerID", ""))),
        ("K8S_POD_UID", str(entry.get("podUID", ""))),
    )
    return CNIRequest(command, str(entry["containerID"]), str(entry.get("netns", "")), ifname, args)


def hotplug(engine: Engine, op: dict[str, str]) -> dict[str, Any]:
    """Run one hot-plug operation; returns the pod's new network-status entries."""
    entry = find_sandbox(engine, op["podNamespace"], op["podName"])
    cached = cached_delegates(entry)
    if cached is None:
        raise CNIError(
            INVALID_CONFIG,
            f"the delegate cache of pod {op['podNamespace']}/{op['podName']} has the wrong shape",
            "delete and recreate the pod",
        )
    delegates = [d for d, _, _ in cached]
    results: list[dict[str, Any]] = [prev or {} for _, prev, _ in cached]
    pod_id = PodIdentity(op["podNamespace"], op["podName"], str(entry.get("podUID", "")))
    if op["op"] == "add":
        ifname = op["interface"] or next_ifname(delegates)
        if any(d.ifname == ifname for d in delegates):
            raise CNIError(INVALID_CONFIG, f"interface {ifname} already exists in the pod")
        element = json.dumps([{"name": op["network"], "interface": ifname}])
        if "/" in op["network"]:
            namespace, _, name = op["network"].partition("/")
            element = json.dumps([{"name": name, "namespace": namespace, "interface": ifname}])
        (selection,) = parse_networks(element, op["podNamespace"])
        ref = NetworkRef(SELECTION, selection.name, selection.namespace, selection=selection)
        (planned,) = build_plan([ref], [engine.resolve(ref)], ifname, {})
        delegate = planned.replace(is_default=False)
        request = sandbox_request(entry, "ADD", ifname)
        result = engine.run_add(request, delegate)
        delegates.append(delegate)
        results.append(result)
        entry["delegates"].append({**delegate.to_dict(), "result": result})
    else:
        index = next((i for i, d in enumerate(delegates) if d.ifname == op["interface"]), None)
        if index is None:
            raise CNIError(INVALID_CONFIG, f"the pod has no attachment {op['interface']}")
        if delegates[index].is_default:
            raise CNIError(INVALID_CONFIG, "the default network cannot be removed")
        request = sandbox_request(entry, "DEL", op["interface"])
        engine.run_del(request, delegates[index], results[index] or None)
        del delegates[index], results[index], entry["delegates"][index]
    entry.pop("format", None)
    engine.cache.save(str(entry["containerID"]), entry)
    pod = engine.fetch_pod(pod_id, retry=False)
    engine.publish_status(
        request.with_(ifname=str(entry.get("ifname", "eth0"))), pod_id, pod, delegates, results
    )
    return {"interfaces": [d.ifname for d in delegates]}
