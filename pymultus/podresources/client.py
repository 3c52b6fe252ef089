"""One ``List`` call to the kubelet's pod-resources API, over grpcio.

Imported lazily by the engine when a selected network names a device
resource: this is where grpcio and protobuf enter the process (the thin
plugin's CNI call, or the daemon). Transport, HTTP/2, HPACK and the protobuf
wire format are grpcio's and protobuf's; what is ours is the choice of the
pod's devices and the CNI error a failure becomes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pymultus.cni.errors import IO_FAILURE, TRY_AGAIN_LATER, CNIError

if TYPE_CHECKING:
    from pymultus.podresources.api_pb2 import ListPodResourcesResponse

DEFAULT_SOCKET = "/var/lib/kubelet/pod-resources/kubelet.sock"
#: Multus v4.1.4 (pkg/kubeletclient): 10 s to connect and call, answers up to 16 MiB.
TIMEOUT = 10.0
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
#: gRPC status codes worth retrying (the kubelet restarting, slow or overloaded):
#: the runtime retries ADD on CNI error 11 (CNI spec 1.0 "Error codes").
TRANSIENT = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"})


def pod_devices(
    response: ListPodResourcesResponse, namespace: str, name: str
) -> dict[str, list[str]]:
    """Device IDs per resource of one pod, containers in the kubelet's order."""
    devices: dict[str, list[str]] = {}
    for pod in response.pod_resources:
        if (pod.namespace, pod.name) != (namespace, name):
            continue
        for container in pod.containers:
            for entry in container.devices:
                devices.setdefault(entry.resource_name, []).extend(entry.device_ids)
    return devices


def decode_response(data: bytes) -> ListPodResourcesResponse:
    """A ``ListPodResourcesResponse`` from its wire bytes (protobuf checks the bounds)."""
    from pymultus.podresources.api_pb2 import ListPodResourcesResponse

    return ListPodResourcesResponse.FromString(data)


def list_response(socket_path: str, timeout: float = TIMEOUT) -> ListPodResourcesResponse:
    """The kubelet's whole ``List`` answer; CNIError when it cannot be had."""
    try:
        import grpc

        from pymultus.podresources.api_pb2 import ListPodResourcesRequest
        from pymultus.podresources.api_pb2_grpc import PodResourcesListerStub
    except ImportError as exc:
        raise CNIError(
            IO_FAILURE,
            f"cannot ask the kubelet for the pod's devices: {exc}",
            "a network names a device resource (k8s.v1.cni.cncf.io/resourceName), which needs "
            "grpcio and protobuf; reinstall with pymultus-install (it ships them beside the "
            "thin plugin) or use the thick daemon",
        ) from exc
    options = [("grpc.max_receive_message_length", MAX_RESPONSE_BYTES)]
    try:
        with grpc.insecure_channel(f"unix:{socket_path}", options=options) as channel:
            stub = PodResourcesListerStub(channel)
            response: ListPodResourcesResponse = stub.List(
                ListPodResourcesRequest(), timeout=timeout
            )
            return response
    except grpc.RpcError as exc:
        status = exc.code().name if hasattr(exc, "code") else "UNKNOWN"
        details = exc.details() if hasattr(exc, "details") else str(exc)
        raise CNIError(
            TRY_AGAIN_LATER if status in TRANSIENT else IO_FAILURE,
            f"the kubelet's pod-resources API at {socket_path} answered {status}: {details}",
            "the kubelet must be running and its pod-resources socket mounted into the "
            "meta-plugin's environment (podResourcesSocket in the config names it)",
        ) from exc


def list_pod_devices(
    namespace: str, name: str, socket_path: str = DEFAULT_SOCKET, timeout: float = TIMEOUT
) -> dict[str, list[str]]:
    """``{resourceName: [deviceID, ...]}`` the kubelet allocated to one pod."""
    return pod_devices(list_response(socket_path, timeout), namespace, name)
