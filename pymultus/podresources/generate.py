"""Regenerate the committed protobuf/gRPC modules from :file:`api.proto`.

``python -m pymultus.podresources.generate`` (needs grpcio-tools, a
development dependency only). Why the output is committed instead of
compiled at set-up time as the harness's CRI client is
(``harness/backends/local/containerd/proto.py``): pymultus is installed onto
nodes from a wheel or copied into a zipapp by ``pymultus-install``; neither
place has protoc, nor a writable package directory at run time. The price is
that the generated code names the protobuf and grpcio versions it was made
with as its minimum; pyproject.toml declares those floors and
``tests/unit/test_podresources_generated.py`` regenerates into a temporary
directory, compares, and checks the floors, so a stale or mismatched module
fails a test instead of a node.
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PROTO = os.path.join(HERE, "api.proto")
#: What protoc writes for api.proto (under pymultus/podresources/).
OUTPUTS = ("api_pb2.py", "api_pb2.pyi", "api_pb2_grpc.py")


def generate(out_root: str) -> list[str]:
    """Compile api.proto into ``out_root/pymultus/podresources/``; the paths written.

    The proto is named by its path from the repository root, so the
    descriptor registers as ``pymultus/podresources/api.proto`` (no clash in
    the process-wide descriptor pool) and the gRPC module imports its
    messages as ``pymultus.podresources.api_pb2``.
    """
    from grpc_tools import protoc  # development only

    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    os.makedirs(os.path.join(out_root, "pymultus", "podresources"), exist_ok=True)
    code = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{ROOT}",
            f"-I{include}",
            f"--python_out={out_root}",
            f"--pyi_out={out_root}",
            f"--grpc_python_out={out_root}",
            os.path.relpath(PROTO, ROOT),
        ]
    )
    if code != 0:
        raise RuntimeError(f"protoc failed on {PROTO} (exit {code})")
    return [os.path.join(out_root, "pymultus", "podresources", name) for name in OUTPUTS]


def main() -> int:
    for path in generate(ROOT):
        sys.stdout.write(f"wrote {os.path.relpath(path, ROOT)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
