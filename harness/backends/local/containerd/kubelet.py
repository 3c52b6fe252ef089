"""The harness's kubelet on a containerd node: pods become CRI calls.

What the simulated kubelet (``harness.backends.local.kubelet``) does itself
for networking, a real kubelet asks the runtime for, and so does this one:

- a pod bound to the node -> ``RunPodSandbox`` with the pod's metadata
  (attempt = the number of earlier sandboxes), labels, all its annotations,
  host port mappings, the cluster DNS, its hostname, a log directory and a
  cgroup parent below the node's; then ``PodSandboxStatus`` for its IPs and,
  for each container of the pod, ``CreateContainer`` + ``StartContainer`` of
  the node's busybox image (the pod's ``image:`` is mapped to it: there is
  no registry here; the status reports both names). containerd's CRI plugin,
  not the harness, then calls the node's CNI config (first in lexical order)
  with the CNI_ARGS, capabilities, result cache and DEL semantics of a kind
  node;
- a failed ``RunPodSandbox`` -> a ``FailedCreatePodSandBox`` event with the
  runtime's message, the pod Pending, a new attempt after the kubelet's
  exponential back-off (containerd has already torn the sandbox down);
- pod deletion -> ``StopContainer``/``RemoveContainer`` of its containers,
  then ``StopPodSandbox`` (CNI DEL with the netns) before
  ``RemovePodSandbox`` (containerd 1.6 calls DEL again, without a netns);
  a failed stop is a ``FailedKillPod`` event and is retried.

The sandbox's network namespace (``/var/run/netns/cni-<uuid>`` in the node)
is read from ``PodSandboxStatus``'s verbose info, so the harness inspects
pods' interfaces the same way on both runtimes.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from harness.backends.local.apiclient import pod_path
from harness.backends.local.containerd import tap
from harness.backends.local.containerd.cri import CRIClient, CRIError
from harness.backends.local.containerd.daemon import NETNS_IN_NODE, ContainerdNode, remove_cgroup
from harness.backends.local.kubelet import DEL_ATTEMPTS, Kubelet, Sandbox, backoff_delay
from harness.cniruntime.errors import CNIError

CLUSTER_DNS = "10.96.0.10"  # kind's kube-dns service address
CLUSTER_DOMAIN = "cluster.local"
PROTOCOLS = {"TCP": 0, "UDP": 1, "SCTP": 2}
# What the CRI plugin's CNI error says when it cannot tell the plugin's code:
# containerd passes the plugin's message, never its code (see tap.py).
UNKNOWN_CODE = 999


class CRIKubelet(Kubelet):
    """A kubelet that drives the node's containerd through CRI."""

    def __init__(self, *args: Any, runtime: ContainerdNode, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.containerd = runtime
        self.cri = CRIClient(runtime.socket)
        # self.cache (the harness runtime's libcni-format cache, harness.cniruntime)
        # reads the records containerd's libcni writes; only containerd writes them.
        self.containers: dict[str, list[tuple[str, str]]] = {}  # uid -> [(name, id)]
        self.sandbox_configs: dict[str, Any] = {}  # uid -> the PodSandboxConfig sent

    def stop(self) -> None:
        super().stop()
        self.cri.close()

    # --------------------------------------------------------- configs
    def pod_cgroup(self, uid: str) -> str:
        return f"{self.containerd.cgroup_parent}/pod{uid}"

    def sandbox_config(self, pod: dict[str, Any], attempt: int) -> Any:
        pb = self.cri.pb
        meta = pod["metadata"]
        spec = pod.get("spec") or {}
        uid = str(meta["uid"])
        namespace, name = str(meta["namespace"]), str(meta["name"])
        labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
        labels.update(
            {
                "io.kubernetes.pod.name": name,
                "io.kubernetes.pod.namespace": namespace,
                "io.kubernetes.pod.uid": uid,
            }
        )
        annotations = {str(k): str(v) for k, v in (meta.get("annotations") or {}).items()}
        mappings = []
        for container in spec.get("containers") or []:
            for port in container.get("ports") or []:
                if port.get("hostPort"):
                    mappings.append(
                        pb.PortMapping(
                            protocol=PROTOCOLS.get(str(port.get("protocol", "TCP")).upper(), 0),
                            container_port=int(port["containerPort"]),
                            host_port=int(port["hostPort"]),
                            host_ip=str(port.get("hostIP", "")),
                        )
                    )
        return pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(
                name=name, uid=uid, namespace=namespace, attempt=attempt - 1
            ),
            hostname=name[:63],
            log_directory=os.path.join(self.containerd.paths.pod_logs, f"{namespace}_{name}_{uid}"),
            dns_config=dns_config(pb, pod),
            port_mappings=mappings,
            labels=labels,
            annotations=annotations,
            linux=pb.LinuxPodSandboxConfig(
                cgroup_parent=self.pod_cgroup(uid),
                security_context=pb.LinuxSandboxSecurityContext(
                    namespace_options=pb.NamespaceOption(network=0, pid=1, ipc=0)
                ),
            ),
        )

    def container_config(self, pod: dict[str, Any], container: dict[str, Any]) -> Any:
        pb = self.cri.pb
        meta = pod["metadata"]
        name = str(container.get("name", "c"))
        return pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name=name, attempt=0),
            # No registry here: every image is the node's busybox (the status says so).
            image=pb.ImageSpec(image=self.containerd.image.name),
            command=[str(c) for c in container.get("command") or []],
            args=[str(a) for a in container.get("args") or []],
            envs=[
                pb.KeyValue(key=str(e["name"]), value=str(e.get("value", "")).encode())
                for e in container.get("env") or []
                if "name" in e
            ],
            labels={
                "io.kubernetes.container.name": name,
                "io.kubernetes.pod.name": str(meta["name"]),
                "io.kubernetes.pod.namespace": str(meta["namespace"]),
                "io.kubernetes.pod.uid": str(meta["uid"]),
            },
            annotations={"harness.io/requested-image": str(container.get("image", ""))},
            log_path=f"{name}/0.log",
            # kubectl attach -i / -t need the container made with them (as the kubelet does).
            stdin=bool(container.get("stdin")),
            stdin_once=bool(container.get("stdinOnce")),
            tty=bool(container.get("tty")),
        )

    # ------------------------------------------------------------ setup
    def _setup(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        uid = str(meta["uid"])
        with self.lock:
            previous = self.sandboxes.get(uid)
        if previous is not None and self._reap_sandboxes(pod, keep="") is not None:
            # No new sandbox while an old one cannot be stopped (kubelet SyncPod).
            self._schedule_retry(pod, previous.attempt + 1)
            return
        attempt = previous.attempt + 1 if previous is not None else 1
        sandbox = Sandbox(
            pod_key=f"{meta['namespace']}/{meta['name']}",
            uid=uid,
            container_id="",
            netns="",
            attempt=attempt,
            previous_error=previous.error if previous is not None else None,
        )
        with self.lock:
            self.sandboxes[uid] = sandbox
        started = time.monotonic()
        config = self.sandbox_config(pod, attempt)
        try:
            if self.devices is not None:
                self.devices.allocate(pod)
            sandbox_id = self.cri.run_pod_sandbox(config)
        except (CRIError, CNIError) as exc:
            error = self._plugin_error("ADD", uid, exc)
            sandbox.error = error
            sandbox.timings["add"] = time.monotonic() - started
            self._event(
                pod, "Warning", "FailedCreatePodSandBox", f"Failed to create pod sandbox: {exc}"
            )
            self._report_pending(pod, error)
            self._schedule_retry(pod, sandbox.attempt)
            return
        sandbox.container_id = sandbox_id
        sandbox.timings["add"] = time.monotonic() - started
        try:
            status = self.cri.pod_sandbox_status(sandbox_id, verbose=True)
        except CRIError as exc:  # the runtime lost it: kill it and try again later
            error = sandbox_error(exc)
            sandbox.error = error
            self._event(pod, "Warning", "FailedCreatePodSandBox", f"Failed to get status: {exc}")
            self._reap_sandboxes(pod, keep="")
            self._report_pending(pod, error)
            self._schedule_retry(pod, sandbox.attempt)
            return
        sandbox.netns = netns_name(status.info)
        sandbox.network = self._network_name()
        with self.lock:
            self.sandbox_configs[uid] = config
        ips = [status.status.network.ip] if status.status.network.ip else []
        ips += [extra.ip for extra in status.status.network.additional_ips]
        self._start_containers(pod, sandbox_id, config)
        sandbox.ready = True
        self._report_running(pod, {"ips": [{"address": ip} for ip in ips]})

    def _network_name(self) -> str:
        try:
            return self.network_config().name
        except CNIError:
            return ""

    def _start_containers(self, pod: dict[str, Any], sandbox_id: str, config: Any) -> None:
        uid = str(pod["metadata"]["uid"])
        started: list[tuple[str, str]] = []
        for container in (pod.get("spec") or {}).get("containers") or []:
            name = str(container.get("name", "c"))
            try:
                cid = self.cri.create_container(
                    sandbox_id, self.container_config(pod, container), config
                )
                started.append((name, cid))
                self.cri.start_container(cid)
            except CRIError as exc:
                self._event(pod, "Warning", "Failed", f"Error: {exc}")
                continue
            self._event(
                pod,
                "Normal",
                "Started",
                f"Started container {name} (image {container.get('image', '')!r} "
                f"runs as {self.containerd.image.name}: no registry on local nodes)",
            )
        with self.lock:
            self.containers[uid] = started

    # --------------------------------------------------------- teardown
    def _teardown(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        uid = str(meta["uid"])
        with self.lock:
            sandbox = self.sandboxes.get(uid)
            containers = self.containers.pop(uid, [])
            self.sandbox_configs.pop(uid, None)
        if sandbox is not None and sandbox.container_id:
            started = time.monotonic()
            for _name, cid in containers:
                for step in (self.cri.stop_container, self.cri.remove_container):
                    try:
                        step(cid)
                    except CRIError as exc:
                        self._fail(f"{step.__name__} {cid[:12]}: {exc}")
            self._stop_sandbox(sandbox, pod)
            try:
                self.cri.remove_pod_sandbox(sandbox.container_id)
            except CRIError as exc:
                sandbox.teardown_error = sandbox.teardown_error or sandbox_error(exc)
                self._event(pod, "Warning", "FailedKillPod", f"error removing pod sandbox: {exc}")
            sandbox.timings["del"] = time.monotonic() - started
            sandbox.ready = False
        left = self._reap_sandboxes(pod, keep="")
        if left is not None and sandbox is not None and sandbox.teardown_error is None:
            sandbox.teardown_error = self._plugin_error("DEL", uid, left)  # kept: a leak
        # The pod's cgroup is the kubelet's (it made the parent): removed by it too.
        remove_cgroup(self.pod_cgroup(uid))
        tap.forget(self.containerd.paths.tap, uid)
        if self.devices is not None:
            self.devices.release(str(meta["namespace"]), str(meta["name"]))
        self.api.delete(pod_path(meta["namespace"], meta["name"]), grace_seconds=0)
        with self.lock:
            if self.sandboxes.get(uid) is sandbox:
                del self.sandboxes[uid]
            if sandbox is not None:
                self.removed[sandbox.pod_key] = (sandbox, pod)

    def _reap_sandboxes(self, pod: dict[str, Any], keep: str) -> CRIError | None:
        """Stop and remove the pod's other sandboxes the runtime still lists;
        None when none is left, else the (last) failure.

        containerd 1.6 keeps a failed sandbox (NOTREADY, its netns too) when
        the DEL of its teardown failed; the kubelet kills a pod's old
        sandboxes before it creates a new one (and makes none while that
        fails) and its garbage collector removes them. Errors are events; the
        next attempt tries again."""
        uid = str(pod["metadata"]["uid"])
        try:
            stale = self.cri.list_pod_sandboxes({"io.kubernetes.pod.uid": uid})
        except CRIError as exc:
            self._fail(f"ListPodSandbox for {uid}: {exc}")
            return exc
        failure: CRIError | None = None
        for item in stale:
            if item.id == keep:
                continue
            try:
                self.cri.stop_pod_sandbox(item.id)
                self.cri.remove_pod_sandbox(item.id)
            except CRIError as exc:
                failure = exc
                self._event(
                    pod,
                    "Warning",
                    "FailedKillPod",
                    f"error killing old sandbox {item.id[:12]}: {exc}",
                )
        return failure

    def _stop_sandbox(self, sandbox: Sandbox, pod: dict[str, Any]) -> None:
        """StopPodSandbox (CNI DEL), retried with an event per failure (kubelet's way).

        Deviation, as in the simulated kubelet: we give up after a few attempts
        rather than keep the pod Terminating for ever."""
        for attempt in range(1, DEL_ATTEMPTS + 1):
            try:
                self.cri.stop_pod_sandbox(sandbox.container_id)
                sandbox.teardown_error = None
                return
            except CRIError as exc:
                sandbox.teardown_error = self._plugin_error("DEL", sandbox.uid, exc)
                self._event(
                    pod,
                    "Warning",
                    "FailedKillPod",
                    f'error killing pod: failed to "KillPodSandbox" for "{sandbox.uid}" '
                    f"(attempt {attempt}/{DEL_ATTEMPTS}): {exc}",
                )
                if attempt < DEL_ATTEMPTS:
                    time.sleep(backoff_delay(attempt, initial=0.2, cap=2.0))

    def _plugin_error(self, command: str, uid: str, exc: Exception) -> CNIError:
        """The CRI failure with the code the meta-plugin answered (tap.py), if it did."""
        answer = tap.take_error(self.containerd.paths.tap, command, uid)
        if isinstance(exc, CRIError) and answer is not None and isinstance(answer.get("code"), int):
            return CNIError(int(answer["code"]), str(exc))  # type: ignore[call-overload]
        return sandbox_error(exc)

    # ------------------------------------------------------------ query
    def netns_path(self, sandbox: Sandbox) -> str:
        return self.containerd.netns_path(sandbox.netns)

    def container_ids(self, uid: str) -> dict[str, str]:
        """The pod's running containers: name -> CRI container id."""
        with self.lock:
            return dict(self.containers.get(uid, []))

    def container_of(self, uid: str, container: str = "") -> str:
        with self.lock:
            started = list(self.containers.get(uid, []))
        for name, cid in started:
            if not container or name == container:
                return cid
        raise LookupError(f"no running container {container or '(any)'} in pod uid {uid}")

    def exec_sync(
        self, uid: str, argv: list[str], timeout: float, container: str = ""
    ) -> tuple[int, str]:
        response = self.cri.exec_sync(self.container_of(uid, container), argv, timeout)
        out = response.stdout.decode(errors="replace") + response.stderr.decode(errors="replace")
        return int(response.exit_code), out

    def logs(self, uid: str, container: str = "") -> str:
        status = self.cri.container_status(self.container_of(uid, container))
        with open(status.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()


def dns_config(pb: Any, pod: dict[str, Any]) -> Any:
    """The DNS a kubelet gives a ClusterFirst pod (resolv.conf of the sandbox)."""
    spec = pod.get("spec") or {}
    namespace = str(pod["metadata"]["namespace"])
    if spec.get("dnsPolicy") == "None":
        custom = spec.get("dnsConfig") or {}
        return pb.DNSConfig(
            servers=custom.get("nameservers") or [],
            searches=custom.get("searches") or [],
            options=[o["name"] for o in custom.get("options") or [] if "name" in o],
        )
    return pb.DNSConfig(
        servers=[CLUSTER_DNS],
        searches=[f"{namespace}.svc.{CLUSTER_DOMAIN}", f"svc.{CLUSTER_DOMAIN}", CLUSTER_DOMAIN],
        options=["ndots:5"],
    )


def netns_name(info: Any) -> str:
    """The pod netns name from PodSandboxStatus's verbose info (runtimeSpec namespaces)."""
    try:
        data = json.loads(info["info"])
        for ns in data["runtimeSpec"]["linux"]["namespaces"]:
            if ns.get("type") == "network" and ns.get("path"):
                path = str(ns["path"])
                prefix = NETNS_IN_NODE + "/"
                return path[len(prefix) :] if path.startswith(prefix) else os.path.basename(path)
    except (KeyError, ValueError, TypeError):
        pass
    return ""


def sandbox_error(exc: Exception) -> CNIError:
    """A failed CRI call as the sandbox's error. The CNI code is not on the CRI wire."""
    if isinstance(exc, CNIError):
        return exc
    return CNIError(UNKNOWN_CODE, str(exc))
