"""Helpers for integration tests that run a LocalCluster."""

from __future__ import annotations

import os

from harness.backends.local.topology import NETNS_DIR


def netns_of(cluster_id: str) -> list[str]:
    """The network namespaces a cluster still has (nodes, fabric, pods)."""
    return sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(cluster_id + "-"))
