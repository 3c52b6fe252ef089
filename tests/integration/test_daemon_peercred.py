"""The daemon refuses requests from other users, even through a loosened socket.

Needs root: the other user is a real process running as ``nobody``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest

from harness.backends.local.thick import http_get
from pymultus.daemon.overlay import DaemonOptions
from pymultus.daemon.server import Daemon
from pymultus.log import Logger

NOBODY = 65534

CLIENT = """
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(b"GET /healthz HTTP/1.0\\r\\n\\r\\n")
data = b""
while chunk := s.recv(4096):
    data += chunk
print(data.split(b"\\r\\n")[0].decode())
"""


@pytest.fixture
def loosened_daemon() -> Iterator[Daemon]:
    if os.geteuid() != 0:
        pytest.skip("needs root to run a client as another user")
    top = tempfile.mkdtemp(prefix="pymultus-peercred-")
    os.chmod(top, 0o711)
    options = DaemonOptions(socket_dir=os.path.join(top, "run"))
    daemon = Daemon(
        options,
        {"delegates": [{"cniVersion": "1.0.0", "name": "d", "type": "x"}], "cniDir": top},
        kube=None,
        env={},
        log=Logger("error", "", False),
    )
    daemon.start()
    try:
        # Someone loosens the modes: the socket becomes reachable by every user.
        os.chmod(options.socket_dir, 0o711)
        os.chmod(options.socket_path, 0o666)
        yield daemon
    finally:
        daemon.stop()
        shutil.rmtree(top, ignore_errors=True)


def test_other_users_get_403_and_root_is_served(loosened_daemon: Daemon) -> None:
    path = loosened_daemon.options.socket_path
    # The venv's interpreter may sit in root's home; the system one is public.
    python = shutil.which("python3", path="/usr/bin:/bin")
    if python is None:
        pytest.skip("no system python3 that another user can run")
    other = subprocess.run(
        [python, "-I", "-S", "-c", CLIENT, path],
        user=NOBODY,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert other.returncode == 0, other.stderr
    assert other.stdout.strip() == "HTTP/1.0 403 Forbidden"
    assert http_get(path, "/healthz")[0] == 200


SILENT_CLIENT = """
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
print("connected", flush=True)
time.sleep(float(sys.argv[2]))
"""


def test_silent_foreign_clients_never_block_the_accept_loop(loosened_daemon: Daemon) -> None:
    """Issue 15, item 6: the peer check waited up to 1 s per foreign connection
    inside the accept loop; five silent ones delayed everyone by seconds."""
    path = loosened_daemon.options.socket_path
    python = shutil.which("python3", path="/usr/bin:/bin")
    if python is None:
        pytest.skip("no system python3 that another user can run")
    others = [
        subprocess.Popen(
            [python, "-I", "-S", "-c", SILENT_CLIENT, path, "4"],
            user=NOBODY,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(5)
    ]
    try:
        for other in others:
            assert other.stdout is not None and other.stdout.readline().strip() == "connected"
        start = time.monotonic()
        assert http_get(path, "/healthz", timeout=10)[0] == 200
        assert time.monotonic() - start < 0.5
    finally:
        for other in others:
            other.kill()
            other.wait()
