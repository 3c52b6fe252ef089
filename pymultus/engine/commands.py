"""The per-command operations of the engine: ADD with rollback, DEL in reverse,
CHECK, STATUS, GC, default-route, and :func:`run_command` (the one dispatch
the thin plugin and the daemon share). The pod, its NADs and devices come
from :mod:`pymultus.engine.resolve`; network-status and events go out
through :mod:`pymultus.engine.publish`.
"""

from __future__ import annotations

import os
import time

# collections.abc without importing collections (~1.3 ms per CNI call, issue 16)
from _collections_abc import Callable, Mapping

from pymultus import podnet
from pymultus.cni.conflist import (
    add_list,
    check_list,
    check_valid_attachments,
    del_list,
    gc_list,
    plugin_conf,
    status_list,
)
from pymultus.cni.errors import (
    INCOMPATIBLE_VERSION,
    INVALID_CONFIG,
    INVALID_ENV,
    NOT_AVAILABLE,
    UNKNOWN_CONTAINER,
    CNIError,
)
from pymultus.cni.record import Record, init_fields
from pymultus.cni.request import DEL, CNIRequest
from pymultus.cni.result import convert_result
from pymultus.cni.version import at_least
from pymultus.engine.publish import DEVICE_INFO_DIR
from pymultus.engine.resolve import (
    PodIdentity,
    Resolving,
)
from pymultus.log import Logger
from pymultus.model.config import MultusConfig
from pymultus.model.selection import ip_version
from pymultus.plan import (
    Delegate,
    delegate_network_config,
)
from pymultus.state import DelegateCache

TYPE_CHECKING = False  # importing typing costs ~2 ms per CNI call: mypy reads this as True
if TYPE_CHECKING:
    # Types only: typing stays off the CNI path (issue 16).
    from typing import Any

    from pymultus.cni.seams import Executor
    from pymultus.seams import KubeAPI, LinkLister, PodResources, RouteSetter


class Engine(Resolving, Record):
    # The attributes the rooms share are declared on Publishing; these are the
    # engine's own.
    set_route: RouteSetter
    list_links: LinkLister
    is_own_netns: Callable[[str], bool]

    __slots__ = (
        "cache",
        "cfg",
        "device_info_dir",
        "execute",
        "is_own_netns",
        "kube",
        "list_links",
        "log",
        "monotonic",
        "pod_resources",
        "set_route",
        "sleep",
    )

    def __init__(
        self,
        cfg: MultusConfig,
        execute: Executor,
        cache: DelegateCache,
        kube: KubeAPI | None,
        log: Logger,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        set_route: RouteSetter = podnet.set_default_route,
        list_links: LinkLister = podnet.list_links,
        pod_resources: PodResources | None = None,
        device_info_dir: str = DEVICE_INFO_DIR,
        is_own_netns: Callable[[str], bool] = podnet.is_own_netns,
    ) -> None:
        init_fields(
            self,
            cfg=cfg,
            execute=execute,
            cache=cache,
            kube=kube,
            log=log,
            sleep=sleep,
            monotonic=monotonic,
            set_route=set_route,
            list_links=list_links,
            pod_resources=pod_resources,
            device_info_dir=device_info_dir,
            is_own_netns=is_own_netns,
        )

    # ----------------------------------------------------------------- ADD
    def add(self, request: CNIRequest) -> dict[str, Any]:
        """Attach every network the pod asks for; return the default network's result.

        Fail fast (NPWG v1.3 section 7.2): on the first failing delegate the
        ones already added are deleted in reverse and the cache is removed,
        so a failed ADD leaves nothing behind and a later DEL has nothing to
        trip over.
        """
        self.wait_for_readiness_indicator()
        self.refuse_own_netns(request)
        pod_id = PodIdentity.from_request(request)
        pod = self.fetch_pod(pod_id, retry=True)
        delegates = self.plan(request, pod_id, pod)
        entry = self.cache_entry(request, pod_id, delegates)
        self.cache.save(request.container_id, entry)

        results: list[dict[str, Any]] = []
        for index, delegate in enumerate(delegates):
            try:
                if delegate.auxiliary:
                    results.append(self.run_chained_add(request, delegate, results[0]))
                    continue
                results.append(self.run_add(request, delegate))
            except CNIError as exc:
                self.log.error(f"ADD {delegate.status_name} ({delegate.ifname}) failed: {exc}")
                self.undo_add(request, entry, delegates[: index + 1], results)
                raise CNIError(
                    exc.code,
                    f"ADD of network {delegate.status_name} as {delegate.ifname} failed: "
                    f"{exc.msg}{host_link_hint(delegate.conf)}",
                    exc.details,
                ) from exc

        # Everything that can still fail happens before the status is written and
        # inside the rollback guard: a failed ADD leaves nothing behind. That
        # includes the second cache write (issue 15, item 3: ENOSPC there left
        # the interfaces and leases until the runtime's DEL).
        try:
            for item, result in zip(entry["delegates"], results, strict=True):
                item["result"] = result
            self.cache.save(request.container_id, entry)
            chosen = self.apply_default_routes(request, delegates)
            first = results[0]
            if chosen and any(index != 0 for index, _ in chosen.values()):
                moved = {family for family, (index, _) in chosen.items() if index != 0}
                first = without_default_routes(first, moved)
            # CNI SPEC.md section 4: the result in the version the caller asked for.
            answer = without_empty_dns(convert_result(first, self.cfg.cni_version))
            self.publish_status(request, pod_id, pod, delegates, results, chosen)
        except CNIError as exc:
            self.log.error(f"finishing ADD failed, rolling back: {exc}")
            for item in entry["delegates"]:
                item.pop("result", None)
            self.undo_add(request, entry, delegates, results)
            raise
        self.emit_added(pod_id, pod, delegates, results)
        return answer

    def refuse_own_netns(self, request: CNIRequest) -> None:
        """CNI_NETNS must not be the meta-plugin's own namespace (issue 15, item 7).

        CNI SPEC.md section 2: CNI_NETNS is the container's isolation domain.
        The node's own namespace is never one: the interfaces would land on
        the node. Refused (code 4) before any delegate runs.
        """
        if request.netns and self.is_own_netns(request.netns):
            raise CNIError(
                INVALID_ENV,
                f"CNI_NETNS {request.netns} is the network namespace pymultus runs in "
                "(the node's), not a container's",
                "the runtime must pass the pod sandbox's network namespace",
            )

    def undo_add(
        self,
        request: CNIRequest,
        entry: dict[str, Any],
        attempted: list[Delegate],
        results: list[dict[str, Any]],
    ) -> None:
        """Roll a failed ADD back and remember what is left to undo (issue 15, item 10).

        A delegate whose ADD succeeded but whose rollback DEL failed is still
        there: the cache keeps exactly those (with their results), marked
        ``rolledBack``, so the runtime's DEL retries them. Everything else was
        undone, or never created (its ADD failed), so nothing of it is kept:
        the runtime's DEL then finds no cache, recomputes the delegates and
        ignores the DEL errors of delegates whose ADD is not known to have
        succeeded (a macvlan whose master is missing fails its DEL forever).
        """
        failed = self.rollback(request, attempted, results)
        left = [index for index in failed if index < len(results)]
        if left:
            items = []
            for index in left:
                item = attempted[index].to_dict()
                item["result"] = results[index]
                items.append(item)
            try:
                self.cache.save(
                    request.container_id, {**entry, "delegates": items, "rolledBack": True}
                )
                return
            except CNIError as exc:
                self.log.error(f"cannot record what the rollback left: {exc}")
        try:
            self.cache.remove(request.container_id)
        except CNIError as exc:
            self.log.error(f"cannot remove the delegate cache after a failed ADD: {exc}")

    def apply_default_routes(
        self, request: CNIRequest, delegates: list[Delegate]
    ) -> dict[int, tuple[int, str]]:
        """Install requested default routes; ``{family: (delegate index, gateway)}``.

        NPWG v1.3 4.1.2.1.8: the requested gateway becomes the only default
        route of its family. More than one gateway per family was refused
        while planning (model.selection.default_route_gateways_by_family).
        """
        chosen: dict[int, tuple[int, str]] = {}
        for index, delegate in enumerate(delegates):
            for gateway in delegate.default_route:
                family = ip_version(gateway)
                if family is None or family in chosen:
                    continue
                chosen[family] = (index, gateway)
        for family, (index, gateway) in sorted(chosen.items()):
            ifname = delegates[index].ifname
            self.log.verbose(f"default-route: IPv{family} via {gateway} dev {ifname}")
            self.set_route(request.netns, family, ifname, gateway)
        return chosen

    def run_add(self, request: CNIRequest, delegate: Delegate) -> dict[str, Any]:
        ncl = delegate_network_config(delegate.conf, f"network {delegate.status_name}")
        self.log.verbose(f"ADD {delegate.status_name} as {delegate.ifname}")
        return add_list(
            ncl, request.with_(ifname=delegate.ifname), delegate.runtime_config, self.execute
        )

    def run_chained_add(
        self, request: CNIRequest, delegate: Delegate, prev: dict[str, Any]
    ) -> dict[str, Any]:
        """ADD a chained config whose first plugin gets ``prev`` (CNI SPEC.md section 3)."""
        ncl = delegate_network_config(delegate.conf, f"auxiliary chain {delegate.status_name}")
        self.log.verbose(f"ADD auxiliary chain {delegate.status_name} on {delegate.ifname}")
        req = request.with_(command="ADD", ifname=delegate.ifname)
        for plugin in ncl.plugins:
            if prev.get("cniVersion") != ncl.cni_version:
                prev = convert_result({"cniVersion": ncl.cni_version, **prev}, ncl.cni_version)
            conf = plugin_conf(ncl, plugin, delegate.runtime_config, prev)
            prev = self.execute(plugin["type"], "ADD", conf, req) or prev
        return prev

    def rollback(
        self, request: CNIRequest, attempted: list[Delegate], results: list[dict[str, Any]]
    ) -> list[int]:
        """DEL what an ADD attempted, newest first; the indices whose DEL failed.

        The failing delegate is included: a plugin that failed half-way may
        have created something, and DEL is idempotent by spec.
        """
        failed: list[int] = []
        for index in range(len(attempted) - 1, -1, -1):
            prev = results[index] if index < len(results) else None
            try:
                self.run_del(request, attempted[index], prev)
            except CNIError as exc:
                self.log.error(f"rollback DEL of {attempted[index].status_name} failed: {exc}")
                failed.append(index)
        return sorted(failed)

    # ----------------------------------------------------------------- DEL
    def delete(self, request: CNIRequest) -> None:
        """Detach everything; succeed when there is nothing left to clean.

        Delegates come from the cache; without one they are recomputed from
        the pod and its NADs; when that is impossible too, nothing is known
        to clean and DEL succeeds (a sandbox must never get stuck).
        """
        request = self.del_request(request)
        entry = self.cache.load(request.container_id)
        cached = cached_delegates(entry) if entry is not None else None
        if entry is not None and cached is None:
            self.log.error(
                f"DEL {request.container_id}: the delegate cache has the wrong shape; "
                "treating it as absent"
            )
        items: list[tuple[Delegate, dict[str, Any] | None, bool]]
        if cached is not None:
            items = cached
        else:
            try:
                pod_id = PodIdentity.from_request(request)
                pod = self.fetch_pod(pod_id, retry=False)
                items = [(d, None, False) for d in self.plan(request, pod_id, pod)]
            except CNIError as exc:
                self.log.error(
                    f"DEL {request.container_id}: no cache and cannot recompute the "
                    f"delegates ({exc}); nothing to clean"
                )
                self.remove_cache_quietly(request.container_id)
                return

        failures: list[str] = []
        first: CNIError | None = None
        for delegate, prev, added in reversed(items):
            try:
                self.run_del(request, delegate, prev)
            except CNIError as exc:
                if not added:
                    # Issue 15, item 10: its ADD never succeeded (a rolled-back or
                    # interrupted ADD, or no cache): nothing of it is known to
                    # exist, so its DEL error must not make the pod undeletable.
                    self.log.error(
                        f"DEL of {delegate.status_name} ({delegate.ifname}), whose ADD never "
                        f"succeeded, failed; ignored: {exc}"
                    )
                    continue
                failures.append(f"{delegate.status_name} ({delegate.ifname}): {exc}")
                first = first or exc
        if first is None or not self.cfg.retry_delete_on_error:
            self.remove_cache_quietly(request.container_id)
        if first is not None:
            raise CNIError(
                first.code,
                f"DEL failed for {len(failures)} of {len(items)} networks",
                "; ".join(failures),
            )

    def del_request(self, request: CNIRequest) -> CNIRequest:
        """DEL with the node's own namespace as CNI_NETNS runs without a netns.

        Issue 15, item 7: delegates told to DEL inside the node's namespace
        would remove the node's links of those names; without CNI_NETNS they
        only release what they hold (CNI SPEC.md section 2: DEL may come
        without a netns).
        """
        if request.netns and self.is_own_netns(request.netns):
            self.log.error(
                f"DEL {request.container_id}: CNI_NETNS {request.netns} is the node's own "
                "network namespace; running the delegates' DEL without it"
            )
            return request.with_(netns="")
        return request

    def remove_cache_quietly(self, container_id: str) -> None:
        """Remove the cache; a DEL with nothing left to undo succeeds even if this fails."""
        try:
            self.cache.remove(container_id)
        except CNIError as exc:
            self.log.error(f"DEL {container_id}: {exc}; nothing of the pod is left to undo")

    def run_del(
        self, request: CNIRequest, delegate: Delegate, prev_result: dict[str, Any] | None
    ) -> None:
        ncl = delegate_network_config(delegate.conf, f"network {delegate.status_name}")
        self.log.verbose(f"DEL {delegate.status_name} as {delegate.ifname}")
        del_list(
            ncl,
            request.with_(ifname=delegate.ifname),
            delegate.runtime_config,
            prev_result,
            self.execute,
        )

    # ------------------------------------------------------------ planning
    def cache_entry(
        self, request: CNIRequest, pod_id: PodIdentity | None, delegates: list[Delegate]
    ) -> dict[str, Any]:
        return {
            "containerID": request.container_id,
            "netns": request.netns,
            "ifname": request.ifname,
            "podNamespace": pod_id.namespace if pod_id else "",
            "podName": pod_id.name if pod_id else "",
            "podUID": pod_id.uid if pod_id else "",
            "args": [list(pair) for pair in request.args],
            "delegates": [d.to_dict() for d in delegates],
        }

    def check(self, request: CNIRequest) -> None:
        """CHECK every attachment the cache knows, each with its own prevResult.

        CNI SPEC.md section 3 "Checking an attachment": forwarded to every
        delegate (the reference checks only `delegates` configs). Before
        that, one look at the pod's links: an attachment whose interface is
        gone fails even when its plugin is too old (< 0.4.0) to CHECK.
        """
        if not at_least(self.cfg.cni_version, "0.4.0"):
            raise CNIError(
                INCOMPATIBLE_VERSION,
                f"CHECK needs cniVersion 0.4.0 or newer; this configuration is "
                f"{self.cfg.cni_version}",
            )
        entry = self.cache.load(request.container_id)
        if entry is None:
            raise CNIError(
                UNKNOWN_CONTAINER,
                f"CHECK: nothing is known about container {request.container_id}",
                f"no delegate cache in {self.cfg.cni_dir}: CHECK must follow a successful ADD",
            )
        cached = cached_delegates(entry)
        if cached is None:
            raise CNIError(
                UNKNOWN_CONTAINER,
                f"CHECK: the delegate cache of container {request.container_id} is unreadable",
                f"the file in {self.cfg.cni_dir} has the wrong shape; the runtime should DEL "
                "and ADD the sandbox again",
            )
        delegates = [d for d, _, _ in cached]
        items = [{"result": prev} if prev is not None else {} for _, prev, _ in cached]
        if request.netns:
            links = self.list_links(request.netns)
            missing = [d for d in delegates if d.ifname not in links]
            if missing:
                names = ", ".join(f"{d.ifname} ({d.status_name})" for d in missing)
                raise CNIError(
                    INVALID_CONFIG,
                    f"CHECK: interface {names} is missing from the pod's network namespace",
                    f"{request.netns} has {', '.join(sorted(links))}",
                )
        for delegate, item in zip(delegates, items, strict=True):
            ncl = delegate_network_config(delegate.conf, f"network {delegate.status_name}")
            try:
                check_list(
                    ncl,
                    request.with_(ifname=delegate.ifname),
                    delegate.runtime_config,
                    item.get("result"),
                    self.execute,
                )
            except CNIError as exc:
                raise CNIError(
                    exc.code,
                    f"CHECK of network {delegate.status_name} as {delegate.ifname} failed: "
                    f"{exc.msg}",
                    exc.details,
                ) from exc

    # -------------------------------------------------------------- STATUS
    def status(self, request: CNIRequest) -> None:
        """STATUS (CNI 1.1.0): ready when the default network and every delegate are.

        Not ready (code 50) while ``readinessindicatorfile`` is missing or a
        configured network cannot be resolved; a delegate's own STATUS error
        is passed on with its code, naming the network.
        """
        path = self.cfg.readiness_indicator_file
        if path and not os.path.exists(path):
            raise CNIError(
                NOT_AVAILABLE,
                f"the default network is not ready: readinessindicatorfile {path} does not exist",
            )
        try:
            networks = self.static_networks()
        except CNIError as exc:
            raise CNIError(
                NOT_AVAILABLE, f"cannot resolve a configured network: {exc.msg}", exc.details
            ) from exc
        networks += [
            (name, conf)
            for name, conf in self.cached_networks()
            if name not in {n for n, _ in networks}
        ]
        for name, conf in networks:
            ncl = delegate_network_config(conf, f"network {name}")
            try:
                status_list(ncl, self.execute, path=request.path or (self.cfg.bin_dir,))
            except CNIError as exc:
                raise CNIError(
                    exc.code, f"STATUS of network {name}: {exc.msg}", exc.details
                ) from exc

    def gc(self, request: CNIRequest, valid_attachments: Any) -> None:
        """GC (CNI 1.1.0): forget stale attachments, then GC every delegate.

        CNI SPEC.md v1.1.0 section 2 "GC": ``cni.dev/valid-attachments``
        lists the meta-plugin's attachments still in use (``containerID`` +
        ``ifname``). Every cached sandbox not listed is DELeted through its
        delegates and its cache removed; then each delegate network gets GC
        with the attachments it still serves (their container IDs and the
        interface names it made for them). Errors do not stop the rest; they
        are reported together at the end.
        """
        valid = parse_valid_attachments(valid_attachments)
        failures: list[str] = []
        first: CNIError | None = None
        kept: list[dict[str, Any]] = []
        for container_id, entry in self.cache_entries():
            if (container_id, str(entry.get("ifname", ""))) in valid:
                kept.append(entry)
                continue
            self.log.verbose(f"GC: removing stale attachment {container_id}")
            try:
                self.delete(request_from_cache(entry, container_id, request.path))
            except CNIError as exc:
                failures.append(f"DEL of stale {container_id}: {exc.msg}")
                first = first or exc

        per_network: dict[str, list[dict[str, str]]] = {}
        confs: dict[str, dict[str, Any]] = {}
        try:
            for name, conf in self.static_networks():
                confs.setdefault(name, conf)
                per_network.setdefault(name, [])
        except CNIError as exc:
            failures.append(f"resolving the configured networks: {exc.msg}")
            first = first or exc
        for entry in kept:
            for item in entry.get("delegates", []):
                if not isinstance(item, dict) or not isinstance(item.get("conf"), dict):
                    continue
                name = str(item.get("name"))
                confs.setdefault(name, item["conf"])
                per_network.setdefault(name, []).append(
                    {"containerID": str(entry.get("containerID")), "ifname": str(item["ifname"])}
                )
        for name, conf in confs.items():
            try:
                ncl = delegate_network_config(conf, f"network {name}")
                gc_list(ncl, per_network[name], self.execute, path=request.path)
            except CNIError as exc:
                failures.append(f"GC of network {name}: {exc.msg}")
                first = first or exc
        if first is not None:
            raise CNIError(first.code, f"GC failed ({len(failures)} problems)", "; ".join(failures))


def cached_delegates(
    entry: Mapping[str, Any],
) -> list[tuple[Delegate, dict[str, Any] | None, bool]] | None:
    """(delegate, its ADD result, whether its ADD succeeded) per cached delegate.

    None when the entry is valid JSON of the wrong shape (issue 15, item 4):
    the caller treats it as no cache. An ADD succeeded when its ``result``
    was recorded.
    """
    raw = entry.get("delegates", [])
    if not isinstance(raw, list):
        return None
    out: list[tuple[Delegate, dict[str, Any] | None, bool]] = []
    for item in raw:
        if not isinstance(item, Mapping):
            return None
        try:
            delegate = Delegate.from_dict(item)
            delegate_network_config(delegate.conf, f"network {delegate.status_name}")
        except (KeyError, TypeError, ValueError, CNIError):
            return None
        result = item.get("result")
        if result is not None and not isinstance(result, dict):
            return None
        out.append((delegate, result, "result" in item))
    return out


def parse_valid_attachments(value: Any) -> set[tuple[str, str]]:
    """``cni.dev/valid-attachments`` as a set of (containerID, ifname); absent: none."""
    if value is None:
        return set()
    return {(a["containerID"], a["ifname"]) for a in check_valid_attachments(value)}


def request_from_cache(
    entry: Mapping[str, Any], container_id: str, path: tuple[str, ...]
) -> CNIRequest:
    """The DEL request the runtime would have sent for a cached sandbox."""
    raw_args = entry.get("args")
    if isinstance(raw_args, list):
        args = tuple(
            (str(pair[0]), str(pair[1]))
            for pair in raw_args
            if isinstance(pair, list | tuple) and len(pair) == 2
        )
    else:
        args = tuple(
            (key, str(entry[field]))
            for key, field in (
                ("K8S_POD_NAMESPACE", "podNamespace"),
                ("K8S_POD_NAME", "podName"),
                ("K8S_POD_UID", "podUID"),
            )
            if entry.get(field)
        )
    return CNIRequest(
        command=DEL,
        container_id=container_id,
        netns=str(entry.get("netns") or ""),
        ifname=str(entry.get("ifname") or "eth0"),
        args=args,
        path=path,
    )


def without_empty_dns(result: dict[str, Any]) -> dict[str, Any]:
    """The ADD answer without an empty ``dns`` (CNI SPEC.md section 4: it is optional).

    Multus's result (CNI types 1.0.0 MarshalJSON) drops an empty ``dns``; so do we.
    """
    if result.get("dns") == {}:
        return {k: v for k, v in result.items() if k != "dns"}
    return result


def without_default_routes(result: dict[str, Any], families: set[int]) -> dict[str, Any]:
    """``result`` without its default routes of ``families`` (moved by default-route)."""
    routes = result.get("routes")
    if not isinstance(routes, list):
        return result
    kept = [
        route
        for route in routes
        if not (
            isinstance(route, dict)
            and route.get("dst") in ("0.0.0.0/0", "::/0")
            and (4 if route["dst"] == "0.0.0.0/0" else 6) in families
        )
    ]
    return {**result, "routes": kept}


def valid_attachments(conf: Mapping[str, Any]) -> Any:
    """GC's ``cni.dev/valid-attachments`` (or the draft name ``cni.dev/attachments``)."""
    if "cni.dev/valid-attachments" in conf:
        return conf["cni.dev/valid-attachments"]
    return conf.get("cni.dev/attachments")


def run_command(engine: Engine, request: CNIRequest, conf: Mapping[str, Any]) -> dict[str, Any]:
    """Run one CNI command (not VERSION) on the engine; returns what goes to stdout.

    The one dispatch shared by the thin plugin and the thick daemon, so both
    apply the same rules to the same commands.
    """
    if request.command == "ADD":
        return engine.add(request)
    if request.command == "DEL":
        engine.delete(request)
        return {}
    if request.command == "CHECK":
        engine.check(request)
        return {}
    if request.command in ("STATUS", "GC"):
        # CNI SPEC.md v1.1.0 section 2: STATUS and GC exist from 1.1.0 on.
        if not at_least(engine.cfg.cni_version, "1.1.0"):
            raise CNIError(
                INCOMPATIBLE_VERSION,
                f"CNI_COMMAND {request.command} needs cniVersion 1.1.0; this "
                f"configuration is {engine.cfg.cni_version}",
            )
        if request.command == "STATUS":
            engine.status(request)
        else:
            engine.gc(request, valid_attachments(conf))
        return {}
    raise CNIError(INVALID_ENV, f"CNI_COMMAND {request.command} is not supported by pymultus")


def host_link_hint(conf: dict[str, Any]) -> str:
    """`` (master eth9)``: the node interface a delegate builds on, so that an
    error such as "Link not found" names the interface at fault."""
    listed = conf.get("plugins")
    plugins: list[Any] = listed if isinstance(listed, list) else [conf]
    for plugin in plugins:
        if isinstance(plugin, dict):
            for key in ("master", "device"):
                if isinstance(plugin.get(key), str) and plugin[key]:
                    return f" ({key} {plugin[key]})"
    return ""
