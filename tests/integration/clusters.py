"""Helpers for integration tests that run a LocalCluster."""

from __future__ import annotations

import os
import socket
import time

from harness.backends.local.topology import NETNS_DIR


def netns_of(cluster_id: str) -> list[str]:
    """The network namespaces a cluster still has (nodes, fabric, pods)."""
    return sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(cluster_id + "-"))


def echo_through(port: int, payload: bytes, timeout: float = 15) -> bytes:
    """Send ``payload`` to a forwarded local port, half-close, return all that comes back."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
            break
        except OSError:
            assert time.monotonic() < deadline, f"nothing listens on {port}"
            time.sleep(0.1)
    with sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def free_port() -> int:
    """A loopback port nothing listens on right now (for kubectl port-forward)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
