"""Running one plugin binary: find it, feed its config, collect what it printed.

SPEC.md Section 2 ("Execution protocol") and Section 6 ("Result types" and
"Error"): the config goes on stdin, the result or error comes on stdout, a
non-zero exit means failure. Every invocation is described by an
:class:`Invocation` (raw stdout included) handed to ``on_call`` observers, and
the result is returned decoded but never converted between versions.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from harness.cniruntime.errors import RUNTIME_FAILURE, CNIError
from harness.cniruntime.request import CNIRequest, compose_env

DEFAULT_TIMEOUT = 60.0
EXCERPT = 400


@dataclass(frozen=True)
class Invocation:
    """What one plugin run was given and what it gave back."""

    plugin: str  # the type
    path: str
    command: str
    env: tuple[tuple[str, str], ...]
    stdin: bytes
    stdout: bytes
    stderr: bytes
    exit_code: int  # -1: killed at the timeout
    started: float  # wall clock
    seconds: float


class Executor(Protocol):
    """Runs plugin ``plugin_type`` for ``command``: its decoded stdout or a CNIError."""

    def __call__(
        self, plugin_type: str, command: str, conf: dict[str, Any], request: CNIRequest
    ) -> dict[str, Any]: ...


def find_plugin(plugin_type: str, dirs: Sequence[str]) -> str:
    """The first ``dirs/plugin_type`` that is an executable file (CNI_PATH order)."""
    if not plugin_type or "/" in plugin_type or plugin_type in (".", ".."):
        raise CNIError(RUNTIME_FAILURE, f"plugin type {plugin_type!r} is not a file name")
    for directory in dirs:
        candidate = os.path.join(directory, plugin_type)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise CNIError(RUNTIME_FAILURE, f'failed to find plugin "{plugin_type}" in path {list(dirs)}')


def excerpt(data: bytes) -> str:
    text = data.decode(errors="replace").strip()
    return text if len(text) <= EXCERPT else text[:EXCERPT] + "..."


def decode_error(invocation: Invocation) -> CNIError:
    """The CNIError a failed run reported, or the runtime's own description of it."""
    name = f"plugin {invocation.plugin} {invocation.command}"
    if invocation.exit_code == -1:
        return CNIError(RUNTIME_FAILURE, f"{name} timed out", stdout=invocation.stdout)
    try:
        body = json.loads(invocation.stdout)
    except (ValueError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict) and isinstance(body.get("code"), int):
        return CNIError(
            int(body["code"]),
            str(body.get("msg", "")),
            str(body.get("details", "")),
            stdout=invocation.stdout,
        )
    return CNIError(
        RUNTIME_FAILURE,
        f"{name} failed (exit {invocation.exit_code}) without error JSON on stdout",
        excerpt(invocation.stdout + b" " + invocation.stderr),
        stdout=invocation.stdout,
    )


def decode_result(invocation: Invocation) -> dict[str, Any]:
    """A successful run's stdout as JSON (empty stdout: ``{}``, as for DEL)."""
    if not invocation.stdout.strip():
        return {}
    try:
        body = json.loads(invocation.stdout)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CNIError(
            RUNTIME_FAILURE,
            f"plugin {invocation.plugin} {invocation.command} printed output that is not JSON",
            f"{exc}: {excerpt(invocation.stdout)}",
            stdout=invocation.stdout,
        ) from None
    if not isinstance(body, dict):
        raise CNIError(
            RUNTIME_FAILURE,
            f"plugin {invocation.plugin} {invocation.command} printed JSON that is not an object",
            excerpt(invocation.stdout),
            stdout=invocation.stdout,
        )
    return body


def run_binary(
    path: str,
    stdin: bytes,
    env: Mapping[str, str],
    timeout: float = DEFAULT_TIMEOUT,
    argv_prefix: Sequence[str] = (),
) -> tuple[int, bytes, bytes, float, float]:
    """Run ``path`` (own process group, killed with it at the timeout).

    Returns (exit code or -1, stdout, stderr, wall-clock start, seconds).
    """
    started = time.time()
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [*argv_prefix, path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env),
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        code = -1
    return code, out, err, started, time.monotonic() - t0


class ProcessExecutor:
    """The real :class:`Executor`: plugins from ``bin_dirs``, run with ``argv_prefix``.

    ``bin_dirs`` are where this process finds the binaries (host paths);
    ``cni_path`` is CNI_PATH as the plugin sees it (default ``bin_dirs``).
    """

    def __init__(
        self,
        bin_dirs: Sequence[str],
        base_env: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        argv_prefix: Sequence[str] = (),
        cni_path: Sequence[str] = (),
        on_call: Callable[[Invocation], None] | None = None,
    ) -> None:
        self.bin_dirs = tuple(bin_dirs)
        self.base_env = dict(os.environ if base_env is None else base_env)
        self.timeout = timeout
        self.argv_prefix = tuple(argv_prefix)
        self.cni_path = tuple(cni_path) or self.bin_dirs
        self.on_call = on_call
        self.calls: list[Invocation] = []

    def env_for(self, command: str, request: CNIRequest) -> dict[str, str]:
        req = request.with_(command=command)
        if not req.path:
            req = req.with_(path=self.cni_path)
        return compose_env(self.base_env, req)

    def invoke(
        self, plugin_type: str, command: str, stdin: bytes, request: CNIRequest
    ) -> Invocation:
        """Run the plugin and describe the run (never raises for the plugin's failure)."""
        path = find_plugin(plugin_type, self.bin_dirs)
        env = self.env_for(command, request)
        code, out, err, started, seconds = run_binary(
            path, stdin, env, self.timeout, self.argv_prefix
        )
        invocation = Invocation(
            plugin=plugin_type,
            path=path,
            command=command,
            env=tuple(sorted((k, v) for k, v in env.items() if k.startswith("CNI_"))),
            stdin=stdin,
            stdout=out,
            stderr=err,
            exit_code=code,
            started=started,
            seconds=seconds,
        )
        self.calls.append(invocation)
        if self.on_call is not None:
            self.on_call(invocation)
        return invocation

    def __call__(
        self, plugin_type: str, command: str, conf: dict[str, Any], request: CNIRequest
    ) -> dict[str, Any]:
        invocation = self.invoke(plugin_type, command, json.dumps(conf).encode(), request)
        if invocation.exit_code != 0:
            raise decode_error(invocation)
        return decode_result(invocation)


def exec_plugin(
    path: str,
    command: str,
    conf: dict[str, Any],
    env: Mapping[str, str],
    timeout: float = DEFAULT_TIMEOUT,
    argv_prefix: Sequence[str] = (),
) -> dict[str, Any]:
    """Run one binary with ``conf`` on stdin and ``env`` as is: its decoded stdout.

    A timeout raises CNIError with "did not finish within" in its message.
    """
    stdin = json.dumps(conf).encode()
    code, out, err, started, seconds = run_binary(path, stdin, env, timeout, argv_prefix)
    invocation = Invocation(
        plugin=os.path.basename(path),
        path=path,
        command=command,
        env=tuple(sorted((k, v) for k, v in env.items() if k.startswith("CNI_"))),
        stdin=stdin,
        stdout=out,
        stderr=err,
        exit_code=code,
        started=started,
        seconds=seconds,
    )
    if code == -1:
        raise CNIError(
            RUNTIME_FAILURE,
            f"plugin {invocation.plugin} {command} did not finish within {timeout:.1f} s",
            stdout=out,
        )
    if code != 0:
        raise decode_error(invocation)
    return decode_result(invocation)
