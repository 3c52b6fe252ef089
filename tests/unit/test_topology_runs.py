"""Node layout and run-directory decisions of the local backend (no root needed)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.backends.local.runs import Run, find_sandbox, list_runs, select_run
from harness.backends.local.topology import Topology
from harness.commands.exec import split_command


def test_node_layout_is_one_based_with_a_pod_cidr_each(tmp_path: Path) -> None:
    topo = Topology("hxtest", 3, ["/usr/lib/cni"], run_root=str(tmp_path))
    assert [n.name for n in topo.nodes] == ["node-1", "node-2", "node-3"]
    assert [n.pod_cidr for n in topo.nodes] == ["10.244.1.0/24", "10.244.2.0/24", "10.244.3.0/24"]
    assert [n.address for n in topo.nodes] == ["172.18.0.11/16", "172.18.0.12/16", "172.18.0.13/16"]
    assert [n.netns for n in topo.nodes] == ["hxtest-node-1", "hxtest-node-2", "hxtest-node-3"]
    assert topo.node("node-2").ip == "172.18.0.12"
    with pytest.raises(KeyError, match="node-9"):
        topo.node("node-9")
    with pytest.raises(ValueError):
        Topology("hxtest", 0, [], run_root=str(tmp_path))


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/etc/cni/net.d/00-x.conf", "nodes/node-1/etc-cni/net.d/00-x.conf"),
        ("/etc/cni", "nodes/node-1/etc-cni"),
        ("/var/lib/cni/networks/n/10.0.0.2", "nodes/node-1/var-lib-cni/networks/n/10.0.0.2"),
        ("/opt/cni/bin/macvlan", "nodes/node-1/opt-cni/bin/macvlan"),
        ("/etc/cnix/file", None),  # only whole path components are mapped
        ("/run/netns/x", None),
    ],
)
def test_host_path_maps_only_the_node_private_dirs(
    tmp_path: Path, path: str, expected: str | None
) -> None:
    node = Topology("hxtest", 1, [], run_root=str(tmp_path)).nodes[0]
    want = os.path.join(str(tmp_path), "hxtest", expected) if expected else path
    assert node.host_path(path) == want


def run(id: str, alive: bool, persistent: bool) -> Run:
    return Run(id, f"/run/harness/{id}", 1, alive, {"persistent": True} if persistent else {})


@pytest.mark.parametrize(
    ("runs", "wanted", "expected"),
    [
        ([run("a", True, True)], None, "a"),
        ([run("a", True, False), run("b", True, True), run("c", False, True)], None, "b"),
        ([run("a", True, True), run("b", True, True)], "b", "b"),
        ([run("a", False, True)], "a", "a"),
    ],
)
def test_select_run(runs: list[Run], wanted: str | None, expected: str) -> None:
    assert select_run(runs, wanted).id == expected


@pytest.mark.parametrize(
    ("runs", "wanted", "message"),
    [
        ([], None, "no cluster is up"),
        ([run("a", True, False)], None, "no cluster is up"),
        ([run("a", True, True), run("b", True, True)], None, "several clusters are up"),
        ([run("a", True, True)], "zz", "no cluster 'zz'"),
    ],
)
def test_select_run_explains_what_to_do(runs: list[Run], wanted: str | None, message: str) -> None:
    with pytest.raises(LookupError, match=message):
        select_run(runs, wanted)


def test_list_runs_reads_state_and_info(tmp_path: Path) -> None:
    live = tmp_path / "hxlive"
    live.mkdir()
    (live / "state.json").write_text(json.dumps({"cluster_id": "hxlive", "owner_pid": os.getpid()}))
    (live / "cluster.json").write_text(json.dumps({"persistent": True, "kubeconfig": "/k"}))
    dead = tmp_path / "hxdead"
    dead.mkdir()
    (dead / "state.json").write_text(json.dumps({"cluster_id": "hxdead", "owner_pid": 2**22 + 7}))
    (tmp_path / "not-a-dir").write_text("")
    runs = {r.id: r for r in list_runs(str(tmp_path))}
    assert set(runs) == {"hxlive", "hxdead"}
    assert runs["hxlive"].alive and runs["hxlive"].persistent
    assert runs["hxlive"].kubeconfig == "/k"
    assert not runs["hxdead"].alive and not runs["hxdead"].persistent
    assert list_runs(str(tmp_path / "missing")) == []


def test_find_sandbox() -> None:
    sandboxes = {
        "u1": {"namespace": "default", "name": "a", "netns": "hx-1"},
        "u2": {"namespace": "other", "name": "a", "netns": "hx-2"},
    }
    assert find_sandbox(sandboxes, "other", "a") == sandboxes["u2"]
    assert find_sandbox(sandboxes, "default", "b") is None


@pytest.mark.parametrize(
    ("rest", "expected"),
    [
        (["ip", "addr"], ("default", None, ["ip", "addr"])),
        (["--", "ip", "-j", "addr"], ("default", None, ["ip", "-j", "addr"])),
        (["-n", "kube", "--", "ping", "-c", "1"], ("kube", None, ["ping", "-c", "1"])),
        (["--cluster", "hx1", "--", "true", "--", "x"], ("default", "hx1", ["true", "--", "x"])),
        (["--"], ("default", None, [])),
    ],
)
def test_exec_options_after_the_pod(
    rest: list[str], expected: tuple[str, str | None, list[str]]
) -> None:
    assert split_command("default", None, rest) == expected
