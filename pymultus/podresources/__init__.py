"""The kubelet's pod-resources API: which devices the kubelet gave a pod.

A NAD annotated ``k8s.v1.cni.cncf.io/resourceName`` (an SR-IOV VF pool, say)
names a device-plugin resource; the kubelet allocated one device of it per
request to the pod, and the delegate must be told which (``deviceID``). The
kubelet answers over gRPC on ``/var/lib/kubelet/pod-resources/kubelet.sock``
(service ``v1.PodResourcesLister``, unary ``List``).

The client (:mod:`pymultus.podresources.client`) is grpcio with messages and
stub generated from our own minimal :file:`api.proto` (committed next to it,
see :mod:`pymultus.podresources.generate` for why). grpcio and protobuf are
C extensions that cost ~100 ms to import, so this package imports nothing
itself: only the engine's device lookup imports ``client``, and only when a
selected network names a resource (the CNI entry path stays standard-library
for everything else; tests/unit/test_entry_imports.py pins that).
"""
