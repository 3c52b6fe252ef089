"""The runner's use of the wiretap: violations fail, allowed clauses are reported."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.cluster import Unsupported
from harness.wiretap import hook

ADD = {
    "plugin": "meta",
    "command": "ADD",
    "start": 10.0,
    "seconds": 0.5,
    "pid": 5,
    "ppid": 1,
    "child": 6,
    "env": {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_IFNAME": "eth0"},
    "stdin": json.dumps({"cniVersion": "0.3.1", "name": "m"}),
    "stdout": json.dumps({"cniVersion": "1.0.0"}),
    "stderr": "",
    "exit": 0,
}


class Cluster:
    def __init__(self, record: Path) -> None:
        self.record = record

    def wiretap_files(self) -> list[tuple[str, str]]:
        return [("node-1", str(self.record))]

    def network_configs(self) -> list[dict[str, Any]]:
        return []


class Scenario:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data


class Run:
    def __init__(self, cluster: Any, data: dict[str, Any]) -> None:
        self.cluster = cluster
        self.since = 0.0
        self.scenario = Scenario(data)
        self.topology: dict[str, Any] = {}
        self.failed: list[tuple[str, str]] = []

    def fail(self, pointer: Any, message: str, details: str = "") -> None:
        self.failed.append((message, details))


def test_a_violation_fails_and_an_allowed_clause_is_only_reported(tmp_path: Path) -> None:
    record = tmp_path / "calls.jsonl"
    record.write_text(json.dumps(ADD) + "\n")
    run = Run(Cluster(record), {})
    hook.after_scenario(run)
    ((message, details),) = run.failed
    assert message.startswith("wiretap: call node-1#1 runtime -> meta ADD") and "cni-add" in message
    assert "call node-1#1" in details and run.topology["calls"][0]["id"] == "node-1#1"
    allowed = Run(Cluster(record), {"wiretap": {"allow": [{"clause": "cni-add", "reason": "r"}]}})
    hook.after_scenario(allowed)
    assert allowed.failed == [] and "(allowed: r)" in allowed.topology["wiretapAllowed"][0]


class Untapped:
    """A cluster without a wiretap (as on real clusters): no record files."""

    def wiretap_files(self) -> list[tuple[str, str]]:
        return []

    def network_configs(self) -> list[dict[str, Any]]:
        raise AssertionError("not asked: there are no calls to judge")


def test_no_wiretap_is_not_checked_and_calls_cannot_be_expected() -> None:
    run = Run(Untapped(), {})
    hook.after_scenario(run)
    assert run.failed == [] and run.topology["calls"] is None
    with pytest.raises(Unsupported):
        hook.expect({"command": "ADD"}, Untapped(), 0.0, lambda m, d: None)


def test_calls_expectation_reports_through_fail(tmp_path: Path) -> None:
    record = tmp_path / "calls.jsonl"
    record.write_text(json.dumps(ADD) + "\n")
    seen: list[str] = []
    hook.expect({"command": "DEL"}, Cluster(record), 0.0, lambda m, d: seen.append(m))
    assert seen == ["calls(command=DEL): no such call recorded (1 calls in all)"]
