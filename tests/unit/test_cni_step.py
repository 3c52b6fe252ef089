"""The ``cni`` step: parsing, judging outcomes, retrying with eventually, the
runner and loader hooks, and the local backend's pure helpers (no root needed)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, cast

import pytest
from fakecluster import FakeCluster
from hypothesis import given
from hypothesis import strategies as st

from harness.backends.local.cnicall import apply_overrides, override_args, runtime_skip
from harness.cluster import Cluster, CNICall, CNICallOutcome, SandboxError
from harness.cnistep import (
    default_expectation,
    describe_call,
    outcome_problems,
    parse_call,
    run_step,
    subset_problems,
)
from harness.runner import ScenarioResult, run_scenario
from harness.scenario.loader import ScenarioError, load_scenario
from pymultus.cni.conflist import load_network_config
from pymultus.cni.request import CNIRequest

OK = CNICallOutcome("CHECK")
UID_ERROR = CNICallOutcome("ADD", error=SandboxError(3, "pod default/a has UID 1, asked for UID 2"))


def ns(pod: str) -> str:
    return {"a": "team"}.get(pod, "default")


# ------------------------------------------------------------------ parse_call
def test_parse_call_carries_every_override() -> None:
    call = parse_call(
        {
            "pod": "a",
            "command": "ADD",
            "ifname": "eth9",
            "args": {"K8S_POD_UID": "wrong", "IgnoreUnknown": None},
            "netns": "",
            "containerId": "c1",
            "newSandbox": True,
        },
        ns,
    )
    assert call == CNICall(
        command="ADD",
        pod="a",
        namespace="team",
        ifname="eth9",
        args=(("K8S_POD_UID", "wrong"), ("IgnoreUnknown", None)),
        netns="",
        container_id="c1",
        new_sandbox=True,
    )


def test_parse_call_node_level_command() -> None:
    call = parse_call({"node": "node-2", "command": "VERSION", "cniVersion": "0.4.0"}, ns)
    assert (call.node, call.pod, call.namespace, call.cni_version) == (
        "node-2",
        "",
        "default",
        "0.4.0",
    )


@pytest.mark.parametrize("command", ["ADD", "DEL", "CHECK"])
def test_parse_call_attachment_commands_need_a_pod(command: str) -> None:
    with pytest.raises(ValueError, match="needs a pod"):
        parse_call({"node": "node-1", "command": command}, ns)


def test_default_expectation_is_success() -> None:
    assert default_expectation({"command": "DEL"}) == {"ok": True}
    assert default_expectation({"command": "DEL", "expect": {"ok": False}}) == {"ok": False}


def test_describe_call_names_target_and_overrides() -> None:
    call = CNICall("ADD", pod="a", new_sandbox=True, args=(("K8S_POD_UID", "x"), ("Y", None)))
    assert describe_call(call) == "cni ADD on pod a (new sandbox, K8S_POD_UID=x, Y=(removed))"
    assert describe_call(CNICall("STATUS", node="node-1")) == "cni STATUS on node node-1"


# ------------------------------------------------------------ outcome_problems
@pytest.mark.parametrize(
    ("want", "outcome", "expected"),
    [
        ({"ok": True}, OK, []),
        (
            {"ok": True},
            UID_ERROR,
            ["failed: CNI error (code 3): pod default/a has UID 1, asked for UID 2"],
        ),
        ({"ok": False}, UID_ERROR, []),
        ({"ok": False}, OK, ["succeeded, expected a CNI error"]),
        ({"error": {"code": 3, "contains": "UID"}}, UID_ERROR, []),
        (
            {"error": {"code": 7}},
            UID_ERROR,
            ["CNI error code 3, expected 7: pod default/a has UID 1, asked for UID 2"],
        ),
        (
            {"error": {"contains": "net1"}},
            UID_ERROR,
            ["the error lacks 'net1': pod default/a has UID 1, asked for UID 2"],
        ),
        ({"error": {"code": 3}}, OK, ["succeeded, expected a CNI error"]),
        (
            {"ok": True},
            CNICallOutcome("STATUS", skipped="cniVersion 1.0.0"),
            ["the plugin was not called: cniVersion 1.0.0"],
        ),
        ({"ok": True, "skipped": True}, CNICallOutcome("STATUS", skipped="old"), []),
        ({"skipped": True}, OK, ["called, expected a skip"]),
        ({"links": []}, CNICallOutcome("ADD", links=()), []),
        (
            {"links": ["eth0"]},
            CNICallOutcome("ADD", links=("net1", "eth0")),
            ["links in the new sandbox are ['eth0', 'net1'], expected ['eth0']"],
        ),
        ({"links": []}, OK, ["links: only known for a newSandbox call"]),
        ({"result": {"a": 1}}, OK, ["no result (only ADD and VERSION return one)"]),
        (
            {"ok": True},
            CNICallOutcome("ADD", cleanup_error=SandboxError(11, "busy")),
            ["DEL of the new sandbox after ADD failed: CNI error (code 11): busy"],
        ),
    ],
)
def test_outcome_problems(
    want: dict[str, Any], outcome: CNICallOutcome, expected: list[str]
) -> None:
    assert outcome_problems(want, outcome) == expected


VERSION_RESULT = {"cniVersion": "1.0.0", "supportedVersions": ["0.3.0", "0.4.0", "1.0.0", "1.1.0"]}
ADD_RESULT = {
    "cniVersion": "1.0.0",
    "interfaces": [{"name": "eth0", "sandbox": "/var/run/netns/x"}],
    "ips": [{"address": "10.244.1.7/24", "gateway": "10.244.1.1", "interface": 0}],
}


@pytest.mark.parametrize(
    ("want", "actual", "expected"),
    [
        ({"supportedVersions": {"includes": ["1.1.0", "0.3.0"]}}, VERSION_RESULT, []),
        (
            {"supportedVersions": ["1.1.0", "0.3.0"]},
            VERSION_RESULT,
            [".supportedVersions: 4 item(s), expected exactly 2 (use includes: for at least)"],
        ),
        (
            {"supportedVersions": {"includes": ["0.2.0"]}},
            VERSION_RESULT,
            ['.supportedVersions: no item matches "0.2.0"'],
        ),
        (
            {"supportedVersions": {"ordered": ["0.3.0", "0.4.0", "1.0.0", "1.1.0"]}},
            VERSION_RESULT,
            [],
        ),
        (
            {"supportedVersions": {"ordered": ["0.4.0", "0.3.0", "1.0.0", "1.1.0"]}},
            VERSION_RESULT,
            [
                '.supportedVersions[0]: is "0.3.0", expected "0.4.0"',
                '.supportedVersions[1]: is "0.4.0", expected "0.3.0"',
            ],
        ),
        ({"dns": {"absent": True}}, VERSION_RESULT, []),
        ({"cniVersion": {"present": True}}, VERSION_RESULT, []),
        (
            {"cniVersion": {"absent": True}},
            VERSION_RESULT,
            ['.cniVersion: is "1.0.0", expected no such key'],
        ),
        ({"cniVersion": "0.4.0"}, VERSION_RESULT, ['.cniVersion: is "1.0.0", expected "0.4.0"']),
        ({"dns": {}}, VERSION_RESULT, [".dns: missing"]),
        ({"ips": [{"within": "10.244.0.0/16"}]}, ADD_RESULT, []),
        ({"ips": [{"exact": "10.244.1.7/24"}]}, ADD_RESULT, []),
        (
            {"ips": {"includes": [{"within": "10.244.0.0/16"}, {"within": "10.244.0.0/16"}]}},
            ADD_RESULT,
            ['.ips: no item matches {"within": "10.244.0.0/16"}'],
        ),
        (
            {"ips": [{"within": "10.244.0.0/16"}, {"within": "10.244.0.0/16"}]},
            ADD_RESULT,
            [
                '.ips: no item matches {"within": "10.244.0.0/16"}',
                ".ips: 1 item(s), expected exactly 2 (use includes: for at least)",
            ],
        ),
        # {} matches only an empty object: it is not a check that cannot fail.
        ({"interfaces": [{}]}, ADD_RESULT, [".interfaces: no item matches {}"]),
        ({"interfaces": [{"name": "eth0"}]}, ADD_RESULT, []),
        (
            {"interfaces": {"name": "eth0"}},
            ADD_RESULT,
            [
                '.interfaces: is [{"name": "eth0", "sandbox": "/var/run/netns/x"}], '
                "expected an object"
            ],
        ),
        ({"cniVersion": ["1.0.0"]}, ADD_RESULT, ['.cniVersion: is "1.0.0", expected a list']),
        (
            {"x": {"exact": "10.0.0.1"}},
            {"x": "not an address"},
            [".x: 'not an address' is not exact 10.0.0.1"],
        ),
    ],
)
def test_subset_problems(want: Any, actual: Any, expected: list[str]) -> None:
    assert subset_problems(want, actual) == expected


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(json_values)
def test_subset_of_itself(value: Any) -> None:
    """Anything contains itself: the matcher never reports a value against itself."""
    assert subset_problems(value, value) == []


@given(
    st.dictionaries(st.text(max_size=3), json_values, min_size=1, max_size=4), st.text(max_size=3)
)
def test_extra_keys_never_matter_missing_keys_always_do(value: dict[str, Any], extra: str) -> None:
    key = "".join(value) + extra + "!"  # longer than any key of value: a new key
    bigger = {**value, key: 1}
    assert subset_problems(value, bigger) == []
    assert subset_problems(bigger, value) == [f".{key}: missing"]


# ------------------------------------------------------------------- run_step
class CallingCluster(FakeCluster):
    """A FakeCluster that is also a runtime: answers cni_call from a script."""

    def __init__(self, outcomes: list[CNICallOutcome], **behaviour: Any) -> None:
        super().__init__(**behaviour)
        self.outcomes = outcomes
        self.cni_calls: list[CNICall] = []

    def cni_call(self, call: CNICall) -> CNICallOutcome:
        self.cni_calls.append(call)
        return self.outcomes[min(len(self.cni_calls), len(self.outcomes)) - 1]

    def set_api_fault(
        self, kind: str | None, delay: float = 0.0, scope: str = "all", times: int | None = None
    ) -> None:
        self.calls.append(("fault", kind, delay, scope, times))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


def test_run_step_retries_until_the_expectation_holds() -> None:
    cluster = CallingCluster([UID_ERROR, UID_ERROR, OK])
    failures: list[tuple[str, str]] = []
    clock = Clock()
    spec = {"pod": "a", "command": "CHECK", "eventually": {"timeout": 5, "interval": 1}}
    outcome = run_step(
        spec, cluster, ns, lambda m, d: failures.append((m, d)), clock.sleep, clock.monotonic
    )
    assert outcome is OK
    assert failures == []
    assert len(cluster.cni_calls) == 3
    assert clock.now == 2.0


def test_run_step_reports_the_last_outcome_after_the_timeout() -> None:
    cluster = CallingCluster([UID_ERROR])
    failures: list[tuple[str, str]] = []
    clock = Clock()
    spec = {"pod": "a", "command": "ADD", "eventually": {"timeout": 2, "interval": 1}}
    run_step(spec, cluster, ns, lambda m, d: failures.append((m, d)), clock.sleep, clock.monotonic)
    assert len(cluster.cni_calls) == 3  # at 0, 1 and 2 s
    ((message, details),) = failures
    assert message == (
        "cni ADD on pod a: failed: CNI error (code 3): pod default/a has UID 1, asked for UID 2 "
        "(still after 2 s)"
    )
    assert "outcome: CNI error (code 3)" in details


class LateSandboxCluster(CallingCluster):
    """No sandbox for the first two calls (as before the kubelet made it)."""

    def cni_call(self, call: CNICall) -> CNICallOutcome:
        if len(self.cni_calls) < 2:
            self.cni_calls.append(call)
            raise LookupError("cni: pod default/a has no sandbox yet; wait for it first")
        return super().cni_call(call)


def test_run_step_retries_a_missing_sandbox_and_reports_it_when_it_never_comes() -> None:
    clock = Clock()
    failures: list[tuple[str, str]] = []
    spec = {"pod": "a", "command": "CHECK", "eventually": {"timeout": 3, "interval": 1}}
    cluster = LateSandboxCluster([OK])
    got = run_step(
        spec, cluster, ns, lambda m, d: failures.append((m, d)), clock.sleep, clock.monotonic
    )
    assert got is OK and failures == [] and len(cluster.cni_calls) == 3
    del spec["eventually"]
    run_step(spec, LateSandboxCluster([OK]), ns, lambda m, d: failures.append((m, d)))
    assert failures == [
        (
            "cni CHECK on pod a: cannot call: "
            "cni: pod default/a has no sandbox yet; wait for it first",
            "",
        )
    ]


def test_run_step_without_eventually_calls_once() -> None:
    cluster = CallingCluster([UID_ERROR, OK])
    failures: list[tuple[str, str]] = []
    run_step({"pod": "a", "command": "ADD"}, cluster, ns, lambda m, d: failures.append((m, d)))
    assert len(cluster.cni_calls) == 1
    assert len(failures) == 1


# ------------------------------------------------------------ runner + loader
HEAD = """\
name: t
class: spec
covers: [cni-check]
pods:
  - name: p
"""


ABLE = {"cni-runtime": lambda: None, "api-faults": lambda: None}


def run(
    tmp_path: Path, body: str, cluster: FakeCluster, probes: dict[str, Any] | None = None
) -> ScenarioResult:
    path = tmp_path / "scenario.yaml"
    path.write_text(HEAD + textwrap.dedent(body))
    able = ABLE if probes is None else probes
    return run_scenario(load_scenario(str(path)), lambda s: cast(Cluster, cluster), able)


def test_runner_cni_step_passes_and_fails_with_the_step_line(tmp_path: Path) -> None:
    cluster = CallingCluster([OK, UID_ERROR])
    result = run(
        tmp_path,
        """\
        steps:
          - cni: {pod: p, command: CHECK}
          - cni:
              pod: p
              command: ADD
              newSandbox: true
              args: {K8S_POD_UID: wrong}
              expect: {error: {code: 7}}
        """,
        cluster,
    )
    assert result.status == "failed"
    ((failure,),) = [result.failures]
    assert failure.where.endswith("scenario.yaml:8")
    assert failure.message.startswith(
        "cni ADD on pod p (new sandbox, K8S_POD_UID=wrong): CNI error code 3"
    )
    assert cluster.cni_calls[1] == CNICall(
        "ADD", pod="p", args=(("K8S_POD_UID", "wrong"),), new_sandbox=True
    )


def test_runner_cni_step_skips_before_start_where_the_harness_cannot_be_the_runtime(
    tmp_path: Path,
) -> None:
    step = "steps:\n  - cni: {node: node-1, command: VERSION}\n"
    result = run(tmp_path, step, FakeCluster(), probes={})
    assert result.status == "skipped"
    assert result.reason == "needs cni-runtime, which this backend cannot provide"


def test_runner_cni_step_on_a_cluster_that_cannot_call_is_an_error(tmp_path: Path) -> None:
    # The probes said it could: a late Unsupported is an error, never a skip.
    step = "steps:\n  - cni: {node: node-1, command: VERSION}\n"
    result = run(tmp_path, step, FakeCluster())
    assert result.status == "error" and "cni: this fake is not a runtime" in result.reason


def test_runner_passes_api_fault_times(tmp_path: Path) -> None:
    cluster = CallingCluster([OK])
    body = "steps:\n  - apiFault: {status: '503', scope: nodes, times: 2}\n  - apiFault: null\n"
    result = run(tmp_path, body, cluster)
    assert result.status == "passed", result.report()
    assert ("fault", "503", 0.0, "nodes", 2) in cluster.calls


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ("{pod: ghost, command: CHECK}", "unknown pod 'ghost'"),
        ("{node: node-7, command: STATUS}", "unknown node 'node-7'"),
        ("{pod: p, command: RESTART}", "RESTART"),
        ("{pod: p, node: node-1, command: VERSION}", "cni"),
        ("{pod: p, command: CHECK, expect: {}}", "expect"),
        ("{pod: p, command: CHECK, typo: 1}", "typo"),
        ("{node: node-1, command: ADD}", "pod"),
    ],
)
def test_loader_refuses_bad_cni_steps(tmp_path: Path, step: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(HEAD + f"steps:\n  - cni: {step}\n")
    with pytest.raises(ScenarioError, match=message):
        load_scenario(str(path))


# ------------------------------------------------------- local backend helpers
def test_override_args_replaces_in_place_appends_and_removes() -> None:
    args = (("IgnoreUnknown", "1"), ("K8S_POD_NAME", "a"), ("K8S_POD_UID", "u1"))
    changes = (("K8S_POD_UID", "u2"), ("EXTRA", "x"), ("IgnoreUnknown", None))
    assert override_args(args, changes) == (
        ("K8S_POD_NAME", "a"),
        ("K8S_POD_UID", "u2"),
        ("EXTRA", "x"),
    )
    assert override_args(args, ()) == args


def test_apply_overrides_keeps_what_is_not_overridden() -> None:
    request = CNIRequest(
        "ADD", "c1", "/var/run/netns/x", "eth0", (("K8S_POD_NAME", "a"),), ("/opt",)
    )
    assert apply_overrides(request, CNICall("ADD", pod="a")) == request
    changed = apply_overrides(
        request, CNICall("ADD", pod="a", ifname="net5", netns="", container_id="c2")
    )
    assert (changed.ifname, changed.netns, changed.container_id) == ("net5", "", "c2")
    assert changed.args == request.args and changed.path == request.path


def conf(version: str, **extra: Any) -> Any:
    return load_network_config({"cniVersion": version, "name": "n", "type": "x", **extra}, "t")


@pytest.mark.parametrize(
    ("command", "version", "extra", "reason"),
    [
        ("CHECK", "1.0.0", {}, ""),
        ("CHECK", "0.3.1", {}, "CHECK needs 0.4.0"),
        ("CHECK", "1.0.0", {"disableCheck": True}, "disableCheck"),
        ("STATUS", "1.0.0", {}, "STATUS needs 1.1.0"),
        ("STATUS", "1.1.0", {}, ""),
        ("GC", "1.1.0", {"disableGC": True}, "disableGC"),
        ("GC", "1.1.0", {}, ""),
        ("ADD", "0.3.1", {"disableCheck": True}, ""),
        ("VERSION", "0.3.0", {}, ""),
    ],
)
def test_runtime_skip(command: str, version: str, extra: dict[str, Any], reason: str) -> None:
    got = runtime_skip(command, conf(version, **extra))
    assert (reason in got) if reason else got == ""
