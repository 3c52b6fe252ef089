"""pymultus: a Multus-compatible multi-network CNI meta-plugin.

Kept empty on purpose: this package is imported on every CNI call, so its
``__init__`` must cost nothing.
"""
