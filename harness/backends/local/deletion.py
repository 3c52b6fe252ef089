"""DELETE and deletecollection: graceful pod deletion, finalizers, namespace termination.

As the real registries do: a pod bound to a node gets ``deletionTimestamp``
and stays until the kubelet's grace-0 delete (CNI DEL must run first); an
object with finalizers stays until the last one is removed; a namespace
turns Terminating, deletes its contents and goes when empty.
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.backends.local.apierrors import APIError, Obj, clone, rfc3339
from harness.backends.local.objecttable import Key, ObjectTable
from harness.backends.local.resources import NAMESPACES, PODS, PROTECTED_NAMESPACES, ResourceType


class Deletions(ObjectTable):
    """The delete verbs of the store."""

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
        dry_run: bool = False,
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
            if dry_run:
                return self._dry_run_delete(rt, old, grace_period_seconds)
            if rt is NAMESPACES:
                return self._delete_namespace(name, old), name not in (
                    k[1] for k in self._objects[NAMESPACES]
                )
            return self._delete_locked(rt, key, old, grace_period_seconds)

    def _dry_run_delete(self, rt: ResourceType, old: Obj, grace: int | None) -> tuple[Obj, bool]:
        """What a delete would answer (dryRun=All), changing nothing."""
        if rt is NAMESPACES and old["metadata"]["name"] in PROTECTED_NAMESPACES:
            raise APIError.forbidden(
                NAMESPACES, old["metadata"]["name"], "this namespace may not be deleted"
            )
        pending = (
            rt is NAMESPACES
            or bool(old["metadata"].get("finalizers"))
            or (rt is PODS and grace != 0 and self._pod_needs_graceful_delete(old))
        )
        if not pending:
            return old, True
        new = clone(old)
        new["metadata"].setdefault("deletionTimestamp", rfc3339(self._clock()))
        return new, False

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
        for rt in list(self._objects):
            if not rt.namespaced:
                continue
            for key, obj in sorted(self._objects[rt].items()):
                if key[0] == name and not obj["metadata"].get("deletionTimestamp"):
                    self._delete_locked(rt, key, obj, None)
        self._maybe_finalize_namespace(name)
        return self._objects[NAMESPACES].get(("", name), current)

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
