"""Local nodes with a real container runtime: containerd's CRI plugin as the CNI caller.

:mod:`.daemon` runs one containerd per node inside the node's network and
mount namespaces, :mod:`.image` builds the busybox image it runs without a
registry, :mod:`.cri` is the kubelet's client of the CRI ``runtime.v1`` API
(from our own :file:`cri.proto`, compiled by :mod:`.proto`), and
:mod:`.kubelet` turns pods into CRI calls as a real kubelet does.
"""
