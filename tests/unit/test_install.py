"""``pymultus install``: master choice, generated configs, kubeconfig, the sync loop."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from typing import Any

import pytest

from pymultus.install.generate import (
    InstallOptions,
    config_filename,
    generate,
    kubeconfig_text,
    master_capabilities,
    pick_master,
)
from pymultus.install.layout import install_binaries
from pymultus.install.main import Installer, main
from pymultus.kube.kubeconfig import load_kubeconfig


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["10-kindnet.conflist", "20-other.conf"], "10-kindnet.conflist"),
        (["00-pymultus.conflist", "10-kindnet.conflist"], "10-kindnet.conflist"),
        (["99-b.conf", "05-a.json", "README", ".hidden.conf"], "05-a.json"),
        (["00-pymultus.conf", "pymultus.d"], None),
        ([], None),
    ],
)
def test_pick_master(names: list[str], expected: str | None) -> None:
    assert pick_master(names) == expected


@pytest.mark.parametrize(
    ("version", "filename"),
    [("1.0.0", "00-pymultus.conflist"), ("1.1.0", "00-pymultus.conflist"),
     ("0.4.0", "00-pymultus.conf"), ("0.3.1", "00-pymultus.conf"), ("bogus", "00-pymultus.conf"),
     (None, "00-pymultus.conf")],
)  # fmt: skip
def test_file_format_follows_the_masters_version(version: Any, filename: str) -> None:
    assert config_filename({"cniVersion": version}) == filename


def test_capabilities_are_the_union_of_the_masters_plugins() -> None:
    master = {
        "plugins": [
            {"type": "ptp", "capabilities": {"ips": True}},
            {"type": "portmap", "capabilities": {"portMappings": True, "x": False}},
        ]
    }
    assert master_capabilities(master) == {"ips": True, "portMappings": True}
    assert master_capabilities({"type": "bridge", "capabilities": {"mac": True}}) == {"mac": True}


def test_generate_thin_conflist() -> None:
    master = {"cniVersion": "1.0.0", "name": "kindnet", "plugins": [{"type": "ptp"}]}
    name, conf = generate(
        "10-kindnet.conflist", master, InstallOptions(readiness_indicator_file="/r")
    )
    assert name == "00-pymultus.conflist"
    assert conf["cniVersion"] == "1.0.0"
    (plugin,) = conf["plugins"]
    assert plugin["type"] == "pymultus"
    assert plugin["clusterNetwork"] == "/etc/cni/net.d/10-kindnet.conflist"
    assert plugin["readinessindicatorfile"] == "/r"
    assert "capabilities" not in plugin


def test_generate_thick_conf() -> None:
    master = {"cniVersion": "0.4.0", "name": "flannel", "type": "flannel",
              "capabilities": {"portMappings": True}}  # fmt: skip
    name, conf = generate("10-flannel.conf", master, InstallOptions(mode="thick"))
    assert name == "00-pymultus.conf"
    assert conf == {
        "cniVersion": "0.4.0",
        "name": "pymultus-cni-network",
        "type": "pymultus-shim",
        "daemonSocketDir": "/run/pymultus",
        "daemonConfig": "/etc/cni/net.d/pymultus.d/daemon-config.json",
        "capabilities": {"portMappings": True},
    }


def test_kubeconfig_is_readable_by_the_plugins_loader(tmp_path: Any) -> None:
    path = tmp_path / "kc"
    path.write_text(kubeconfig_text("https://10.96.0.1:443", "Q0E=", "tok-1"))
    access = load_kubeconfig(str(path))
    assert access.server == "https://10.96.0.1:443"
    assert access.token == "tok-1"
    assert access.ca_data == b"CA"


# ------------------------------------------------------------- the loop


@pytest.fixture
def node(tmp_path: Any) -> dict[str, str]:
    paths = {k: str(tmp_path / k) for k in ("net.d", "bin", "sa")}
    for p in paths.values():
        os.makedirs(p)
    with open(os.path.join(paths["sa"], "token"), "w") as f:
        f.write("token-1\n")
    with open(os.path.join(paths["sa"], "ca.crt"), "w") as f:
        f.write("CA")
    return paths


def installer(node: dict[str, str], **options: Any) -> Installer:
    opts = InstallOptions(
        conf_dir=node["net.d"],
        kubeconfig=os.path.join(node["net.d"], "pymultus.d", "pymultus.kubeconfig"),
        **options,
    )
    return Installer(
        opts,
        node["net.d"],
        token_file=os.path.join(node["sa"], "token"),
        ca_file=os.path.join(node["sa"], "ca.crt"),
        server="https://api:6443",
    )


def write_master(node: dict[str, str], name: str, version: str) -> None:
    with open(os.path.join(node["net.d"], name), "w") as f:
        json.dump({"cniVersion": version, "name": "def", "plugins": [{"type": "ptp"}]}, f)


def test_waits_for_the_master_then_writes(node: dict[str, str]) -> None:
    inst = installer(node)
    assert "waiting for a master config" in inst.sync() or inst.own_files() == []
    assert inst.own_files() == []
    write_master(node, "10-kindnet.conflist", "1.0.0")
    assert "00-pymultus.conflist written for master 10-kindnet.conflist" in inst.sync()
    assert inst.sync() == "up to date"


def test_master_replaced_regenerates_and_removes_the_stale_file(node: dict[str, str]) -> None:
    inst = installer(node)
    write_master(node, "10-kindnet.conflist", "1.0.0")
    inst.sync()
    os.unlink(os.path.join(node["net.d"], "10-kindnet.conflist"))
    write_master(node, "05-calico.conflist", "0.4.0")
    what = inst.sync()
    assert "00-pymultus.conf written for master 05-calico.conflist" in what
    assert "00-pymultus.conflist removed" in what
    assert inst.own_files() == ["00-pymultus.conf"]
    with open(os.path.join(node["net.d"], "00-pymultus.conf")) as f:
        assert json.load(f)["clusterNetwork"].endswith("/05-calico.conflist")


def test_token_rotation_rewrites_the_kubeconfig(node: dict[str, str]) -> None:
    inst = installer(node)
    write_master(node, "10-kindnet.conflist", "1.0.0")
    assert "kubeconfig written" in inst.sync()
    kubeconfig = os.path.join(node["net.d"], "pymultus.d", "pymultus.kubeconfig")
    assert oct(os.stat(kubeconfig).st_mode & 0o777) == "0o600"
    assert load_kubeconfig(kubeconfig).token == "token-1"
    with open(os.path.join(node["sa"], "token"), "w") as f:
        f.write("token-2\n")
    assert "kubeconfig written" in inst.sync()
    assert load_kubeconfig(kubeconfig).token == "token-2"


def test_readiness_indicator_gates_the_config(node: dict[str, str], tmp_path: Any) -> None:
    indicator = str(tmp_path / "ready")
    inst = installer(node, readiness_indicator_file=indicator)
    write_master(node, "10-kindnet.conflist", "1.0.0")
    inst.sync()
    assert inst.own_files() == []
    open(indicator, "w").close()
    inst.sync()
    assert inst.own_files() == ["00-pymultus.conflist"]
    os.unlink(indicator)
    assert "config removed" in inst.sync()
    assert inst.own_files() == []


def test_main_removes_its_config_when_stopped(node: dict[str, str]) -> None:
    write_master(node, "10-kindnet.conflist", "1.0.0")
    stop = threading.Event()
    argv = [
        "--cni-conf-dir", node["net.d"], "--host-conf-dir", node["net.d"],
        "--skip-binaries", "--interval", "0.05",
        "--token-file", os.path.join(node["sa"], "token"), "--server", "https://api:6443",
    ]  # fmt: skip
    thread = threading.Thread(target=main, args=(argv, stop))
    thread.start()
    try:
        for _ in range(100):
            if os.path.exists(os.path.join(node["net.d"], "00-pymultus.conflist")):
                break
            threading.Event().wait(0.05)
        assert os.path.exists(os.path.join(node["net.d"], "00-pymultus.conflist"))
    finally:
        stop.set()
        thread.join(10)
    assert sorted(os.listdir(node["net.d"])) == ["10-kindnet.conflist", "pymultus.d"]


def test_installed_launchers_run_from_the_archive(node: dict[str, str]) -> None:
    written = install_binaries(node["bin"], node["bin"])
    assert written == ["pymultus.pyz", "pymultus-lib", "pymultus", "pymultus-shim"]
    for name in ("pymultus", "pymultus-shim"):
        proc = subprocess.run(
            [os.path.join(node["bin"], name)],
            input=b'{"cniVersion": "0.4.0"}',
            env={"CNI_COMMAND": "VERSION"},
            capture_output=True,
            timeout=30,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["cniVersion"] == "0.4.0"


def test_thick_mode_writes_the_daemon_config_with_the_master(
    node: dict[str, str], tmp_path: Any
) -> None:
    source = tmp_path / "daemon-options.json"
    source.write_text(json.dumps({"maxConcurrent": 4, "socketDir": "/run/p"}))
    inst = installer(
        node,
        mode="thick",
        daemon_config=os.path.join(node["net.d"], "pymultus.d", "daemon-config.json"),
        socket_dir="/run/p",
    )
    inst.daemon_config_source = str(source)
    write_master(node, "10-kindnet.conflist", "1.0.0")
    assert "daemon config written" in inst.sync()
    with open(os.path.join(node["net.d"], "pymultus.d", "daemon-config.json")) as f:
        daemon = json.load(f)
    assert daemon["maxConcurrent"] == 4
    assert daemon["clusterNetwork"] == os.path.join(node["net.d"], "10-kindnet.conflist")
    assert "kubeconfig" not in daemon  # in-cluster token in the daemon's pod
    with open(os.path.join(node["net.d"], "00-pymultus.conflist")) as f:
        (plugin,) = json.load(f)["plugins"]
    assert plugin["type"] == "pymultus-shim"
    assert plugin["daemonSocketDir"] == "/run/p"
    assert "daemon config written" not in inst.sync()


#: Run in place of the thin launcher's last two lines: its sys.path set-up, then
#: the device lookup a thin ADD makes for a network naming a resource.
DEVICE_PROBE = """
import json
from pymultus.podresources.client import list_pod_devices
import grpc, pymultus
print(json.dumps({
    "devices": list_pod_devices("default", "p", sys.argv[1]),
    "grpc": grpc.__file__,
    "pymultus": pymultus.__file__,
}))
"""


def test_the_thin_layout_reads_pod_resources_with_the_libraries_beside_the_archive(
    node: dict[str, str], tmp_path: Any
) -> None:
    """grpcio cannot load from the zipapp: pymultus-lib/ beside it serves ``-IS`` thin calls."""
    grpc = pytest.importorskip("grpc")
    from concurrent import futures

    from harness.backends.local.protobuf import encode_field as field

    devices = field(1, "example.com/sriov") + field(2, "0000:01:00.0")
    answer = field(1, field(1, "p") + field(2, "default") + field(3, field(2, devices)))
    socket_path = str(tmp_path / "kubelet.sock")
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
    server.start()
    try:
        install_binaries(node["bin"], node["bin"])
        with open(os.path.join(node["bin"], "pymultus"), encoding="utf-8") as f:
            text = f.read()
        assert "pymultus-lib" in text
        tail = "from pymultus.thin import main\nsys.exit(main())\n"
        assert text.endswith(tail), text
        probe = os.path.join(node["bin"], "probe")
        with open(probe, "w", encoding="utf-8") as f:
            f.write(text.removesuffix(tail) + DEVICE_PROBE)
        os.chmod(probe, 0o755)
        proc = subprocess.run(
            [probe, socket_path], env={}, capture_output=True, timeout=60, check=False
        )
    finally:
        server.stop(None).wait()
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["devices"] == {"example.com/sriov": ["0000:01:00.0"]}
    assert out["grpc"].startswith(os.path.join(node["bin"], "pymultus-lib") + os.sep)
    assert out["pymultus"].startswith(os.path.join(node["bin"], "pymultus.pyz") + os.sep)
