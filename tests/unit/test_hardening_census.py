"""The hostile-input census of docs/reliability.md: real processes, counted.

Every input of issue 15 (and the older hostile cases it builds on) is fed to
the real ``pymultus`` executable, one process per CNI call, with a plugin
of our own on disk (a small script that records a "lease" file per
attachment on ADD and removes it on DEL, and fails when its config says
so). No root: no network namespace is touched, CNI_NETNS is a path the
plugin never enters. For every input the census checks the outcome (exit
status and CNI code), that stderr has no traceback, and that after the
runtime's DEL nothing is left: no lease, no cache file, no temporary file.

Run with ``PYMULTUS_CENSUS_OUT=path.json`` to keep the counts (the table in
docs/reliability.md comes from such a run).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PYMULTUS = str(Path(sys.executable).parent / "pymultus")

PLUGIN = textwrap.dedent(
    """\
    #!{python}
    import json, os, sys
    conf = json.load(sys.stdin)
    cmd = os.environ["CNI_COMMAND"]
    lease = os.path.join(conf["leases"], os.environ["CNI_CONTAINERID"][:100] + "-"
                         + os.environ["CNI_IFNAME"])
    if cmd == "VERSION":
        versions = ["0.3.1", "0.4.0", "1.0.0"]
        print(json.dumps({{"cniVersion": "1.0.0", "supportedVersions": versions}}))
        sys.exit(0)
    if conf.get("fail") in (cmd, "always"):
        print(json.dumps({{"cniVersion": "1.0.0", "code": 999, "msg": "Link not found"}}))
        sys.exit(1)
    if cmd == "ADD":
        open(lease, "w").close()
        iface = {{"name": os.environ["CNI_IFNAME"], "sandbox": os.environ["CNI_NETNS"]}}
        ip = {{"address": "10.9.0.5/24", "interface": 0}}
        print(json.dumps({{"cniVersion": conf["cniVersion"], "interfaces": [iface], "ips": [ip]}}))
    elif cmd == "DEL":
        try:
            os.unlink(lease)
        except FileNotFoundError:
            pass
    """
)


@dataclass
class Case:
    """One hostile input: what it is, the calls made, what each must answer."""

    name: str
    item: str
    calls: list[tuple[str, int, int | None]]  # (command, exit status, CNI code or None)
    conf: dict[str, Any] = field(default_factory=dict)
    container_id: str = "c1"
    netns: str = "/var/run/netns/census-pod"
    env: dict[str, str] = field(default_factory=dict)
    stdin: bytes | None = None
    before: str = ""  # a setup step by name


@dataclass
class Tally:
    inputs: int = 0
    calls: int = 0
    as_expected: int = 0
    cni_errors: int = 0
    cni_errors_right_code: int = 0
    tracebacks: int = 0
    leaks: int = 0
    hung: int = 0
    failures: list[str] = field(default_factory=list)


def delegate(kind: str = "census", **extra: Any) -> dict[str, Any]:
    return {"cniVersion": "1.0.0", "name": f"net-{kind}", "type": kind, **extra}


def cases() -> list[Case]:
    out = [
        Case(
            "logFile /dev/full",
            "1",
            [("ADD", 0, None), ("DEL", 0, None)],
            {"logFile": "/dev/full", "logLevel": "debug"},
        ),
        Case(
            "logFile is a FIFO",
            "9",
            [("ADD", 0, None), ("DEL", 0, None)],
            {"logFile": "@fifo", "logLevel": "debug"},
        ),
        Case(
            "logFile is a directory",
            "9",
            [("ADD", 0, None), ("DEL", 0, None)],
            {"logFile": "@root", "logLevel": "debug"},
        ),
        Case(
            "renamed copy of pymultus as a delegate",
            "2",
            [("ADD", 1, 7), ("DEL", 0, None)],
            {"delegates": [delegate("renamed-meta", logFile="@victim")]},
        ),
        Case(
            "meta-plugin marker in the environment",
            "2",
            [("ADD", 1, 7), ("DEL", 0, None)],
            env={"PYMULTUS_DELEGATE_OF": "pymultus"},
        ),
        Case(
            "CNI_NETNS is the plugin's own namespace",
            "7",
            [("ADD", 1, 4), ("DEL", 0, None)],
            netns="/proc/self/ns/net",
        ),
        Case(
            "second delegate fails ADD and every DEL",
            "10",
            [("ADD", 1, 999), ("DEL", 0, None), ("DEL", 0, None)],
            {"delegates": [delegate(), delegate("census", name="bad", fail="always")]},
        ),
        Case("cache path is a directory", "4", [("DEL", 0, None)], before="cache-dir"),
        Case(
            "conf file with NaN named by clusterNetwork",
            "5",
            [("ADD", 1, 7), ("DEL", 0, None)],
            {"clusterNetwork": "nan-net", "delegates": []},
            before="nan-conf",
        ),
        Case(
            "NaN in the stdin config",
            "5",
            [("ADD", 1, 6), ("DEL", 1, 6)],
            stdin=b'{"cniVersion": "1.0.0", "name": "m", "x": NaN}',
        ),
        Case("JSON nested 100000 deep", "older", [("ADD", 1, 6)], stdin=b"[" * 100000),
        Case(
            "stdin over 1 MiB",
            "older",
            [("ADD", 1, 7)],
            stdin=b'{"cniVersion": "1.0.0", "x": "' + b"a" * (1 << 20) + b'"}',
        ),
        Case("NUL in cniDir", "older", [("ADD", 1, 7)], {"cniDir": "/tmp/a\0b"}),
        Case(
            "delegate type with a path",
            "older",
            [("ADD", 1, 7), ("DEL", 0, None)],
            {"delegates": [delegate("../census")]},
        ),
    ]
    for kind in ("pymultus", "pymultus-shim", "multus", "multus-shim"):
        out.append(
            Case(
                f"delegate type {kind}",
                "2",
                [("ADD", 1, 7), ("DEL", 0, None)],
                {"delegates": [delegate(kind)]},
            )
        )
    for shape in (
        {"format": 1, "delegates": "x"},
        {"format": 1, "delegates": [1]},
        {"format": 1, "delegates": [{"name": "n"}]},
        {"format": 1, "delegates": [{"name": "n", "conf": [], "ifname": "eth0"}]},
        {"format": 1, "delegates": [{"name": "n", "conf": {"type": 5}, "ifname": "eth0"}]},
        {"format": 1, "delegates": [{"name": 1, "conf": {}, "ifname": "e", "result": 7}]},
    ):
        out.append(
            Case(
                f"cache of the wrong shape {json.dumps(shape)[:50]}",
                "4",
                [("DEL", 0, None)],
                before="cache:" + json.dumps(shape),
            )
        )
    for length in (236, 253, 254, 300, 4000):
        out.append(
            Case(
                f"container id of {length} characters",
                "8",
                [("ADD", 0, None), ("DEL", 0, None)],
                container_id=("ab12" * 1000)[:length],
            )
        )
    for good in ("a..b", "a.", "0_.-x"):
        out.append(
            Case(
                f"container id {good!r}",
                "8",
                [("ADD", 0, None), ("DEL", 0, None)],
                container_id=good,
            )
        )
    for bad in ("..", "-a", "a/b", ".hidden", "a b"):
        out.append(
            Case(f"container id {bad!r}", "8", [("ADD", 1, 4), ("DEL", 1, 4)], container_id=bad)
        )
    return out


def run_case(case: Case, root: Path, tally: Tally) -> None:
    bin_dir, leases, cache = root / "bin", root / "leases", root / "cache"
    for directory in (bin_dir, leases, cache):
        directory.mkdir(parents=True, exist_ok=True)
    plugin = bin_dir / "census"
    if not plugin.exists():
        plugin.write_text(PLUGIN.format(python=sys.executable))
        plugin.chmod(0o755)
        (bin_dir / "renamed-meta").symlink_to(PYMULTUS)
        os.mkfifo(root / "fifo")
        (root / "confd").mkdir()
        (root / "confd" / "nan.conf").write_text(
            '{"cniVersion": "1.0.0", "name": "nan-net", "type": "census", "mtu": NaN}'
        )

    def fill(value: Any) -> Any:
        if isinstance(value, str) and value.startswith("@"):
            return str(root if value == "@root" else root / value[1:])
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v) for v in value]
        return value

    conf: dict[str, Any] = {
        "cniVersion": "1.0.0",
        "name": "census",
        "type": "pymultus",
        "cniDir": str(cache),
        "binDir": str(bin_dir),
        "confDir": str(root / "confd"),
        "logToStderr": True,
        "delegates": [delegate()],
    }
    conf.update(fill(case.conf))
    for item in conf.get("delegates") or []:
        item["leases"] = str(leases)
    if case.before == "cache-dir":
        (cache / case.container_id).mkdir()
    elif case.before.startswith("cache:"):
        (cache / case.container_id).write_text(case.before[len("cache:") :])
    stdin = case.stdin if case.stdin is not None else json.dumps(conf).encode()
    tally.inputs += 1
    for command, status, code in case.calls:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": case.container_id,
            "CNI_NETNS": case.netns,
            "CNI_IFNAME": "eth0",
            "CNI_PATH": str(bin_dir),
            **case.env,
        }
        if "PYTHONPATH" in os.environ:
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        tally.calls += 1
        try:
            proc = subprocess.run(
                [PYMULTUS], input=stdin, env=env, capture_output=True, timeout=30, check=False
            )
        except subprocess.TimeoutExpired:
            tally.hung += 1
            tally.failures.append(f"{case.name}: {command} hung")
            continue
        got_code = None
        if proc.returncode != 0:
            try:
                got_code = json.loads(proc.stdout)["code"]
            except (ValueError, KeyError, TypeError):
                got_code = -1
            tally.cni_errors += 1
            if got_code == code:
                tally.cni_errors_right_code += 1
        if b"Traceback" in proc.stderr:
            tally.tracebacks += 1
        if proc.returncode == status and got_code == code:
            tally.as_expected += 1
        else:
            tally.failures.append(
                f"{case.name}: {command} gave {proc.returncode}/{got_code}, "
                f"expected {status}/{code}: {proc.stdout[:200]!r}"
            )
    left = sorted(os.listdir(leases)) + sorted(os.listdir(cache))
    if left or (root / "victim").exists():
        tally.leaks += 1
        tally.failures.append(f"{case.name}: left {left}")
        for name in os.listdir(leases):
            os.unlink(leases / name)
        for name in os.listdir(cache):
            path = cache / name
            path.rmdir() if path.is_dir() else path.unlink()


def test_every_hostile_input_answers_in_protocol_and_leaves_nothing(tmp_path: Path) -> None:
    tally = Tally()
    for case in cases():
        run_case(case, tmp_path, tally)
    out = os.environ.get("PYMULTUS_CENSUS_OUT")
    if out:
        Path(out).write_text(json.dumps(tally.__dict__, indent=2) + "\n")
    assert tally.failures == []
    assert tally.tracebacks == 0 and tally.leaks == 0 and tally.hung == 0
    assert tally.as_expected == tally.calls
    assert tally.cni_errors_right_code == tally.cni_errors
