"""The thick-mode and installer steps of the scenario format (hotplug,
rotateToken, installer) and the nodeFile expectation, on a Cluster double:
what reaches the cluster, and which failures are reported where."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, cast

import pytest
from fakecluster import FakeCluster

from harness.cluster import Cluster, Unsupported
from harness.runner import ScenarioResult, run_scenario
from harness.scenario.loader import ScenarioError, load_scenario

HEAD = """\
name: t
class: extension
covers: [pymultus-hotplug]
networks:
  - fixture: macvlan-conf
pods:
  - name: p
    networks: macvlan-conf
"""


class ThickFake(FakeCluster):
    """FakeCluster plus a daemon, an installer and node files."""

    def __init__(self, **behaviour: Any) -> None:
        super().__init__(**behaviour)
        self.files: dict[tuple[str, str], str] = dict(behaviour.get("files", {}))

    def hotplug(
        self, namespace: str, name: str, op: str, network: str = "", interface: str = ""
    ) -> tuple[bool, str]:
        self.calls.append(("hotplug", namespace, name, op, network, interface))
        answer: tuple[bool, str] = self.behaviour.get("hotplug", (True, '{"interfaces": []}'))
        return answer

    def rotate_token(self, token: str | None = None) -> None:
        self.calls.append(("rotate_token", token))

    def run_installer(self, node: str, action: str) -> None:
        self.calls.append(("installer", node, action))
        if action == "start":  # what the installer writes, one pass later
            self.files[("node-1", "/etc/cni/net.d/00-pymultus.conflist")] = '{"type": "x"}'

    def read_node_file(self, node: str, path: str) -> str | None:
        self.calls.append(("read", node, path))
        return self.files.get((node, path))


def run(
    tmp_path: Path, body: str, cluster: FakeCluster | None = None
) -> tuple[ScenarioResult, FakeCluster]:
    path = tmp_path / "scenario.yaml"
    path.write_text(HEAD + textwrap.dedent(body))
    cluster = cluster or ThickFake()
    # FakeCluster refuses the thick-mode steps (Unsupported); the probes claim
    # them (as a backend with a wrong probe would), so a late Unsupported is seen.
    as_cluster = cast(Cluster, cluster)
    result = run_scenario(load_scenario(str(path)), lambda s: as_cluster, ABLE)
    return result, cluster


ABLE: dict[str, Any] = {
    need: (lambda: None)
    for need in ("hotplug", "token-rotation", "installer", "node-files", "node-exec")
}


def picked(cluster: FakeCluster, *verbs: str) -> list[tuple[Any, ...]]:
    return [c for c in cluster.calls if c[0] in verbs]


def test_hotplug_add_and_remove_reach_the_daemon(tmp_path: Path) -> None:
    result, cluster = run(
        tmp_path,
        """\
        steps:
          - hotplug: {pod: p, add: other/second, interface: net2}
          - hotplug: {pod: p, add: third}
          - hotplug: {pod: p, remove: net2}
        """,
    )
    assert result.status == "passed", result.report()
    assert picked(cluster, "hotplug") == [
        ("hotplug", "default", "p", "add", "other/second", "net2"),
        ("hotplug", "default", "p", "add", "third", ""),
        ("hotplug", "default", "p", "remove", "", "net2"),
    ]


def test_failed_hotplug_names_the_step_line_and_the_daemons_answer(tmp_path: Path) -> None:
    answer = '{"code": 3, "msg": "no sandbox"}'
    cluster = ThickFake(hotplug=(False, answer))
    result, _ = run(tmp_path, "steps:\n  - hotplug: {pod: p, remove: net2}\n", cluster)
    assert result.status == "failed"
    (failure,) = result.failures
    assert failure.where == f"{tmp_path / 'scenario.yaml'}:10"
    assert failure.message == "hotplug into pod p: removing net2 failed"
    assert failure.details == answer


@pytest.mark.parametrize(
    ("step", "reason"),
    [
        ("hotplug: {pod: p, add: x}", "hotplug: no daemon in this fake (thin)"),
        ("rotateToken: {}", "rotateToken: this fake has no API token"),
        ("installer: {action: start}", "installer: this fake has no installer"),
    ],
)
def test_steps_a_cluster_lacks_are_errors_not_skips(tmp_path: Path, step: str, reason: str) -> None:
    result, cluster = run(tmp_path, f"steps:\n  - {step}\n", FakeCluster())
    assert result.status == "error" and result.reason.startswith(reason)
    assert "not known before the first step" in result.reason
    assert cluster.closed


def test_steps_a_backend_cannot_do_skip_before_the_first_step(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(HEAD + "steps:\n  - hotplug: {pod: p, add: x}\n")
    made: list[int] = []
    result = run_scenario(
        load_scenario(str(path)),
        lambda s: cast(Cluster, made.append(1) or ThickFake()),
        {"hotplug": lambda: "the run is in thin mode (--mode thick)"},
    )
    assert (result.status, result.reason, made) == (
        "skipped",
        "needs hotplug: the run is in thin mode (--mode thick)",
        [],
    )


def test_unsupported_hotplug_mid_run_is_an_error(tmp_path: Path) -> None:
    class Thin(ThickFake):
        def hotplug(self, *args: Any, **kwargs: Any) -> tuple[bool, str]:
            raise Unsupported("hotplug: the meta-plugin runs in thin mode (no daemon)")

    result, _ = run(tmp_path, "steps:\n  - hotplug: {pod: p, add: x}\n", Thin())
    assert result.status == "error"
    assert result.reason.startswith("hotplug: the meta-plugin runs in thin mode (no daemon)")


def test_rotate_token_and_installer_steps(tmp_path: Path) -> None:
    result, cluster = run(
        tmp_path,
        """\
        steps:
          - installer: {node: node-1, action: start}
          - rotateToken: {token: fresh-token-1}
          - rotateToken: {}
          - installer: {action: stop}
        """,
    )
    assert result.status == "passed", result.report()
    assert picked(cluster, "installer", "rotate_token") == [
        ("installer", "node-1", "start"),
        ("rotate_token", "fresh-token-1"),
        ("rotate_token", None),
        ("installer", "node-1", "stop"),  # no node: every node (the fake has one)
    ]


CONF = "/etc/cni/net.d/00-pymultus.conflist"


@pytest.mark.parametrize(
    ("expectation", "message"),
    [
        (f"{{node: node-1, path: {CONF}}}", None),
        (f'{{node: node-1, path: {CONF}, contains: \'"type": "x"\'}}', None),
        (f"{{node: node-1, path: {CONF}, notContains: kubeconfig}}", None),
        ("{node: node-1, path: /etc/cni/net.d/00-pymultus.conf, exists: false}", None),
        (
            f"{{node: node-1, path: {CONF}, exists: false}}",
            f"node-1:{CONF}: exists, expected it not to",
        ),
        (
            "{node: node-1, path: /etc/cni/net.d/gone}",
            "node-1:/etc/cni/net.d/gone: no such file, expected it to exist",
        ),
        (f"{{node: node-1, path: {CONF}, contains: shim}}", f"node-1:{CONF}: lacks 'shim'"),
        (f"{{node: node-1, path: {CONF}, notContains: x}}", f"node-1:{CONF}: contains 'x'"),
    ],
)
def test_node_file_expectation(tmp_path: Path, expectation: str, message: str | None) -> None:
    cluster = ThickFake(files={("node-1", CONF): '{"type": "x"}'})
    result, _ = run(tmp_path, f"expect:\n  - nodeFile: {expectation}\n", cluster)
    if message is None:
        assert result.status == "passed", result.report()
    else:
        assert result.status == "failed"
        assert [f.message for f in result.failures] == [message]
        assert result.failures[0].where.endswith("scenario.yaml:10")


def test_node_file_eventually_waits_for_the_installer(tmp_path: Path) -> None:
    result, cluster = run(
        tmp_path,
        f"""\
        steps:
          - expect:
              - nodeFile: {{node: node-1, path: {CONF}, exists: false}}
          - installer: {{node: node-1, action: start}}
          - expect:
              - nodeFile: {{node: node-1, path: {CONF}, contains: '"x"'}}
                eventually: {{timeout: 2, interval: 0.01}}
        """,
    )
    assert result.status == "passed", result.report()
    assert picked(cluster, "read") == [("read", "node-1", CONF), ("read", "node-1", CONF)]


def test_node_file_still_missing_after_eventually_says_so(tmp_path: Path) -> None:
    result, cluster = run(
        tmp_path,
        """\
        expect:
          - nodeFile: {node: node-1, path: /etc/x}
            eventually: {timeout: 0.1, interval: 0.02}
        """,
    )
    assert result.status == "failed"
    assert result.failures[0].message == (
        "node-1:/etc/x: no such file, expected it to exist (still after 0.1 s)"
    )
    assert len(picked(cluster, "read")) >= 2


@pytest.mark.parametrize(
    "step",
    [
        "hotplug: {pod: p}",  # neither add nor remove
        "hotplug: {pod: p, add: x, remove: net1}",  # both
        "hotplug: {add: x}",  # no pod
        "installer: {node: node-1}",  # no action
        "installer: {node: node-1, action: restart}",
        "rotateToken: {token: short}",
    ],
)
def test_schema_rejects_malformed_steps(tmp_path: Path, step: str) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(HEAD + f"steps:\n  - {step}\n")
    with pytest.raises(ScenarioError):
        load_scenario(str(path))


def test_schema_rejects_node_file_without_node(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(HEAD + "expect:\n  - nodeFile: {path: /etc/x}\n")
    with pytest.raises(ScenarioError):
        load_scenario(str(path))


def test_harness_run_k_reads_or_like_pytest() -> None:
    from harness.commands.run import select
    from harness.scenario.loader import Lines, Scenario

    def scenario(name: str, path: str) -> Scenario:
        return Scenario(path, {"name": name, "covers": []}, Lines())

    found = [
        scenario("daemon restart", "scenarios/thick-daemon-restart.yaml"),
        scenario("installer removed", "scenarios/install-removed.yaml"),
        scenario("quickstart", "scenarios/quickstart.yaml"),
    ]
    assert [s.path for s in select(found, "thick or install")] == [
        "scenarios/thick-daemon-restart.yaml",
        "scenarios/install-removed.yaml",
    ]
    assert [s.name for s in select(found, "Quick")] == ["quickstart"]


def remote_cluster(files: dict[str, str]) -> Any:
    """A kubectl-backed cluster whose node shell is a dict of files."""
    from harness.backends.remote import ClusterAccess, Completed, KubectlCluster, Tools

    seen: list[list[str]] = []

    def node_exec(node_name: str, argv: Any, stdin: str | None) -> Completed:
        seen.append(list(argv))
        path = next((p for p in files if p in argv[2]), None) if argv[0] == "sh" else None
        if path is None:
            return Completed(3, "", "")
        return Completed(0, files[path], "")

    access = ClusterAccess(
        name="fake",
        kubectl=("kubectl",),
        nodes={"node-1": "w1"},
        tools=Tools(),
        node_exec=node_exec,
        poll=0.0,
        sleep=lambda _s: None,
    )
    return KubectlCluster(access, "hxt1"), seen


def test_remote_cluster_reads_node_files_and_refuses_the_rest() -> None:
    cluster, seen = remote_cluster({CONF: '{"x": 1}'})
    assert cluster.read_node_file("node-1", CONF) == '{"x": 1}'
    assert cluster.read_node_file("node-1", "/etc/none") is None
    assert seen[0] == ["sh", "-c", f"test -e {CONF} || exit 3; cat {CONF}"]
    with pytest.raises(Unsupported, match="hot-plug"):
        cluster.hotplug("default", "p", "add", "x")
    with pytest.raises(Unsupported, match="token"):
        cluster.rotate_token()
    with pytest.raises(Unsupported, match="DaemonSet"):
        cluster.run_installer("node-1", "start")
