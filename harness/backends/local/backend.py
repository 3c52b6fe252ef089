"""The local backend's entry in the registry (:mod:`harness.backends`).

Kept apart from :mod:`harness.backends.local.cluster` so that naming the
backend (``harness run --backend local``, the pytest plugin's probes) does
not import the embedded API server: the cluster is imported when the first
scenario needs one.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from harness.backends.entry import Backend

if TYPE_CHECKING:
    from harness.backends.options import Options
    from harness.cluster import Cluster
    from harness.scenario.loader import Scenario
    from harness.scenario.needs import Probe


def unavailable_reason(options: Options) -> str | None:
    if os.geteuid() != 0:
        return "the local backend needs root (network and mount namespaces)"
    if options.runtime == "containerd":
        from harness.backends.local.containerd.check import unavailable_reason as why

        reason = why()
        if reason:
            return reason
    if not os.path.isdir(options.cni_bin_dir):
        return (
            f"no CNI plugins in {options.cni_bin_dir} (apt-get install containernetworking-plugins)"
        )
    return None


def make_cluster(scenario: Scenario, options: Options) -> Cluster:
    from harness.backends.local.cluster import LocalCluster

    cluster = LocalCluster(
        nodes=scenario.nodes,
        meta_plugin=options.meta_plugin,
        cni_bin_dir=options.cni_bin_dir,
        meta_config=scenario.meta_config,
        devices=scenario.devices,
        profile=options.meta_profile(),
        daemon=options.daemon,
        shim=options.shim,
        runtime=scenario.runtime or options.runtime,
    )
    return cluster.start()


def probes_for(options: Options) -> dict[str, Probe]:
    from harness.profiles import ProfileError
    from harness.scenario.needs import local_probes

    probes = local_probes(options.cni_bin_dir, options.mode)
    # CNI 1.1.0 (STATUS, GC, cniVersion "1.1.0" configs) needs a runtime that
    # speaks it: the simulated kubelet does, containerd 1.6's libcni does not.
    probes["cni-1.1"] = lambda: (
        "containerd 1.6's CNI library refuses cniVersion 1.1.0 configs"
        if options.runtime == "containerd"
        else None
    )
    try:
        profile = options.meta_profile()
    except ProfileError:
        return probes  # refused where the run starts
    if profile.implementation != "pymultus":
        # What only pymultus's own parts can do is decided before a scenario
        # starts (a skip with the reason), never found out half-way.
        installer = f"pymultus-install installs pymultus, not profile {profile.name}"
        probes["installer"] = lambda: installer
        if profile.form == "thick":
            hotplug = f"the harness speaks pymultus's /delegate body, not {profile.name}'s"
            probes["hotplug"] = lambda: hotplug
    return probes


BACKEND = Backend(cluster=make_cluster, probes=probes_for, unavailable=unavailable_reason)
