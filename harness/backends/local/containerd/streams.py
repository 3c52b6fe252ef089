"""exec, attach, logs and port-forward on a containerd node, through CRI.

What a real kubelet does with a CRI runtime, the API server's streaming
subresources (:mod:`harness.backends.local.streaming`) do here through this
:class:`~harness.backends.local.podio.NodeStreams`:

- **exec** and **attach**: CRI ``Exec``/``Attach`` on the pod's container
  answer a one-time URL on containerd's streaming server (``127.0.0.1:<port>``
  inside the node's network namespace, ``stream_server_address`` in the
  node's config); we connect to it from a thread that entered that namespace
  and speak SPDY ``v4.channel.k8s.io`` (:mod:`harness.backends.local.spdyclient`),
  as the real API server's stream translator does. The command runs in the
  runc container: its root file system (the node's busybox image), its PID,
  mount, UTS and IPC namespaces, and the pod's network namespace, so
  ``kubectl exec samplepod -- ip a`` lists lo, eth0 and net1 as seen from
  the container. The runtime's exit Status (exit code, or why the command
  could not start) is passed on to kubectl unchanged.
- **logs**: the container's log file, the path the CRI ``ContainerStatus``
  reports (the sandbox's ``log_directory`` + ``ContainerConfig.log_path``),
  in the CRI log format (:mod:`.crilog`) turned into plain lines; ``follow``
  reads what the runtime appends until the container is gone.
- **port-forward**: CRI ``PortForward`` on the pod's sandbox answers a URL
  on the same server; the API server upgrades a connection there to SPDY
  ``portforward.k8s.io`` and relays kubectl's session to it byte for byte
  (out of the WebSocket tunnel when kubectl uses one), as a kubelet proxies
  it: containerd dials the port inside the sandbox's netns and writes its
  own errors (connection refused ...) on each request's error stream.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from harness.backends.local import portforward, spdyclient
from harness.backends.local.containerd import crilog
from harness.backends.local.containerd.cri import CRIError
from harness.backends.local.nsutil import connect_in_netns
from harness.backends.local.podio import LogLine, PodProcess, StreamUnavailable
from harness.backends.local.topology import NETNS_DIR

if TYPE_CHECKING:
    from harness.backends.local.containerd.kubelet import CRIKubelet

_FOLLOW_POLL = 0.2


class CRINodeStreams:
    """:class:`~harness.backends.local.podio.NodeStreams` of one containerd node.

    ``pod_exists(namespace, name, uid)`` ends a follow when the pod is gone.
    """

    def __init__(self, kubelet: CRIKubelet, pod_exists: Callable[[str, str, str], bool]) -> None:
        self.kubelet = kubelet
        self.node = kubelet.node.name
        self._pod_exists = pod_exists
        # containerd's streaming server listens inside the node's network namespace.
        self.node_netns = os.path.join(NETNS_DIR, kubelet.node.netns)

    # ---------------------------------------------------------- lookups
    def _describe(self, pod: dict[str, Any]) -> str:
        meta = pod.get("metadata") or {}
        return f"pod {meta.get('namespace')}/{meta.get('name')}"

    def _container_id(self, pod: dict[str, Any], container: str) -> str:
        uid = str((pod.get("metadata") or {}).get("uid", ""))
        found = self.kubelet.container_ids(uid).get(container)
        if not found:
            phase = (pod.get("status") or {}).get("phase", "Pending")
            raise StreamUnavailable(
                f"container {container} of {self._describe(pod)} is not running on node "
                f"{self.node} (phase {phase}); see `kubectl describe pod "
                f"{(pod.get('metadata') or {}).get('name')}` for its events"
            )
        return found

    def _sandbox_netns(self, pod: dict[str, Any]) -> str:
        uid = str((pod.get("metadata") or {}).get("uid", ""))
        sandbox = self.kubelet.sandbox_by_uid(uid)
        if sandbox is None or not sandbox.ready or not sandbox.netns:
            raise StreamUnavailable(
                f"{self._describe(pod)} has no running sandbox on node {self.node}"
            )
        return self.kubelet.netns_path(sandbox)

    # ---------------------------------------------------------- streams
    def check(self, pod: dict[str, Any], container: str, subresource: str) -> None:
        if subresource == "portforward":
            self._sandbox_netns(pod)
        else:
            self._container_id(pod, container)

    def exec(
        self, pod: dict[str, Any], container: str, argv: list[str], *, tty: bool, stdin: bool
    ) -> PodProcess:
        cid = self._container_id(pod, container)
        try:
            url = self.kubelet.cri.exec(
                cid, argv, tty=tty, stdin=stdin, stdout=True, stderr=not tty
            )
        except CRIError as exc:
            raise StreamUnavailable(f"CRI Exec in {self._describe(pod)}: {exc}") from exc
        return spdyclient.remote_command(self.node_netns, url, stdin=stdin, tty=tty)

    def attach(self, pod: dict[str, Any], container: str, *, tty: bool, stdin: bool) -> PodProcess:
        cid = self._container_id(pod, container)
        try:
            url = self.kubelet.cri.attach(cid, tty=tty, stdin=stdin, stdout=True, stderr=not tty)
        except CRIError as exc:
            raise StreamUnavailable(f"CRI Attach to {self._describe(pod)}: {exc}") from exc
        return spdyclient.remote_command(self.node_netns, url, stdin=stdin, tty=tty)

    def log(
        self, pod: dict[str, Any], container: str, *, follow: bool, stop: Callable[[], bool]
    ) -> Iterator[LogLine]:
        cid = self._container_id(pod, container)
        try:
            path = str(self.kubelet.cri.container_status(cid).log_path)
        except CRIError as exc:
            raise StreamUnavailable(f"CRI ContainerStatus of {self._describe(pod)}: {exc}") from exc
        meta = pod.get("metadata") or {}
        namespace, name, uid = str(meta["namespace"]), str(meta["name"]), str(meta["uid"])
        parser = crilog.LogParser()
        pending = b""
        try:
            f = open(path, "rb")  # noqa: SIM115 - read incrementally while following
        except OSError as exc:
            raise StreamUnavailable(f"cannot read the log of {self._describe(pod)}: {exc}") from exc
        with f:
            while True:
                data = f.read()
                if data:
                    pending += data
                    *records, pending = pending.split(b"\n")
                    for record in records:
                        line = parser.feed(record.decode(errors="replace"))
                        if line is not None:
                            yield line
                    continue
                if not follow or stop() or not self._still_running(namespace, name, uid, cid):
                    return
                time.sleep(_FOLLOW_POLL)

    def _still_running(self, namespace: str, name: str, uid: str, cid: str) -> bool:
        return (
            self._pod_exists(namespace, name, uid)
            and cid in self.kubelet.container_ids(uid).values()
        )

    def forward(self, pod: dict[str, Any]) -> spdyclient.SocketBytes:
        """containerd's port-forward server for the pod's sandbox (CRI PortForward)."""
        uid = str((pod.get("metadata") or {}).get("uid", ""))
        sandbox = self.kubelet.sandbox_by_uid(uid)
        if sandbox is None or not sandbox.ready or not sandbox.container_id:
            raise StreamUnavailable(
                f"{self._describe(pod)} has no running sandbox on node {self.node}"
            )
        try:
            url = self.kubelet.cri.port_forward(sandbox.container_id, [])
        except CRIError as exc:
            raise StreamUnavailable(f"CRI PortForward to {self._describe(pod)}: {exc}") from exc
        return spdyclient.open_upgraded(self.node_netns, url, portforward.PROTOCOL)

    def connect(self, pod: dict[str, Any], port: int) -> socket.socket:
        """A TCP connection to ``port`` on the pod's loopback, made inside its netns
        (the protocol's per-stream way; the API server uses ``forward`` here)."""
        try:
            return connect_in_netns(self._sandbox_netns(pod), "127.0.0.1", port, timeout=5)
        except OSError as exc:
            raise StreamUnavailable(f"cannot connect to port {port} in the pod: {exc}") from exc
