"""The stdlib pod-resources client against a real gRPC server (grpcio, started here).

The server serves ``/v1.PodResourcesLister/List`` on a unix socket in a
temporary directory with hand-encoded protobuf bytes, exactly what the
kubelet sends; the client under test must find the pod's devices in it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

# The protobuf encoder the simulated kubelet (harness) uses to answer.
from harness.backends.local.devices import field, varint
from pymultus.cni.errors import CNIError
from pymultus.podresources import (
    HeaderDecoder,
    decode_integer,
    encode_headers,
    encode_integer,
    list_pod_devices,
    pod_devices,
)

grpc = pytest.importorskip("grpc")


def devices_msg(resource: str, ids: list[str]) -> bytes:
    topology = field(1, varint(1 << 3 | 0) + varint(0))  # TopologyInfo{nodes: [{ID: 0}]}
    return field(1, resource) + b"".join(field(2, i) for i in ids) + field(3, topology)


def container(name: str, devices: list[bytes]) -> bytes:
    cpu_ids = varint(3 << 3 | 0) + varint(4)  # an int64 cpu_ids entry, to be skipped
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
def kubelet(tmp_path: Path) -> Iterator[tuple[str, list[Any]]]:
    from concurrent import futures

    socket_path = str(tmp_path / "kubelet.sock")
    seen: list[Any] = []
    state = {"status": None}

    def list_handler(request: bytes, context: Any) -> bytes:
        seen.append(request)
        if state["status"] is not None:
            context.abort(state["status"], "pod resources unavailable")
        return RESPONSE

    handler = grpc.method_handlers_generic_handler(
        "v1.PodResourcesLister",
        {"List": grpc.unary_unary_rpc_method_handler(list_handler)},
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"unix:{socket_path}")
    server.start()
    seen.append(state)
    try:
        yield socket_path, seen
    finally:
        server.stop(None).wait()


def test_devices_of_the_pod_come_from_a_real_grpc_server(kubelet: Any) -> None:
    socket_path, seen = kubelet
    devices = list_pod_devices("default", "p", socket_path)
    assert devices == {
        "intel.com/sriov": ["0000:03:00.1", "0000:03:00.2"],
        "nvidia.com/gpu": ["GPU-1", "GPU-2"],
    }
    assert seen[1:] == [b""]  # ListPodResourcesRequest is empty
    # A second call on a fresh connection works the same.
    assert list_pod_devices("other", "p", socket_path) == {"intel.com/sriov": ["0000:09:00.1"]}
    assert list_pod_devices("default", "absent", socket_path) == {}


def test_a_grpc_error_status_is_reported(kubelet: Any) -> None:
    socket_path, seen = kubelet
    seen[0]["status"] = grpc.StatusCode.UNAVAILABLE
    with pytest.raises(CNIError) as err:
        list_pod_devices("default", "p", socket_path)
    assert err.value.code == 5
    assert "grpc-status 14" in err.value.msg


def test_a_missing_socket_is_try_again_later(tmp_path: Path) -> None:
    path = str(tmp_path / "nothing.sock")
    with pytest.raises(CNIError) as err:
        list_pod_devices("default", "p", path)
    assert err.value.code == 11
    assert path in err.value.details
    assert not os.path.exists(path)


def test_pod_devices_parses_only_the_named_pod() -> None:
    assert pod_devices(RESPONSE, "other", "p") == {"intel.com/sriov": ["0000:09:00.1"]}
    assert pod_devices(b"", "default", "p") == {}


@pytest.mark.parametrize("bad", [b"\x0a\x05ab", b"\x0b", b"\x80"])
def test_truncated_protobuf_is_a_value_error(bad: bytes) -> None:
    with pytest.raises(ValueError):
        pod_devices(bad, "default", "p")


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=2**32), st.integers(min_value=4, max_value=7))
def test_hpack_integers_round_trip(value: int, prefix: int) -> None:
    encoded = encode_integer(value, prefix)
    assert decode_integer(encoded, 0, prefix) == (value, len(encoded))


def test_hpack_literal_headers_decode_back() -> None:
    headers = [("grpc-status", "0"), ("x-long", "v" * 300)]
    assert HeaderDecoder().decode(encode_headers(headers)) == dict(headers)


def test_hpack_indexed_and_incremental_fields() -> None:
    decoder = HeaderDecoder()
    # 0x88: static :status 200; 0x40 literal with incremental indexing of a new name.
    block = b"\x88" + b"\x40" + bytes([11]) + b"grpc-status" + bytes([1]) + b"0"
    assert decoder.decode(block) == {":status": "200", "grpc-status": "0"}
    assert decoder.decode(bytes([0x80 | 62])) == {"grpc-status": "0"}  # first dynamic entry


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
