"""Size bounds on everything the meta-plugin reads from others.

A CNI plugin runs as root once per pod operation. Its inputs come from the
runtime (stdin), from any user who can create pods (annotations) or
NetworkAttachmentDefinitions (``spec.config``), and from files on the node.
None of them has a reason to be large, and an unbounded input would let one
pod's author make the node's CNI path slow or memory hungry. The limits are
far above anything real (a typical config is under 2 KiB, Kubernetes caps
all of an object's annotations at 256 KiB together) and each failure names
the input, its size and the limit, with code 7 (CNI SPEC.md Section 5: "Invalid
network config").

JSON nesting is bounded by the decoder itself (RecursionError), which the
callers turn into a decode error; the byte limits keep that cheap.
"""

from __future__ import annotations

from pymultus.cni.errors import INVALID_CONFIG, CNIError

KIB = 1024
MIB = 1024 * KIB

#: The network configuration on stdin (and a delegate config inside it).
MAX_CONFIG_BYTES = 1 * MIB
#: One pod annotation (networks, default-network). Kubernetes' own limit for
#: the sum of all annotations of an object (ObjectMeta validation) is 256 KiB.
MAX_ANNOTATION_BYTES = 256 * KIB
#: A NAD's spec.config, a CNI config file in confDir, a kubeconfig.
MAX_FILE_BYTES = 1 * MIB


def check_size(size: int, limit: int, what: str, remedy: str = "") -> None:
    """Raise CNIError(INVALID_CONFIG) when ``size`` bytes exceed ``limit``."""
    if size > limit:
        raise CNIError(
            INVALID_CONFIG,
            f"{what} is {size} bytes, more than the limit of {limit} bytes",
            remedy or "this is far larger than any real configuration; check what produced it",
        )


def read_bounded(path: str, limit: int, what: str) -> bytes:
    """Read at most ``limit`` bytes of ``path``; larger files raise CNIError(7).

    Reads ``limit + 1`` bytes so a file that is too large is detected
    without reading it whole (``/dev/zero`` or a growing log would never end).
    OSError propagates for the caller to classify.
    """
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise CNIError(
            INVALID_CONFIG,
            f"{what} is larger than the limit of {limit} bytes",
            "this is far larger than any real configuration; check the file",
        )
    return data
