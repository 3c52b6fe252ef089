"""Server-side printing: the ``meta.k8s.io/v1`` Table that ``kubectl get`` asks for.

kubectl sends ``Accept: application/json;as=Table;g=meta.k8s.io;v=v1`` and
prints the columns the server defines; these are the columns the real
registries print for the kinds we serve (other kinds get Name and Age, as
CRDs without additionalPrinterColumns do).
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable
from typing import Any

from harness.backends.local.apierrors import Obj


def wants_table(accept: str | None) -> bool:
    return bool(accept) and "as=Table" in str(accept) and "g=meta.k8s.io" in str(accept)


def human_duration(seconds: float) -> str:
    """Ages as kubectl prints them (apimachinery's HumanDuration rules)."""
    if seconds < -1:
        return "<invalid>"
    s = int(max(seconds, 0))
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def _age(timestamp: Any) -> str:
    if not isinstance(timestamp, str) or not timestamp:
        return "<unknown>"
    try:
        then = calendar.timegm(time.strptime(timestamp[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return "<unknown>"
    return human_duration(time.time() - then)


def _col(name: str, type_: str = "string", priority: int = 0, fmt: str = "") -> Obj:
    return {"name": name, "type": type_, "format": fmt, "description": name, "priority": priority}


def _pod_cells(o: Obj) -> list[Any]:
    spec, status, meta = o.get("spec") or {}, o.get("status") or {}, o["metadata"]
    statuses = status.get("containerStatuses") or []
    total = len(spec.get("containers") or [])
    ready = sum(1 for c in statuses if c.get("ready"))
    reason = status.get("reason") or status.get("phase") or "Unknown"
    for c in statuses:
        state = c.get("state") or {}
        waiting = (state.get("waiting") or {}).get("reason")
        terminated = (state.get("terminated") or {}).get("reason")
        if waiting or terminated:
            reason = waiting or terminated
    if meta.get("deletionTimestamp"):
        reason = "Terminating"
    restarts = sum(int(c.get("restartCount") or 0) for c in statuses)
    return [
        meta["name"],
        f"{ready}/{total}",
        reason,
        restarts,
        _age(meta.get("creationTimestamp")),
        status.get("podIP") or "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        "<none>",
    ]


def _node_cells(o: Obj) -> list[Any]:
    meta, spec, status = o["metadata"], o.get("spec") or {}, o.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    state = "Unknown"
    if ready is not None:
        state = "Ready" if ready.get("status") == "True" else "NotReady"
    if spec.get("unschedulable"):
        state += ",SchedulingDisabled"
    prefix = "node-role.kubernetes.io/"
    roles = sorted(k[len(prefix) :] for k in (meta.get("labels") or {}) if k.startswith(prefix))
    addrs = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    info = status.get("nodeInfo") or {}
    return [
        meta["name"],
        state,
        ",".join(roles) or "<none>",
        _age(meta.get("creationTimestamp")),
        info.get("kubeletVersion") or "",
        addrs.get("InternalIP") or "<none>",
        addrs.get("ExternalIP") or "<none>",
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


def _event_cells(o: Obj) -> list[Any]:
    meta, inv = o["metadata"], o.get("involvedObject") or {}
    source = o.get("source") or {}
    last = o.get("lastTimestamp") or o.get("eventTime") or meta.get("creationTimestamp")
    return [
        _age(last),
        o.get("type") or "",
        o.get("reason") or "",
        f"{str(inv.get('kind', '')).lower()}/{inv.get('name', '')}",
        inv.get("fieldPath") or "",
        ", ".join(x for x in (source.get("component"), source.get("host")) if x),
        o.get("message") or "",
        _age(o.get("firstTimestamp") or meta.get("creationTimestamp")),
        int(o.get("count") or 1),
        meta["name"],
    ]


_TABLE_COLUMNS: dict[str, tuple[list[Obj], Callable[[Obj], list[Any]]]] = {
    "Pod": (
        [
            _col("Name", fmt="name"),
            _col("Ready"),
            _col("Status"),
            _col("Restarts", "integer"),
            _col("Age"),
            _col("IP", priority=1),
            _col("Node", priority=1),
            _col("Nominated Node", priority=1),
            _col("Readiness Gates", priority=1),
        ],
        _pod_cells,
    ),
    "Namespace": (
        [_col("Name", fmt="name"), _col("Status"), _col("Age")],
        lambda o: [
            o["metadata"]["name"],
            (o.get("status") or {}).get("phase", ""),
            _age(o["metadata"].get("creationTimestamp")),
        ],
    ),
    "Node": (
        [
            _col("Name", fmt="name"),
            _col("Status"),
            _col("Roles"),
            _col("Age"),
            _col("Version"),
            _col("Internal-IP", priority=1),
            _col("External-IP", priority=1),
            _col("OS-Image", priority=1),
            _col("Kernel-Version", priority=1),
            _col("Container-Runtime", priority=1),
        ],
        _node_cells,
    ),
    "Event": (
        [
            _col("Last Seen"),
            _col("Type"),
            _col("Reason"),
            _col("Object"),
            _col("Subobject", priority=1),
            _col("Source", priority=1),
            _col("Message"),
            _col("First Seen", priority=1),
            _col("Count", "integer", priority=1),
            _col("Name", priority=1),
        ],
        _event_cells,
    ),
    "CustomResourceDefinition": (
        [_col("Name", fmt="name"), _col("Created At", "date")],
        lambda o: [o["metadata"]["name"], o["metadata"].get("creationTimestamp", "")],
    ),
}


def _name_age(
    *middle: tuple[str, Callable[[Obj], Any]],
) -> tuple[list[Obj], Callable[[Obj], list[Any]]]:
    """Columns Name, the given ones, Age (the shape of most kinds' tables)."""
    cols = [_col("Name", fmt="name"), *(_col(title) for title, _ in middle), _col("Age")]

    def cells(o: Obj) -> list[Any]:
        return [
            o["metadata"]["name"],
            *(get(o) for _, get in middle),
            _age(o["metadata"].get("creationTimestamp")),
        ]

    return cols, cells


def _spec(o: Obj) -> Obj:
    return o.get("spec") or {}


def _status(o: Obj) -> Obj:
    return o.get("status") or {}


def _ports(o: Obj) -> str:
    out = []
    for p in _spec(o).get("ports") or []:
        port = f"{p.get('port', '')}"
        if p.get("nodePort"):
            port += f":{p['nodePort']}"
        out.append(f"{port}/{p.get('protocol', 'TCP')}")
    return ",".join(out) or "<none>"


# The columns of the real printers (pkg/printers/internalversion) for the stored kinds.
_TABLE_COLUMNS.update(
    {
        "ConfigMap": _name_age(
            ("Data", lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {}))
        ),
        "Secret": _name_age(
            ("Type", lambda o: o.get("type") or "Opaque"),
            ("Data", lambda o: len(o.get("data") or {})),
        ),
        "ServiceAccount": _name_age(("Secrets", lambda o: len(o.get("secrets") or []))),
        "Service": _name_age(
            ("Type", lambda o: _spec(o).get("type") or "ClusterIP"),
            ("Cluster-IP", lambda o: _spec(o).get("clusterIP") or "<none>"),
            ("External-IP", lambda o: ",".join(_spec(o).get("externalIPs") or []) or "<none>"),
            ("Port(s)", _ports),
        ),
        "Deployment": _name_age(
            (
                "Ready",
                lambda o: f"{_status(o).get('readyReplicas', 0)}/{_spec(o).get('replicas', 1)}",
            ),
            ("Up-to-date", lambda o: _status(o).get("updatedReplicas", 0)),
            ("Available", lambda o: _status(o).get("availableReplicas", 0)),
        ),
        "ReplicaSet": _name_age(
            ("Desired", lambda o: _spec(o).get("replicas", 1)),
            ("Current", lambda o: _status(o).get("replicas", 0)),
            ("Ready", lambda o: _status(o).get("readyReplicas", 0)),
        ),
        "DaemonSet": _name_age(
            ("Desired", lambda o: _status(o).get("desiredNumberScheduled", 0)),
            ("Current", lambda o: _status(o).get("currentNumberScheduled", 0)),
            ("Ready", lambda o: _status(o).get("numberReady", 0)),
            ("Up-to-date", lambda o: _status(o).get("updatedNumberScheduled", 0)),
            ("Available", lambda o: _status(o).get("numberAvailable", 0)),
            (
                "Node Selector",
                lambda o: (
                    ",".join(
                        f"{k}={v}"
                        for k, v in sorted(
                            ((_spec(o).get("template") or {}).get("spec") or {})
                            .get("nodeSelector", {})
                            .items()
                        )
                    )
                    or "<none>"
                ),
            ),
        ),
        "Lease": _name_age(("Holder", lambda o: _spec(o).get("holderIdentity") or "")),
    }
)

_DEFAULT_COLUMNS: tuple[list[Obj], Callable[[Obj], list[Any]]] = (
    [_col("Name", fmt="name"), _col("Age")],
    lambda o: [o["metadata"]["name"], _age(o["metadata"].get("creationTimestamp"))],
)


def table_for(
    kind: str,
    items: list[Obj],
    meta: Obj | None,
    *,
    include_object: str = "Metadata",
    headers: bool = True,
) -> Obj:
    columns, cells = _TABLE_COLUMNS.get(kind, _DEFAULT_COLUMNS)
    rows: list[Obj] = []
    for obj in items:
        row: Obj = {"cells": cells(obj)}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
        rows.append(row)
    table: Obj = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta or {}}
    if headers:
        table["columnDefinitions"] = columns
    table["rows"] = rows
    return table
