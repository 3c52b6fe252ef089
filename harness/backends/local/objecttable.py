"""The table of stored objects under the store: state, lookups, reads, the write log.

:class:`ObjectTable` holds what every verb needs (objects by type and key,
the lock, the global resourceVersion, the watch hub, the registry of served
types) and the primitives that keep them consistent; the verbs are in
:mod:`~harness.backends.local.deletion` and :mod:`~harness.backends.local.store`.
Every stored object is immutable: writes build a new dict and swap it in.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from harness.backends.local import managedfields
from harness.backends.local.apierrors import APIError, Obj, clone, rfc3339
from harness.backends.local.resources import (
    CRDS,
    NAMESPACES,
    PODS,
    Registry,
    ResourceType,
    types_from_crd,
)
from harness.backends.local.selectors import FieldSelector, LabelSelector
from harness.backends.local.strategies import meta_of
from harness.backends.local.watchhub import Entry, WatchHub

T = TypeVar("T")
Key = tuple[str, str]  # (namespace or "", name)


@dataclass(frozen=True)
class WriteOptions:
    """How a write is made: who makes it (field ownership), whether for real."""

    manager: str | None = None  # the field manager; None: ownership is not recorded
    dry_run: bool = False  # dryRun=All: validate and answer, store nothing
    subresource: str | None = None
    applied: bool = False  # server-side apply computed managedFields already


NO_OPTIONS = WriteOptions()


def check_resource_version(rt: ResourceType, name: str, old: Obj, want: Any) -> None:
    """Optimistic concurrency: a stated resourceVersion must be the stored one (409)."""
    if want and want != old["metadata"]["resourceVersion"]:
        raise APIError.conflict(
            rt,
            name,
            "the object has been modified; please apply your changes to the latest "
            "version and try again",
        )


def _untimed(entries: Any) -> Any:
    """managedFields without their timestamps: a repeated apply is no change."""
    if not isinstance(entries, list):
        return []
    return [{k: v for k, v in e.items() if k != "time"} for e in entries if isinstance(e, dict)]


class ObjectTable:
    """Objects with resourceVersions, the served types and the watch history."""

    def __init__(
        self,
        *,
        history: int = 4096,
        clock: Callable[[], float] = time.time,
        bookmark_interval: float = 60.0,
    ) -> None:
        self._lock = threading.RLock()
        self._hub = WatchHub(self._lock, history, bookmark_interval)
        self._cond = self._hub.cond
        self._clock = clock
        self.registry = Registry()
        self._objects: dict[ResourceType, dict[Key, Obj]] = {rt: {} for rt in self.registry.all()}

    @property
    def bookmark_interval(self) -> float:
        return self._hub.bookmark_interval

    @bookmark_interval.setter
    def bookmark_interval(self, value: float) -> None:
        self._hub.bookmark_interval = value

    # ---- lookup ---------------------------------------------------------

    def resolve(self, resource: str | ResourceType) -> ResourceType:
        with self._lock:
            return self.registry.resolve(resource)

    def served(self) -> tuple[ResourceType, ...]:
        """Every served resource type (built-in and from CRDs), for discovery."""
        with self._lock:
            return self.registry.all()

    def registry_groups(self) -> dict[str, list[str]]:
        """Served API groups and their versions."""
        with self._lock:
            return self.registry.groups()

    def find(self, group: str, version: str, plural: str) -> ResourceType | None:
        with self._lock:
            return self.registry.find(group, version, plural)

    @property
    def resource_version(self) -> str:
        with self._lock:
            return str(self._hub.rv)

    def _key(self, rt: ResourceType, namespace: str | None, name: str) -> Key:
        return ((namespace or "") if rt.namespaced else "", name)

    def _ns_for(self, rt: ResourceType, namespace: str | None, obj: Obj | None = None) -> str:
        if not rt.namespaced:
            return ""
        if namespace:
            return namespace
        if obj is not None:
            ns = meta_of(obj).get("namespace")
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
            rv = str(self._hub.rv)
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
        self._hub.record(Entry(self._hub.rv, type_, rt, obj, old))
        if rt is CRDS:
            self._crd_changed(type_, obj, old)

    def _next_rv(self) -> str:
        return str(self._hub.next_rv())

    def _crd_changed(self, type_: str, crd: Obj, old: Obj | None) -> None:
        """Serve (or stop serving) the resources a CRD defines, as apiextensions does."""
        if type_ == "DELETED":
            before, after = types_from_crd(crd), []
        else:
            before = types_from_crd(old) if old is not None else []
            after = types_from_crd(crd)
        for rt in before:
            if rt not in after:
                self.registry.remove(rt)
                self._objects.pop(rt, None)
        for rt in after:
            self._objects.setdefault(self.registry.add(rt), {})

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

    def _commit_update(
        self, rt: ResourceType, old: Obj, new: Obj, opts: WriteOptions = NO_OPTIONS
    ) -> Obj:
        """Store ``new`` unless it equals ``old``; delete if its last finalizer went away.

        Field ownership is recorded for ``opts.manager``; ``opts.dry_run``
        returns what would be stored and changes nothing.
        """
        meta = new["metadata"]
        meta["resourceVersion"] = old["metadata"]["resourceVersion"]
        applied_fields = meta.pop("managedFields", None) if opts.applied else None
        if "managedFields" in old["metadata"]:
            meta["managedFields"] = old["metadata"]["managedFields"]
        else:
            meta.pop("managedFields", None)
        ownership_changed = applied_fields is not None and _untimed(applied_fields) != _untimed(
            old["metadata"].get("managedFields")
        )
        if new == old and not ownership_changed:
            return old
        if applied_fields is not None:
            meta["managedFields"] = applied_fields
        elif opts.manager:
            meta["managedFields"] = managedfields.record_update(
                old, new, opts.manager, rt.api_version, rfc3339(self._clock()), opts.subresource
            )
        if not meta.get("managedFields"):
            meta.pop("managedFields", None)
        if opts.dry_run:
            return new
        spec_changed = any(
            new.get(k) != old.get(k)
            for k in set(new) | set(old)
            if k not in ("metadata", "status", "apiVersion", "kind")
        )
        if spec_changed:
            new["metadata"]["generation"] = int(old["metadata"].get("generation", 1)) + 1
        key = self._key(rt, new["metadata"].get("namespace"), new["metadata"]["name"])
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

    def _remove(self, rt: ResourceType, key: Key, last: Obj) -> Obj:
        gone = clone(last)
        gone["metadata"]["resourceVersion"] = self._next_rv()
        self._objects[rt].pop(key, None)
        self._record("DELETED", rt, gone, None)
        if rt.namespaced:
            self._maybe_finalize_namespace(key[0])
        return gone

    def _maybe_finalize_namespace(self, namespace: str) -> None:
        ns = self._objects[NAMESPACES].get(("", namespace))
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return
        for rt in list(self._objects):
            if rt.namespaced and any(k[0] == namespace for k in self._objects[rt]):
                return
        self._remove(NAMESPACES, ("", namespace), ns)

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
        self._hub.close()

    def wake(self) -> None:
        """Wake every watcher so it re-checks its stop condition at once."""
        self._hub.wake()

    def compact(self, resource_version: str | int | None = None) -> None:
        """Drop the watch history up to ``resource_version`` (default: now), as etcd
        compaction does: watches from an older version get 410 Expired."""
        with self._lock:
            rv = int(resource_version) if resource_version is not None else self._hub.rv
        self._hub.compact(rv)

    def counts(self) -> dict[str, int]:
        """How many objects of each resource: handy for leak checks."""
        with self._lock:
            return {rt.plural: len(objs) for rt, objs in self._objects.items()}

    def all_objects(self, resources: Iterable[str | ResourceType] = ()) -> list[Obj]:
        """Copies of every object (of the given resources): for dumps on failure."""
        wanted = [self.resolve(r) for r in resources] or list(self._objects)
        with self._lock:
            return [clone(o) for rt in wanted for _, o in sorted(self._objects[rt].items())]
