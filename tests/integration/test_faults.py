"""Faults a scenario step cannot stage: the pod's namespace gone before DEL,
two operations on one container at once, the runtime retrying ADD.

The harness is the runtime here: it calls the node's CNI config (the
meta-plugin in thin mode) the way the simulated kubelet does, through its
request and executor, so the plugin runs inside the node exactly as for a
pod. Whatever the interleaving, the user-facing contract is the same (CNI
SPEC.md Section 3 "Execution Protocol", "DEL ... should not return an
error" for missing resources): every call answers in bounded time with a
result or a CNI error, and once the pod is deleted nothing is left.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from typing import Any

import pytest

from harness.backends.local.podnetwork import runtime_config
from harness.cniruntime.errors import CNIError
from harness.cniruntime.ops import add_list, del_list

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network and mount namespaces)"),
    pytest.mark.skipif(not os.path.isdir("/usr/lib/cni"), reason="no CNI plugins in /usr/lib/cni"),
]

MACVLAN = {
    "cniVersion": "0.3.1",
    "type": "macvlan",
    "master": "eth0",
    "mode": "bridge",
    "ipam": {"type": "host-local", "subnet": "192.168.41.0/24"},
}
BOUND = 30.0  # seconds: any single CNI call must answer within this


def leases(cluster: Any) -> list[str]:
    return [leak for leak in cluster.leaks() if "/var/lib/cni/networks/" in leak]


def runtime_call(cluster: Any, command: str, namespace: str, name: str) -> dict[str, Any] | None:
    """One CNI call on the pod's current sandbox, as the node's runtime makes it."""
    sandbox = cluster._sandbox(namespace, name)
    assert sandbox is not None, f"pod {name} has no sandbox"
    pod = cluster.get_pod(namespace, name)
    assert pod is not None
    kubelet = cluster.kubelets[pod["spec"]["nodeName"]]
    request = kubelet.request(command, sandbox, pod)
    ncl = kubelet.network_config()
    if command == "ADD":
        return add_list(ncl, request, runtime_config(pod), kubelet.executor())
    cached = kubelet.cache.load(sandbox.network, sandbox.container_id, "eth0")
    del_list(ncl, request, runtime_config(pod), cached, kubelet.executor())
    return None


@pytest.mark.cluster(nodes=1)
def test_del_succeeds_when_the_pod_namespace_is_already_gone(
    cluster: Any, nad: Any, pod: Any
) -> None:
    """A runtime may lose the netns (node reboot, manual cleanup) before DEL:
    DEL must still succeed and free the IPAM leases (nothing else frees them)."""
    nad("macvlan-conf", MACVLAN)
    p = pod("nsgone", networks="macvlan-conf")
    assert p.ready
    assert len(leases(cluster)) == 2  # eth0's and net1's host-local leases exist now
    netns = cluster._sandbox("default", "nsgone").netns
    subprocess.run(["ip", "netns", "delete", netns], check=True)
    started = time.monotonic()
    p.delete()  # asserts DEL succeeded
    assert time.monotonic() - started < BOUND
    assert cluster.leaks() == []


@pytest.mark.cluster(nodes=1)
def test_runtime_retrying_add_then_del_leaves_nothing(cluster: Any, nad: Any, pod: Any) -> None:
    """The runtime timed out waiting for ADD and calls ADD again on the same
    container: the retry answers (a result or a CNI error) and the pod's DEL
    still releases everything, including what the retry allocated."""
    nad("macvlan-conf", MACVLAN)
    p = pod("retried", networks="macvlan-conf")
    assert p.ready
    started = time.monotonic()
    try:
        result = runtime_call(cluster, "ADD", "default", "retried")
        assert result is not None and result.get("interfaces")
    except CNIError as exc:
        assert exc.code in (4, 5, 7, 11, 999) and str(exc)
    assert time.monotonic() - started < BOUND
    p.delete()
    assert cluster.leaks() == []


@pytest.mark.cluster(nodes=1)
def test_concurrent_add_and_del_on_one_container_leave_nothing(
    cluster: Any, nad: Any, pod: Any
) -> None:
    """ADD (a retry) and DEL of the same container at once, then the runtime's
    final DEL: every call answers in bounded time with a result or a CNI
    error (never a hang or a traceback), and nothing is left."""
    nad("macvlan-conf", MACVLAN)
    p = pod("racing", networks="macvlan-conf")
    assert p.ready
    outcomes: dict[str, object] = {}

    def call(command: str) -> None:
        try:
            outcomes[command] = runtime_call(cluster, command, "default", "racing")
        except CNIError as exc:
            outcomes[command] = exc
        except Exception as exc:  # recorded, so the assertion below shows it
            outcomes[command] = f"not a CNI error: {type(exc).__name__}: {exc}"

    threads = [threading.Thread(target=call, args=(c,)) for c in ("ADD", "DEL")]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(BOUND)
    assert not any(t.is_alive() for t in threads), "a CNI call did not answer in time"
    assert time.monotonic() - started < BOUND
    assert outcomes["DEL"] is None or isinstance(outcomes["DEL"], CNIError), outcomes
    assert isinstance(outcomes["ADD"], (dict, CNIError)), outcomes
    p.delete()  # the runtime's final DEL must succeed whatever the race did
    assert cluster.leaks() == []
