"""The existing-cluster backend, for real, against a `harness cluster up` cluster.

`harness run --backend existing --kubeconfig K` drives a cluster the way it
drives kind and k3s (harness.backends.remote): kubectl apply of namespaces
and NADs (validated against the server's OpenAPI, no --validate=false),
kubectl create of pods, polling for Ready, `kubectl exec` for interfaces,
routes and pings, kubectl delete, and its leak check. Here the cluster is
the embedded one, so this code path runs on every `make test`, not only on
GitHub's kind and k3s jobs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.clusters import netns_of

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network and mount namespaces)"),
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
    pytest.mark.skipif(not os.path.isdir("/usr/lib/cni"), reason="no CNI plugins in /usr/lib/cni"),
]

REPO = Path(__file__).resolve().parents[2]
HARNESS = [sys.executable, "-m", "harness.cli"]
RUN_LABEL = "harness.pymultus.dev/run"
# The quickstart and five more: both annotation forms, a conflist NAD, the
# default-network annotation, and a ping over net1 through `kubectl exec`.
SCENARIOS = (
    "quickstart.yaml",
    "annotation-json-list.yaml",
    "annotation-comma-list.yaml",
    "conflist-tuning.yaml",
    "default-network-annotation.yaml",
    "same-node-macvlan-ping.yaml",
)


def run(argv: list[str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Iterator[str]:
    """A cluster started by `harness cluster up`, taken down (and proven gone) after."""
    up = run([*HARNESS, "cluster", "up", "--nodes", "2"], cwd=tmp_path)
    assert up.returncode == 0, up.stderr
    match = re.search(r"export KUBECONFIG=(\S+)", up.stdout)
    assert match, up.stdout
    path = match.group(1)
    cluster_id = os.path.basename(os.path.dirname(path))
    try:
        yield path
    finally:
        down = run([*HARNESS, "cluster", "down", cluster_id], cwd=tmp_path)
        assert down.returncode == 0, down.stderr
        assert netns_of(cluster_id) == []


def test_existing_backend_runs_scenarios_on_a_local_cluster(
    kubeconfig: str, tmp_path: Path
) -> None:
    results = tmp_path / "results.json"
    paths = [str(REPO / "scenarios" / name) for name in SCENARIOS]
    argv = [*HARNESS, "run", "--backend", "existing", "--kubeconfig", kubeconfig, *paths]
    ran = run([*argv, "--results-json", str(results)], cwd=tmp_path, timeout=600)
    assert ran.returncode == 0, ran.stdout[-6000:] + ran.stderr[-3000:]
    doc = json.loads(results.read_text())
    statuses = {Path(s["path"]).name: s["status"] for s in doc["results"]}
    assert statuses == dict.fromkeys(SCENARIOS, "passed"), ran.stdout[-6000:]

    # It deleted everything it made: its namespaces (labelled with the run id) and pods.
    env = {**os.environ, "KUBECONFIG": kubeconfig}
    left = subprocess.run(
        ["kubectl", "get", "namespaces,pods", "-A", "-l", RUN_LABEL, "-o", "name"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert left.returncode == 0, left.stderr
    assert left.stdout.strip() == "", left.stdout
