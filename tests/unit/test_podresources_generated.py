"""The committed pod-resources modules match api.proto, and pyproject allows only runtimes
they accept.

pymultus ships protoc's output for :file:`pymultus/podresources/api.proto`
(``pymultus/podresources/generate.py`` says why). This regenerates it into a
temporary directory and compares: an edited .proto without regenerating, or a
hand-edited module, fails here. The version stamps protoc writes (the
protobuf and grpcio releases the code needs at least) are compared apart:
a newer grpcio-tools may stamp newer numbers, and then pyproject's floors are
what must hold.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import pytest

from pymultus.podresources import generate

ROOT = Path(__file__).resolve().parents[2]

#: The lines protoc stamps with versions, with the numbers taken out.
STAMPS = (
    (re.compile(r"^# Protobuf Python Version: .*$", re.M), "# Protobuf Python Version: X"),
    (
        re.compile(
            r"(ValidateProtobufRuntimeVersion\(\s*_runtime_version\.Domain\.PUBLIC,)"
            r"\s*\d+,\s*\d+,\s*\d+,"
        ),
        r"\1 X,",
    ),
    (re.compile(r"^GRPC_GENERATED_VERSION = '.*'$", re.M), "GRPC_GENERATED_VERSION = 'X'"),
)


def unstamped(text: str) -> str:
    for pattern, repl in STAMPS:
        text = pattern.sub(repl, text)
    return text


def committed(name: str) -> str:
    return (Path(generate.HERE) / name).read_text(encoding="utf-8")


def version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def floor(requirement: str) -> tuple[int, ...]:
    """The ``>=`` version of one requirement in [project] dependencies."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for dep in deps:
        match = re.fullmatch(rf"{requirement}\s*>=\s*([\d.]+)(,.*)?", dep)
        if match:
            return version(match.group(1))
    raise AssertionError(f"{requirement} is not a [project] dependency with a >= floor")


def test_committed_modules_match_a_fresh_protoc_run(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools")
    for path in generate.generate(str(tmp_path)):
        name = os.path.basename(path)
        fresh = Path(path).read_text(encoding="utf-8")
        assert unstamped(committed(name)) == unstamped(fresh), (
            f"pymultus/podresources/{name} is stale: run python -m pymultus.podresources.generate"
        )


def test_pyproject_floors_cover_what_the_generated_code_requires() -> None:
    pb2 = committed("api_pb2.py")
    stamped = re.search(r"Domain\.PUBLIC,\s*(\d+),\s*(\d+),\s*(\d+),", pb2)
    assert stamped, "api_pb2.py has no runtime-version check: the stamp format changed"
    assert floor("protobuf") >= version(" ".join(stamped.groups()))
    grpc_stamp = re.search(
        r"^GRPC_GENERATED_VERSION = '([\d.]+)'$", committed("api_pb2_grpc.py"), re.M
    )
    assert grpc_stamp, "api_pb2_grpc.py has no GRPC_GENERATED_VERSION"
    assert floor("grpcio") >= version(grpc_stamp.group(1))


def test_the_generated_stub_calls_the_kubelets_method() -> None:
    """The wire path the kubelet serves: /v1.PodResourcesLister/List."""
    assert "'/v1.PodResourcesLister/List'" in committed("api_pb2_grpc.py")
    from pymultus.podresources import api_pb2

    assert api_pb2.DESCRIPTOR.name == "pymultus/podresources/api.proto"
    assert api_pb2.DESCRIPTOR.package == "v1"
    fields = {
        (m.name, f.name): f.number
        for m in api_pb2.DESCRIPTOR.message_types_by_name.values()
        for f in m.fields
    }
    # k8s.io/kubelet pkg/apis/podresources/v1/api.proto field numbers.
    assert fields == {
        ("ListPodResourcesResponse", "pod_resources"): 1,
        ("PodResources", "name"): 1,
        ("PodResources", "namespace"): 2,
        ("PodResources", "containers"): 3,
        ("ContainerResources", "name"): 1,
        ("ContainerResources", "devices"): 2,
        ("ContainerDevices", "resource_name"): 1,
        ("ContainerDevices", "device_ids"): 2,
    }
