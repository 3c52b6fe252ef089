"""The calls: expectation on hand-made records."""

from __future__ import annotations

import json

from harness.wiretap import expect
from harness.wiretap.records import Call, link


def c(
    n: int,
    plugin: str,
    command: str,
    start: float,
    *,
    child: int = 0,
    ppid: int = 0,
    ifname: str = "net1",
    out: object = None,
    exit: int = 0,
    conf: object = None,
) -> Call:
    return Call(
        id=f"n#{n}",
        node="n",
        plugin=plugin,
        command=command,
        env={"CNI_CONTAINERID": "c", "CNI_IFNAME": ifname, "CNI_ARGS": "K8S_POD_NAME=web"},
        stdin=json.dumps(conf or {"cniVersion": "0.3.1", "name": "m"}),
        stdout=json.dumps(out) if out is not None else "",
        stderr="",
        exit=exit,
        start=start,
        seconds=0.5 if child else 0.05,
        ppid=ppid,
        child=child,
    )


CALLS = link(
    [
        c(1, "meta", "ADD", 0.0, child=11, ifname="eth0", out={"code": 7, "msg": "x"}, exit=1),
        c(2, "macvlan", "ADD", 0.1, ppid=11, out={"cniVersion": "0.3.1"}),
        c(3, "macvlan", "ADD", 0.2, ppid=11, ifname="net2", out={"code": 7, "msg": "bad"}, exit=1),
        c(4, "macvlan", "DEL", 0.3, ppid=11, ifname="net2"),
        c(5, "macvlan", "DEL", 0.35, ppid=11),
    ]
)


def test_filters_and_count() -> None:
    assert expect.problems({"plugin": "macvlan", "command": "DEL", "count": 2}, CALLS) == []
    assert expect.problems({"pod": "web", "caller": "runtime", "count": 1}, CALLS) == []
    assert expect.problems({"plugin": "ptp"}, CALLS) == [
        "calls(plugin=ptp): no such call recorded (5 calls in all)"
    ]


def test_result_error_stdin_order_undone() -> None:
    assert (
        expect.problems(
            {
                "caller": "meta",
                "command": "ADD",
                "ok": True,
                "result": {"cniVersion": "0.3.1"},
                "undone": True,
            },
            CALLS,
        )
        == []
    )
    bad = expect.problems(
        {"caller": "meta", "ok": True, "command": "ADD", "result": {"cniVersion": "1.0.0"}}, CALLS
    )
    assert bad and 'stdout.cniVersion: is "0.3.1", expected "1.0.0"' in bad[0]
    assert expect.problems({"caller": "runtime", "error": {"code": [4, 7]}}, CALLS) == []
    assert expect.problems({"caller": "runtime", "error": {"code": 4}}, CALLS)
    assert expect.problems({"command": "DEL", "order": ["net2", "net1"]}, CALLS) == []
    assert expect.problems({"command": "DEL", "order": ["net1", "net2"]}, CALLS)
    assert (
        expect.problems({"caller": "runtime", "stdin": {"prevResult": {"present": False}}}, CALLS)
        == []
    )


def test_lists_are_exact_unless_includes() -> None:
    assert expect.contains([1, 2], [2, 1]) == []
    assert expect.contains([1], [1, 2]) == [": has 2 items, expected 1: [1, 2]"]
    assert expect.contains({"includes": [1]}, [1, 2]) == []


def test_undone_fails_without_the_del() -> None:
    calls = link([CALLS[0], CALLS[1], CALLS[2]])
    (problem,) = expect.problems(
        {"caller": "meta", "command": "ADD", "ok": True, "undone": True}, calls
    )
    assert "never DELeted again by its caller (no rollback)" in problem
