"""Containerd nodes' pure parts: image layout, config, CRI configs, caches, tap (no root)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.backends.local.containerd import proto, tap
from harness.backends.local.containerd.daemon import (
    Paths,
    cgroup_root_of,
    config_toml,
    private_run_script,
)
from harness.backends.local.containerd.image import IMAGE_REPOSITORY, layout_tar
from harness.backends.local.containerd.kubelet import CRIKubelet, dns_config, netns_name
from harness.backends.local.topology import Node
from harness.commands.exec import pick_container
from harness.commands.logs import cri_log_text


def members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {
            m.name: (tar.extractfile(m).read() if m.isfile() else b"")  # type: ignore[union-attr]
            for m in tar.getmembers()
        }


def test_oci_layout_names_the_image_and_its_digests_match() -> None:
    name, data = layout_tar(b"\x7fELF fake busybox", ["sh", "sleep"], "abc123")
    files = members(data)
    assert name == f"{IMAGE_REPOSITORY}:abc123"
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads(files["index.json"])
    (entry,) = index["manifests"]
    assert entry["annotations"]["io.containerd.image.name"] == name
    for path, blob in files.items():
        if path.startswith("blobs/sha256/") and blob:
            assert hashlib.sha256(blob).hexdigest() == path.rsplit("/", 1)[1]
    manifest = json.loads(files["blobs/sha256/" + entry["digest"][7:]])
    config = json.loads(files["blobs/sha256/" + manifest["config"]["digest"][7:]])
    assert config["config"]["Entrypoint"][0] == "/bin/sleep"
    layer = members(files["blobs/sha256/" + manifest["layers"][0]["digest"][7:]])
    assert layer["bin/busybox"] == b"\x7fELF fake busybox"
    assert {"bin/sh", "bin/sleep"} <= set(layer)
    # Reproducible: the same busybox gives the same bytes (the cache key is its digest).
    assert layout_tar(b"\x7fELF fake busybox", ["sh", "sleep"], "abc123")[1] == data


def test_config_has_the_settings_this_machine_needs() -> None:
    paths = Paths("/run/harness/x/nodes/node-1/containerd", "/run/containerd/x-node-1.sock")
    text = config_toml(paths, "harness.local/busybox:1")
    assert 'address = "/run/containerd/x-node-1.sock"' in text
    assert "restrict_oom_score_adj = true" in text
    assert 'sandbox_image = "harness.local/busybox:1"' in text
    assert '[plugins."io.containerd.internal.v1.opt"]' in text
    assert 'path = "/run/harness/x/nodes/node-1/containerd/opt"' in text
    assert 'root = "/run/harness/x/nodes/node-1/containerd/root"' in text
    assert 'conf_dir = "/etc/cni/net.d"' in text


def node(tmp: str = "/run/harness/x") -> Node:
    return Node("node-1", 1, "x-node-1", f"{tmp}/node-1.mnt", f"{tmp}/nodes/node-1", "", "")


def test_private_run_binds_the_run_dir_back_from_an_fd() -> None:
    script = private_run_script("/run/harness/x", node())
    assert script.index("exec 3<") < script.index("mount -t tmpfs")
    assert "--no-canonicalize --bind /proc/self/fd/3 '/run/harness/x'" in script
    assert "mount --make-shared /run/netns" in script


def test_private_run_binds_back_every_node_dir_under_run() -> None:
    # A thick daemon's in-cluster config reads the service-account files
    # under /var/run/secrets: the private /run must not hide them.
    script = private_run_script("/run/harness/x", node())
    sa = "/run/secrets/kubernetes.io/serviceaccount"
    assert f"mount --bind '/run/harness/x/nodes/node-1/serviceaccount' '{sa}'" in script
    assert "'/run/harness/x/nodes/node-1/run-k8s-cni' '/run/k8s.cni.cncf.io'" in script
    assert script.index(f"mkdir -p '/run/harness/x' '/run/k8s.cni.cncf.io' '{sa}'") < script.index(
        f"'{sa}'\n"
    )


def test_cgroup_root_of() -> None:
    path = "/sys/fs/cgroup/pids/harness-x-node-1/podabc"
    assert cgroup_root_of(path, "/harness-x-node-1") == "/sys/fs/cgroup/pids/harness-x-node-1"


def test_netns_name_from_verbose_info() -> None:
    spec = {"runtimeSpec": {"linux": {"namespaces": [
        {"type": "pid"}, {"type": "network", "path": "/var/run/netns/cni-1234"}]}}}  # fmt: skip
    assert netns_name({"info": json.dumps(spec)}) == "cni-1234"
    assert netns_name({}) == ""


def pb() -> Any:
    return proto.modules()[0]


def pod(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "web",
            "namespace": "team",
            "uid": "u-1",
            "labels": {"app": "web"},
            "annotations": {"k8s.v1.cni.cncf.io/networks": "macvlan-conf"},
        },
        "spec": spec,
    }


def test_dns_cluster_first_and_none() -> None:
    cfg = dns_config(pb(), pod())
    assert list(cfg.servers) == ["10.96.0.10"] and cfg.searches[0] == "team.svc.cluster.local"
    custom = dns_config(pb(), pod(dnsPolicy="None", dnsConfig={"nameservers": ["1.1.1.1"]}))
    assert list(custom.servers) == ["1.1.1.1"]


def fake_kubelet() -> CRIKubelet:
    kubelet = CRIKubelet.__new__(CRIKubelet)
    runtime = SimpleNamespace(
        paths=Paths("/n/containerd"),
        cgroup_parent="/harness-x-node-1",
        image=SimpleNamespace(name="harness.local/busybox:1"),
    )
    kubelet.containerd = runtime  # type: ignore[assignment]
    kubelet.cri = SimpleNamespace(pb=pb())  # type: ignore[assignment]
    return kubelet


def test_sandbox_config_carries_what_the_cri_plugin_turns_into_cni() -> None:
    ports = [{"containerPort": 80, "hostPort": 8080, "protocol": "UDP"}, {"containerPort": 81}]
    cfg = fake_kubelet().sandbox_config(pod(containers=[{"name": "a", "ports": ports}]), 2)
    assert (cfg.metadata.name, cfg.metadata.namespace, cfg.metadata.uid) == ("web", "team", "u-1")
    assert cfg.metadata.attempt == 1  # the second sandbox of the pod
    assert cfg.annotations["k8s.v1.cni.cncf.io/networks"] == "macvlan-conf"
    assert cfg.labels["io.kubernetes.pod.uid"] == "u-1" and cfg.labels["app"] == "web"
    (mapping,) = cfg.port_mappings
    assert (mapping.host_port, mapping.container_port, mapping.protocol) == (8080, 80, 1)
    assert cfg.linux.cgroup_parent == "/harness-x-node-1/podu-1"


def test_every_image_is_the_nodes_busybox_and_says_so() -> None:
    container = {"name": "a", "image": "nginx:1.25", "command": ["sh"], "env": [{"name": "A"}]}
    cfg = fake_kubelet().container_config(pod(), container)
    assert cfg.image.image == "harness.local/busybox:1"
    assert cfg.annotations["harness.io/requested-image"] == "nginx:1.25"
    assert list(cfg.command) == ["sh"] and cfg.envs[0].key == "A"


def test_tap_passes_everything_through_and_keeps_a_failure(tmp_path: Path) -> None:
    bin_dir, taps = tmp_path / "bin", tmp_path / "tap"
    bin_dir.mkdir()
    real = tmp_path / "real-plugin"
    real.write_text(
        '#!/bin/sh\nread line\necho "{\\"code\\": 7, \\"msg\\": \\"$line\\"}"\n'
        "echo on-stderr >&2\nexit 1\n"
    )
    real.chmod(0o755)
    os.symlink(real, bin_dir / "meta")
    tap.install(str(bin_dir), "meta", str(taps))
    env = {**os.environ, "CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1",
           "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_UID=u-1;K8S_POD_NAME=p"}  # fmt: skip
    proc = subprocess.run(
        [str(bin_dir / "meta")], input="hello\n", capture_output=True, text=True, env=env
    )
    assert proc.returncode == 1
    assert json.loads(proc.stdout) == {"code": 7, "msg": "hello"}
    assert proc.stderr == "on-stderr\n"
    assert tap.take_error(str(taps), "ADD", "u-1") == {"code": 7, "msg": "hello"}
    assert tap.take_error(str(taps), "ADD", "u-1") is None  # taken


def test_generated_modules_match_the_proto(tmp_path: Path) -> None:
    """The committed-free generated code is what protoc makes of cri.proto now."""
    proto.ensure_generated()
    proto.compile_proto(str(tmp_path))
    for name in ("cri_pb2.py", "cri_pb2_grpc.py"):
        assert (tmp_path / name).read_bytes() == Path(proto.OUT_DIR, name).read_bytes()


def test_field_numbers_are_the_public_apis() -> None:
    """A few numbers that, if wrong, would make containerd read other fields."""
    m = pb()
    fields = m.PodSandboxConfig.DESCRIPTOR.fields_by_name
    assert fields["annotations"].number == 7 and fields["linux"].number == 8
    assert m.ExecSyncRequest.DESCRIPTOR.fields_by_name["timeout"].number == 3
    assert m.ContainerStatus.DESCRIPTOR.fields_by_name["log_path"].number == 15


def test_pick_container_and_logs() -> None:
    assert pick_container({"a": "1", "b": "2"}, "") == "1"
    assert pick_container({"a": "1", "b": "2"}, "b") == "2"
    with pytest.raises(LookupError):
        pick_container({}, "")
    raw = (
        "2026-01-01T00:00:00Z stdout F hello\n2026-01-01T00:00:00Z stderr P par\n2026 stderr F t\n"
    )
    assert cri_log_text(raw) == "hello\npart\n"


def test_tap_keeps_stdout_bytes_and_the_signal(tmp_path: Path) -> None:
    bin_dir, taps = tmp_path / "bin", tmp_path / "tap"
    bin_dir.mkdir()
    for name, body in (
        ("quiet", "exit 0\n"),
        ("nl", "printf 'a\\n\\n'\n"),
        ("dies", "kill -9 $$\n"),
    ):
        real = tmp_path / f"real-{name}"
        real.write_text("#!/bin/sh\n" + body)
        real.chmod(0o755)
        os.symlink(real, bin_dir / name)
        tap.install(str(bin_dir), name, str(taps))
    env = {**os.environ, "CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c", "CNI_ARGS": "K8S_POD_UID=u"}
    run = lambda n: subprocess.run([str(bin_dir / n)], capture_output=True, env=env)  # noqa: E731
    assert run("quiet").stdout == b""
    assert run("nl").stdout == b"a\n\n"
    assert run("dies").returncode == -9  # killed by the same signal, as the plugin was
