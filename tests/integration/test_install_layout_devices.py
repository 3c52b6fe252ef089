"""The installed thin layout reads devices: device-info through ``pymultus-install``'s files.

``pymultus-install`` lays out ``pymultus.pyz``, ``pymultus-lib/`` (grpcio and
protobuf, which cannot load from the zip) and a ``-IS`` launcher. This runs
the device-info scenario on the local backend with that launcher as the
meta-plugin: the pod's device comes from the simulated kubelet's
pod-resources API through the libraries beside the archive, as a node
without a Python environment of its own would run it. Without
``pymultus-lib/`` the same ADD must fail with a CNI error naming grpc.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.backends import Options, make_cluster, probes_for, unavailable_reason
from harness.runner import run_scenario
from harness.scenario.loader import load_scenario
from pymultus.install.layout import LIB_DIR, install_binaries

REPO = Path(__file__).resolve().parents[2]


def run_device_info(meta_plugin: str) -> tuple[str, str]:
    options = Options(meta_plugin=meta_plugin)
    reason = unavailable_reason(options)
    if reason:
        pytest.skip(reason)
    scenario = load_scenario(str(REPO / "scenarios" / "device-info.yaml"))
    result = run_scenario(scenario, lambda s: make_cluster(s, options), probes_for(options))
    return result.status, result.report()


def test_the_installed_thin_layout_gets_the_pods_device(tmp_path: Path) -> None:
    pytest.importorskip("grpc")
    bin_dir = str(tmp_path / "bin")
    os.makedirs(bin_dir)
    assert LIB_DIR in install_binaries(bin_dir, bin_dir)
    status, report = run_device_info(os.path.join(bin_dir, "pymultus"))
    assert status == "passed", report

    os.rename(os.path.join(bin_dir, LIB_DIR), os.path.join(bin_dir, "elsewhere"))
    status, report = run_device_info(os.path.join(bin_dir, "pymultus"))
    assert status == "failed"
    assert "No module named 'grpc'" in report, report
    assert "k8s.v1.cni.cncf.io/resourceName" in report, report
