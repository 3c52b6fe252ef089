"""The wiretap wrapper: byte-for-byte pass-through, one record per call, linking."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path

from harness.wiretap import expect
from harness.wiretap.install import is_wrapper, record_path, unwrap_bin_dir, wrap_bin_dir
from harness.wiretap.records import link, parse_lines, read_record

PLUGIN = """#!/bin/sh
# prints stdin back with a prefix, something on stderr, and exits with $EXIT
printf 'out:'
[ -n "$SHOW_ARGV" ] && printf '%s|' "$0" "$@"
cat
printf '\\377binary' >&2
exit ${EXIT:-0}
"""


def make_bin(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    real = tmp_path / "real-echo"
    real.write_text(PLUGIN)
    real.chmod(0o755)
    (bin_dir / "echo-plugin").symlink_to(real)  # as the node's links to /usr/lib/cni
    copy = bin_dir / "copied"
    copy.write_text(PLUGIN)
    copy.chmod(0o755)
    (bin_dir / "notes.txt").write_text("not a binary")
    return bin_dir


def test_wrap_is_idempotent_and_reversible(tmp_path: Path) -> None:
    bin_dir = make_bin(tmp_path)
    assert wrap_bin_dir(str(bin_dir)) == ["copied", "echo-plugin"]
    assert wrap_bin_dir(str(bin_dir)) == []
    assert is_wrapper(str(bin_dir / "echo-plugin")) and not (bin_dir / "echo-plugin").is_symlink()
    assert os.readlink(bin_dir / ".wiretap" / "real" / "echo-plugin") == str(tmp_path / "real-echo")
    assert unwrap_bin_dir(str(bin_dir)) == ["copied", "echo-plugin"]
    assert (bin_dir / "echo-plugin").is_symlink() and not (bin_dir / ".wiretap").exists()
    assert (bin_dir / "copied").read_text() == PLUGIN


def test_a_call_passes_through_byte_for_byte_and_is_recorded(tmp_path: Path) -> None:
    bin_dir = make_bin(tmp_path)
    wrap_bin_dir(str(bin_dir))
    stdin = b'{"cniVersion":"1.0.0","name":"n"}\n\x00tail'
    env = {"PATH": "/usr/bin:/bin", "CNI_COMMAND": "ADD", "CNI_IFNAME": "eth0", "EXIT": "3"}
    proc = subprocess.run([str(bin_dir / "echo-plugin")], input=stdin, capture_output=True, env=env)
    assert proc.returncode == 3
    assert proc.stdout == b"out:" + stdin
    assert proc.stderr == b"\xffbinary"
    (call,) = read_record(record_path(str(bin_dir)), "node-1")
    assert (call.plugin, call.command, call.exit, call.ifname) == ("echo-plugin", "ADD", 3, "eth0")
    assert call.env == {"CNI_COMMAND": "ADD", "CNI_IFNAME": "eth0"}
    assert call.stdout.startswith('out:{"cniVersion"')
    assert call.seconds > 0 and call.start > 0 and call.pid > 0 and call.child > 0


def test_concurrent_calls_each_get_one_whole_line(tmp_path: Path) -> None:
    bin_dir = make_bin(tmp_path)
    wrap_bin_dir(str(bin_dir))

    def one(i: int) -> None:
        subprocess.run(
            [str(bin_dir / "copied")],
            input=b"x" * 5000 + str(i).encode(),
            capture_output=True,
            env={"PATH": "/usr/bin:/bin", "CNI_COMMAND": "DEL"},
            check=True,
        )

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = Path(record_path(str(bin_dir))).read_text().splitlines()
    assert len(lines) == 8 and all(json.loads(line)["command"] == "DEL" for line in lines)


def test_linking_by_parent_process_and_by_enclosing_call() -> None:
    rows = [
        {
            "plugin": "meta",
            "command": "ADD",
            "start": 1.0,
            "seconds": 1.0,
            "pid": 5,
            "ppid": 1,
            "child": 6,
            "env": {"CNI_CONTAINERID": "c1"},
        },
        {
            "plugin": "ptp",
            "command": "ADD",
            "start": 1.2,
            "seconds": 0.2,
            "pid": 7,
            "ppid": 6,
            "child": 8,
            "env": {"CNI_CONTAINERID": "c1"},
        },
        {
            "plugin": "host-local",
            "command": "ADD",
            "start": 1.25,
            "seconds": 0.05,
            "pid": 9,
            "ppid": 8,
            "child": 10,
            "env": {"CNI_CONTAINERID": "c1"},
        },
        # a daemon's delegate (thick mode): parent by time and container
        {
            "plugin": "macvlan",
            "command": "ADD",
            "start": 1.5,
            "seconds": 0.1,
            "pid": 11,
            "ppid": 99,
            "child": 12,
            "env": {"CNI_CONTAINERID": "c1"},
        },
        {
            "plugin": "ptp",
            "command": "ADD",
            "start": 3.0,
            "seconds": 0.1,
            "pid": 13,
            "ppid": 1,
            "child": 14,
            "env": {"CNI_CONTAINERID": "c2"},
        },
    ]
    calls = link(parse_lines([json.dumps(r) for r in rows] + ["{torn"], "n"))
    assert [(c.id, c.caller, c.parent) for c in calls] == [
        ("n#1", "runtime", ""),
        ("n#2", "meta", "n#1"),
        ("n#3", "ptp", "n#2"),
        ("n#4", "meta", "n#1"),
        ("n#5", "runtime", ""),
    ]
    assert expect.problems({"caller": "meta", "command": "ADD", "count": 2}, calls) == []
    assert expect.problems({"caller": "runtime", "plugin": "ptp", "count": 2}, calls) == [
        "calls(caller=runtime, plugin=ptp): 1 recorded, expected 2"
    ]
    rendered = expect.render_calls(calls).splitlines()
    assert rendered[2].startswith("    call n#3 ptp -> host-local ADD")


def test_the_wrappers_own_json_encoder_round_trips() -> None:
    from harness.wiretap import tap

    value = {
        "s": 'quote " back \\ nl \n tab \t nul \x00 del \x7f ls \u2028 é 😀 \ufffd',
        "i": -3,
        "f": 0.125,
        "env": {"CNI_ARGS": "A=1;B=2"},
    }
    assert json.loads(tap._json(value)) == value


def test_concurrent_wraps_never_keep_a_wrapper_as_the_real_binary(tmp_path: Path) -> None:
    bin_dir = make_bin(tmp_path)
    for i in range(20):
        (bin_dir / f"p{i}").write_text(PLUGIN)
        (bin_dir / f"p{i}").chmod(0o755)
    threads = [threading.Thread(target=wrap_bin_dir, args=(str(bin_dir),)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    real = bin_dir / ".wiretap" / "real"
    assert sorted(p.name for p in real.iterdir()) == sorted(
        ["copied", "echo-plugin", *(f"p{i}" for i in range(20))]
    )
    assert not any(is_wrapper(str(p)) for p in real.iterdir())


def test_argv_and_a_closed_stdin_pass_through(tmp_path: Path) -> None:
    bin_dir = make_bin(tmp_path)
    wrap_bin_dir(str(bin_dir))
    path = str(bin_dir / "copied")
    env = {"PATH": "/usr/bin:/bin", "SHOW_ARGV": "1"}
    proc = subprocess.run(
        ["sh", "-c", f'"{path}" a "b c" <&-'], capture_output=True, env=env, check=True
    )
    assert proc.stdout.startswith(b"out:")
    assert b"|a|b c|" in proc.stdout
