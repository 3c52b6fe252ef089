"""Issue 15, item 2: a NAD cannot make the meta-plugin run itself.

Guard 1: planning refuses meta-plugin types (ours and the reference's) as
delegates, with code 7 naming the network. Guard 2: every delegate gets
PYMULTUS_DELEGATE_OF in its environment, and pymultus (thin or shim) started
with it refuses ADD and succeeds DEL at once, before reading any file its
configuration names, so a renamed copy is refused too. The end-to-end case
runs real processes (the installed ``pymultus`` under another name), no root.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pymultus import shim, thin, thincall
from pymultus.cni.errors import CNIError
from pymultus.cni.nesting import DELEGATE_MARKER, META_PLUGIN_TYPES
from pymultus.cni.request import CNIRequest
from pymultus.daemon.overlay import DaemonOptions
from pymultus.daemon.server import Daemon
from pymultus.engine import Engine
from pymultus.log import Logger
from pymultus.model.config import parse_config
from pymultus.state import DelegateCache

PYMULTUS = str(Path(sys.executable).parent / "pymultus")
ARGS = (("K8S_POD_NAMESPACE", "default"), ("K8S_POD_NAME", "p"))


class Kube:
    def __init__(self, annotations: dict[str, str], nad_conf: dict[str, Any]) -> None:
        self.annotations = annotations
        self.nad_conf = nad_conf

    def get_pod(self, namespace: str, name: str) -> dict[str, Any]:
        meta = {"name": name, "namespace": namespace, "annotations": self.annotations}
        return {"metadata": meta}

    def get_nad(self, namespace: str, name: str) -> dict[str, Any] | None:
        if name != "evil":
            return None
        meta = {"name": name, "namespace": namespace}
        return {"metadata": meta, "spec": {"config": json.dumps(self.nad_conf)}}

    def patch_pod_status_annotations(self, *args: Any) -> dict[str, Any]:
        return {}


class Never:
    calls = 0

    def __call__(self, *args: Any) -> dict[str, Any]:
        Never.calls += 1
        raise AssertionError("no delegate may run")


def evil_conf(kind: str, tmp_path: Path) -> dict[str, Any]:
    return {
        "cniVersion": "1.0.0",
        "name": "evil",
        "type": kind,
        "clusterNetwork": "whatever",
        "logFile": str(tmp_path / "victim"),
        "logOptions": {"maxSize": 1, "compress": True},
    }


@pytest.mark.parametrize("kind", sorted(META_PLUGIN_TYPES))
@pytest.mark.parametrize(
    "annotations",
    [
        {"v1.multus-cni.io/default-network": "evil"},
        {"k8s.v1.cni.cncf.io/networks": "evil"},
    ],
    ids=["default-network", "networks"],
)
def test_a_nad_naming_a_meta_plugin_is_refused(
    tmp_path: Path, kind: str, annotations: dict[str, str]
) -> None:
    cfg = parse_config(
        {
            "cniVersion": "1.0.0",
            "name": "m",
            "cniDir": str(tmp_path / "cache"),
            "multusNamespace": "default",
            "delegates": [{"cniVersion": "1.0.0", "name": "first", "type": "ptp"}],
        }
    )
    engine = Engine(
        cfg=cfg,
        execute=Never(),
        cache=DelegateCache(cfg.cni_dir),
        kube=Kube(annotations, evil_conf(kind, tmp_path)),
        log=Logger("error", "", False),
    )
    with pytest.raises(CNIError) as err:
        engine.add(CNIRequest("ADD", "c1", "/var/run/netns/p", "eth0", ARGS))
    assert err.value.code == 7
    assert "default/evil" in err.value.msg and kind in err.value.msg
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())
    engine.delete(CNIRequest("DEL", "c1", "", "eth0", ARGS))  # DEL still succeeds


def test_a_meta_plugin_inside_a_conflist_is_refused(tmp_path: Path) -> None:
    conf = {
        "cniVersion": "1.0.0",
        "name": "evil",
        "plugins": [{"type": "tuning"}, {"type": "multus-shim"}],
    }
    cfg = parse_config(
        {"cniVersion": "1.0.0", "name": "m", "cniDir": str(tmp_path), "delegates": [conf]}
    )
    engine = Engine(cfg, Never(), DelegateCache(str(tmp_path)), None, Logger("error", "", False))
    with pytest.raises(CNIError) as err:
        engine.add(CNIRequest("ADD", "c1", "/var/run/netns/p", "eth0"))
    assert err.value.code == 7 and "multus-shim" in err.value.msg


def test_delegates_are_marked_by_thin_and_daemon(tmp_path: Path) -> None:
    delegates = [{"cniVersion": "1.0.0", "name": "d", "type": "ptp"}]
    cfg = parse_config(
        {"cniVersion": "1.0.0", "name": "m", "cniDir": str(tmp_path), "delegates": delegates}
    )
    request = CNIRequest("ADD", "c1", "/n", "eth0")
    engine = thincall.build_engine(cfg, request, {"PATH": "/bin"})
    env = engine.execute.env_for("ADD", request)  # type: ignore[attr-defined]
    assert env[DELEGATE_MARKER] == "pymultus"
    daemon = Daemon(DaemonOptions(socket_dir=str(tmp_path)), {}, env={})
    daemon_engine = daemon.engine(cfg, (), "")
    env = daemon_engine.execute.inner.env_for("ADD", request)  # type: ignore[attr-defined]
    assert env[DELEGATE_MARKER] == "pymultus"


@pytest.mark.parametrize("command", ["ADD", "CHECK", "DEL", "STATUS"])
def test_a_marked_thin_instance_refuses_before_reading_its_config(
    tmp_path: Path, command: str
) -> None:
    conf = {
        "cniVersion": "1.1.0",
        "name": "nested",
        "type": "pymultus",
        "logFile": str(tmp_path / "victim.log"),
        "logLevel": "debug",
        "cniDir": str(tmp_path / "cache"),
        "kubeconfig": str(tmp_path / "kubeconfig"),
        "delegates": [{"cniVersion": "1.0.0", "name": "d", "type": "ptp"}],
    }
    env = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": "c1",
        "CNI_NETNS": "/var/run/netns/p",
        "CNI_IFNAME": "net1",
        DELEGATE_MARKER: "pymultus",
    }
    out, err = io.StringIO(), io.StringIO()
    rc = thin.run(env, io.BytesIO(json.dumps(conf).encode()), out, err)
    if command == "DEL":
        assert (rc, out.getvalue()) == (0, "")
    else:
        assert rc == 1
        answer = json.loads(out.getvalue())
        assert answer["code"] == 7 and DELEGATE_MARKER in answer["msg"]
    assert sorted(os.listdir(tmp_path)) == []  # no log, no cache: the NAD decides nothing


@pytest.mark.parametrize("command", ["ADD", "DEL"])
def test_a_marked_shim_refuses_without_asking_the_daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    monkeypatch.setattr(shim, "READY_WAIT", 0.2)
    monkeypatch.setattr(shim, "DEL_WAIT", 0.2)
    raw = json.dumps(
        {"cniVersion": "1.0.0", "name": "n", "daemonSocketDir": str(tmp_path / "none")}
    ).encode()
    env = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": "c1",
        "CNI_NETNS": "/var/run/netns/p",
        "CNI_IFNAME": "net1",
        DELEGATE_MARKER: "pymultus",
    }
    out = io.BytesIO()
    rc = shim.run(env, raw, out)
    if command == "DEL":
        assert (rc, out.getvalue()) == (0, b"")
    else:
        assert rc == 1 and json.loads(out.getvalue())["code"] == 7


def test_a_renamed_copy_of_pymultus_as_a_delegate_is_refused_end_to_end(tmp_path: Path) -> None:
    """Real processes: the outer pymultus runs the installed one under another name."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "renamed").symlink_to(PYMULTUS)
    victim = tmp_path / "victim.log"
    nested = {
        "cniVersion": "1.0.0",
        "name": "nest",
        "type": "renamed",
        "logFile": str(victim),
        "logLevel": "debug",
        "cniDir": str(tmp_path / "nested-cache"),
        "delegates": [{"cniVersion": "1.0.0", "name": "deeper", "type": "renamed"}],
    }
    conf = {
        "cniVersion": "1.0.0",
        "name": "outer",
        "binDir": str(bin_dir),
        "cniDir": str(tmp_path / "cache"),
        "delegates": [nested],
    }
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "CNI_COMMAND": "ADD",
        "CNI_CONTAINERID": "c1",
        "CNI_NETNS": "/var/run/netns/not-the-node",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": str(bin_dir),
    }
    if "PYTHONPATH" in os.environ:  # to run this against another checkout
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    proc = subprocess.run(
        [PYMULTUS], input=json.dumps(conf).encode(), env=env, capture_output=True, timeout=60
    )
    answer = json.loads(proc.stdout)
    assert proc.returncode == 1 and answer["code"] == 7, answer
    assert "cannot be nested" in answer["msg"] and "nest" in answer["msg"]
    assert not victim.exists()  # the nested config's logFile was never opened
    assert not (tmp_path / "nested-cache").exists()
    del_env = {**env, "CNI_COMMAND": "DEL"}
    proc = subprocess.run(
        [PYMULTUS], input=json.dumps(conf).encode(), env=del_env, capture_output=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout
    assert not victim.exists()
