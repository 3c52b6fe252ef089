"""The HTML timeline of a scenario's CNI calls."""

from __future__ import annotations

from harness.report.calltimeline import calls_timeline


def entry(n: int, parent: str, start: float, seconds: float, exit: int = 0) -> dict[str, object]:
    return {
        "id": f"node-1#{n}",
        "parent": parent,
        "caller": "runtime" if not parent else "pymultus",
        "plugin": "pymultus" if not parent else "macvlan",
        "command": "ADD",
        "ifname": "eth0" if not parent else "net1",
        "network": "n",
        "exit": exit,
        "start": start,
        "seconds": seconds,
        "env": {"CNI_COMMAND": "ADD"},
        "stdin": '{"cniVersion":"1.0.0","name":"<n>"}',
        "stdout": "",
        "stderr": "",
    }


def test_rows_nest_scale_and_escape() -> None:
    text = calls_timeline([entry(1, "", 100.0, 1.0), entry(2, "node-1#1", 100.5, 0.25, exit=1)])
    assert text.count("<details>") == 2
    assert "runtime &rarr; pymultus ADD eth0" in text
    assert "&nbsp;&nbsp;pymultus &rarr; macvlan ADD net1" in text  # indented under its parent
    assert "left:210.0px;width:105.0px" in text  # half-way through the 1 s span, a quarter long
    assert "outline:2px solid" in text and "exit 1" in text
    assert "&lt;n&gt;" in text and "<n>" not in text


def test_nothing_recorded_or_not_checked() -> None:
    assert "none recorded" in calls_timeline([])
    assert "not checked" in calls_timeline(None)


def test_allowed_violations_are_shown() -> None:
    text = calls_timeline(
        [entry(1, "", 1.0, 0.1)], ["call node-1#1 ...: cni-prevresult (allowed: r)"]
    )
    assert "allowed by the scenario: call node-1#1" in text
