"""The pod-resources client (grpcio + our generated stubs) against a real gRPC server.

The server (grpcio, started here) serves ``/v1.PodResourcesLister/List`` on a
unix socket in a temporary directory with protobuf bytes encoded by the
harness's own wire module, exactly what the kubelet sends (including fields
our minimal .proto leaves out); the client under test must find the pod's
devices in it and turn every failure into the right CNI error.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# The protobuf encoder the simulated kubelet (harness) answers with.
from harness.backends.local.protobuf import encode_field as field
from harness.backends.local.protobuf import encode_varint_field
from pymultus.cni.errors import CNIError
from pymultus.podresources.client import decode_response, list_pod_devices, pod_devices

grpc = pytest.importorskip("grpc")


def devices_msg(resource: str, ids: list[str]) -> bytes:
    topology = field(1, encode_varint_field(1, 0))  # TopologyInfo{nodes: [{ID: 0}]}
    return field(1, resource) + b"".join(field(2, i) for i in ids) + field(3, topology)


def container(name: str, devices: list[bytes]) -> bytes:
    cpu_ids = encode_varint_field(3, 4)  # an int64 cpu_ids entry, unknown to our .proto
    return field(1, name) + b"".join(field(2, d) for d in devices) + cpu_ids


def pod(namespace: str, name: str, containers: list[bytes]) -> bytes:
    return field(1, name) + field(2, namespace) + b"".join(field(3, c) for c in containers)


RESPONSE = b"".join(
    field(1, p)
    for p in (
        pod("other", "p", [container("c", [devices_msg("intel.com/sriov", ["0000:09:00.1"])])]),
        pod(
            "default",
            "p",
            [
                container("a", [devices_msg("intel.com/sriov", ["0000:03:00.1"])]),
                container(
                    "b",
                    [
                        devices_msg("intel.com/sriov", ["0000:03:00.2"]),
                        devices_msg("nvidia.com/gpu", ["GPU-1", "GPU-2"]),
                    ],
                ),
            ],
        ),
    )
)


@pytest.fixture
def kubelet(tmp_path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """A gRPC server on a unix socket; ``state`` sets its answer or its error status."""
    from concurrent import futures

    socket_path = str(tmp_path / "kubelet.sock")
    state: dict[str, Any] = {"seen": [], "status": None, "message": "", "answer": RESPONSE}

    def list_handler(request: bytes, context: Any) -> bytes:
        state["seen"].append(request)
        if state["status"] is not None:
            context.abort(state["status"], state["message"])
        return bytes(state["answer"])

    handler = grpc.method_handlers_generic_handler(
        "v1.PodResourcesLister",
        {"List": grpc.unary_unary_rpc_method_handler(list_handler)},
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"unix:{socket_path}")
    server.start()
    try:
        yield socket_path, state
    finally:
        server.stop(None).wait()


def test_devices_of_the_pod_come_from_a_real_grpc_server(kubelet: Any) -> None:
    socket_path, state = kubelet
    devices = list_pod_devices("default", "p", socket_path)
    assert devices == {
        "intel.com/sriov": ["0000:03:00.1", "0000:03:00.2"],
        "nvidia.com/gpu": ["GPU-1", "GPU-2"],
    }
    assert state["seen"] == [b""]  # ListPodResourcesRequest is empty
    # A second call on a fresh channel works the same.
    assert list_pod_devices("other", "p", socket_path) == {"intel.com/sriov": ["0000:09:00.1"]}
    assert list_pod_devices("default", "absent", socket_path) == {}


def test_an_answer_over_grpcs_default_4_mib_limit_is_read(kubelet: Any) -> None:
    """Multus reads answers up to 16 MiB; so do we (a node with many pods)."""
    socket_path, state = kubelet
    filler = pod("default", "big", [container("c", [devices_msg("x.com/y", ["i" * 1000])])])
    state["answer"] = RESPONSE + field(1, filler) * 5000  # ~5 MiB
    assert len(state["answer"]) > 4 * 1024 * 1024
    assert list_pod_devices("default", "p", socket_path)["nvidia.com/gpu"] == ["GPU-1", "GPU-2"]


@pytest.mark.parametrize(
    ("status", "code"),
    [("UNAVAILABLE", 11), ("DEADLINE_EXCEEDED", 11), ("PERMISSION_DENIED", 5), ("INTERNAL", 5)],
)
def test_a_grpc_error_status_is_reported(kubelet: Any, status: str, code: int) -> None:
    """Transient statuses are CNI 11 (try again later), the rest I/O failures (5)."""
    socket_path, state = kubelet
    state["status"] = getattr(grpc.StatusCode, status)
    # grpcio's server sends this Huffman-coded in HPACK: it must arrive intact.
    state["message"] = "pod resources unavailable: kubelet is starting (ünïcode)"
    with pytest.raises(CNIError) as err:
        list_pod_devices("default", "p", socket_path)
    assert err.value.code == code
    assert status in err.value.msg
    assert "kubelet is starting" in err.value.msg
    assert socket_path in err.value.msg


def test_a_malformed_answer_is_an_io_failure_not_a_traceback(kubelet: Any) -> None:
    socket_path, state = kubelet
    state["answer"] = b"\x0a\x7fab"  # a length running past the end of the message
    with pytest.raises(CNIError) as err:
        list_pod_devices("default", "p", socket_path)
    assert err.value.code == 5


def test_a_missing_socket_is_try_again_later(tmp_path: Path) -> None:
    path = str(tmp_path / "nothing.sock")
    with pytest.raises(CNIError) as err:
        list_pod_devices("default", "p", path, timeout=2.0)
    assert err.value.code == 11
    assert path in err.value.msg
    assert not os.path.exists(path)


def test_without_grpcio_a_device_network_gets_a_clear_error(
    kubelet: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    socket_path, _ = kubelet
    monkeypatch.setitem(sys.modules, "grpc", None)  # `import grpc` now raises ImportError
    with pytest.raises(CNIError) as err:
        list_pod_devices("default", "p", socket_path)
    assert err.value.code == 5
    assert "resourceName" in err.value.details
    assert "grpcio" in err.value.details


def test_pod_devices_takes_only_the_named_pod() -> None:
    response = decode_response(RESPONSE)
    assert pod_devices(response, "other", "p") == {"intel.com/sriov": ["0000:09:00.1"]}
    assert pod_devices(decode_response(b""), "default", "p") == {}


@pytest.mark.parametrize("bad", [b"\x0a\x05ab", b"\x0b", b"\x80"])
def test_truncated_protobuf_is_refused(bad: bytes) -> None:
    from google.protobuf.message import DecodeError

    with pytest.raises(DecodeError):
        decode_response(bad)


def test_engine_gives_each_resource_attachment_its_device(kubelet: Any, tmp_path: Path) -> None:
    """resourceName NADs -> deviceID, end to end through the engine and the gRPC server."""
    import json

    from pymultus.cni.request import CNIRequest
    from pymultus.engine import Engine
    from pymultus.log import Logger
    from pymultus.model.config import parse_config
    from pymultus.state import DelegateCache

    socket_path, _ = kubelet
    sriov = {"cniVersion": "1.0.0", "name": "sriov", "type": "sriov"}
    nad = {
        "metadata": {
            "name": "sriov",
            "namespace": "default",
            "annotations": {"k8s.v1.cni.cncf.io/resourceName": "intel.com/sriov"},
        },
        "spec": {"config": json.dumps(sriov)},
    }
    the_pod = {
        "metadata": {
            "name": "p",
            "namespace": "default",
            "uid": "u",
            "annotations": {"k8s.v1.cni.cncf.io/networks": "sriov,sriov"},
        }
    }

    class Kube:
        def get_pod(self, namespace: str, name: str) -> dict[str, Any]:
            return the_pod

        def get_nad(self, namespace: str, name: str) -> dict[str, Any]:
            return nad

        def patch_pod_status_annotations(
            self, namespace: str, name: str, annotations: dict[str, str | None]
        ) -> dict[str, Any]:
            return the_pod

    calls: list[tuple[str, dict[str, Any]]] = []

    def execute(
        plugin_type: str, command: str, conf: dict[str, Any], request: CNIRequest
    ) -> dict[str, Any]:
        calls.append((request.ifname, conf))
        return {"cniVersion": conf["cniVersion"], "ips": [{"address": "10.0.0.2/24"}]}

    engine = Engine(
        cfg=parse_config(
            {
                "cniVersion": "1.0.0",
                "name": "m",
                "type": "pymultus",
                "delegates": [{"cniVersion": "1.0.0", "name": "kindnet", "type": "ptp"}],
                "cniDir": str(tmp_path / "cache"),
                "podResourcesSocket": socket_path,
            }
        ),
        execute=execute,
        cache=DelegateCache(str(tmp_path / "cache")),
        kube=Kube(),
        log=Logger(to_stderr=False),
    )
    engine.add(
        CNIRequest(
            command="ADD",
            container_id="c1",
            netns="/n",
            ifname="eth0",
            args=(("K8S_POD_NAMESPACE", "default"), ("K8S_POD_NAME", "p")),
        )
    )
    assert [(ifname, conf.get("deviceID")) for ifname, conf in calls] == [
        ("eth0", None),
        ("net1", "0000:03:00.1"),
        ("net2", "0000:03:00.2"),
    ]
