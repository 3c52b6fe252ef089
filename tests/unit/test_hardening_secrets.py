"""Tokens and kubeconfig contents never reach a log, an error, stdout or a delegate.

The meta-plugin holds the node's API credentials (a kubeconfig or the
service-account token). CNI errors end up in kubelet events and pod
descriptions that many users can read, and ``logFile`` is often world
readable, so neither may ever carry a credential. Here a full ADD/DEL runs
against the embedded API server with ``logLevel: debug`` (everything
logged), then the failure paths that quote files and server answers.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from harness.backends.local.apiserver import APIServer
from pymultus.cni.errors import CNIError
from pymultus.kube.kubeconfig import load_kubeconfig
from pymultus.thin import run

TOKEN = "s3cr3t-token-0123456789abcdef"
KEY_DATA = "c2VjcmV0LWtleS1tYXRlcmlhbA=="  # base64("secret-key-material")
PLUGIN = """\
import json, os, sys
conf = json.load(sys.stdin)
with open(os.path.join(os.path.dirname(sys.argv[0]), "seen"), "a") as f:
    f.write(json.dumps({"conf": conf, "env": dict(os.environ)}) + "\\n")
if os.environ["CNI_COMMAND"] == "ADD":
    print(json.dumps({
        "cniVersion": conf["cniVersion"],
        "interfaces": [{"name": os.environ["CNI_IFNAME"], "sandbox": os.environ["CNI_NETNS"]}],
        "ips": [{"address": "10.9.0.2/24", "interface": 0}],
    }))
"""


@pytest.fixture
def server() -> Iterator[APIServer]:
    srv = APIServer(token=TOKEN)
    srv.listen()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def node(tmp_path: Path, server: APIServer) -> dict[str, Any]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    plugin = bin_dir / "recorder"
    plugin.write_text(f"#!{sys.executable}\n{PLUGIN}")
    plugin.chmod(0o700)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(server.kubeconfig())
    server.store.create(
        "pods",
        {
            "metadata": {
                "name": "p",
                "namespace": "default",
                "annotations": {"k8s.v1.cni.cncf.io/networks": "net-a"},
            },
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i"}]},
        },
    )
    nad_conf = {"cniVersion": "1.0.0", "name": "net-a", "type": "recorder"}
    server.store.create(
        "net-attach-def",
        {"metadata": {"name": "net-a"}, "spec": {"config": json.dumps(nad_conf)}},
    )
    conf = {
        "cniVersion": "1.0.0",
        "name": "multus",
        "kubeconfig": str(kubeconfig),
        "delegates": [{"cniVersion": "1.0.0", "name": "default-net", "type": "recorder"}],
        "binDir": str(bin_dir),
        "cniDir": str(tmp_path / "cache"),
        "confDir": str(tmp_path / "confd"),
        "logLevel": "debug",
        "logFile": str(tmp_path / "multus.log"),
        "logToStderr": True,
    }
    return {"conf": conf, "tmp": tmp_path, "kubeconfig": kubeconfig}


def invoke(command: str, conf: dict[str, Any]) -> tuple[int, str, str]:
    env = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": "c1",
        "CNI_NETNS": "/var/run/netns/x",
        "CNI_IFNAME": "eth0",
        "CNI_ARGS": "K8S_POD_NAMESPACE=default;K8S_POD_NAME=p",
        "PATH": "/usr/bin:/bin",
    }
    out, err = io.StringIO(), io.StringIO()
    with mock.patch("sys.stderr", err):
        rc = run(env, io.BytesIO(json.dumps(conf).encode()), out, err)
    return rc, out.getvalue(), err.getvalue()


def everything_written(node: dict[str, Any], *streams: str) -> str:
    tmp: Path = node["tmp"]
    files = [p for p in tmp.rglob("*") if p.is_file() and p != node["kubeconfig"]]
    return "\n".join([*streams, *(p.read_text(errors="replace") for p in files)])


def test_a_debug_logged_add_and_del_never_show_the_token(node: dict[str, Any]) -> None:
    rc, out, err = invoke("ADD", node["conf"])
    assert rc == 0, out
    assert json.loads(out)["ips"][0]["address"] == "10.9.0.2/24"
    rc_del, out_del, err_del = invoke("DEL", node["conf"])
    assert rc_del == 0, out_del
    log = (node["tmp"] / "multus.log").read_text()
    assert "ADD" in log  # debug logging really happened
    seen = (node["tmp"] / "bin" / "seen").read_text()
    assert len(seen.splitlines()) == 4  # two delegates, ADD and DEL
    written = everything_written(node, out, err, out_del, err_del)
    assert TOKEN not in written
    assert node["kubeconfig"].read_text() not in written


def test_a_rejected_token_is_not_quoted_in_the_error(
    node: dict[str, Any], server: APIServer
) -> None:
    server.set_token("another-token")  # the server now refuses ours: 401
    rc, out, err = invoke("ADD", node["conf"])
    assert rc == 1
    error = json.loads(out)
    assert error["code"] != 999
    assert TOKEN not in everything_written(node, out, err)


@pytest.mark.parametrize(
    "broken",
    [
        f"users:\n- name: u\n  user:\n    token: {TOKEN}\n\t  bad: tab\n",
        f"users:\n- name: u\n  user:\n    token: [{TOKEN}\n",
        f'users:\n- name: u\n  user:\n    token: "{TOKEN}\n',
        f"users:\n- name: u\n  user: &anchor\n    token: {TOKEN}\n",
        f"users:\n- name: u\n  user:\n    token: {TOKEN}\n    client-key-data: {KEY_DATA}!!\n"
        "contexts:\n- name: x\n  context: {cluster: c, user: u}\n"
        "clusters:\n- name: c\n  cluster: {server: 'https://h'}\ncurrent-context: x\n",
        f"{{'users': [{{'token': '{TOKEN}'}}]",
    ],
    ids=["tab", "flow", "quote", "anchor", "bad-key-data", "json-ish"],
)
def test_kubeconfig_errors_never_quote_its_contents(tmp_path: Path, broken: str) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(broken)
    try:
        load_kubeconfig(str(path))
    except CNIError as exc:
        assert TOKEN not in str(exc) and TOKEN not in exc.details
        assert KEY_DATA not in str(exc) and "secret-key-material" not in str(exc)
        assert str(path) in str(exc)  # but it does say which file to fix
    else:
        pytest.fail("the broken kubeconfig was accepted")


def test_the_token_is_not_in_the_delegates_environment_or_config(node: dict[str, Any]) -> None:
    rc, out, _ = invoke("ADD", node["conf"])
    assert rc == 0, out
    for line in (node["tmp"] / "bin" / "seen").read_text().splitlines():
        record = json.loads(line)
        assert TOKEN not in json.dumps(record)
