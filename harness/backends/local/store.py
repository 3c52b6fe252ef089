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

import re
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from harness.backends.local import managedfields, strategies
from harness.backends.local.apierrors import APIError, Obj, clone, rfc3339
from harness.backends.local.deletion import Deletions
from harness.backends.local.objecttable import NO_OPTIONS, WriteOptions, check_resource_version
from harness.backends.local.patches import apply_patch
from harness.backends.local.resources import (
    CRDS,
    INITIAL_NAMESPACES,
    NAMESPACES,
    PODS,
    ResourceType,
    nad_crd_manifest,
)
from harness.backends.local.selectors import FieldSelector, LabelSelector
from harness.backends.local.strategies import meta_of
from harness.backends.local.watchhub import WatchEvent, WatchFilter, expired_message


class Store(Deletions):
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
        super().__init__(history=history, clock=clock, bookmark_interval=bookmark_interval)
        for ns in INITIAL_NAMESPACES:
            self.create(NAMESPACES, {"metadata": {"name": ns}})
        self.create(CRDS, nad_crd_manifest())
        # The boot-time writes are compacted away, as on a real server whose
        # etcd has been compacted: a watch from resourceVersion=1 is 410 Gone
        # (the client relists) rather than a replay of the whole history.
        self.compact()

    def create(
        self,
        resource: str | ResourceType,
        obj: Obj,
        namespace: str | None = None,
        opts: WriteOptions = NO_OPTIONS,
    ) -> Obj:
        """POST: a new object (409 AlreadyExists if taken; ``generateName`` honoured)."""
        rt = self.resolve(resource)
        if not isinstance(obj, dict):
            raise APIError.bad_request(f"a {rt.kind} must be a JSON object")
        obj = clone(obj)
        strategies.check_type(rt, obj)
        meta = meta_of(obj)
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
                    name = prefix + "".join(
                        secrets.choice(strategies.NAME_ALPHABET) for _ in range(5)
                    )
                    if self._key(rt, ns, name) not in self._objects[rt]:
                        break
            if not isinstance(name, str):
                raise APIError.bad_request("metadata.name must be a string")
            problem = strategies.name_problem(rt, name)
            if problem:
                raise APIError.invalid(rt, name, [("metadata.name", problem)])
            strategies.check_string_map(rt, name, meta, "labels")
            strategies.check_string_map(rt, name, meta, "annotations")
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
            strategies.prepare_create(rt, obj, name)
            if not opts.applied:
                meta.pop("managedFields", None)
                if opts.manager:
                    meta["managedFields"] = managedfields.record_update(
                        None, obj, opts.manager, rt.api_version, rfc3339(now)
                    )
            if opts.dry_run:
                return clone(strategies.ordered(rt, obj))
            meta["resourceVersion"] = self._next_rv()
            stored = strategies.ordered(rt, obj)
            self._objects[rt][key] = stored
            self._record("ADDED", rt, stored, None)
            return clone(stored)

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
        opts: WriteOptions = NO_OPTIONS,
    ) -> Obj:
        if not isinstance(obj, dict):
            raise APIError.bad_request(f"a {rt.kind} must be a JSON object")
        obj = clone(obj)
        strategies.check_type(rt, obj)
        meta = meta_of(obj)
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
            new = strategies.build_update(rt, old, obj, subresource)
            return self._commit_update(rt, old, new, replace(opts, subresource=subresource))

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
        opts: WriteOptions = NO_OPTIONS,
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
            strategies.check_type(rt, patched)
            pmeta = meta_of(patched)
            if pmeta.get("name", name) != name:
                raise APIError.invalid(
                    rt, name, [("metadata.name", "Invalid value: field is immutable")]
                )
            check_resource_version(rt, name, old, pmeta.get("resourceVersion"))
            new = strategies.build_update(rt, old, patched, subresource)
            return self._commit_update(rt, old, new, replace(opts, subresource=subresource))

    def apply_raw(
        self,
        rt: ResourceType,
        name: str,
        config: Any,
        namespace: str | None,
        *,
        force: bool = False,
        subresource: str | None = None,
        opts: WriteOptions = NO_OPTIONS,
    ) -> tuple[Obj, bool]:
        """Server-side apply of ``config`` by ``opts.manager``: ``(object, created)``."""
        if not isinstance(config, dict):
            raise APIError.bad_request(f"an applied configuration must be a {rt.kind} object")
        if not opts.manager:
            raise APIError.bad_request(
                "PATCH with application/apply-patch+yaml requires fieldManager to be set"
            )
        if not config.get("apiVersion") or not config.get("kind"):
            raise APIError.bad_request(
                f"an applied {rt.kind} must set apiVersion and kind (server-side apply)"
            )
        strategies.check_type(rt, config)
        cmeta = meta_of(config)
        if cmeta.get("name", name) != name:
            raise APIError.bad_request(
                f"the name of the object ({cmeta.get('name')}) does not match the name on "
                f"the URL ({name})"
            )
        ns = self._ns_for(rt, namespace)
        now = rfc3339(self._clock())
        with self._lock:
            old = self._objects[rt].get(self._key(rt, ns, name))
            if old is None:
                if subresource is not None:
                    raise APIError.not_found(rt, name)
                obj = clone(config)
                meta_of(obj)["name"] = name
                meta_of(obj)["managedFields"] = managedfields.record_update(
                    None, obj, opts.manager, rt.api_version, now, None, "Apply",
                    managedfields.field_set(config),
                )  # fmt: skip
                return self.create(rt, obj, ns, replace(opts, applied=True)), True
            check_resource_version(rt, name, old, cmeta.get("resourceVersion"))
            merged = managedfields.apply(rt, old, config, opts.manager, force, now, subresource)
            new = strategies.build_update(rt, old, merged, subresource)
            new["metadata"]["managedFields"] = merged["metadata"]["managedFields"]
            done = self._commit_update(
                rt, old, new, replace(opts, subresource=subresource, applied=True)
            )
            return done, False

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
                cursor = self._hub.rv
            else:
                assert resource_version is not None
                if not re.fullmatch(r"[0-9]+", resource_version):
                    raise APIError.bad_request(
                        f"invalid resourceVersion {resource_version!r}: expected a number"
                    )
                cursor = int(resource_version)
                if cursor < self._hub.compacted:
                    expired = expired_message(cursor, self._hub.compacted)
        return self._hub.stream(
            WatchFilter(rt, namespace, lsel, fsel),
            cursor,
            initial,
            expired,
            deadline,
            bool(send_initial_events) and allow_bookmarks,
            allow_bookmarks,
            should_stop,
            poll,
        )
