"""What the simulated kubelet remembers of each pod sandbox, and how long it
waits before it tries again.

A :class:`Sandbox` is one attempt at a pod's sandbox (a new container ID and
network namespace per attempt, as kubelet makes a new sandbox per
``RunPodSandbox``), with what its ADD and DELs answered; the harness's
checks (pod outcomes, DEL errors, the leak check) read it. Failed sandboxes
are retried after an exponential back-off, as kubelet backs off a pod's
sync; failed DELs a few times more (kubelet's and containerd's kill paths).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.cniruntime.errors import CNIError

BACKOFF_INITIAL = 1.0  # seconds before the first retry of a failed sandbox
BACKOFF_CAP = 30.0  # kubelet caps its back-off too (at 5 min; we keep tests short)
DEL_ATTEMPTS = 3


def backoff_delay(
    failures: int, initial: float = BACKOFF_INITIAL, cap: float = BACKOFF_CAP
) -> float:
    """Seconds to wait after the ``failures``-th consecutive failure (1, 2, 4 ... cap)."""
    if failures < 1:
        return 0.0
    return float(min(cap, initial * (2 ** min(failures - 1, 30))))


@dataclass
class Sandbox:
    """One pod sandbox as the runtime knows it."""

    pod_key: str  # namespace/name
    uid: str
    container_id: str
    netns: str  # name under /run/netns
    network: str = ""  # the CNI network name that was called
    ready: bool = False
    error: CNIError | None = None
    attempt: int = 1  # 1 for the first sandbox of a pod, +1 for every retry
    previous_error: CNIError | None = None  # why the attempt before this one failed
    teardown_error: CNIError | None = None  # DEL at pod deletion failed
    cleanup_error: CNIError | None = None  # DEL after a failed ADD failed
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def netns_path(self) -> str:
        return f"/var/run/netns/{self.netns}"
