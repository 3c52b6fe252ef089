"""The modules each CNI command of the thin binary and the shim imports (issue 16).

Every CNI call is a new process, so each import on the entry path is paid on
every pod operation. These tests run the real entry points in a fresh
interpreter (``-IS``, as ``pymultus-install`` lays them out), against the
embedded API server and a fake delegate, and compare what ``sys.modules``
gained with a pinned list: adding an import to the entry path is a visible
decision (update the list here and say why in the commit). Whatever the
Python version, the heavy modules issue 16 removed must stay out.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.backends.local.apiserver import APIServer

ROOT = str(Path(__file__).resolve().parents[2])

#: Never on the ADD/DEL/CHECK path (issue 16): class builders, typing, the regex
#: engine and what ``json``, ``subprocess`` and ``socket`` bring with them;
#: ``collections`` and ``contextlib`` (with ``functools``: ~2.5 ms CPU per call);
#: ``base64`` (``re``, ``struct``: ~9 ms), ``ipaddress`` (~5 ms: only for address
#: forms ``inet_pton`` refuses), ``copy`` (~2.6 ms) (benchmarks/README.md, thin at k=0).
FORBIDDEN = frozenset(
    {
        "ast",
        "base64",
        "copy",
        "ipaddress",
        "collections",
        "contextlib",
        "dataclasses",
        "dis",
        "enum",
        "functools",
        "inspect",
        "json",
        "re",
        "selectors",
        "signal",
        "socket",
        "subprocess",
        "threading",
        "tokenize",
        "typing",
        "yaml",
    }
)

#: Standard-library modules each command may import beyond the bare interpreter
#: (Python 3.11; other versions only check FORBIDDEN). Why each is there:
#: _json (jsonlite; results are copied by jsonlite.copy_tree, not copy.deepcopy),
#: select (the delegates' pipes), _socket (the API over plain http; https adds
#: _ssl). collections.abc is read from _collections_abc, which os has loaded already.
_COMMON = {
    "__future__",
    "_json",
}
#: The interpreter's ``os`` (not imported at start-up under -IS) and its helpers.
_OS = {
    "__future__",
    "_collections_abc",
    "_stat",
    "genericpath",
    "os",
    "os.path",
    "posixpath",
    "stat",
}
PINNED_311: dict[str, set[str]] = {
    "VERSION": _OS | {"_json"},
    "ADD": _OS | _COMMON | {"_socket", "select"},
    "DEL": _OS | _COMMON | {"select"},  # DEL works from the cache: no API read here
    "CHECK": _OS | _COMMON | {"select"},  # from the cache, as DEL
}

RUNNER = """
import sys
sys.path.insert(0, {root!r})
{libs}
before = set(sys.modules)
from {module} import main
code = main()
extra = sorted(set(sys.modules) - before)
with open({out!r}, "w") as f:
    f.write(" ".join(extra))
sys.exit(code)
"""

FAKE_PLUGIN = """#!/bin/sh
cat >/dev/null
case "$CNI_COMMAND" in
ADD) printf '%s' '{"cniVersion": "1.0.0", "interfaces": [{"name": "'"$CNI_IFNAME"'"}], ' \
  '"ips": [{"address": "10.9.0.2/24", "gateway": "10.9.0.1"}], "routes": [{"dst": "0.0.0.0/0"}]}' ;;
VERSION) echo '{"cniVersion": "1.0.0", "supportedVersions": ["0.3.1", "0.4.0", "1.0.0"]}' ;;
esac
exit 0
"""


@pytest.fixture
def api() -> Iterator[APIServer]:
    srv = APIServer()
    srv.listen("127.0.0.1", 0)
    try:
        yield srv
    finally:
        srv.stop()


def run_entry(
    module: str, env: dict[str, str], stdin: bytes, out: Path, libs: str = ""
) -> tuple[int, str, set[str]]:
    """Run ``module``'s main as the installed launcher does (``-IS``); ``libs`` is
    appended to sys.path as the launcher appends pymultus-lib/."""
    extra = f"sys.path.append({libs!r})" if libs else ""
    code = RUNNER.format(root=ROOT, module=module, out=str(out), libs=extra)
    xopt = ["-X", "importtime"] if os.environ.get("PYMULTUS_SHOW_IMPORTS") else []
    proc = subprocess.run(
        [sys.executable, *xopt, "-IS", "-c", code],
        input=stdin,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    mods = set(out.read_text().split()) if out.exists() else set()
    if os.environ.get("PYMULTUS_SHOW_IMPORTS"):
        sys.stderr.write(proc.stderr.decode())
        return proc.returncode, proc.stdout.decode(), mods
    return proc.returncode, proc.stdout.decode() + proc.stderr.decode(), mods


def stdlib_only(mods: set[str]) -> set[str]:
    return {m for m in mods if m != "pymultus" and not m.startswith("pymultus.")}


def check_set(command: str, mods: set[str]) -> None:
    gained = stdlib_only(mods)
    if os.environ.get("PYMULTUS_SHOW_IMPORTS"):
        print(command, sorted(gained))
    assert not gained & FORBIDDEN, f"{command} imports {sorted(gained & FORBIDDEN)}"
    if sys.version_info[:2] == (3, 11):
        assert gained == PINNED_311[command], (
            f"{command}: new {sorted(gained - PINNED_311[command])}, "
            f"gone {sorted(PINNED_311[command] - gained)}"
        )


@pytest.fixture
def node(tmp_path: Path, api: APIServer) -> dict[str, object]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    plugin = bin_dir / "fakeplug"
    plugin.write_text(FAKE_PLUGIN)
    plugin.chmod(plugin.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": api.url()}}],
                "users": [{"name": "u", "user": {}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    nad_conf = {"cniVersion": "1.0.0", "name": "extra", "type": "fakeplug"}
    api.store.create(
        "network-attachment-definitions.k8s.cni.cncf.io",
        {
            "apiVersion": "k8s.cni.cncf.io/v1",
            "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": "extra", "namespace": "default"},
            "spec": {"config": json.dumps(nad_conf)},
        },
        "default",
    )
    pod = api.store.create(
        "pods",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "p",
                "namespace": "default",
                "annotations": {"k8s.v1.cni.cncf.io/networks": "extra"},
            },
            "spec": {"containers": [{"name": "c", "image": "pause"}]},
        },
        "default",
    )
    netns = tmp_path / "netns"  # not this process's namespace; the fake plugin ignores it
    netns.write_text("")
    conf = {
        "cniVersion": "1.0.0",
        "name": "pymultus-cni-network",
        "type": "pymultus",
        "kubeconfig": str(kubeconfig),
        "cniDir": str(tmp_path / "cache"),
        "binDir": str(bin_dir),
        "delegates": [{"cniVersion": "1.0.0", "name": "default", "type": "fakeplug"}],
    }
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "CNI_CONTAINERID": "c0ffee",
        "CNI_NETNS": str(netns),
        "CNI_IFNAME": "eth0",
        "CNI_PATH": str(bin_dir),
        "CNI_ARGS": "K8S_POD_NAMESPACE=default;K8S_POD_NAME=p;"
        f"K8S_POD_UID={pod['metadata']['uid']}",
    }
    return {"conf": json.dumps(conf).encode(), "env": env, "tmp": tmp_path}


def test_thin_version_imports_next_to_nothing(tmp_path: Path) -> None:
    env = {"CNI_COMMAND": "VERSION", "PATH": "/usr/bin:/bin"}
    code, output, mods = run_entry("pymultus.thin", env, b'{"cniVersion": "1.0.0"}', tmp_path / "m")
    assert code == 0, output
    assert json.loads(output)["supportedVersions"]
    check_set("VERSION", mods)
    assert {m for m in mods if m.startswith("pymultus.")} <= {
        "pymultus.thin",
        "pymultus.cni",
        "pymultus.cni.version",
        "pymultus.cni.errors",
        "pymultus.cni.jsonlite",
        "pymultus.cni.request",
        "pymultus.cni.record",
        "pymultus.cni.limits",
        "pymultus.cni.nesting",
    }, sorted(mods)


@pytest.fixture
def pod_netns() -> Iterator[str]:
    """A network namespace with eth0 and net1 (a veth pair), held by a sleeping process."""
    if os.geteuid() != 0:
        pytest.skip("CHECK lists the pod's links: needs root for a network namespace")
    holder = subprocess.Popen(["unshare", "--net", "sleep", "120"])
    try:
        path = f"/proc/{holder.pid}/ns/net"
        for _ in range(200):
            if os.path.exists(path) and os.stat(path).st_ino != os.stat("/proc/self/ns/net").st_ino:
                break
            subprocess.run(["sleep", "0.01"], check=True)
        subprocess.run(
            ["nsenter", f"--net={path}", "ip", "link", "add", "eth0", "type", "veth", "peer",
             "name", "net1"],
            check=True,
        )  # fmt: skip
        yield path
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("command", ["ADD", "DEL"])
def test_thin_command_imports_are_pinned(node: dict[str, object], command: str) -> None:
    _command_imports(node, command, dict(node["env"]))  # type: ignore[call-overload]


def test_thin_check_imports_are_pinned(node: dict[str, object], pod_netns: str) -> None:
    env = {**node["env"], "CNI_NETNS": pod_netns}  # type: ignore[dict-item]
    _command_imports(node, "CHECK", env)


def _command_imports(node: dict[str, object], command: str, env: dict[str, str]) -> None:
    tmp = node["tmp"]
    assert isinstance(tmp, Path)
    if command != "ADD":  # CHECK and DEL work on what an ADD left
        code, output, _ = run_entry(
            "pymultus.thin",
            {**env, "CNI_COMMAND": "ADD"},
            node["conf"],
            tmp / "m0",  # type: ignore[arg-type]
        )
        assert code == 0, output
    code, output, mods = run_entry(
        "pymultus.thin",
        {**env, "CNI_COMMAND": command},
        node["conf"],
        tmp / "m",  # type: ignore[arg-type]
    )
    assert code == 0, output
    if command == "ADD":
        assert json.loads(output)["interfaces"]
    check_set(command, mods)


def test_only_a_network_naming_a_device_resource_brings_grpc(
    node: dict[str, object], api: APIServer
) -> None:
    """The lazy import of the pod-resources client: grpcio and protobuf arrive with a
    resourceName NAD (the pinned ADD above, without one, has neither)."""
    grpc = pytest.importorskip("grpc")
    from concurrent import futures

    from harness.backends.local.protobuf import encode_field as field

    tmp = node["tmp"]
    assert isinstance(tmp, Path)
    devices = field(1, "example.com/sriov") + field(2, "0000:01:00.0")
    answer = field(1, field(1, "dp") + field(2, "default") + field(3, field(2, devices)))
    socket_path = str(tmp / "kubelet.sock")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "v1.PodResourcesLister",
                {"List": grpc.unary_unary_rpc_method_handler(lambda request, context: answer)},
            ),
        )
    )
    server.add_insecure_port(f"unix:{socket_path}")
    nad_conf = {"cniVersion": "1.0.0", "name": "sriov", "type": "fakeplug"}
    api.store.create(
        "network-attachment-definitions.k8s.cni.cncf.io",
        {
            "apiVersion": "k8s.cni.cncf.io/v1",
            "kind": "NetworkAttachmentDefinition",
            "metadata": {
                "name": "sriov",
                "namespace": "default",
                "annotations": {"k8s.v1.cni.cncf.io/resourceName": "example.com/sriov"},
            },
            "spec": {"config": json.dumps(nad_conf)},
        },
        "default",
    )
    pod = api.store.create(
        "pods",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "dp",
                "namespace": "default",
                "annotations": {"k8s.v1.cni.cncf.io/networks": "sriov"},
            },
            "spec": {"containers": [{"name": "c", "image": "pause"}]},
        },
        "default",
    )
    conf = {**json.loads(node["conf"]), "podResourcesSocket": socket_path}  # type: ignore[arg-type]
    env = {
        **node["env"],  # type: ignore[dict-item]
        "CNI_COMMAND": "ADD",
        "CNI_ARGS": "K8S_POD_NAMESPACE=default;K8S_POD_NAME=dp;"
        f"K8S_POD_UID={pod['metadata']['uid']}",
    }
    site = os.path.dirname(os.path.dirname(os.path.abspath(grpc.__file__)))
    server.start()
    try:
        code, output, mods = run_entry(
            "pymultus.thin", env, json.dumps(conf).encode(), tmp / "m", libs=site
        )
    finally:
        server.stop(None).wait()
    assert code == 0, output  # the ADD fails unless the kubelet named the pod's device
    assert {"grpc", "google.protobuf", "pymultus.podresources.client"} <= mods, sorted(mods)


def test_the_pins_name_what_the_tests_check() -> None:
    assert set(PINNED_311) == {"VERSION", "ADD", "DEL", "CHECK"}
    assert not any(PINNED_311[c] & FORBIDDEN for c in PINNED_311)
    assert os.path.isdir(os.path.join(ROOT, "pymultus"))


def test_shim_version_imports_next_to_nothing(tmp_path: Path) -> None:
    """VERSION needs no daemon: the shim answers it and imports no JSON library for it."""
    env = {"CNI_COMMAND": "VERSION", "PATH": "/usr/bin:/bin"}
    code, output, mods = run_entry("pymultus.shim", env, b'{"cniVersion": "1.0.0"}', tmp_path / "m")
    assert code == 0, output
    assert json.loads(output)["supportedVersions"]
    gained = stdlib_only(mods)
    assert not gained & FORBIDDEN, sorted(gained & FORBIDDEN)
    if sys.version_info[:2] == (3, 11):
        assert gained <= _OS | {"_json", "_socket"}, sorted(gained)


def test_jsonlite_errors_are_jsons_in_a_fresh_interpreter() -> None:
    """Invalid JSON before anything imported json gives json's own error, not SystemError."""
    texts = ['{"a": }', '{"a": 1', "[1,]", '{"a" 1}', '"\\x"']
    code = (
        "import sys\n"
        f"sys.path.insert(0, {ROOT!r})\n"
        "from pymultus.cni import jsonlite\n"
        f"for text in {texts!r}:\n"
        "    try:\n"
        "        jsonlite.loads(text)\n"
        "    except ValueError as e:\n"
        "        print(type(e).__name__, e.msg, e.lineno, e.colno)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-IS", "-c", code], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    expected = []
    for text in texts:
        with pytest.raises(json.JSONDecodeError) as info:
            json.loads(text)
        e = info.value
        expected.append(f"JSONDecodeError {e.msg} {e.lineno} {e.colno}")
    assert proc.stdout.splitlines() == expected


def test_shim_add_and_del_import_only_socket(tmp_path: Path) -> None:
    """ADD/DEL through a live daemon: the shim gains ``_socket`` and nothing else (no ``os``)."""
    from pymultus.daemon.overlay import DaemonOptions
    from pymultus.daemon.server import Daemon
    from pymultus.log import Logger

    def fake(plugin_type: str, command: str, conf: object, request: object) -> dict[str, object]:
        if command != "ADD":
            return {}
        return {"cniVersion": "1.0.0", "interfaces": [{"name": "eth0"}], "ips": []}

    options = DaemonOptions(socket_dir=str(tmp_path / "run"))
    multus = {
        "delegates": [{"cniVersion": "1.0.0", "name": "d", "type": "fakeplug"}],
        "cniDir": str(tmp_path / "cache"),
    }
    daemon = Daemon(
        options, multus, env={}, log=Logger("error", "", False),
        executor_factory=lambda dirs, env, timeout: fake,
    )  # fmt: skip
    daemon.start()
    try:
        conf = {
            "cniVersion": "1.0.0",
            "name": "pymultus-cni-network",
            "type": "pymultus-shim",
            "daemonSocketDir": options.socket_dir,
        }
        for command in ("ADD", "DEL"):
            env = {
                "PATH": "/usr/bin:/bin",
                "CNI_COMMAND": command,
                "CNI_CONTAINERID": "c0ffee",
                "CNI_NETNS": "/var/run/netns/pod",
                "CNI_IFNAME": "eth0",
                "CNI_PATH": "/opt/cni/bin",
            }
            code, output, mods = run_entry(
                "pymultus.shim", env, json.dumps(conf).encode(), tmp_path / f"m-{command}"
            )
            assert code == 0, output
            gained = stdlib_only(mods)
            assert not gained & FORBIDDEN, sorted(gained & FORBIDDEN)
            if sys.version_info[:2] == (3, 11):
                assert gained == {"__future__", "_socket"}, sorted(gained)
    finally:
        daemon.stop()


def test_shim_environ_is_os_environ() -> None:
    code = (
        "import sys\n"
        f"sys.path.insert(0, {ROOT!r})\n"
        "from pymultus.shim import environ\n"
        "import os\n"
        "assert environ() == dict(os.environ), (environ(), dict(os.environ))\n"
        "print(repr(environ()['CNI_ARGS']))\n"
    )
    env = {"CNI_ARGS": "K8S_POD_NAME=\udcff-é", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-IS", "-c", code],
        env={k.encode(): v.encode("utf-8", "surrogateescape") for k, v in env.items()},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == repr(env["CNI_ARGS"])
