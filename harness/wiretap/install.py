"""Putting the wiretap in front of every binary of a CNI bin dir (and taking it out).

``wrap_bin_dir(bin_dir)`` is all a backend calls, with the bin dir as this
process sees it (a host path); whoever later runs ``<bin_dir>/<plugin>`` -
the simulated kubelet, containerd under a node, the meta-plugin calling a
delegate - runs the wrapper (:mod:`harness.wiretap.tap`), which runs the real
binary from ``.wiretap/real/`` and appends one line to
``.wiretap/calls.jsonl`` (or the ``record`` path given, as the callers see it).

Every step is atomic for a concurrent caller: the real binary is first linked
into ``.wiretap/real/``, then the wrapper replaces the name with ``rename``.
Wrapping again is cheap and picks up binaries installed meanwhile (a
meta-plugin installer that copies itself over its wrapper is wrapped again).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sys
from collections.abc import Iterator

TAP_DIR = ".wiretap"
REAL_DIR = os.path.join(TAP_DIR, "real")
RECORD_FILE = os.path.join(TAP_DIR, "calls.jsonl")
LOCK_FILE = os.path.join(TAP_DIR, "lock")
MARKER = b"# cni-wiretap wrapper"
_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tap.py")


def interpreter() -> str:
    """The Python that runs wrappers: the system one if present (stdlib only)."""
    for candidate in ("/usr/bin/python3", sys.executable):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError("no python3 to run the CNI wiretap wrapper")


def wrapper_text(name: str, record: str = "") -> str:
    with open(_SOURCE) as f:
        body = f.read()
    body = body.replace('NAME = "__NAME__"', f"NAME = {name!r}", 1)
    body = body.replace('RECORD = "__RECORD__"', f"RECORD = {record!r}", 1)
    return f"#!{interpreter()} -IS\n{MARKER.decode()}\n{body}"


def is_wrapper(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(256)
    except OSError:
        return False
    return MARKER in head


def record_path(bin_dir: str) -> str:
    """Where a wrapped ``bin_dir``'s calls are recorded (unless ``record`` was given)."""
    return os.path.join(bin_dir, RECORD_FILE)


def _wrappable(path: str, name: str) -> bool:
    if name.startswith(".") or name.endswith(".wiretap-tmp"):
        return False
    return os.path.isfile(path) and os.access(path, os.X_OK) and not is_wrapper(path)


def _keep_real(path: str, real: str) -> None:
    """Make ``real`` the binary ``path`` is now (a symlink keeps its target)."""
    tmp = real + ".wiretap-tmp"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    if os.path.islink(path):
        os.symlink(os.path.realpath(path), tmp)
    else:
        try:
            os.link(path, tmp)
        except OSError:
            shutil.copy2(path, tmp)
    os.replace(tmp, real)


@contextlib.contextmanager
def _locked(bin_dir: str) -> Iterator[None]:
    """One wrapper at a time per bin dir, across threads and processes: two
    concurrent wraps could otherwise keep a wrapper as the "real" binary."""
    fd = os.open(os.path.join(bin_dir, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def wrap_bin_dir(bin_dir: str, record: str = "") -> list[str]:
    """Wrap every executable of ``bin_dir`` not wrapped yet; the names wrapped."""
    real_dir = os.path.join(bin_dir, REAL_DIR)
    os.makedirs(real_dir, exist_ok=True)
    with _locked(bin_dir):
        return _wrap(bin_dir, real_dir, record)


def _wrap(bin_dir: str, real_dir: str, record: str) -> list[str]:
    wrapped = []
    for name in sorted(os.listdir(bin_dir)):
        path = os.path.join(bin_dir, name)
        if not _wrappable(path, name):
            continue
        _keep_real(path, os.path.join(real_dir, name))
        tmp = path + ".wiretap-tmp"
        with open(tmp, "w") as f:
            f.write(wrapper_text(name, record))
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)
        wrapped.append(name)
    return wrapped


def unwrap_bin_dir(bin_dir: str) -> list[str]:
    """Put the real binaries back and remove the wiretap dir; the names restored."""
    real_dir = os.path.join(bin_dir, REAL_DIR)
    if not os.path.isdir(real_dir):
        return []
    restored = []
    for name in sorted(os.listdir(real_dir)):
        path = os.path.join(bin_dir, name)
        if os.path.lexists(path) and not is_wrapper(path):
            continue  # replaced by something else meanwhile: leave it
        os.replace(os.path.join(real_dir, name), path)
        restored.append(name)
    shutil.rmtree(os.path.join(bin_dir, TAP_DIR), ignore_errors=True)
    return restored
