"""Thick mode: the node daemon that runs the engine for the ``pymultus-shim``.

Kept empty on purpose: ``pymultus.shim`` may import :mod:`pymultus.daemon.wire`
on the CNI path, which imports this package first.
"""
