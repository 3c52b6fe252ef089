"""The harness acting as the node's runtime for one CNI call (the ``cni`` step).

The simulated kubelet only ever sends correct requests. Conformance needs the
others too: CHECK of a running pod, DEL repeated after the kubelet's, VERSION,
STATUS and GC, and ADD with a wrong pod UID. This module makes those calls
through the kubelet's own runtime (:class:`~harness.backends.local.podnetwork.
NodeRuntime`: its requests, config, executor and result cache, and
:mod:`harness.cniruntime.ops`, never pymultus), so the plugin sees exactly what
the kubelet would send, plus the step's overrides. The result is the
meta-plugin's stdout as printed, never converted to another version. It never
changes what the kubelet remembers: a call on a pod's sandbox leaves the
kubelet's sandbox and result cache alone.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable
from typing import Any

from harness.backends.local.kubelet import Kubelet, Sandbox
from harness.backends.local.podnetwork import NODE_BIN_DIR, POD_IFNAME, runtime_config
from harness.cluster import CNICall, CNICallOutcome, SandboxError
from harness.cniruntime.config import NetworkConfigList
from harness.cniruntime.errors import CNIError
from harness.cniruntime.ops import (
    add_list,
    check_list,
    del_list,
    gc_list,
    status_list,
    version_of,
    version_request,
)
from harness.cniruntime.request import CNIRequest
from harness.cniruntime.version import at_least

#: Commands that act on one attachment (a sandbox); the others concern the plugin.
ATTACHMENT_COMMANDS = ("ADD", "DEL", "CHECK")
NODE_COMMANDS = ("VERSION", "STATUS", "GC")


def runtime_skip(command: str, ncl: NetworkConfigList) -> str:
    """Why a runtime would not invoke the plugins for ``command`` at all ("" = it would).

    CNI SPEC.md Section 3: CHECK exists from 0.4.0 and is skipped with
    ``disableCheck``; STATUS and GC exist from 1.1.0 (v1.1.0 Section 2), GC is
    skipped with ``disableGC``.
    """
    if command == "CHECK":
        if ncl.disable_check:
            return f"network {ncl.name!r} sets disableCheck: the runtime does not CHECK it"
        if not at_least(ncl.cni_version, "0.4.0"):
            return f"network {ncl.name!r} is cniVersion {ncl.cni_version}: CHECK needs 0.4.0"
    if command in ("STATUS", "GC") and not at_least(ncl.cni_version, "1.1.0"):
        return f"network {ncl.name!r} is cniVersion {ncl.cni_version}: {command} needs 1.1.0"
    if command == "GC" and ncl.disable_gc:
        return f"network {ncl.name!r} sets disableGC: the runtime does not GC it"
    return ""


def override_args(
    args: tuple[tuple[str, str], ...], changes: tuple[tuple[str, str | None], ...]
) -> tuple[tuple[str, str], ...]:
    """CNI_ARGS with ``changes`` applied: a key's value replaced in place, a new key
    appended, a key given None removed."""
    out = list(args)
    for key, value in changes:
        present = any(k == key for k, _ in out)
        if value is None:
            out = [(k, v) for k, v in out if k != key]
        elif present:
            out = [(k, value if k == key else v) for k, v in out]
        else:
            out.append((key, value))
    return tuple(out)


def apply_overrides(request: CNIRequest, call: CNICall) -> CNIRequest:
    """The kubelet's request with the step's overrides."""
    changes: dict[str, Any] = {"args": override_args(request.args, call.args)}
    if call.ifname is not None:
        changes["ifname"] = call.ifname
    if call.netns is not None:
        changes["netns"] = call.netns
    if call.container_id is not None:
        changes["container_id"] = call.container_id
    return request.with_(**changes)


class CallTarget:
    """The kubelet, sandbox and pod object one call is made for."""

    def __init__(self, kubelet: Kubelet, sandbox: Sandbox | None, pod: dict[str, Any]) -> None:
        self.kubelet = kubelet
        self.sandbox = sandbox
        self.pod = pod


def find_target(
    call: CNICall,
    kubelets: dict[str, Kubelet],
    get_pod: Callable[[str, str], dict[str, Any] | None],
) -> CallTarget:
    """Which kubelet and sandbox answer for ``call``: the pod's current sandbox,
    else the last one torn down (a DEL repeated after the kubelet's), else, for
    a node-level command, the node."""
    if not call.pod:
        if call.node not in kubelets:
            raise LookupError(f"cni: no node {call.node!r} (nodes: {sorted(kubelets)})")
        return CallTarget(kubelets[call.node], None, {})
    pod = get_pod(call.namespace, call.pod)
    key = f"{call.namespace}/{call.pod}"
    if pod is not None:
        node = str((pod.get("spec") or {}).get("nodeName") or "")
        kubelet = kubelets.get(node)
        if kubelet is None:
            raise LookupError(f"cni: pod {key} is not bound to a node yet")
        sandbox = kubelet.sandbox_by_uid(str(pod["metadata"].get("uid", "")))
        if sandbox is None and not call.new_sandbox:
            raise LookupError(f"cni: pod {key} has no sandbox yet; wait for it first")
        return CallTarget(kubelet, sandbox, pod)
    for kubelet in kubelets.values():
        with kubelet.lock:
            removed = kubelet.removed.get(key)
        if removed is not None:
            return CallTarget(kubelet, removed[0], removed[1])
    raise LookupError(f"cni: pod {key} does not exist and never had a sandbox")


def make_call(
    call: CNICall,
    target: CallTarget,
    new_netns: Callable[[str], None],
    drop_netns: Callable[[str], None],
    list_links: Callable[[str], list[str]],
    cluster_id: str,
) -> CNICallOutcome:
    """Run ``call`` against ``target``; every CNI error becomes the outcome's error."""
    started = time.monotonic()
    kubelet = target.kubelet
    if call.command not in ATTACHMENT_COMMANDS:
        return node_call(call, kubelet, started)
    sandbox = target.sandbox
    created = ""
    if call.new_sandbox:
        meta = target.pod["metadata"]
        sandbox = Sandbox(
            pod_key=f"{meta['namespace']}/{meta['name']}",
            uid=str(meta.get("uid", "")),
            container_id=secrets.token_hex(32),
            netns=f"{cluster_id}-cni{secrets.token_hex(4)}",
        )
        new_netns(sandbox.netns)
        created = sandbox.netns
    assert sandbox is not None  # find_target guarantees one unless new_sandbox
    request = apply_overrides(kubelet.request(call.command, sandbox, target.pod), call)
    env = tuple(sorted(request.to_env().items()))
    links: tuple[str, ...] | None = None
    result: dict[str, Any] | None = None
    error: SandboxError | None = None
    skipped = ""
    cleanup: SandboxError | None = None
    try:
        ncl = kubelet.network_config()
        config = runtime_config(target.pod)
        cached = kubelet.cache.load(ncl.name, request.container_id, request.ifname)
        prev = cached
        skipped = runtime_skip(call.command, ncl)
        if skipped:
            pass
        elif call.command == "ADD":
            result = add_list(ncl, request, config, kubelet.executor())
        elif call.command == "DEL":
            del_list(ncl, request, config, prev, kubelet.executor())
        else:
            check_list(ncl, request, config, prev, kubelet.executor())
    except CNIError as exc:
        error = SandboxError(exc.code, str(exc))
    finally:
        if created:
            links = tuple(list_links(created))
            if result is not None:  # leave nothing behind: DEL with the ADD's result
                try:
                    ncl = kubelet.network_config()
                    del_list(
                        ncl,
                        request.with_(command="DEL"),
                        runtime_config(target.pod),
                        result,
                        kubelet.executor(),
                    )
                except CNIError as exc:
                    cleanup = SandboxError(exc.code, str(exc))
            with contextlib.suppress(Exception):
                drop_netns(created)
    return CNICallOutcome(
        command=call.command,
        error=error,
        result=result,
        skipped=skipped,
        links=links,
        env=env,
        cleanup_error=cleanup,
        seconds=time.monotonic() - started,
    )


def node_call(call: CNICall, kubelet: Kubelet, started: float) -> CNICallOutcome:
    """VERSION, STATUS or GC on the node's first config."""
    result: dict[str, Any] | None = None
    error: SandboxError | None = None
    skipped = ""
    request = (
        version_request()
        if call.command == "VERSION"
        else CNIRequest(command=call.command, path=(NODE_BIN_DIR,))
    )
    try:
        ncl = kubelet.network_config()
        skipped = runtime_skip(call.command, ncl)
        if skipped:
            pass
        elif call.command == "VERSION":
            # What the reference runtime library sends: only cniVersion on stdin.
            version = call.cni_version or ncl.cni_version
            plugin = str(ncl.plugins[0]["type"])
            result = version_of(plugin, version, kubelet.executor(), path=(NODE_BIN_DIR,))
        elif call.command == "STATUS":
            status_list(ncl, kubelet.executor(), path=(NODE_BIN_DIR,))
        else:  # GC: every attachment the node's runtime holds is valid
            with kubelet.lock:
                ready = [s for s in kubelet.sandboxes.values() if s.ready]
            valid = [{"containerID": s.container_id, "ifname": POD_IFNAME} for s in ready]
            gc_list(ncl, valid, kubelet.executor(), path=(NODE_BIN_DIR,))
    except CNIError as exc:
        error = SandboxError(exc.code, str(exc))
    return CNICallOutcome(
        command=call.command,
        error=error,
        result=result,
        skipped=skipped,
        env=tuple(sorted(request.to_env().items())),
        seconds=time.monotonic() - started,
    )
