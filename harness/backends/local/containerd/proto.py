"""Compile :file:`cri.proto` with grpcio-tools into ``_generated/`` (not committed).

Generated at setup time (``make setup`` runs ``python -m
harness.backends.local.containerd.proto``) and again on first use whenever the
.proto changed since (its SHA-256 is stored next to the output), so the
modules always match the .proto and the installed grpcio-tools/protobuf pair:
committed generated code would pin the protobuf runtime version it was made
with.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
import tempfile
import threading
from types import ModuleType
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO = os.path.join(HERE, "cri.proto")
OUT_DIR = os.path.join(HERE, "_generated")
STAMP = os.path.join(OUT_DIR, "cri.proto.sha256")
PACKAGE = "harness.backends.local.containerd._generated"
_lock = threading.Lock()


def proto_digest() -> str:
    with open(PROTO, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def compile_proto(out_dir: str) -> None:
    """Run protoc (grpcio-tools) on cri.proto, writing cri_pb2.py and cri_pb2_grpc.py."""
    from grpc_tools import protoc  # only needed to (re)generate

    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    code = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{HERE}",
            f"-I{include}",
            f"--python_out={out_dir}",
            f"--grpc_python_out={out_dir}",
            PROTO,
        ]
    )
    if code != 0:
        raise RuntimeError(f"protoc failed on {PROTO} (exit {code})")
    # protoc writes `import cri_pb2`: make it relative to our package.
    grpc_module = os.path.join(out_dir, "cri_pb2_grpc.py")
    with open(grpc_module, encoding="utf-8") as f:
        text = f.read()
    with open(grpc_module, "w", encoding="utf-8") as f:
        f.write(text.replace("import cri_pb2 as cri__pb2", "from . import cri_pb2 as cri__pb2"))


def ensure_generated() -> None:
    """Generate the modules unless the stamp says they match the .proto."""
    digest = proto_digest()
    with _lock:
        try:
            with open(STAMP, encoding="utf-8") as f:
                if f.read().strip() == digest:
                    return
        except OSError:
            pass
        os.makedirs(OUT_DIR, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=OUT_DIR) as tmp:
            compile_proto(tmp)
            for name in ("cri_pb2.py", "cri_pb2_grpc.py"):
                os.replace(os.path.join(tmp, name), os.path.join(OUT_DIR, name))
        init = os.path.join(OUT_DIR, "__init__.py")
        if not os.path.exists(init):
            with open(init, "w", encoding="utf-8") as f:
                f.write('"""Generated from ../cri.proto by proto.py; not committed."""\n')
        with open(STAMP, "w", encoding="utf-8") as f:
            f.write(digest + "\n")
        importlib.invalidate_caches()


def modules() -> tuple[Any, Any]:
    """(cri_pb2, cri_pb2_grpc), generating them first if needed."""
    ensure_generated()
    pb2: ModuleType = importlib.import_module(f"{PACKAGE}.cri_pb2")
    grpc_mod: ModuleType = importlib.import_module(f"{PACKAGE}.cri_pb2_grpc")
    return pb2, grpc_mod


if __name__ == "__main__":
    ensure_generated()
    sys.stdout.write(f"generated {OUT_DIR} from {PROTO}\n")
