"""The kubelet's client of one node's CRI ``runtime.v1`` RuntimeService (gRPC, unix socket).

Messages come from our own :file:`cri.proto` (compiled by :mod:`.proto`).
Each method is one RPC with the arguments a kubelet passes; errors surface
as :class:`CRIError` carrying the gRPC status code name and the runtime's
message (which, for a failed RunPodSandbox, holds the CNI plugin's error).
"""

from __future__ import annotations

import threading
from typing import Any

import grpc

from harness.backends.local.containerd import proto

DEFAULT_TIMEOUT = 120.0  # RunPodSandbox waits for CNI ADD (plugins may retry the API)


class CRIError(RuntimeError):
    def __init__(self, method: str, code: str, details: str) -> None:
        self.method = method
        self.code = code
        self.details = details
        super().__init__(f"{method}: {code}: {details}")


class CRIClient:
    """RuntimeService on ``unix://socket``; thread-safe (one channel, many calls)."""

    def __init__(self, socket: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.pb, grpc_module = proto.modules()
        self.socket = socket
        self.timeout = timeout
        self.channel = grpc.insecure_channel(f"unix://{socket}")
        self.stub = grpc_module.RuntimeServiceStub(self.channel)
        self._lock = threading.Lock()

    def close(self) -> None:
        self.channel.close()

    def call(self, method: str, request: Any, timeout: float | None = None) -> Any:
        try:
            return getattr(self.stub, method)(request, timeout=timeout or self.timeout)
        except grpc.RpcError as exc:
            code = exc.code().name if exc.code() is not None else "UNKNOWN"
            raise CRIError(method, code, str(exc.details() or "")) from None

    # ------------------------------------------------------------ RPCs
    def version(self) -> Any:
        return self.call("Version", self.pb.VersionRequest(version="v1"), timeout=10)

    def run_pod_sandbox(self, config: Any) -> str:
        response = self.call("RunPodSandbox", self.pb.RunPodSandboxRequest(config=config))
        return str(response.pod_sandbox_id)

    def stop_pod_sandbox(self, sandbox_id: str) -> None:
        self.call("StopPodSandbox", self.pb.StopPodSandboxRequest(pod_sandbox_id=sandbox_id))

    def remove_pod_sandbox(self, sandbox_id: str) -> None:
        self.call("RemovePodSandbox", self.pb.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id))

    def pod_sandbox_status(self, sandbox_id: str, verbose: bool = False) -> Any:
        return self.call(
            "PodSandboxStatus",
            self.pb.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id, verbose=verbose),
        )

    def list_pod_sandboxes(self, labels: dict[str, str] | None = None) -> list[Any]:
        request = self.pb.ListPodSandboxRequest(
            filter=self.pb.PodSandboxFilter(label_selector=labels or {})
        )
        return list(self.call("ListPodSandbox", request).items)

    def create_container(self, sandbox_id: str, config: Any, sandbox_config: Any) -> str:
        response = self.call(
            "CreateContainer",
            self.pb.CreateContainerRequest(
                pod_sandbox_id=sandbox_id, config=config, sandbox_config=sandbox_config
            ),
        )
        return str(response.container_id)

    def start_container(self, container_id: str) -> None:
        self.call("StartContainer", self.pb.StartContainerRequest(container_id=container_id))

    def stop_container(self, container_id: str, timeout: int = 0) -> None:
        self.call(
            "StopContainer",
            self.pb.StopContainerRequest(container_id=container_id, timeout=timeout),
        )

    def remove_container(self, container_id: str) -> None:
        self.call("RemoveContainer", self.pb.RemoveContainerRequest(container_id=container_id))

    def list_containers(self, sandbox_id: str = "") -> list[Any]:
        request = self.pb.ListContainersRequest(
            filter=self.pb.ContainerFilter(pod_sandbox_id=sandbox_id)
        )
        return list(self.call("ListContainers", request).containers)

    def container_status(self, container_id: str) -> Any:
        return self.call(
            "ContainerStatus", self.pb.ContainerStatusRequest(container_id=container_id)
        ).status

    def exec_sync(self, container_id: str, cmd: list[str], timeout: float = 30.0) -> Any:
        request = self.pb.ExecSyncRequest(
            container_id=container_id, cmd=cmd, timeout=max(1, int(timeout))
        )
        return self.call("ExecSync", request, timeout=timeout + 10)

    # ------------------------------------------------------- streaming
    # Each answers a one-time URL on the runtime's streaming server; the
    # connection to it is the caller's (containerd/streams.py).
    def exec(
        self, container_id: str, cmd: list[str], *, tty: bool, stdin: bool, stdout: bool,
        stderr: bool,
    ) -> str:  # fmt: skip
        request = self.pb.ExecRequest(
            container_id=container_id, cmd=cmd, tty=tty, stdin=stdin, stdout=stdout,
            stderr=stderr,
        )  # fmt: skip
        return str(self.call("Exec", request, timeout=30).url)

    def attach(
        self, container_id: str, *, tty: bool, stdin: bool, stdout: bool, stderr: bool
    ) -> str:
        request = self.pb.AttachRequest(
            container_id=container_id, tty=tty, stdin=stdin, stdout=stdout, stderr=stderr
        )
        return str(self.call("Attach", request, timeout=30).url)

    def port_forward(self, sandbox_id: str, ports: list[int]) -> str:
        request = self.pb.PortForwardRequest(pod_sandbox_id=sandbox_id, port=ports)
        return str(self.call("PortForward", request, timeout=30).url)
