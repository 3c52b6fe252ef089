"""Fixtures shared by the integration tests (root, network namespaces)."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.backends.local.cluster import LocalCluster
from tests.integration.clusters import netns_of


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


@pytest.fixture
def netns_pair() -> Iterator[tuple[str, str]]:
    """A (host, pod) pair of fresh network namespaces, always deleted afterwards."""
    tag = uuid.uuid4().hex[:8]
    names = [f"pmtest-host-{tag}", f"pmtest-pod-{tag}"]
    created: list[str] = []
    try:
        for name in names:
            proc = _ip("netns", "add", name)
            assert proc.returncode == 0, proc.stderr
            created.append(name)
        yield names[0], names[1]
    finally:
        for name in created:
            _ip("netns", "del", name)
        leftover = _ip("netns", "list").stdout
        assert not any(name in leftover for name in names), leftover


@pytest.fixture
def local_cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LocalCluster]:
    """A one-node local cluster (the meta-plugin from --meta-plugin), proven gone after."""
    meta = request.config.getoption("--meta-plugin", default=None)
    c = LocalCluster(nodes=1, meta_plugin=meta, run_root=str(tmp_path / "run"))
    c.start()
    try:
        yield c
    finally:
        c.close()
        assert netns_of(c.cluster_id) == []
