"""Backends make a scenario's cluster real. ``local`` is the embedded default."""

from __future__ import annotations

import os
from dataclasses import dataclass

from harness.cluster import Cluster
from harness.scenario.loader import Scenario

BACKENDS = ("local",)


@dataclass(frozen=True)
class Options:
    backend: str = "local"
    meta_plugin: str | None = None
    cni_bin_dir: str = "/usr/lib/cni"


def unavailable_reason(options: Options) -> str | None:
    """Why this backend cannot run here (None when it can): a skip reason."""
    if options.backend not in BACKENDS:
        return f"unknown backend {options.backend!r} (available: {', '.join(BACKENDS)})"
    if options.backend == "local":
        if os.geteuid() != 0:
            return "the local backend needs root (network and mount namespaces)"
        if not os.path.isdir(options.cni_bin_dir):
            return (
                f"no CNI plugins in {options.cni_bin_dir} "
                "(apt-get install containernetworking-plugins)"
            )
    return None


def make_cluster(scenario: Scenario, options: Options) -> Cluster:
    from harness.backends.local.cluster import LocalCluster

    cluster = LocalCluster(
        nodes=scenario.nodes,
        meta_plugin=options.meta_plugin,
        cni_bin_dir=options.cni_bin_dir,
        meta_config=scenario.meta_config,
    )
    return cluster.start()
