"""Whether containerd nodes can run on this machine (decided before any scenario starts)."""

from __future__ import annotations

import os
import shutil

from harness.backends.local.containerd.image import BUSYBOX

NEEDED = {
    "containerd": "containerd",
    "ctr": "containerd",
    "runc": "runc",
    "containerd-shim-runc-v2": "containerd",
}


def unavailable_reason() -> str | None:
    """A skip reason naming the missing program and its Debian package, or None."""
    missing = sorted({pkg for prog, pkg in NEEDED.items() if shutil.which(prog) is None})
    if not os.access(BUSYBOX, os.X_OK):
        missing.append("busybox-static")
    if missing:
        return (
            "containerd runtime: missing "
            + ", ".join(missing)
            + f" (apt-get install -y {' '.join(missing)})"
        )
    try:
        from harness.backends.local.containerd import proto

        proto.ensure_generated()
    except Exception as exc:  # grpcio-tools missing or protoc failed
        return f"containerd runtime: cannot compile cri.proto ({exc}); pip install grpcio-tools"
    return None
