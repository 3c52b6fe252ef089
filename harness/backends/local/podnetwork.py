"""How a pod sandbox's network is set up and torn down: the kubelet's runtime seam.

The simulated kubelet (:mod:`kubelet`) owns a pod's life: watching the API,
admission, events, status, back-off and retries. What a container runtime
does for the sandbox's network is behind :class:`PodNetwork`, three calls
shaped like the CRI's:

- ``run(sandbox, pod)``: RunPodSandbox's network part. Create the network
  namespace, ADD the node's first network config, return the result exactly
  as printed. On a failed ADD the implementation tears down what it started
  (one DEL with the netns) as containerd does and raises the ADD's
  :class:`CNIError`. When that DEL succeeds the netns is removed; when it
  fails, its error is ``sandbox.cleanup_error`` and the netns *stays*: the
  sandbox is kept for the kubelet to stop later, as containerd keeps it
  (RunPodSandbox removes the netns only when every cleanup succeeded and
  otherwise stores the sandbox as SANDBOX_UNKNOWN). A failure of the runtime
  itself raises :class:`SandboxCreationError`.
- ``stop(sandbox, pod)``: StopPodSandbox. DEL with the netns (raises the
  CNIError and keeps the netns; the kubelet retries), then remove the netns.
- ``remove(sandbox, pod)``: RemovePodSandbox. DEL again with ``CNI_NETNS=""``
  and forget the cached result.

:class:`SimulatedPodNetwork` is the harness's own runtime
(:mod:`harness.cniruntime`, no pymultus); a CRI-backed implementation
(containerd under the node) can replace it per node.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any, Protocol

from harness.backends.local.topology import Node, Topology
from harness.cniruntime import ops
from harness.cniruntime.cache import ResultCache
from harness.cniruntime.config import NetworkConfigList, first_config
from harness.cniruntime.errors import CNIError
from harness.cniruntime.invoke import Invocation, ProcessExecutor
from harness.cniruntime.request import CNIRequest, containerd_args
from harness.wiretap import collect as wiretap
from harness.wiretap.install import record_path, wrap_bin_dir

NODE_BIN_DIR = "/opt/cni/bin"
NODE_CONF_DIR = "/etc/cni/net.d"
NODE_CACHE_DIR = "/var/lib/cni/results"
POD_IFNAME = "eth0"
PLUGIN_TIMEOUT = 60.0
#: The pod annotation key containerd passes as a capability argument (CRI plugin).
POD_ANNOTATIONS_CAPABILITY = "io.kubernetes.cri.pod-annotations"


class SandboxCreationError(Exception):
    """The runtime could not make the sandbox (not a CNI failure)."""


class SandboxLike(Protocol):
    """What the seam reads and writes of the kubelet's sandbox record."""

    container_id: str
    netns: str
    network: str
    cleanup_error: CNIError | None

    @property
    def netns_path(self) -> str: ...


class PodNetwork(Protocol):
    """A runtime's network lifecycle for pod sandboxes (see the module docstring)."""

    def run(self, sandbox: Any, pod: dict[str, Any]) -> dict[str, Any]: ...

    def stop(self, sandbox: Any, pod: dict[str, Any]) -> None: ...

    def remove(self, sandbox: Any, pod: dict[str, Any]) -> None: ...

    def plugin_type(self) -> str: ...


def runtime_config(pod: dict[str, Any]) -> dict[str, Any]:
    """Capability arguments containerd derives from the pod (its CRI plugin):
    ``portMappings`` from host ports, the pod's annotations. Each reaches a
    plugin only when it declares the capability (SPEC.md Section 4)."""
    mappings: list[dict[str, Any]] = []
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                mappings.append(
                    {
                        "hostPort": int(port["hostPort"]),
                        "containerPort": int(port["containerPort"]),
                        "protocol": str(port.get("protocol", "TCP")).lower(),
                    }
                )
    out: dict[str, Any] = {"portMappings": mappings} if mappings else {}
    annotations = (pod.get("metadata") or {}).get("annotations")
    if annotations:
        out[POD_ANNOTATIONS_CAPABILITY] = dict(annotations)
    return out


class NodeRuntime:
    """The harness as one node's CNI runtime: its config, requests, binaries, cache."""

    def __init__(
        self,
        node: Node,
        on_call: Callable[[Invocation], None] | None = None,
        timeout: float = PLUGIN_TIMEOUT,
    ) -> None:
        self.node = node
        self.cache = ResultCache(node.host_path(NODE_CACHE_DIR))
        self.on_call = on_call
        self.timeout = timeout
        self.tap = wiretap.enabled()
        bin_dir = node.host_path(NODE_BIN_DIR)
        #: The node's wiretap record (harness.wiretap), "" without the wiretap.
        self.wiretap_record = record_path(bin_dir) if self.tap else ""

    def wrap(self) -> None:
        """Put the wiretap in front of every binary of the node's bin dir (again:
        an installer may have put a new binary there meanwhile)."""
        if self.tap:
            wrap_bin_dir(self.node.host_path(NODE_BIN_DIR))

    def executor(self) -> ProcessExecutor:
        """Plugins run inside the node (its network and mount namespaces)."""
        self.wrap()
        return ProcessExecutor(
            [self.node.host_path(NODE_BIN_DIR)],
            base_env={"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")},
            timeout=self.timeout,
            argv_prefix=self.node.exec_prefix(),
            cni_path=(NODE_BIN_DIR,),
            on_call=self.on_call,
        )

    def network_config(self) -> NetworkConfigList:
        """The first config in the node's conf dir, re-read for every call."""
        try:
            return first_config(self.node.host_path(NODE_CONF_DIR), NODE_CONF_DIR)
        except CNIError as exc:
            raise CNIError(exc.code, f"{exc.msg} on {self.node.name}", exc.details) from None

    def request(self, command: str, sandbox: SandboxLike, pod: dict[str, Any]) -> CNIRequest:
        meta = pod["metadata"]
        return CNIRequest(
            command=command,
            container_id=sandbox.container_id,
            netns=sandbox.netns_path,
            ifname=POD_IFNAME,
            args=containerd_args(
                str(meta["namespace"]), str(meta["name"]), str(meta["uid"]), sandbox.container_id
            ),
            path=(NODE_BIN_DIR,),
        )

    def add(self, sandbox: SandboxLike, pod: dict[str, Any]) -> dict[str, Any]:
        ncl = self.network_config()
        sandbox.network = ncl.name
        request = self.request("ADD", sandbox, pod)
        config = runtime_config(pod)
        result = ops.add_list(ncl, request, config, self.executor())
        self.cache.save(
            ncl.name,
            sandbox.container_id,
            POD_IFNAME,
            ncl.raw_bytes,
            result,
            request.args,
            config,
        )
        return result

    def delete(self, sandbox: SandboxLike, pod: dict[str, Any], netns: str | None = None) -> None:
        """DEL with the cached result (the netns given, or the sandbox's)."""
        ncl = self.network_config()
        network = sandbox.network or ncl.name
        request = self.request("DEL", sandbox, pod)
        if netns is not None:
            request = request.with_(netns=netns)
        cached = self.cache.load(network, sandbox.container_id, POD_IFNAME)
        ops.del_list(ncl, request, runtime_config(pod), cached, self.executor())
        # libcni forgets the result once DEL succeeded: a second DEL has no prevResult.
        self.cache.remove(network, sandbox.container_id, POD_IFNAME)


def del_error_ignored(error: CNIError, netns: str) -> bool:
    """Whether containerd takes this failed DEL as done: its CNI library (go-cni,
    ``Remove``) skips a network whose DEL error says "not found" (a plugin telling
    it was already deleted), or "no such file or directory" when the netns path
    is empty (CNI SPEC v0.7.0 best-effort cleanup). Case-sensitive, as there."""
    text = f"{error.msg}; {error.details}" if error.details else error.msg
    return "not found" in text or (netns == "" and "no such file or directory" in text)


class SimulatedPodNetwork:
    """:class:`PodNetwork` by the harness's own runtime, on the simulated node."""

    def __init__(self, runtime: NodeRuntime, topology: Topology) -> None:
        self.runtime = runtime
        self.topology = topology

    def plugin_type(self) -> str:
        try:
            return str(self.runtime.network_config().plugins[0]["type"])
        except CNIError:
            return "unknown"

    def run(self, sandbox: Any, pod: dict[str, Any]) -> dict[str, Any]:
        try:
            self.topology.add_netns(sandbox.netns)
            from harness.backends.local import sh

            sh.run(["ip", "-n", sandbox.netns, "link", "set", "lo", "up"])
        except Exception as exc:
            with contextlib.suppress(Exception):
                self.topology.remove_netns(sandbox.netns)
            raise SandboxCreationError(f"creating the sandbox network namespace: {exc}") from exc
        try:
            return self.runtime.add(sandbox, pod)
        except CNIError:
            # containerd tears a sandbox whose ADD failed down at once: one DEL;
            # the netns goes only if it succeeded (else the sandbox is kept).
            try:
                self._delete(sandbox, pod)
            except CNIError as cleanup:
                sandbox.cleanup_error = cleanup
            else:
                sandbox.cleanup_error = None
                self.topology.remove_netns(sandbox.netns)
            raise  # the ADD's error

    def _delete(self, sandbox: Any, pod: dict[str, Any], netns: str | None = None) -> None:
        """DEL as containerd makes it: the errors its CNI library skips are success."""
        try:
            self.runtime.delete(sandbox, pod, netns=netns)
        except CNIError as exc:
            if not del_error_ignored(exc, sandbox.netns_path if netns is None else netns):
                raise

    def stop(self, sandbox: Any, pod: dict[str, Any]) -> None:
        """DEL, then the netns goes; a failed DEL raises and leaves the netns for
        the next attempt (containerd's StopPodSandbox: teardown, then the netns)."""
        self._delete(sandbox, pod)
        with contextlib.suppress(Exception):
            self.topology.remove_netns(sandbox.netns)

    def remove(self, sandbox: Any, pod: dict[str, Any]) -> None:
        try:
            self._delete(sandbox, pod, netns="")
        finally:
            self.runtime.cache.remove(sandbox.network, sandbox.container_id, POD_IFNAME)


def plugin_type(ncl: NetworkConfigList | None) -> str:
    """The type of a config list's first plugin, as the runtime's error names it."""
    if ncl is None or not ncl.plugins:
        return "unknown"
    return str(ncl.plugins[0].get("type", "unknown"))
