"""Clusters that live in run directories: find them, inspect them, take them down.

``harness cluster up`` leaves a cluster running in a background owner process
(:mod:`harness.backends.local.owner`); later commands find it through its run
directory ``/run/harness/<id>/``: ``state.json`` (everything made, for cleanup
even after a crash), ``cluster.json`` (written once the cluster is up: owner
pid, servers, kubeconfig) and ``sandboxes.json`` (pod uid -> network namespace,
kept current by the owner, for ``harness exec``). The decisions here (which
run a command means, which sandbox a pod has) are pure functions over
:class:`Run` records so they are testable without root.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from dataclasses import dataclass, field
from typing import Any

from harness.backends.local.topology import RUN_ROOT, destroy_run_dir, load_state, pid_alive

INFO_FILE = "cluster.json"
SANDBOXES_FILE = "sandboxes.json"


@dataclass
class Run:
    """One run directory as found on disk."""

    id: str
    run_dir: str
    owner_pid: int | None  # from state.json (None: not even that was written)
    alive: bool
    info: dict[str, Any] = field(default_factory=dict)  # cluster.json, {} if not (yet) up

    @property
    def persistent(self) -> bool:
        """Started by ``harness cluster up`` (not a test's or scenario's cluster)."""
        return bool(self.info.get("persistent"))

    @property
    def kubeconfig(self) -> str:
        return str(self.info.get("kubeconfig", os.path.join(self.run_dir, "kubeconfig")))


def _read_json(path: str) -> Any:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def list_runs(run_root: str = RUN_ROOT) -> list[Run]:
    runs: list[Run] = []
    try:
        names = sorted(os.listdir(run_root))
    except OSError:
        return runs
    for name in names:
        run_dir = os.path.join(run_root, name)
        if not os.path.isdir(run_dir):
            continue
        state = load_state(run_dir)
        info = _read_json(os.path.join(run_dir, INFO_FILE))
        pid = state.owner_pid if state is not None else None
        runs.append(
            Run(
                id=name,
                run_dir=run_dir,
                owner_pid=pid,
                alive=pid is not None and pid_alive(pid),
                info=info if isinstance(info, dict) else {},
            )
        )
    return runs


def select_run(runs: list[Run], cluster_id: str | None) -> Run:
    """The run a command means: the one named, else the only live ``cluster up`` one.

    Raises LookupError with a message that lists what exists and says what to pass.
    """
    if cluster_id:
        for run in runs:
            if run.id == cluster_id:
                return run
        known = ", ".join(r.id for r in runs) or "none"
        raise LookupError(f"no cluster {cluster_id!r} in {RUN_ROOT} (clusters: {known})")
    candidates = [r for r in runs if r.persistent and r.alive]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise LookupError("no cluster is up: start one with `harness cluster up`")
    ids = ", ".join(r.id for r in candidates)
    raise LookupError(f"several clusters are up ({ids}): name one with --cluster ID")


def find_sandbox(sandboxes: dict[str, Any], namespace: str, name: str) -> dict[str, Any] | None:
    """The running sandbox of pod ``namespace/name`` in a ``sandboxes.json`` map."""
    for entry in sandboxes.values():
        if (
            isinstance(entry, dict)
            and entry.get("namespace") == namespace
            and entry.get("name") == name
        ):
            return entry
    return None


def read_sandboxes(run: Run) -> dict[str, Any]:
    data = _read_json(os.path.join(run.run_dir, SANDBOXES_FILE))
    return data if isinstance(data, dict) else {}


def take_down(run: Run, timeout: float = 15.0) -> str:
    """Stop a cluster's owner (it cleans up) and remove whatever is left.

    A live owner gets SIGTERM and ``timeout`` seconds to close the cluster
    itself, then SIGKILL; then the run directory's ``state.json`` drives the
    removal of every namespace, mount, file and process still recorded (the
    crash path: the same code removes the leftovers of a ``kill -9``).
    Returns a one-line account for the user.
    """
    how = "stale (owner gone)"
    if run.alive and run.owner_pid is not None:
        if run.owner_pid == os.getpid():
            raise RuntimeError(f"cluster {run.id} is owned by this very process")
        how = f"owner {run.owner_pid} stopped"
        with contextlib.suppress(ProcessLookupError):
            os.kill(run.owner_pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while running(run.owner_pid) and time.monotonic() < deadline:
            _reap(run.owner_pid)
            time.sleep(0.02)
        if running(run.owner_pid):
            os.kill(run.owner_pid, signal.SIGKILL)
            how = f"owner {run.owner_pid} killed after {timeout:.0f} s"
            time.sleep(0.1)
    if os.path.exists(run.run_dir):
        destroy_run_dir(run.run_dir)
    return f"{run.id}: removed ({how})"


def running(pid: int) -> bool:
    """Alive and not a zombie (an exited owner whose new parent has not reaped it yet)."""
    if not pid_alive(pid):
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _reap(pid: int) -> None:
    """Collect our own child's exit status (tests start owners as children)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
