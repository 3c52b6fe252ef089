"""Running CNI plugin binaries: the one way anything in this project executes one.

CNI SPEC.md Section 2: a plugin is an executable found by its ``type`` in a list
of directories, given the CNI_* environment and the JSON configuration on
stdin; it answers on stdout with a result (exit 0) or an error object (non-zero
exit), and may log on stderr. Everything a plugin can do wrong here (hang, crash,
print garbage) becomes a :class:`CNIError` that names the plugin, so a failure
three delegates deep still tells the user who failed and why.
"""

from __future__ import annotations

import os

# collections.abc without importing collections (~1.3 ms per CNI call, issue 16)
from _collections_abc import Mapping, Sequence

from pymultus.cni import jsonlite
from pymultus.cni.errors import (
    DECODE_FAILURE,
    INTERNAL,
    INVALID_CONFIG,
    IO_FAILURE,
    TRY_AGAIN_LATER,
    CNIError,
)
from pymultus.cni.request import reject_constant

TYPE_CHECKING = False  # importing typing costs ~2 ms per CNI call: mypy reads this as True
if TYPE_CHECKING:
    from typing import Any

    from pymultus.cni.request import CNIRequest
    from pymultus.cni.seams import Executor as Executor  # re-exported for the harness


#: How much of a misbehaving plugin's output we quote in an error's details.
EXCERPT_BYTES = 500
#: The most a plugin may write to stdout. A result is a few KiB; a plugin that
#: writes more is broken or hostile, and reading it all would let it fill the
#: memory of every process on the CNI path (the meta-plugin runs as root).
MAX_STDOUT_BYTES = 4 * 1024 * 1024
#: stderr is only ever quoted as evidence: the rest is read and dropped, so a
#: chatty plugin never blocks on a full pipe.
MAX_STDERR_KEPT = 64 * 1024

# Commands whose stdout carries a result we must decode (CNI SPEC.md Section 5):
# ADD returns a Success result, VERSION a Version result. DEL, CHECK, STATUS and
# GC return nothing on success; stray output from them is ignored, as the
# reference runtime library does.
_COMMANDS_WITH_OUTPUT = ("ADD", "VERSION")


def plugin_type_problem(plugin_type: Any) -> str | None:
    """Why ``plugin_type`` cannot name a plugin executable, or None if it can.

    CNI SPEC.md Section 1: ``type`` "must not contain characters disallowed in
    file paths"; we also refuse anything that would escape the plugin
    directories ("..", "/").
    """
    if not isinstance(plugin_type, str):
        return f"must be a string, got {type(plugin_type).__name__}"
    if not plugin_type:
        return "is empty"
    if plugin_type in (".", ".."):
        return f"must not be {plugin_type!r}"
    if "/" in plugin_type or "\0" in plugin_type:
        return "must be a plain file name (no '/' and no NUL)"
    return None


def find_plugin(plugin_type: str, dirs: Sequence[str]) -> str:
    """The path of the first executable regular file named ``plugin_type`` in ``dirs``."""
    problem = plugin_type_problem(plugin_type)
    if problem:
        raise CNIError(INVALID_CONFIG, f"plugin type {plugin_type!r} {problem}")
    for directory in dirs:
        if not directory:
            continue
        candidate = os.path.join(directory, plugin_type)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise CNIError(
        INVALID_CONFIG,
        f'failed to find plugin "{plugin_type}" in path [{", ".join(dirs)}]; '
        "install the plugin there or fix the configuration's type",
    )


def _excerpt(data: bytes) -> str:
    text = data[:EXCERPT_BYTES].decode("utf-8", "replace").strip()
    if len(data) > EXCERPT_BYTES:
        text += " [...]"
    return text


def _evidence(stdout: bytes, stderr: bytes) -> str:
    parts = []
    if stdout.strip():
        parts.append(f"stdout: {_excerpt(stdout)}")
    if stderr.strip():
        parts.append(f"stderr: {_excerpt(stderr)}")
    return "; ".join(parts) if parts else "no output on stdout or stderr"


def _decode_object(data: bytes) -> dict[str, Any] | None:
    try:
        value = jsonlite.loads(data, parse_constant=reject_constant)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _error_from_failure(name: str, command: str, rc: int, stdout: bytes, stderr: bytes) -> CNIError:
    """The CNIError for a plugin that exited non-zero (CNI SPEC.md Section 5, "Error")."""
    if rc < 0:
        return CNIError(
            INTERNAL,
            f"{name}: plugin was killed by signal {-rc} during {command}",
            _evidence(stdout, stderr),
        )
    err = _decode_object(stdout) if stdout.strip() else None
    if err is not None and ("code" in err or "msg" in err):
        code = err.get("code")
        if not isinstance(code, int) or isinstance(code, bool) or code <= 0:
            code = INTERNAL
        msg = err.get("msg")
        if not isinstance(msg, str) or not msg:
            msg = f"{command} failed with exit status {rc} and no message"
        details = err.get("details")
        if not isinstance(details, str) or not details:
            details = f"stderr: {_excerpt(stderr)}" if stderr.strip() else ""
        return CNIError(code, f"{name}: {msg}", details)
    return CNIError(
        INTERNAL,
        f"{name}: {command} failed with exit status {rc} and no CNI error result on stdout",
        _evidence(stdout, stderr),
    )


class _Timeout(Exception):
    """The plugin did not finish by its deadline."""


class _StdoutTooLarge(Exception):
    """The plugin wrote more than the stdout limit (it has been killed)."""


class _Plugin:
    """One plugin process with its three pipes, started by ``os.posix_spawn``.

    Not ``subprocess``: importing it (with ``signal``, ``enum``, ``selectors``,
    ``threading``) costs about 10 ms per CNI call here (issue 16), and the meta-
    plugin needs only this: exec with exactly ``env``, its own session (so a
    timeout kills the plugin's own delegates, an IPAM plugin it started, too),
    stdin fed and stdout/stderr drained at once with a bound on stdout
    (``subprocess.communicate`` reads everything: a plugin printing without end
    would grow this process until the timeout). Only fds 0-2 reach the plugin:
    every other descriptor of this process is non-inheritable (PEP 446).
    """

    def __init__(self, argv: list[str], env: Mapping[str, str], data: bytes, limit: int) -> None:
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            self.pid = os.posix_spawn(
                _executable(argv[0], env),
                argv,
                dict(env),
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, in_r, 0),
                    (os.POSIX_SPAWN_DUP2, out_w, 1),
                    (os.POSIX_SPAWN_DUP2, err_w, 2),
                ],
                setsid=True,
            )
        except BaseException:
            for fd in (in_w, out_r, err_r):
                os.close(fd)
            raise
        finally:
            for fd in (in_r, out_w, err_w):
                os.close(fd)
        self.returncode: int | None = None
        self.limit = limit
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.pending = memoryview(data)
        self.open: dict[int, bytearray | None] = {out_r: self.stdout, err_r: self.stderr}
        if data:
            os.set_blocking(in_w, False)
            self.open[in_w] = None  # the write end: None marks it
        else:
            os.close(in_w)

    def pump(self, deadline: float) -> None:
        """Until both outputs end and the plugin exits; raises
        _Timeout at ``deadline``, _StdoutTooLarge over the limit."""
        import select
        import time

        poller = select.poll()
        for fd, buffer in self.open.items():
            poller.register(fd, select.POLLOUT if buffer is None else select.POLLIN)
        while self.open:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Timeout()
            for fd, _ in poller.poll(remaining * 1000):
                if fd not in self.open:
                    continue
                buffer = self.open[fd]
                if buffer is None:  # stdin
                    try:
                        written = os.write(fd, self.pending[: select.PIPE_BUF])
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:  # it stopped reading: fine, it may not need it
                        written = len(self.pending)
                    self.pending = self.pending[written:]
                    if not self.pending:
                        poller.unregister(fd)
                        self._close(fd)
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    poller.unregister(fd)
                    self._close(fd)
                    continue
                if buffer is self.stderr:
                    buffer += chunk[: max(0, MAX_STDERR_KEPT - len(buffer))]
                    continue
                buffer += chunk
                if len(buffer) > self.limit:
                    raise _StdoutTooLarge()
        self.wait(deadline)

    def wait(self, deadline: float | None = None) -> int:
        """The exit code (``-signal`` when killed, as ``subprocess``); _Timeout at ``deadline``."""
        import time

        delay = 0.0005
        while self.returncode is None:
            if deadline is None:
                _, status = os.waitpid(self.pid, 0)
            else:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
                if pid == 0:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise _Timeout()
                    time.sleep(min(delay, remaining))
                    delay = min(delay * 2, 0.05)
                    continue
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill_group(self) -> None:
        """Kill the plugin and anything it started (it runs in its own session)."""
        if self.returncode is not None:
            return
        try:
            os.killpg(self.pid, _SIGKILL)
        except (ProcessLookupError, PermissionError):
            try:  # noqa: SIM105 (no contextlib: ~2 ms per CNI call with collections)
                os.kill(self.pid, _SIGKILL)
            except ProcessLookupError:
                pass

    def _close(self, fd: int) -> None:
        del self.open[fd]
        os.close(fd)

    def close(self) -> None:
        for fd in list(self.open):
            self._close(fd)


def _executable(name: str, env: Mapping[str, str]) -> str:
    """``name`` looked up in ``env``'s PATH when it has no "/" (as ``subprocess`` does)."""
    if "/" in name:
        return name
    # Not os.get_exec_path: it imports warnings.
    for directory in (env.get("PATH") or os.defpath).split(os.pathsep):
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError(2, "No such file or directory", name)


_SIGKILL = 9  # POSIX: the value is fixed; ``signal`` would bring ``enum``


def run_argv(argv: Sequence[str], stdin: bytes, timeout: float) -> tuple[int, bytes, bytes]:
    """Run a helper (``nsenter ... ip``) with this process's environment: (status, out, err).

    What ``subprocess.run(argv, input=stdin, capture_output=True, timeout=...)``
    gives, without importing ``subprocess``. Raises OSError when it cannot be
    started and TimeoutError (after killing it) when it overruns ``timeout``.
    """
    import time

    proc = _Plugin(list(argv), os.environ, stdin, MAX_STDOUT_BYTES)
    try:
        proc.pump(time.monotonic() + timeout)
    except (_Timeout, _StdoutTooLarge):
        proc.kill_group()
        proc.wait()
        raise TimeoutError(f"{argv[0]} did not finish within {timeout:g} s") from None
    except BaseException:
        proc.kill_group()
        proc.wait()
        raise
    finally:
        proc.close()
    return proc.wait(), bytes(proc.stdout), bytes(proc.stderr)


def exec_plugin(
    path: str,
    command: str,
    stdin_conf: dict[str, Any],
    env: Mapping[str, str],
    *,
    timeout: float = 60.0,
    argv_prefix: Sequence[str] = (),
) -> dict[str, Any]:
    """Run one plugin binary and return its decoded stdout (``{}`` when empty).

    The process gets exactly ``env`` (no shell, no inherited variables) and
    ``argv = [*argv_prefix, path]``; ``argv_prefix`` lets a caller run it via
    e.g. ``nsenter --net=...``. ``command`` is used to interpret the output and
    in messages; CNI_COMMAND itself must be in ``env``.
    """
    import time

    name = os.path.basename(path)
    data = jsonlite.dumps(stdin_conf).encode("utf-8")
    argv = [*argv_prefix, path]
    try:
        proc = _Plugin(argv, env, data, MAX_STDOUT_BYTES)
    except OSError as e:
        raise CNIError(
            IO_FAILURE,
            f"{name}: could not execute {' '.join(argv)}: {e.strerror or e}",
        ) from None
    try:
        proc.pump(time.monotonic() + timeout)
    except _Timeout:
        proc.kill_group()
        try:
            proc.pump(time.monotonic() + 5)
        except (_Timeout, _StdoutTooLarge):
            # Something outside the group still holds the pipes; give up on them.
            proc.wait()
        raise CNIError(
            TRY_AGAIN_LATER,
            f"{name}: {command} did not finish within {timeout:g} s and was killed",
            _evidence(bytes(proc.stdout), bytes(proc.stderr)),
        ) from None
    except _StdoutTooLarge:
        proc.kill_group()
        proc.wait()
        # CNI SPEC.md Section 5: code 6, the output cannot be decoded as a result.
        raise CNIError(
            DECODE_FAILURE,
            f"{name}: {command} wrote more than {MAX_STDOUT_BYTES} bytes to stdout and was "
            "killed; a CNI result is a few KiB, so the plugin is broken",
            _evidence(bytes(proc.stdout), bytes(proc.stderr)),
        ) from None
    except BaseException:
        proc.kill_group()
        proc.wait()
        raise
    finally:
        proc.close()
    stdout, stderr = bytes(proc.stdout), bytes(proc.stderr)
    rc = proc.wait()
    if rc != 0:
        raise _error_from_failure(name, command, rc, stdout, stderr)
    if not stdout.strip():
        return {}
    result = _decode_object(stdout)
    if result is None:
        if command in _COMMANDS_WITH_OUTPUT:
            raise CNIError(
                DECODE_FAILURE,
                f"{name}: {command} succeeded but its stdout is not a JSON object",
                _evidence(stdout, stderr),
            )
        return {}
    return result


class ProcessExecutor:
    """The real :class:`Executor`: finds the binary in ``bin_dirs`` and runs it.

    The environment is ``base_env`` (default: this process's) without any
    CNI_* variables, plus the request's CNI_* (CNI SPEC.md Section 4: a
    delegate gets the same environment as its caller). CNI_PATH is
    ``bin_dirs`` unless the request carries its own path.
    """

    def __init__(
        self,
        bin_dirs: Sequence[str],
        base_env: Mapping[str, str] | None = None,
        timeout: float = 60.0,
        argv_prefix: Sequence[str] = (),
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.bin_dirs = tuple(bin_dirs)
        self.base_env = base_env
        self.timeout = timeout
        self.argv_prefix = tuple(argv_prefix)
        # Added to every plugin's environment (a meta-plugin marks its
        # delegates with pymultus.cni.nesting.DELEGATE_MARKER).
        self.extra_env = dict(extra_env or {})

    def env_for(self, command: str, request: CNIRequest) -> dict[str, str]:
        """The exact environment the plugin will get."""
        base = os.environ if self.base_env is None else self.base_env
        env = {k: v for k, v in base.items() if not k.startswith("CNI_")}
        env.update(self.extra_env)
        req = request.with_(command=command)
        if not req.path:
            req = req.with_(path=self.bin_dirs)
        env.update(req.to_env())
        return env

    def __call__(
        self, plugin_type: str, command: str, conf: dict[str, Any], request: CNIRequest
    ) -> dict[str, Any]:
        path = find_plugin(plugin_type, self.bin_dirs)
        return exec_plugin(
            path,
            command,
            conf,
            self.env_for(command, request),
            timeout=self.timeout,
            argv_prefix=self.argv_prefix,
        )


if not TYPE_CHECKING:  # hidden from mypy, which sees the import above

    def __getattr__(name: str) -> object:
        """``Executor`` for code off the CNI path that imports it from here at run time.

        It lives in :mod:`pymultus.cni.seams` (a ``typing.Protocol``), which the CNI
        path itself only imports for type checking (issue 16).
        """
        if name == "Executor":
            from pymultus.cni.seams import Executor

            return Executor
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
