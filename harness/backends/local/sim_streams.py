"""exec, attach, logs and port-forward on a simulated node.

A simulated pod is a sandbox and nothing else: a network namespace the
kubelet made and the CNI plugins wired; no container image, no container
process. So, on these nodes:

- **exec** runs the command on the host inside the pod's network namespace
  (``nsenter --net=/var/run/netns/<sandbox>``), exactly as ``harness exec``
  does: ``kubectl exec samplepod -- ip a`` lists the interfaces the
  meta-plugin made (lo, eth0, net1). The host's file system and programs
  are what the command sees; only the network is the pod's.
- **logs** are the kubelet's record of the pod (its events: Scheduled,
  sandbox created, CNI errors, Killing ...), one line per event, because
  there is no container whose output could be shown. Nothing is invented:
  a pod whose kubelet recorded nothing has an empty log.
- **attach** is refused with a clear error: there is no container process
  to attach to.
- **port-forward** connects to the port on the pod's loopback, from inside
  its network namespace.

Nodes that run containerd serve the same protocol through CRI.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import socket
import struct
import subprocess
import termios
import time
from collections.abc import Callable, Iterator
from typing import IO, Any

from harness.backends.local.nsutil import connect_in_netns
from harness.backends.local.podio import LogLine, PodProcess, StreamUnavailable

NETNS_DIR = "/var/run/netns"
_EXEC_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "TERM": "xterm",
    "HOME": "/root",
}
_FOLLOW_POLL = 0.2


class _PipeProcess:
    """A command with pipes (no TTY): the streams as Kubernetes keeps them apart."""

    failure: dict[str, Any] | None = None  # the exit code says everything

    def __init__(self, argv: list[str], stdin: bool) -> None:
        self._proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_EXEC_ENV,
            cwd="/",
            start_new_session=True,
        )
        self.stdin: IO[bytes] | None = self._proc.stdin
        self.stdout: IO[bytes] | None = self._proc.stdout
        self.stderr: IO[bytes] | None = self._proc.stderr

    def resize(self, width: int, height: int) -> None:
        """No terminal, nothing to resize."""

    def wait(self) -> int:
        return self._proc.wait()

    def kill(self) -> None:
        if self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, 9)
        self._proc.wait()


class _PtyReader:
    """The pty master as a file whose EOF is the EIO Linux gives once the slave is gone."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def read1(self, size: int = 65536) -> bytes:
        try:
            return os.read(self._fd, size)
        except OSError:
            return b""

    read = read1


class _PtyProcess:
    """A command on a pseudo-terminal: ``kubectl exec -it``; stdout carries stderr too."""

    failure: dict[str, Any] | None = None

    def __init__(self, argv: list[str]) -> None:
        master, slave = pty.openpty()
        try:
            # setsid -c: a new session whose controlling terminal is the pty (job
            # control and ^C work as in a container's terminal).
            self._proc = subprocess.Popen(
                ["setsid", "-c", *argv],
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=_EXEC_ENV,
                cwd="/",
                close_fds=True,
            )
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        self._master = master
        self.stdin: IO[bytes] | None = os.fdopen(os.dup(master), "wb", buffering=0)
        self.stdout: IO[bytes] | None = _PtyReader(master)  # type: ignore[assignment]
        self.stderr: IO[bytes] | None = None

    def resize(self, width: int, height: int) -> None:
        with contextlib.suppress(OSError):
            fcntl.ioctl(self._master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    def wait(self) -> int:
        return self._proc.wait()

    def kill(self) -> None:
        if self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, 9)
        self._proc.wait()
        for f in (self.stdin,):
            with contextlib.suppress(OSError):
                f.close()  # type: ignore[union-attr]
        with contextlib.suppress(OSError):
            os.close(self._master)


def event_lines(events: list[dict[str, Any]], uid: str) -> list[tuple[str, LogLine]]:
    """The pod's events as log lines, oldest first, each keyed by (name, count) so a
    follower emits an event again when it recurs (its count grows)."""
    mine = [e for e in events if (e.get("involvedObject") or {}).get("uid") == uid]

    def when(e: dict[str, Any]) -> str:
        return str(e.get("lastTimestamp") or e.get("eventTime") or e.get("firstTimestamp") or "")

    def order(e: dict[str, Any]) -> tuple[str, int]:
        # Timestamps have second resolution: the creation order breaks ties.
        rv = str(e["metadata"].get("resourceVersion") or "0")
        return when(e), int(rv) if rv.isdigit() else 0

    out: list[tuple[str, LogLine]] = []
    for e in sorted(mine, key=order):
        count = int(e.get("count") or (e.get("series") or {}).get("count") or 1)
        text = f"{e.get('type', 'Normal')} {e.get('reason', '')}: {e.get('message', '')}"
        if count > 1:
            text += f" (x{count})"
        stamp = when(e).replace("Z", ".000000000Z") if when(e).endswith("Z") else when(e)
        out.append((f"{e['metadata'].get('name')}#{count}", LogLine(stamp, text)))
    return out


class SimNodeStreams:
    """:class:`~harness.backends.local.podio.NodeStreams` for one simulated node.

    ``sandbox_netns(uid)`` names the running sandbox's netns (None when the pod
    has none on this node); ``events(namespace)`` lists the namespace's events;
    ``pod_exists(namespace, name, uid)`` ends a follow when the pod is gone.
    """

    def __init__(
        self,
        node: str,
        sandbox_netns: Callable[[str], str | None],
        events: Callable[[str], list[dict[str, Any]]],
        pod_exists: Callable[[str, str, str], bool],
    ) -> None:
        self.node = node
        self._sandbox_netns = sandbox_netns
        self._events = events
        self._pod_exists = pod_exists

    def _netns(self, pod: dict[str, Any]) -> str:
        meta = pod.get("metadata") or {}
        netns = self._sandbox_netns(str(meta.get("uid", "")))
        if netns is None:
            phase = (pod.get("status") or {}).get("phase", "Pending")
            raise StreamUnavailable(
                f"pod {meta.get('namespace')}/{meta.get('name')} has no running sandbox on "
                f"node {self.node} (phase {phase}); see `kubectl describe pod "
                f"{meta.get('name')}` for its events"
            )
        return os.path.join(NETNS_DIR, netns)

    def check(self, pod: dict[str, Any], container: str, subresource: str) -> None:
        if subresource == "attach":
            self.attach(pod, container, tty=False, stdin=False)
        self._netns(pod)

    def exec(
        self, pod: dict[str, Any], container: str, argv: list[str], *, tty: bool, stdin: bool
    ) -> PodProcess:
        command = ["nsenter", f"--net={self._netns(pod)}", "--", *argv]
        return _PtyProcess(command) if tty else _PipeProcess(command, stdin)

    def attach(self, pod: dict[str, Any], container: str, *, tty: bool, stdin: bool) -> PodProcess:
        meta = pod.get("metadata") or {}
        raise StreamUnavailable(
            f"container {container} of pod {meta.get('namespace')}/{meta.get('name')} has no "
            f"process to attach to: node {self.node} is simulated (a pod is a network "
            "namespace, no container runs); use `kubectl exec` to run a command in it"
        )

    def log(
        self, pod: dict[str, Any], container: str, *, follow: bool, stop: Callable[[], bool]
    ) -> Iterator[LogLine]:
        meta = pod.get("metadata") or {}
        namespace, name, uid = str(meta["namespace"]), str(meta["name"]), str(meta["uid"])
        seen: set[str] = set()
        while True:
            for key, line in event_lines(self._events(namespace), uid):
                if key not in seen:
                    seen.add(key)
                    yield line
            if not follow or stop() or not self._pod_exists(namespace, name, uid):
                return
            time.sleep(_FOLLOW_POLL)

    def forward(self, pod: dict[str, Any]) -> None:
        """No runtime server: the API server serves port-forward, ``connect`` per stream."""
        return None

    def connect(self, pod: dict[str, Any], port: int) -> socket.socket:
        """A TCP connection to ``port`` on the pod's loopback, made inside its netns."""
        try:
            return connect_in_netns(self._netns(pod), "127.0.0.1", port, timeout=5)
        except OSError as exc:
            raise StreamUnavailable(f"cannot connect to port {port} in the pod: {exc}") from exc
