"""Format v2's trusted verdicts: checks that cannot fail are load errors, lists
are exact unless they say otherwise, errors state codes, needs are known
before the first step, and unexpected skips are caught."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.matchers import error_problems, match_addresses, match_routes, match_status
from harness.netstate import Route
from harness.report.skips import Outcome, judge
from harness.scenario.loader import ScenarioError, load_scenario
from harness.scenario.needs import local_probes, missing

HEAD = """\
name: t
class: {klass}
networks:
  - fixture: macvlan-conf
pods:
  - name: samplepod
    networks: macvlan-conf
"""


def load(tmp_path: Path, body: str, klass: str = "spec") -> object:
    path = tmp_path / "s.yaml"
    path.write_text(HEAD.format(klass=klass) + textwrap.dedent(body))
    return load_scenario(str(path))


def refused(tmp_path: Path, body: str, klass: str = "spec") -> str:
    with pytest.raises(ScenarioError) as info:
        load(tmp_path, body, klass)
    return str(info.value)


# ----------------------------------------------------- checks that cannot fail
@pytest.mark.parametrize("mac", ["*:*:*:*:*:*", "*", "**:*:*:*:*:*"])
def test_a_wildcard_only_mac_is_refused(tmp_path: Path, mac: str) -> None:
    body = f'expect:\n  - pod: samplepod\n    interfaces: {{net1: {{mac: "{mac}"}}}}\n'
    message = refused(tmp_path, body)
    assert "s.yaml:10:" in message and "matches any MAC" in message


def test_a_partly_wildcard_mac_is_fine(tmp_path: Path) -> None:
    load(tmp_path, 'expect:\n  - pod: samplepod\n    interfaces: {net1: {mac: "0a:58:*:*:*:*"}}\n')


@pytest.mark.parametrize("matcher", ["{within: 0.0.0.0/0}", "{within: '::/0'}"])
def test_an_address_matcher_taking_everything_is_refused(tmp_path: Path, matcher: str) -> None:
    body = f"expect:\n  - pod: samplepod\n    interfaces: {{net1: {{addresses: [{matcher}]}}}}\n"
    assert "matches every address" in refused(tmp_path, body)


@pytest.mark.parametrize("needle", ["sample", "samplepod", "default/samplepod-x", "POD"])
def test_a_needle_that_is_part_of_a_pod_name_or_contains_it_is_refused(
    tmp_path: Path, needle: str
) -> None:
    body = f"expect:\n  - pod: samplepod\n    error: {{code: 7, names: ['{needle}']}}\n"
    message = refused(tmp_path, body)
    assert "is part of pod name 'samplepod' or contains it" in message


def test_event_and_extension_contains_needles_are_checked_too(tmp_path: Path) -> None:
    event = "expect:\n  - event: {pod: samplepod, reason: AddedInterface, contains: pod}\n"
    assert "part of pod name" in refused(tmp_path, event)
    wording = "expect:\n  - pod: samplepod\n    error: {code: 7, contains: samplepod}\n"
    assert "part of pod name" in refused(tmp_path, wording, klass="extension")


def test_wording_is_only_for_extension_scenarios(tmp_path: Path) -> None:
    body = "expect:\n  - pod: samplepod\n    error: {code: 7, contains: 'no such NAD'}\n"
    assert "only in class: extension" in refused(tmp_path, body)
    load(tmp_path, body, klass="extension")


def test_an_error_expectation_states_a_code(tmp_path: Path) -> None:
    assert "'code' is a required property" in refused(
        tmp_path, "expect:\n  - pod: samplepod\n    error: {names: [macvlan-conf]}\n"
    )
    ok_false = "steps:\n  - cni: {pod: samplepod, command: CHECK, expect: {ok: false}}\n"
    assert "state the code" in refused(tmp_path, ok_false)
    delete = "expect:\n  - deleteError: {pod: samplepod, names: [macvlan-conf]}\n"
    assert "deleteError" in refused(tmp_path, delete)


def test_v1_leftovers_are_refused(tmp_path: Path) -> None:
    assert "class: extension" in refused(tmp_path, "tags: [beyond-reference]\n")
    exact = "expect:\n  - pod: samplepod\n    networkStatusExact: false\n"
    assert "networkStatusExact" in refused(tmp_path, exact)
    path = tmp_path / "v1.yaml"
    path.write_text("name: t\ncovers: [cni-add]\n")
    with pytest.raises(ScenarioError, match="'class' is a required property"):
        load_scenario(str(path))


def test_proves_names_catalogue_clauses(tmp_path: Path) -> None:
    load(tmp_path, "expect:\n  - pod: samplepod\n    proves: [npwg-4.1.1, cni-add]\n")
    message = refused(tmp_path, "expect:\n  - pod: samplepod\n    proves: [npwg-4.1.9]\n")
    assert "s.yaml:10:" in message and "unknown clause 'npwg-4.1.9'" in message


# ---------------------------------------------------------------- needs
def test_steps_imply_needs_known_before_the_first_step(tmp_path: Path) -> None:
    body = """\
    cluster: {needs: [eth1]}
    steps:
      - apiFault: {status: "503"}
      - cni: {pod: samplepod, command: CHECK}
      - removeFile: {path: "/var/lib/cni/x/{sandbox:samplepod}"}
      - exec: {node: node-1, command: "true"}
      - expect:
          - exec: {pod: samplepod, command: "true"}
          - nodeFile: {node: node-1, path: /etc/x}
    """
    scenario = load(tmp_path, body)
    assert scenario.needs == [  # type: ignore[attr-defined]
        "eth1",
        "api-faults",
        "cni-runtime",
        "node-files",
        "sandbox-id",
        "node-exec",
        "pod-exec",
    ]


def test_missing_reads_v1_probe_keys_and_plugin_needs(tmp_path: Path) -> None:
    probes = {"ipvlan": lambda: "no ipvlan", "portmap": lambda: None}
    assert missing(["kernel:ipvlan"], probes) == "needs kernel:ipvlan: no ipvlan"
    assert missing(["plugin:portmap"], probes) is None
    assert missing(["api-faults"], probes) == "needs api-faults, which this backend cannot provide"
    local = local_probes(str(tmp_path), "thin")
    (tmp_path / "bandwidth").write_text("")
    assert (
        missing(["plugin:bandwidth"], local)
        == f"needs plugin:bandwidth: no bandwidth plugin in {tmp_path}"
    )
    assert missing(["daemon-control"], local) == (
        "needs daemon-control: the run is in thin mode (--mode thick)"
    )
    assert missing(["api-faults", "cni-runtime", "node-exec"], local) is None


# --------------------------------------------------------------- matchers
def test_address_lists_are_exact_unless_includes() -> None:
    have = ["10.244.1.5/24", "fd00::5/64"]
    assert match_addresses([{"within": "10.244.0.0/16"}], have) == [
        "2 address(es) ['10.244.1.5/24', 'fd00::5/64'], expected exactly 1 "
        "(use includes: for at least)"
    ]
    assert match_addresses({"includes": [{"within": "10.244.0.0/16"}]}, have) == []
    assert match_addresses([{"within": "10.244.0.0/16"}, {"within": "fd00::/64"}], have) == []


def test_routes_are_exact_unless_includes() -> None:
    routes = [Route("default", "10.244.1.1", "eth0", 4), Route("10.244.1.0/24", None, "eth0", 4)]
    assert match_routes([{"dst": "default", "dev": "eth0"}], routes)[-1].startswith(
        "2 route(s), expected exactly 1"
    )
    assert match_routes({"includes": [{"dst": "default", "dev": "eth0"}]}, routes) == []
    assert (
        match_routes({"includes": [{"dst": "default", "dev": "net1", "absent": True}]}, routes)
        == []
    )


STATUS = [
    {"name": "kindnet", "interface": "eth0", "default": True, "dns": {}},
    {"name": "default/a", "interface": "net1", "dns": {}},  # no "default": false
]


def test_status_default_absent_is_false_and_dns_empty_matches_only_empty() -> None:
    want = [
        {"interface": "eth0", "default": True},
        {"name": "default/a", "default": False, "dns": {}},
    ]
    assert match_status(want, STATUS) == []
    with_dns = [STATUS[0], {**STATUS[1], "dns": {"nameservers": ["10.0.0.10"]}}]
    assert match_status(want, with_dns) == [
        'network-status entry name=default/a: dns: is {"nameservers": ["10.0.0.10"]}, expected {}'
    ]


def test_status_ordered_asserts_attachment_order() -> None:
    ordered = {"ordered": [{"interface": "eth0", "default": True}, {"interface": "net1"}]}
    assert match_status(ordered, STATUS) == []
    reversed_status = list(reversed(STATUS))
    assert match_status(ordered, reversed_status)[0] == (
        "network-status entry [0] is name=default/a, interface=net1, expected interface=eth0"
    )


def test_status_lists_are_exact_unless_includes() -> None:
    assert match_status([{"interface": "eth0"}], STATUS) == [
        "network-status has 2 entries, expected 1"
    ]
    assert match_status({"includes": [{"interface": "eth0"}]}, STATUS) == []


def test_error_codes_and_names() -> None:
    message = "pymultus: no NAD default/macvlan-conf"
    assert error_problems({"code": [7, 999], "names": ["macvlan-conf"]}, 999, message) == []
    assert error_problems({"code": 7, "names": ["other-net"]}, 11, message) == [
        "CNI error code 11, expected 7",
        "the error does not name 'other-net'",
    ]


# ------------------------------------------------------------------ skips
def test_unexpected_skips_fail_and_listed_ones_need_their_reason() -> None:
    key = "local/simulated/pymultus-thin"
    expected = {key: {"scenarios/a.yaml": "needs kernel:ipvlan", "scenarios/c.yaml": "needs x"}}
    outcomes = [
        Outcome(key, "scenarios/a.yaml", "skipped", "needs kernel:ipvlan: no"),
        Outcome(key, "scenarios/b.yaml", "skipped", "needs api-faults"),
        Outcome(key, "scenarios/c.yaml", "passed"),
        Outcome("local/simulated/multus-thin", "scenarios/a.yaml", "skipped", "needs thick"),
    ]
    problems, notes = judge(outcomes, expected)
    assert problems == [
        f"{key}: scenarios/b.yaml: unexpected skip: needs api-faults",
        "local/simulated/multus-thin: scenarios/a.yaml: unexpected skip: needs thick",
    ]
    assert notes == [f"{key}: scenarios/c.yaml: listed as an expected skip but it ran"]
    wrong_reason = [Outcome(key, "scenarios/a.yaml", "skipped", "needs thick")]
    assert "expected reason is 'needs kernel:ipvlan'" in judge(wrong_reason, expected)[0][0]


def test_the_skip_log_round_trips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.report.skips import SKIP_LOG_ENV, log_outcome, outcomes_from_log

    log = tmp_path / "skips.jsonl"
    monkeypatch.setenv(SKIP_LOG_ENV, str(log))
    log_outcome("local/simulated/pymultus-thin", "scenarios/a.yaml", "skipped", "needs thick")
    log_outcome("local/simulated/pymultus-thin", "scenarios/b.yaml", "passed")
    assert outcomes_from_log(log.read_text().splitlines()) == [
        Outcome("local/simulated/pymultus-thin", "scenarios/a.yaml", "skipped", "needs thick"),
        Outcome("local/simulated/pymultus-thin", "scenarios/b.yaml", "passed", ""),
    ]
