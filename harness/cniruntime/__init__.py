"""The harness's own CNI runtime side, written from the CNI spec.

This is what a container runtime (containerd's CRI plugin through libcni)
does when it calls a network's plugins: pick the node's first config, derive
each plugin's execution config, compose the CNI_* environment, run the binary
with a timeout, keep the ADD result in the libcni result cache and hand it to
DEL and CHECK. It shares no code with pymultus (an import-linter contract), so
a bug in pymultus's own CNI layer cannot sit on both sides of a test, and it
never converts a result between versions: what the plugin printed is what the
caller gets (``Invocation.stdout``) and what the cache keeps.
"""
