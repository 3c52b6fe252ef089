"""Backends make a scenario's cluster real. ``local`` is the embedded default."""

from __future__ import annotations

import os
from dataclasses import dataclass

from harness.cluster import Cluster
from harness.profiles import Profile
from harness.scenario.loader import Scenario
from harness.scenario.needs import Probe

BACKENDS = ("local", "kind", "k3s", "existing")
REMOTE_BACKENDS = ("kind", "k3s", "existing")


@dataclass(frozen=True)
class Options:
    backend: str = "local"
    meta_plugin: str | None = None
    cni_bin_dir: str = "/usr/lib/cni"
    mode: str = "thin"  # "thick": a pymultus daemon per node (harness.backends.local.thick)
    # Local nodes' CNI caller: "simulated" (the harness's kubelet) or "containerd"
    # (a real containerd per node, harness.backends.local.containerd); a
    # scenario's cluster.runtime wins over it.
    runtime: str = "simulated"
    k8s_version: str | None = None  # for backends that run real Kubernetes
    keep_cluster: bool = False
    # Real clusters (harness.backends.remote): kind's IP family, the kubeconfig
    # of an existing cluster, where logs go on failure, and a manifest to apply
    # instead of deploy/<mode> (the reference Multus as a peer).
    ip_family: str = "ipv4"
    kubeconfig: str | None = None
    context: str | None = None
    report_dir: str = "reports"
    deploy: str | None = None
    # The meta-plugin profile (harness.profiles): a built-in name or a file;
    # neither: pymultus in ``mode``. ``daemon``/``shim``: a thick profile's binaries.
    profile: str | None = None
    profile_file: str | None = None
    daemon: str | None = None
    shim: str | None = None

    def meta_profile(self) -> Profile:
        """The profile this run names (ProfileError when it names none that exists)."""
        from harness.profiles import choose

        named = self.profile or self.profile_file
        return choose(self.profile, self.profile_file, None if named else self.mode)


def unavailable_reason(options: Options) -> str | None:
    """Why this backend cannot run here (None when it can): a skip reason."""
    if options.backend not in BACKENDS:
        return f"unknown backend {options.backend!r} (available: {', '.join(BACKENDS)})"
    if options.backend in REMOTE_BACKENDS:
        from harness.backends import remote

        return remote.unavailable_reason(options)
    if options.backend == "local":
        if os.geteuid() != 0:
            return "the local backend needs root (network and mount namespaces)"
        if options.runtime == "containerd":
            from harness.backends.local.containerd.check import unavailable_reason as why

            reason = why()
            if reason:
                return reason
        if not os.path.isdir(options.cni_bin_dir):
            return (
                f"no CNI plugins in {options.cni_bin_dir} "
                "(apt-get install containernetworking-plugins)"
            )
    return None


def make_cluster(scenario: Scenario, options: Options) -> Cluster:
    if options.backend in REMOTE_BACKENDS:
        from harness.backends import remote

        return remote.session(options).cluster_for(scenario.nodes)
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
    """Answers for scenarios' ``cluster.needs`` on this backend."""
    if options.backend in REMOTE_BACKENDS:
        from harness.backends import remote

        return remote.probes_for(options)
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


def finish_backends(failed: bool) -> None:
    """End of a run: real clusters collect logs on failure and are deleted unless kept."""
    from harness.backends import remote

    remote.finish_all(failed)
