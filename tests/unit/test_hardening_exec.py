"""No shell anywhere on the exec path, and a delegate ``type`` is a plain file name.

CNI SPEC.md Section 1: ``type`` names "the CNI plugin executable"; a plugin
is found by that name in the plugin directories (CNI_PATH, and Multus'
binDir). We refuse anything that could escape those directories, and we
run plugins with an argv list and an explicit environment, never through
a shell: a ``type``, an interface name or a CNI_ARGS value can never become
shell syntax.
"""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path
from typing import Any

import pytest

import pymultus
from pymultus.cni.errors import INVALID_CONFIG, CNIError
from pymultus.cni.invoke import ProcessExecutor, find_plugin
from pymultus.cni.request import CNIRequest

PACKAGE = Path(pymultus.__file__).parent


def _python_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


_SHELL_CALLS = {"os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput"}
_EXEC_CALLS = {
    "subprocess.Popen",
    "subprocess.run",
    "subprocess.call",
    "subprocess.check_call",
    "subprocess.check_output",
}


def shell_uses(source: str, filename: str) -> list[str]:
    """Every place in ``source`` that starts a shell or hands a command string to one."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        where = f"{filename}:{node.lineno}"
        if name in _SHELL_CALLS or (name.startswith("os.exec") and name.endswith("lp")):
            found.append(f"{where}: {name}")
        for kw in node.keywords:
            if kw.arg == "shell" and not (
                isinstance(kw.value, ast.Constant) and kw.value.value is False
            ):
                found.append(f"{where}: shell={ast.unparse(kw.value)}")
        if (
            name in _EXEC_CALLS
            and node.args
            and isinstance(node.args[0], ast.Constant | ast.JoinedStr)
        ):
            found.append(f"{where}: {name} with a command string")
        for arg in node.args:
            if isinstance(arg, ast.List | ast.Tuple) and arg.elts:
                first = arg.elts[0]
                if isinstance(first, ast.Constant) and first.value in ("sh", "/bin/sh", "bash"):
                    found.append(f"{where}: runs {first.value}")
    return found


def test_the_package_never_uses_a_shell() -> None:
    problems = []
    for path in _python_files():
        problems += shell_uses(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE)))
    assert problems == []


@pytest.mark.parametrize(
    "snippet",
    [
        "import subprocess\nsubprocess.run('ls', shell=True)",
        "import subprocess\nsubprocess.Popen(cmd, shell=flag)",
        "import os\nos.system('ls')",
        "import os\nos.popen('ls')",
        "import subprocess\nsubprocess.check_output(f'ip {x}')",
        "import subprocess\nsubprocess.run(['sh', '-c', x])",
    ],
)
def test_the_shell_detector_catches_each_form(snippet: str) -> None:
    assert shell_uses(snippet, "x.py")


@pytest.mark.parametrize(
    "plugin_type",
    ["../bin/sh", "..", ".", "/bin/sh", "sub/plugin", "a\0b", "", "bin/../../bin/true"],
)
def test_plugin_type_must_be_a_plain_file_name(tmp_path: Path, plugin_type: str) -> None:
    bin_dir = tmp_path / "bin"
    (bin_dir / "sub").mkdir(parents=True)
    for path in (bin_dir / "sub" / "plugin", tmp_path / "outside"):
        path.write_text("#!/bin/sh\nexit 0\n")
        path.chmod(0o755)
    with pytest.raises(CNIError) as exc:
        find_plugin(plugin_type, [str(bin_dir)])
    assert exc.value.code == INVALID_CONFIG


def test_plugin_type_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(CNIError) as exc:
        find_plugin(["bridge"], ["/opt/cni/bin"])  # type: ignore[arg-type]
    assert exc.value.code == INVALID_CONFIG


def test_a_directory_or_non_executable_of_that_name_is_not_a_plugin(tmp_path: Path) -> None:
    (tmp_path / "dir-plugin").mkdir()
    (tmp_path / "plain").write_text("not executable")
    for name in ("dir-plugin", "plain"):
        with pytest.raises(CNIError) as exc:
            find_plugin(name, [str(tmp_path)])
        assert exc.value.code == INVALID_CONFIG
        assert "failed to find plugin" in exc.value.msg


def _write_plugin(path: Path, body: str) -> None:
    path.write_text(f"#!{sys.executable}\n{body}\n")
    path.chmod(0o700)


def test_shell_syntax_in_names_and_args_stays_inert(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A type, ifname and CNI_ARGS full of shell syntax reach the plugin verbatim."""
    monkeypatch.chdir(tmp_path)  # where a shell would have created the marker
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    marker = tmp_path / "pwned"
    name = "p;touch pwned"
    _write_plugin(
        bin_dir / name,
        "import json, os, sys\n"
        "json.load(sys.stdin)\n"
        "print(json.dumps({'cniVersion': '1.0.0', 'argv': sys.argv[1:],"
        " 'ifname': os.environ['CNI_IFNAME'], 'args': os.environ['CNI_ARGS']}))",
    )
    execute = ProcessExecutor([str(bin_dir)], base_env={"PATH": "/usr/bin:/bin"})
    request = CNIRequest(
        command="ADD",
        container_id="c1",
        netns="/var/run/netns/x",
        ifname="$(touch x)",
        args=(("K", f"`touch {marker}`;$(touch {marker})"),),
    )
    out: dict[str, Any] = execute(name, "ADD", {"cniVersion": "1.0.0", "name": "n"}, request)
    assert not marker.exists()
    assert out["argv"] == []
    assert out["ifname"] == "$(touch x)"
    assert out["args"] == f"K=`touch {marker}`;$(touch {marker})"


def test_plugins_get_only_the_environment_they_are_given(tmp_path: Path) -> None:
    _write_plugin(
        tmp_path / "envdump",
        "import json, os, sys\nprint(json.dumps({'cniVersion': '1.0.0', 'env': dict(os.environ)}))",
    )
    os.environ["PYMULTUS_TEST_SECRET"] = "must-not-leak"
    try:
        execute = ProcessExecutor([str(tmp_path)], base_env={"PATH": "/usr/bin:/bin"})
        request = CNIRequest(command="ADD", container_id="c1", netns="/n", ifname="eth0")
        out = execute("envdump", "ADD", {"cniVersion": "1.0.0", "name": "n"}, request)
    finally:
        del os.environ["PYMULTUS_TEST_SECRET"]
    env = out["env"]
    assert "PYMULTUS_TEST_SECRET" not in env
    assert {k for k in env if k.startswith("CNI_")} == {
        "CNI_COMMAND",
        "CNI_CONTAINERID",
        "CNI_NETNS",
        "CNI_IFNAME",
        "CNI_ARGS",
        "CNI_PATH",
    }
