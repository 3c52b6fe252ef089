"""``pymultus install``: the DaemonSet entrypoint that puts pymultus on a node."""
