"""The thick-mode shim without a daemon: config scanning, bounds, the DEL fallback."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from typing import Any

import pytest

from pymultus import shim
from pymultus.plan import Delegate
from pymultus.state import DelegateCache


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"daemonSocketDir": "/run/p"}', "/run/p"),
        (b'{"daemonSocketDir"\n :\t"/run/p" , "x": 1}', "/run/p"),
        (b'{"daemonSocketDir": "/run/\\u0070"}', "/run/p"),  # escapes: parsed with json
        (b'{"a": {"daemonSocketDir": "/x"}, "daemonSocketDir": "/y"}', "/y"),  # twice: json
        (b'{"daemonSocketDir": 3}', None),
        (b'{"other": "/run/p"}', None),
        (b'{"daemonSocketDir": "/run/p"', "/run/p"),  # truncated after the value
        (b'not json "daemonSocketDir": 3', None),
    ],
)
def test_string_value(raw: bytes, expected: str | None) -> None:
    assert shim.string_value(raw, "daemonSocketDir") == expected


def test_socket_path_defaults_to_run_pymultus() -> None:
    assert shim.socket_path(b'{"cniVersion": "1.0.0"}') == "/run/pymultus/pymultus.sock"
    assert shim.socket_path(b'{"daemonSocketDir": "/x/"}') == "/x/pymultus.sock"


def env(command: str) -> dict[str, str]:
    return {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": "deadbeef",
        "CNI_NETNS": "/var/run/netns/pod",
        "CNI_IFNAME": "eth0",
    }


def test_add_without_a_daemon_is_try_again_later_after_the_bound(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shim, "READY_WAIT", 0.2)
    conf = {"cniVersion": "0.4.0", "daemonSocketDir": str(tmp_path)}
    out = io.BytesIO()
    assert shim.run(env("ADD"), json.dumps(conf).encode(), out) == 1
    error = json.loads(out.getvalue())
    assert error["code"] == 11
    assert error["cniVersion"] == "0.4.0"
    assert str(tmp_path) in error["msg"]


FAKE_PLUGIN = """#!{python}
import json, os, sys
conf = json.load(sys.stdin)
with open({log!r}, "a") as f:
    f.write(os.environ["CNI_COMMAND"] + " " + conf["type"] + " " + os.environ["CNI_IFNAME"] + "\\n")
"""


def test_del_without_a_daemon_cleans_up_from_the_cache(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon is gone: the shim runs the thin engine's DEL itself and succeeds."""
    monkeypatch.setattr(shim, "DEL_WAIT", 0.1)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    plugin = bin_dir / "fakeptp"
    plugin.write_text(FAKE_PLUGIN.format(python=sys.executable, log=str(log)))
    plugin.chmod(0o755)
    cni_dir = tmp_path / "cache"
    delegate = {"cniVersion": "1.0.0", "name": "kindnet", "type": "fakeptp"}
    DelegateCache(str(cni_dir)).save(
        "deadbeef",
        {
            "containerID": "deadbeef",
            "delegates": [
                Delegate(
                    status_name="kindnet", conf=delegate, ifname="eth0", is_default=True
                ).to_dict()
            ],
        },
    )
    entry = DelegateCache(str(cni_dir)).load("deadbeef")
    assert entry is not None
    daemon_config = tmp_path / "daemon-config.json"
    daemon_config.write_text(
        json.dumps(
            {
                "socketDir": str(tmp_path / "run"),
                "delegates": [delegate],
                "cniDir": str(cni_dir),
                "binDir": str(bin_dir),
                "logToStderr": False,
            }
        )
    )
    conf = {
        "cniVersion": "1.0.0",
        "name": "pymultus-cni-network",
        "type": "pymultus-shim",
        "daemonSocketDir": str(tmp_path / "run"),
        "daemonConfig": str(daemon_config),
    }
    out = io.BytesIO()
    assert shim.run(env("DEL"), json.dumps(conf).encode(), out) == 0, out.getvalue()
    assert out.getvalue() == b""
    assert log.read_text() == "DEL fakeptp eth0\n"
    assert not os.path.exists(cni_dir / "deadbeef")


def test_del_without_daemon_or_daemon_config_succeeds(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shim, "DEL_WAIT", 0.1)
    conf = {"cniVersion": "1.0.0", "daemonSocketDir": str(tmp_path)}
    out = io.BytesIO()
    assert shim.run(env("DEL"), json.dumps(conf).encode(), out) == 0
    assert out.getvalue() == b""


def test_shim_imports_next_to_nothing() -> None:
    """The CNI entry path of thick mode: no json, no socket module, no http.client.

    ``os`` and ``time`` are frozen/built-in modules (microseconds) and part of
    the baseline; everything else the shim loads is listed here.
    """
    code = (
        "import os, sys, time; before = set(sys.modules); import pymultus.shim; "
        "print(sorted(set(sys.modules) - before))"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(shim.__file__)))
    proc = subprocess.run(
        [sys.executable, "-IS", "-c", f"import sys; sys.path.insert(0, {root!r}); {code}"],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = set(eval(proc.stdout))  # a printed list of module names
    assert loaded <= {
        "pymultus",
        "pymultus.cni",  # a docstring
        "pymultus.cni.nesting",  # two constants and a function, no imports
        "pymultus.shim",
        "pymultus.daemon",
        "pymultus.daemon.wire",
        "_socket",
        "__future__",
    }, loaded


def test_a_bug_in_the_shim_is_still_a_cni_error(
    monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    def broken(env: dict[str, str], raw: bytes, out: Any = None) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(shim, "run", broken)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b'{"cniVersion": "0.4.0"}')))
    assert shim.main() == 1
    error = json.loads(capsysbinary.readouterr().out)
    assert (error["code"], error["cniVersion"]) == (999, "0.4.0")
    assert "boom" in error["msg"]
