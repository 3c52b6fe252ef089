"""Running plugins: lookup, env/stdin contract, every way a plugin can fail."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from pymultus.cni.errors import (
    DECODE_FAILURE,
    INTERNAL,
    INVALID_CONFIG,
    IO_FAILURE,
    TRY_AGAIN_LATER,
    CNIError,
)
from pymultus.cni.invoke import ProcessExecutor, exec_plugin, find_plugin
from pymultus.cni.request import CNIRequest

ADD_ENV = {
    "CNI_COMMAND": "ADD",
    "CNI_CONTAINERID": "c1",
    "CNI_NETNS": "/run/netns/x",
    "CNI_IFNAME": "eth0",
    "CNI_ARGS": "",
    "CNI_PATH": "/nowhere",
}
CONF = {"cniVersion": "1.0.0", "name": "net", "type": "fake"}


def make_plugin(directory: Path, name: str, body: str, executable: bool = True) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    mode = 0o755 if executable else 0o644
    path.chmod(mode)
    return path


# --- find_plugin --------------------------------------------------------------------


def test_find_plugin_first_dir_wins(tmp_path: Path) -> None:
    a = make_plugin(tmp_path / "a", "bridge", "exit 0")
    make_plugin(tmp_path / "b", "bridge", "exit 0")
    assert find_plugin("bridge", [str(tmp_path / "a"), str(tmp_path / "b")]) == str(a)


def test_find_plugin_skips_non_executable_and_directories(tmp_path: Path) -> None:
    make_plugin(tmp_path / "a", "bridge", "exit 0", executable=False)
    (tmp_path / "b" / "bridge").mkdir(parents=True)
    c = make_plugin(tmp_path / "c", "bridge", "exit 0")
    dirs = [str(tmp_path / d) for d in ("missing", "a", "b", "c")]
    assert find_plugin("bridge", dirs) == str(c)


def test_find_plugin_not_found_names_type_and_dirs(tmp_path: Path) -> None:
    with pytest.raises(CNIError) as exc:
        find_plugin("macvlan", ["/opt/cni/bin", str(tmp_path)])
    assert exc.value.code == INVALID_CONFIG
    assert exc.value.msg.startswith(
        f'failed to find plugin "macvlan" in path [/opt/cni/bin, {tmp_path}]'
    )


@pytest.mark.parametrize("bad", ["", ".", "..", "../bridge", "a/b", "/usr/bin/sh", "a\0b"])
def test_find_plugin_rejects_unsafe_types(tmp_path: Path, bad: str) -> None:
    with pytest.raises(CNIError) as exc:
        find_plugin(bad, [str(tmp_path)])
    assert exc.value.code == INVALID_CONFIG
    assert repr(bad) in exc.value.msg


# --- exec_plugin: success -----------------------------------------------------------


def test_success_gets_exact_env_and_stdin(tmp_path: Path) -> None:
    plugin = make_plugin(
        tmp_path,
        "fake",
        f"cat > {tmp_path}/stdin\n/usr/bin/env > {tmp_path}/env\n"
        'printf \'{"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.2/24"}]}\'',
    )
    out = exec_plugin(str(plugin), "ADD", CONF, ADD_ENV)
    assert out == {"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.2/24"}]}
    assert json.loads((tmp_path / "stdin").read_text()) == CONF
    seen = dict(
        line.split("=", 1) for line in (tmp_path / "env").read_text().splitlines() if "=" in line
    )
    seen.pop("PWD", None)  # /bin/sh adds these itself
    seen.pop("SHLVL", None)
    seen.pop("_", None)
    assert seen == ADD_ENV


@pytest.mark.parametrize("command", ["DEL", "CHECK", "GC", "STATUS"])
def test_empty_stdout_is_empty_dict(tmp_path: Path, command: str) -> None:
    plugin = make_plugin(tmp_path, "fake", "exit 0")
    assert exec_plugin(str(plugin), command, CONF, {**ADD_ENV, "CNI_COMMAND": command}) == {}


def test_garbage_on_del_is_ignored(tmp_path: Path) -> None:
    plugin = make_plugin(tmp_path, "fake", "echo 'deleted things'")
    assert exec_plugin(str(plugin), "DEL", CONF, {**ADD_ENV, "CNI_COMMAND": "DEL"}) == {}


@pytest.mark.parametrize("stdout", ["not json", "[1, 2]", '{"cniVersion": '])
def test_garbage_on_add_is_decode_failure_naming_plugin(tmp_path: Path, stdout: str) -> None:
    plugin = make_plugin(tmp_path, "wobbly", f"printf '%s' '{stdout}'")
    with pytest.raises(CNIError) as exc:
        exec_plugin(str(plugin), "ADD", CONF, ADD_ENV)
    assert exc.value.code == DECODE_FAILURE
    assert exc.value.msg.startswith("wobbly:")
    assert stdout[:5] in exc.value.details


def test_large_output_does_not_deadlock(tmp_path: Path) -> None:
    # More than a pipe buffer on both streams while stdin is being written.
    plugin = make_plugin(
        tmp_path,
        "fake",
        "head -c 300000 /dev/zero | tr '\\0' x >&2\n"
        'printf \'{"cniVersion":"1.0.0","dns":{"domain":"\'\n'
        "head -c 300000 /dev/zero | tr '\\0' y\n"
        "printf '\"}}'\ncat > /dev/null",
    )
    out = exec_plugin(str(plugin), "ADD", {**CONF, "pad": "z" * 300000}, ADD_ENV)
    assert len(out["dns"]["domain"]) == 300000


def test_argv_prefix_runs_through_a_wrapper(tmp_path: Path) -> None:
    plugin = make_plugin(tmp_path, "fake", 'printf \'{"via": "%s"}\' "$WRAPPED"', False)
    out = exec_plugin(
        str(plugin), "ADD", CONF, ADD_ENV, argv_prefix=["/usr/bin/env", "WRAPPED=yes", "/bin/sh"]
    )
    assert out == {"via": "yes"}


# --- exec_plugin: failures ----------------------------------------------------------


def test_error_json_becomes_cnierror_with_plugin_prefix(tmp_path: Path) -> None:
    plugin = make_plugin(
        tmp_path,
        "host-local",
        'printf \'{"cniVersion":"1.0.0","code":7,"msg":"bad subnet","details":"10/33"}\'\nexit 1',
    )
    with pytest.raises(CNIError) as exc:
        exec_plugin(str(plugin), "ADD", CONF, ADD_ENV)
    assert (exc.value.code, exc.value.msg, exc.value.details) == (
        7,
        "host-local: bad subnet",
        "10/33",
    )


def test_error_json_without_details_carries_stderr(tmp_path: Path) -> None:
    plugin = make_plugin(
        tmp_path, "p", 'echo "log line" >&2\nprintf \'{"code":11,"msg":"busy"}\'\nexit 1'
    )
    with pytest.raises(CNIError) as exc:
        exec_plugin(str(plugin), "ADD", CONF, ADD_ENV)
    assert exc.value.code == 11
    assert "log line" in exc.value.details


@pytest.mark.parametrize("code_json", ['"7"', "true", "0", "-3", "null"])
def test_error_json_with_bad_code_is_internal(tmp_path: Path, code_json: str) -> None:
    plugin = make_plugin(tmp_path, "p", f'printf \'{{"code":{code_json},"msg":"m"}}\'\nexit 1')
    with pytest.raises(CNIError) as exc:
        exec_plugin(str(plugin), "ADD", CONF, ADD_ENV)
    assert exc.value.code == INTERNAL
    assert exc.value.msg == "p: m"


def test_unparseable_failure_is_internal_with_excerpts(tmp_path: Path) -> None:
    plugin = make_plugin(tmp_path, "crashy", "echo 'panic: nil map' >&2\necho 'half {'\nexit 2")
    with pytest.raises(CNIError) as exc:
        exec_plugin(str(plugin), "DEL", CONF, {**ADD_ENV, "CNI_COMMAND": "DEL"})
    assert exc.value.code == INTERNAL
    assert exc.value.msg.startswith("crashy:")
    assert "exit status 2" in exc.value.msg
    assert "panic: nil map" in exc.value.details
    assert "half {" in exc.value.details


def test_excerpt_is_bounded(tmp_path: Path) -> None:
    plugin = make_plugin(tmp_path, "p", "head -c 100000 /dev/zero | tr '\\0' e >&2\nexit 1")
    with pytest.raises(CNIError) as exc:
        exec_plugin(str(plugin), "ADD", CONF, ADD_ENV)
    assert 500 <= len(exc.value.details) < 700


def test_killed_by_signal(tmp_path: Path) -> None:
    plugin = make_plugin(tmp_path, "p", "kill -9 $$")
    with pytest.raises(CNIError) as exc:
        exec_plugin(str(plugin), "ADD", CONF, ADD_ENV)
    assert exc.value.code == INTERNAL
    assert "signal 9" in exc.value.msg


def test_timeout_kills_plugin_and_its_children(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    plugin = make_plugin(tmp_path, "slow", f"sleep 300 &\necho $! > {pidfile}\nwait")
    start = time.monotonic()
    with pytest.raises(CNIError) as exc:
        exec_plugin(str(plugin), "ADD", CONF, ADD_ENV, timeout=0.5)
    assert time.monotonic() - start < 5
    assert exc.value.code == TRY_AGAIN_LATER
    assert "slow" in exc.value.msg and "0.5 s" in exc.value.msg
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        # A zombie still answers kill(0); it is gone once reaped by init.
        if _is_zombie(child):
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"child {child} of the timed-out plugin is still running")


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except (FileNotFoundError, IndexError):
        return True


def test_exec_failure_is_io_failure(tmp_path: Path) -> None:
    with pytest.raises(CNIError) as exc:
        exec_plugin(str(tmp_path / "fake"), "ADD", CONF, ADD_ENV, argv_prefix=["/nonexistent"])
    assert exc.value.code == IO_FAILURE
    assert "/nonexistent" in exc.value.msg


def test_non_executable_without_prefix_is_io_failure(tmp_path: Path) -> None:
    plugin = make_plugin(tmp_path, "fake", "exit 0", executable=False)
    assert not os.stat(plugin).st_mode & stat.S_IXUSR
    with pytest.raises(CNIError) as exc:
        exec_plugin(str(plugin), "ADD", CONF, ADD_ENV)
    assert exc.value.code == IO_FAILURE


# --- ProcessExecutor ----------------------------------------------------------------


def _env_dumping_plugin(tmp_path: Path) -> Path:
    return make_plugin(
        tmp_path / "bin",
        "dump",
        f"/usr/bin/env > {tmp_path}/env\ncat > {tmp_path}/stdin\nprintf '{{}}'",
    )


def _seen_env(tmp_path: Path) -> dict[str, str]:
    lines = (tmp_path / "env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def test_process_executor_env(tmp_path: Path) -> None:
    _env_dumping_plugin(tmp_path)
    execute = ProcessExecutor(
        [str(tmp_path / "bin"), "/usr/lib/cni"],
        base_env={"PATH": "/usr/bin:/bin", "CNI_NETNS_OVERRIDE": "1", "CNI_IFNAME": "stale"},
    )
    request = CNIRequest(
        command="ADD", container_id="c1", netns="/run/netns/p", ifname="net1", args=(("A", "1"),)
    )
    conf: dict[str, Any] = {"cniVersion": "1.0.0", "name": "n", "type": "dump"}
    assert execute("dump", "CHECK", conf, request) == {}
    seen = _seen_env(tmp_path)
    assert seen["PATH"] == "/usr/bin:/bin"
    assert "CNI_NETNS_OVERRIDE" not in seen
    assert seen["CNI_COMMAND"] == "CHECK"  # the command argument wins
    assert seen["CNI_IFNAME"] == "net1"
    assert seen["CNI_ARGS"] == "A=1"
    assert seen["CNI_PATH"] == f"{tmp_path / 'bin'}:/usr/lib/cni"
    assert json.loads((tmp_path / "stdin").read_text()) == conf


def test_process_executor_keeps_request_path(tmp_path: Path) -> None:
    _env_dumping_plugin(tmp_path)
    execute = ProcessExecutor([str(tmp_path / "bin")], base_env={})
    request = CNIRequest(command="DEL", container_id="c", ifname="eth0", path=("/x", "/y"))
    execute("dump", "DEL", {}, request)
    assert _seen_env(tmp_path)["CNI_PATH"] == "/x:/y"


def test_process_executor_defaults_to_os_environ(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _env_dumping_plugin(tmp_path)
    monkeypatch.setenv("PYMULTUS_TEST_MARK", "present")
    monkeypatch.setenv("CNI_COMMAND", "VERSION")
    ProcessExecutor([str(tmp_path / "bin")])("dump", "ADD", {}, CNIRequest(command="ADD"))
    seen = _seen_env(tmp_path)
    assert seen["PYMULTUS_TEST_MARK"] == "present"
    assert seen["CNI_COMMAND"] == "ADD"


def test_process_executor_missing_plugin(tmp_path: Path) -> None:
    with pytest.raises(CNIError) as exc:
        ProcessExecutor([str(tmp_path)])("nope", "ADD", {}, CNIRequest(command="ADD"))
    assert exc.value.code == INVALID_CONFIG
    assert '"nope"' in exc.value.msg
