"""The runner on a fake cluster: steps, expectations, eventually, skips, xfail,
and failures that name the scenario file and line with a diff."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from fakecluster import FakeCluster

from harness.runner import ScenarioResult, pod_object, run_scenario
from harness.scenario.loader import load_scenario

HEAD = """\
name: t
class: spec
covers: [cni-add]
networks:
  - fixture: macvlan-conf
pods:
  - name: p
    networks: macvlan-conf
"""


#: The fake cluster can do every step (so implied needs are met).
MACHINERY = {
    need: (lambda: None)
    for need in ("api-faults", "node-exec", "node-files", "pod-exec", "cni-runtime", "sandbox-id")
}
MACHINERY["daemon-control"] = lambda: None


def run(tmp_path: Path, body: str, **behaviour: Any) -> tuple[ScenarioResult, FakeCluster]:
    path = tmp_path / "scenario.yaml"
    path.write_text(HEAD + textwrap.dedent(body))
    cluster = FakeCluster(**behaviour)
    probes = {"ipv6": lambda: None, "vlan": lambda: "the kernel lacks vlan", **MACHINERY}
    result = run_scenario(load_scenario(str(path)), lambda s: cluster, probes)
    return result, cluster


def test_passing_expectations(tmp_path: Path) -> None:
    status = json.dumps(
        [
            {"name": "kindnet", "interface": "eth0", "default": True, "ips": ["10.244.1.5"]},
            {"name": "default/macvlan-conf", "interface": "net1", "ips": ["192.168.1.200"]},
        ]
    )
    result, cluster = run(
        tmp_path,
        """\
        expect:
          - pod: p
            interfaces:
              eth0: {kind: veth, addresses: [{within: 10.244.0.0/16}]}
              net1: {kind: macvlan, mac: "02:*:*:*:*:01", addressCount: 1}
              net9: {absent: true}
            routes: [{dst: default, via: 10.244.1.1, dev: eth0}]
            networkStatus:
              - {interface: eth0, default: true}
              - {name: default/macvlan-conf, interface: net1, ips: [{exact: 192.168.1.200}]}
              - {name: other, absent: true}
          - event: {pod: p, reason: AddedInterface, contains: net1}
          - exec: {pod: p, command: "echo hello", contains: hello}
          - exec: {node: node-1, command: [iptables, -S], contains: rules, notContains: DROP}
          - ping: {from: p, to: p, via: net1}
        """,
        status=status,
        events=[{"type": "Normal", "reason": "AddedInterface", "message": "Add net1 [..]"}],
    )
    assert result.status == "passed", result.report()
    assert ("exec", "p", ["echo", "hello"]) in cluster.calls
    assert ("node_exec", "node-1", ["iptables", "-S"]) in cluster.calls
    assert ("ping", "p", "192.168.1.200", "net1") in cluster.calls
    assert cluster.closed
    assert result.topology["pods"]["p"]["node"] == "node-1"
    assert [i["name"] for i in result.topology["pods"]["p"]["interfaces"]] == ["eth0", "net1"]
    assert [phase for phase, _ in result.timings][:2] == ["cluster", "apply"]


def test_broken_expectation_names_file_line_and_shows_a_diff(tmp_path: Path) -> None:
    result, _ = run(
        tmp_path,
        """\
        expect:
          - pod: p
            interfaces:
              net1: {kind: vlan, mtu: 9000}
        """,
    )
    assert result.status == "failed"
    text = result.report()
    assert f"{tmp_path}/scenario.yaml:10: pod p: 2 interface/route mismatch(es)" in text
    assert "interface net1: kind is macvlan, expected vlan" in text
    assert '-      "kind": "vlan",' in text and '+      "kind": "macvlan",' in text
    assert "10.244.1.5/24" in text  # the pod's addresses, for context
    assert "recent events:" in text


def test_cni_error_expectation(tmp_path: Path) -> None:
    body = "expect:\n  - pod: p\n    error: {code: 7, names: [macvlan-conf]}\n"
    ok, _ = run(tmp_path, body, errors={"p": (7, "NAD default/macvlan-conf not found")})
    assert ok.status == "passed", ok.report()
    wrong, _ = run(tmp_path, body, errors={"p": (999, "boom")})
    assert wrong.status == "failed"
    assert "CNI error code 999, expected 7" in wrong.report()
    assert "the error does not name 'macvlan-conf'" in wrong.report()
    either = "expect:\n  - pod: p\n    error: {code: [7, 999], names: [macvlan-conf]}\n"
    ok, _ = run(tmp_path, either, errors={"p": (999, "no NAD default/macvlan-conf")})
    assert ok.status == "passed", ok.report()
    other, _ = run(tmp_path, either, errors={"p": (11, "no NAD default/macvlan-conf")})
    assert "CNI error code 11, expected 7 or 999" in other.report()


def test_steps_reach_the_cluster_in_order(tmp_path: Path) -> None:
    result, cluster = run(
        tmp_path,
        """\
        steps:
          - stopApi: {scope: nodes}
          - removeFile: {path: "/var/lib/cni/pymultus/{sandbox:p}"}
          - writeFile: {path: /etc/cni/x.conf, content: {a: 1}, node: node-1}
          - apiFault: {status: "503", delay: 0.5}
          - apiFault: null
          - startApi: true
          - deleteNetworks: [macvlan-conf]
          - delete: [p]
          - expect:
              - deleteError: {pod: p, none: true}
              - leaks: none
        """,
    )
    assert result.status == "passed", result.report()
    # Leak checks and the topology picture's read of node links are not steps.
    topology_read = ["ip", "-d", "-j", "addr", "show"]
    verbs = [
        c
        for c in cluster.calls
        if c[0] != "leaks" and not (c[0] == "node_exec" and c[2] == topology_read)
    ]
    assert verbs == [
        ("stop_api", "nodes"),
        ("remove", "node-1", "/var/lib/cni/pymultus/sandbox-of-p"),
        ("write", "node-1", "/etc/cni/x.conf", '{\n  "a": 1\n}'),
        ("fault", "503", 0.5),
        ("fault", None, 0.0),
        ("start_api",),
        ("delete_object", "macvlan-conf"),
        ("delete_pod", "p", True),
        # cleanup restores the API it touched
        ("fault", None, 0.0),
        ("start_api",),
    ]


def test_cleanup_deletes_pods_and_checks_leaks_even_after_failures(tmp_path: Path) -> None:
    result, cluster = run(
        tmp_path,
        "expect:\n  - pod: p\n    interfaces: {net1: {kind: vlan}}\n",
        leaks=["node-1: link veth123 (veth)"],
    )
    assert result.status == "failed"
    assert ("delete_pod", "p", True) in cluster.calls
    assert "1 leaked resource(s) after deletion" in result.report()
    assert "veth123" in result.report()


def test_eventually_retries_until_the_timeout(tmp_path: Path) -> None:
    result, cluster = run(
        tmp_path,
        "expect:\n  - leaks: none\n    eventually: {timeout: 0.3, interval: 0.05}\n",
        leaks=["stuck"],
    )
    assert result.status == "failed"
    assert "(still after 0.3 s)" in result.report()
    assert sum(1 for c in cluster.calls if c == ("leaks",)) >= 4


def test_unmet_need_skips_before_any_cluster(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        HEAD.replace("covers: [cni-add]", "covers: [cni-add]\ncluster: {needs: [kernel:vlan]}")
    )
    made: list[int] = []
    result = run_scenario(
        load_scenario(str(path)), lambda s: made.append(1) or FakeCluster(), {"vlan": lambda: "no"}
    )
    assert (result.status, result.reason, made) == ("skipped", "needs kernel:vlan: no", [])


def test_a_step_needing_the_daemon_skips_before_any_cluster(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(HEAD + "steps:\n  - restartDaemon: {}\n")
    made: list[int] = []
    result = run_scenario(
        load_scenario(str(path)),
        lambda s: made.append(1) or FakeCluster(),
        {"daemon-control": lambda: "the run is in thin mode"},
    )
    assert (result.status, made) == ("skipped", [])
    assert result.reason == "needs daemon-control: the run is in thin mode"


def test_unsupported_after_the_first_step_is_an_error_not_a_skip(tmp_path: Path) -> None:
    # The need was (wrongly) reported as met: the late Unsupported cannot hide
    # behind a skip.
    result, cluster = run(tmp_path, "steps:\n  - restartDaemon: {}\n")
    assert result.status == "error" and "no daemon (thin)" in result.reason
    assert cluster.closed and ("delete_pod", "p", True) in cluster.calls


def test_unsupported_keeps_failures_already_recorded(tmp_path: Path) -> None:
    result, _ = run(
        tmp_path,
        "steps:\n  - expect:\n      - pod: p\n        interfaces: {net1: {kind: vlan}}\n"
        "  - restartDaemon: {}\n",
        leaks=["network namespace x"],
    )
    assert result.status == "failed"
    messages = [f.message for f in result.failures]
    assert any("interface/route mismatch" in m for m in messages)
    assert any("leaked" in m for m in messages), messages  # the cleanup's leak check too
    assert "no daemon (thin)" in result.reason


def test_an_expectation_the_backend_cannot_evaluate_is_not_checked(tmp_path: Path) -> None:
    result, _ = run(
        tmp_path,
        "expect:\n  - nodeFile: {node: node-1, path: /etc/x}\n    proves: [cni-add]\n",
        no_read_node_file=True,
    )
    assert result.status == "passed"
    (check,) = [c for c in result.checks if c.kind == "nodeFile"]
    assert check.status == "not checked" and "cannot read files" in check.note
    assert "not checked" in result.report()


def test_leak_blind_spots_make_the_leak_check_not_checked(tmp_path: Path) -> None:
    result, _ = run(tmp_path, "expect:\n  - leaks: none\n", blind=["links on nodes"])
    statuses = {c.kind: c.status for c in result.checks}
    assert statuses == {"leaks": "not checked", "cleanup leaks": "not checked"}


def test_checks_record_what_they_prove(tmp_path: Path) -> None:
    result, _ = run(
        tmp_path,
        "expect:\n  - pod: p\n    interfaces: {net1: {kind: macvlan}}\n    proves: [npwg-4.1.1]\n"
        "  - pod: p\n    interfaces: {net1: {kind: vlan}}\n    proves: [cni-add]\n",
    )
    assert [(c.kind, c.proves, c.status) for c in result.checks] == [
        ("pod", ("npwg-4.1.1",), "passed"),
        ("pod", ("cni-add",), "failed"),
        ("cleanup leaks", (), "passed"),
    ]


@pytest.mark.parametrize(("fails", "status"), [(True, "xfailed"), (False, "xpassed")])
def test_xfail(tmp_path: Path, fails: bool, status: str) -> None:
    path = tmp_path / "s.yaml"
    kind = "vlan" if fails else "macvlan"
    path.write_text(
        HEAD.replace("covers: [cni-add]", "covers: [cni-add]\nxfail: engine bug 7")
        + f"expect:\n  - pod: p\n    interfaces: {{net1: {{kind: {kind}}}}}\n"
    )
    result = run_scenario(load_scenario(str(path)), lambda s: FakeCluster())
    assert result.status == status and "engine bug 7" in result.reason and result.ok


def test_pod_object_ports_and_networks() -> None:
    obj = pod_object(
        {
            "name": "web",
            "namespace": "ns",
            "node": "node-2",
            "networks": [{"name": "a"}],
            "ports": [{"containerPort": 80, "hostPort": 8080}],
        }
    )
    assert obj["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"] == '[{"name": "a"}]'
    assert obj["spec"]["nodeName"] == "node-2"
    assert obj["spec"]["containers"][0]["ports"] == [{"containerPort": 80, "hostPort": 8080}]


def test_post_checks_run_after_cleanup_and_can_fail_the_scenario(tmp_path: Path) -> None:
    from harness import runner

    seen: list[list[tuple[Any, ...]]] = []

    def hook(run: runner.ScenarioRun) -> None:
        seen.append(list(run.cluster.calls))  # type: ignore[attr-defined]
        run.fail(("name",), "a spec MUST was violated by a recorded call")

    runner.POST_CHECKS.append(hook)
    try:
        result, _ = run(tmp_path, "")
    finally:
        runner.POST_CHECKS.remove(hook)
    assert result.status == "failed"
    assert result.failures[-1].message == "a spec MUST was violated by a recorded call"
    assert ("delete_pod", "p", True) in seen[0]  # the teardown had already happened
