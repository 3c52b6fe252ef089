"""A failed sandbox whose cleanup DEL fails too stays, as on containerd (issue 17).

containerd's RunPodSandbox removes a failed sandbox's netns only when its
cleanup DEL succeeded; otherwise the sandbox is kept (SANDBOX_UNKNOWN) and
the kubelet must stop it before it makes the pod a new one. The simulated
kubelet does the same: no new sandbox while the old one's DEL fails, the
old one stopped (DEL, netns removed) once DEL works, and, when DEL still
fails at deletion, the netns left on the node for the leak check to see.

The meta-plugin here is a script in the node's bin dir (named as the
profile's binary) whose ADD always fails and whose DEL fails while a flag
file exists.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.backends.local.cluster import LocalCluster
from harness.backends.local.topology import NETNS_DIR
from tests.integration.clusters import netns_of

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network and mount namespaces)"),
    pytest.mark.skipif(not os.path.isdir("/usr/lib/cni"), reason="no CNI plugins in /usr/lib/cni"),
]

PLUGIN = """#!/bin/sh
cat >/dev/null
fail() {{ printf '{{"cniVersion":"1.0.0","code":11,"msg":"%s"}}' "$1"; exit 1; }}
case "$CNI_COMMAND" in
ADD) fail "add refused by the test plugin" ;;
DEL) [ -e '{flag}' ] && fail "del refused by the test plugin"; exit 0 ;;
VERSION) printf '{{"cniVersion":"1.0.0","supportedVersions":["0.3.1","0.4.0","1.0.0"]}}' ;;
esac
"""


def until(what: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_failed_cleanup_keeps_the_sandbox_until_del_works(tmp_path: Path) -> None:
    flag = tmp_path / "del-fails"
    flag.touch()
    plugin = tmp_path / "bin" / "pymultus"
    plugin.parent.mkdir()
    plugin.write_text(PLUGIN.format(flag=flag))
    plugin.chmod(0o755)
    cluster = LocalCluster(nodes=1, meta_plugin=str(plugin), run_root=str(tmp_path / "run"))
    cluster.start()
    try:
        cluster.create_pod(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "stuck", "namespace": "default"},
                "spec": {"containers": [{"name": "main", "image": "busybox"}]},
            }
        )
        outcome = cluster.wait_pod("default", "stuck", timeout=20)
        assert not outcome.ready and outcome.error is not None
        first = cluster._sandbox("default", "stuck")
        assert first is not None and first.cleanup_error is not None
        # Kept, netns and all; the pod is alive, so that is no leak yet.
        assert os.path.exists(os.path.join(NETNS_DIR, first.netns))
        assert cluster.leaks() == []

        def kill_failures() -> int:
            events = cluster.api_server.store.list_objects("events", "default")
            return sum(
                int(e.get("count") or 1)
                for e in events
                if e.get("reason") == "FailedKillPod" and "del refused" in e.get("message", "")
            )

        # Retries stop the old sandbox first; while that fails, no new sandbox.
        until(lambda: kill_failures() >= 2)
        assert cluster._sandbox("default", "stuck") is first
        assert os.path.exists(os.path.join(NETNS_DIR, first.netns))

        # DEL works again: the old sandbox goes (netns too), a new attempt is made;
        # its own cleanup succeeds, so it leaves nothing.
        flag.unlink()
        until(lambda: (s := cluster._sandbox("default", "stuck")) is not None and s.attempt >= 2)
        until(lambda: cluster.kubelets["node-1"].stale == {})
        assert first.teardown_error is None  # its DEL (StopPodSandbox) succeeded
        until(lambda: (s := cluster._sandbox("default", "stuck")) is not None and s.error)
        second = cluster._sandbox("default", "stuck")
        assert second is not None
        until(lambda: not os.path.exists(os.path.join(NETNS_DIR, second.netns)))

        # DEL fails again: a later attempt is kept; deleting the pod gives up after
        # the kubelet's bounded retries and the leak check names what is left.
        flag.touch()
        until(lambda: (s := cluster._sandbox("default", "stuck")) is not None and s.cleanup_error)
        kept = cluster._sandbox("default", "stuck")
        assert kept is not None
        error = cluster.delete_pod("default", "stuck")
        assert error is not None and "del refused" in str(error)
        assert f"network namespace {kept.netns}" in cluster.leaks()
    finally:
        cluster.close()
    assert netns_of(cluster.cluster_id) == []
