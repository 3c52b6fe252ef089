"""Listening inside a network namespace (needs root: skipped otherwise).

It creates one namespace ``h-test-<random>``, serves the API on its loopback
(and on the root loopback with the same port number), connects from inside it
with ``ip netns exec``, and deletes the namespace even when a check fails.
The root namespace's configuration is never changed.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest

from harness.backends.local.apiserver import APIServer
from harness.backends.local.nsutil import enter_netns, socket_in_netns

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and iproute2"
    ),
]


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"h-test-{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def get_from_inside(ns: str, port: int, path: str = "/api") -> subprocess.CompletedProcess[str]:
    code = (
        "import sys, urllib.request\n"
        f"r = urllib.request.urlopen('http://127.0.0.1:{port}{path}', timeout=5)\n"
        "print(r.status)\n"
    )
    return subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def netns_inode(path: str) -> int:
    return os.stat(path).st_ino


def test_listen_in_a_namespace(netns: str) -> None:
    path = f"/run/netns/{netns}"
    root_before = os.readlink("/proc/thread-self/ns/net")
    srv = APIServer()
    try:
        _, port = srv.listen("127.0.0.1", 0)  # the root loopback, for the harness
        _, ns_port = srv.listen("127.0.0.1", port, netns=path)  # the same port in the node
        assert ns_port == port
        done = get_from_inside(netns, port)
        assert done.returncode == 0 and done.stdout.strip() == "200", done.stderr
        assert srv.addresses[1] == ("127.0.0.1", port, path)
        # pause/resume re-creates the listener inside the namespace.
        srv.pause()
        assert get_from_inside(netns, port).returncode != 0
        srv.resume()
        assert get_from_inside(netns, port).stdout.strip() == "200"
    finally:
        srv.stop()
    assert os.readlink("/proc/thread-self/ns/net") == root_before


def test_socket_only_exists_in_its_namespace(netns: str) -> None:
    path = f"/run/netns/{netns}"
    sock = socket_in_netns(path, "127.0.0.1", 0)
    try:
        port = sock.getsockname()[1]
        # Nothing listens on that port in the root namespace.
        import socket

        with (
            pytest.raises(ConnectionRefusedError),
            socket.create_connection(("127.0.0.1", port), timeout=2),
        ):
            pass
    finally:
        sock.close()


def test_enter_netns_restores_the_thread(netns: str) -> None:
    mine = "/proc/thread-self/ns/net"
    before = netns_inode(mine)
    with enter_netns(f"/run/netns/{netns}"):
        assert netns_inode(mine) == netns_inode(f"/run/netns/{netns}")
    assert netns_inode(mine) == before
    with pytest.raises(OSError), enter_netns("/run/netns/does-not-exist"):
        pass
    assert netns_inode(mine) == before
