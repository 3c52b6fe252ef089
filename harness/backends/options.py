"""What a run asks of its backend: one value, handed to every backend.

Its own module (re-exported by :mod:`harness.backends`) so that a backend
module can name it without importing the registry, which names every
backend: the registry imports the backends, never the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.profiles import Profile


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
