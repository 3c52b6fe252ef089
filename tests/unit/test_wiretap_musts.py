"""The wiretap's MUST checks, table-tested on hand-made call records."""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.wiretap import musts
from harness.wiretap.records import Call, link

CID = "c" * 64
ENV_ARGS = ";".join(
    [
        "K8S_POD_INFRA_CONTAINER_ID=c",
        "K8S_POD_UID=u1",
        "IgnoreUnknown=1",
        "K8S_POD_NAMESPACE=ns",
        "K8S_POD_NAME=p",
    ]
)


def call(
    n: int,
    plugin: str,
    command: str,
    *,
    start: float,
    seconds: float = 0.01,
    conf: dict[str, Any] | None = None,
    out: Any = None,
    exit: int = 0,
    ifname: str = "eth0",
    pid: int = 0,
    ppid: int = 0,
    child: int = 0,
    args: str = ENV_ARGS,
    env: dict[str, str] | None = None,
) -> Call:
    base = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": CID,
        "CNI_NETNS": "/var/run/netns/x",
        "CNI_IFNAME": ifname,
        "CNI_PATH": "/opt/cni/bin",
        "CNI_ARGS": args,
    }
    base.update(env or {})
    return Call(
        id=f"n#{n}",
        node="n",
        plugin=plugin,
        command=command,
        env={k: v for k, v in base.items() if v is not None},
        stdin=json.dumps(conf if conf is not None else {"cniVersion": "1.0.0", "name": "net"}),
        stdout="" if out is None else (out if isinstance(out, str) else json.dumps(out)),
        stderr="",
        exit=exit,
        start=start,
        seconds=seconds,
        pid=pid,
        ppid=ppid,
        child=child,
    )


def result(version: str) -> dict[str, Any]:
    return {"cniVersion": version, "interfaces": [{"name": "eth0"}], "ips": []}


def clauses(found: list[musts.Violation]) -> list[str]:
    return [v.clause for v in found]


@pytest.mark.parametrize(
    ("conf_version", "out", "exit", "expected"),
    [
        ("0.3.1", result("0.3.1"), 0, []),
        ("0.3.1", result("1.0.0"), 0, ["cni-add"]),
        ("1.0.0", "not json", 0, ["cni-add"]),
        ("1.0.0", {"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.1"}]}, 0, ["cni-add"]),
        ("1.0.0", {"code": 7, "msg": "bad config"}, 1, []),
        ("1.0.0", {"code": 100, "msg": "plugin's own"}, 1, []),
        ("1.0.0", {"code": 999, "msg": "internal"}, 1, []),
        ("1.0.0", {"code": 42, "msg": "reserved"}, 1, ["cni-errors"]),
        ("1.0.0", {"code": "7", "msg": "string code"}, 1, ["cni-errors"]),
        ("1.0.0", {"code": 7}, 1, ["cni-errors"]),
        ("1.0.0", "panic: oops", 2, ["cni-errors"]),
    ],
)
def test_result_and_error(conf_version: str, out: Any, exit: int, expected: list[str]) -> None:
    c = call(
        1,
        "meta",
        "ADD",
        start=0,
        conf={"cniVersion": conf_version, "name": "m"},
        out=out,
        exit=exit,
    )
    assert clauses(musts.result_violations(c) + musts.error_violations(c)) == expected


def test_version_result_is_not_judged_by_the_add_rule() -> None:
    # Reference plugins answer VERSION with their newest version: not a result.
    c = call(
        1, "ptp", "VERSION", start=0, conf={"cniVersion": "0.4.0"}, out={"cniVersion": "1.0.0"}
    )
    assert musts.result_violations(c) == []


def meta_with_delegates(del_order: list[str], rollback: list[str] | None = None) -> list[Call]:
    """A runtime ADD (pid 10/child 11) of eth0, net1, net2, then a runtime DEL."""
    calls = [call(1, "meta", "ADD", start=0, seconds=1, child=11, out=result("1.0.0"))]
    for i, ifname in enumerate(["eth0", "net1", "net2"]):
        calls.append(
            call(
                2 + i,
                "macvlan",
                "ADD",
                start=0.1 + i * 0.1,
                ifname=ifname,
                ppid=11,
                out=result("1.0.0"),
            )
        )
    if rollback is not None:
        calls[0].exit = 1
        calls[0].stdout = json.dumps({"code": 7, "msg": "net3 failed"})
        for i, ifname in enumerate(rollback):
            calls.append(
                call(10 + i, "macvlan", "DEL", start=0.5 + i * 0.1, ifname=ifname, ppid=11)
            )
        return link(calls)
    calls.append(call(20, "meta", "DEL", start=2, seconds=1, child=21))
    for i, ifname in enumerate(del_order):
        calls.append(
            call(
                21 + i,
                "macvlan",
                "DEL",
                start=2.1 + i * 0.1,
                ifname=ifname,
                ppid=21,
                conf={"cniVersion": "1.0.0", "name": "net", "prevResult": result("1.0.0")},
            )
        )
    return link(calls)


@pytest.mark.parametrize(
    ("order", "violations"),
    [
        (["net2", "net1", "eth0"], 0),
        (["eth0", "net1", "net2"], 1),
        (["net2", "net2", "net1", "eth0"], 0),  # a retried DEL counts where it first came
        (["net1", "net2", "eth0"], 1),
    ],
)
def test_del_runs_in_reverse_add_order(order: list[str], violations: int) -> None:
    found = musts.del_order_violations(meta_with_delegates(order))
    assert len(found) == violations
    if found:
        assert found[0].call == "n#20" and "not the reverse" in found[0].message


def test_rollback_runs_in_reverse_too() -> None:
    assert musts.del_order_violations(meta_with_delegates([], ["net2", "net1", "eth0"])) == []
    bad = musts.del_order_violations(meta_with_delegates([], ["eth0", "net1", "net2"]))
    assert clauses(bad) == ["cni-del"] and "rollback" in bad[0].message


def test_prev_result_from_0_4_0_only_after_a_successful_add() -> None:
    add = call(
        1, "ptp", "ADD", start=0, conf={"cniVersion": "0.4.0", "name": "k"}, out=result("0.4.0")
    )
    no_prev = call(2, "ptp", "DEL", start=1, conf={"cniVersion": "0.4.0", "name": "k"})
    again = call(3, "ptp", "DEL", start=2, conf={"cniVersion": "0.4.0", "name": "k"})
    found = musts.prev_result_violations([add, no_prev, again])
    # the first DEL lacks it; the second comes after a successful DEL (nothing cached)
    assert [(v.call, v.clause) for v in found] == [("n#2", "cni-prevresult")]
    old = call(
        4, "ptp", "ADD", start=3, conf={"cniVersion": "0.3.1", "name": "o"}, out=result("0.3.1")
    )
    old_del = call(5, "ptp", "DEL", start=4, conf={"cniVersion": "0.3.1", "name": "o"})
    assert musts.prev_result_violations([old, old_del]) == []
    check = call(6, "ptp", "CHECK", start=5, conf={"cniVersion": "1.0.0", "name": "k2"})
    add2 = call(
        7, "ptp", "ADD", start=4.5, conf={"cniVersion": "1.0.0", "name": "k2"}, out=result("1.0.0")
    )
    assert clauses(musts.prev_result_violations([add2, check])) == ["cni-prevresult"]
    failed = call(
        8,
        "ptp",
        "ADD",
        start=6,
        conf={"cniVersion": "1.0.0", "name": "k3"},
        exit=1,
        out={"code": 7, "msg": "x"},
    )
    del3 = call(9, "ptp", "DEL", start=7, conf={"cniVersion": "1.0.0", "name": "k3"})
    assert musts.prev_result_violations([failed, del3]) == []


@pytest.mark.parametrize(
    ("conf", "declared", "expected"),
    [
        ({"runtimeConfig": {"portMappings": []}, "capabilities": {"portMappings": True}}, None, []),
        (
            {"runtimeConfig": {"ips": ["10.0.0.1/24"]}, "capabilities": {"mac": True}},
            None,
            ["cni-capabilities"],
        ),
        ({"runtimeConfig": {"ips": ["10.0.0.1/24"]}}, {("net", "macvlan"): {"ips"}}, []),
        (
            {"runtimeConfig": {"ips": ["10.0.0.1/24"]}},
            {("net", "macvlan"): set()},
            ["cni-capabilities"],
        ),
        ({"runtimeConfig": {"ips": ["10.0.0.1/24"]}}, {}, []),  # unknown: not judged
        ({}, {("net", "macvlan"): set()}, []),
    ],
)
def test_runtime_config_only_for_declared_capabilities(
    conf: dict[str, Any], declared: dict[tuple[str, str], set[str]] | None, expected: list[str]
) -> None:
    c = call(
        1,
        "macvlan",
        "ADD",
        start=0,
        conf={"cniVersion": "1.0.0", "name": "net", **conf},
        out=result("1.0.0"),
    )
    lookup = None if declared is None else (lambda name, plugin: declared.get((name, plugin)))
    assert clauses(musts.capability_violations(c, lookup)) == expected


def test_declared_from_configs_reads_lists_and_own_runtime_config() -> None:
    lookup = musts.declared_from_configs(
        [
            {
                "name": "a",
                "plugins": [
                    {"type": "ptp"},
                    {"type": "portmap", "capabilities": {"portMappings": True, "x": False}},
                ],
            },
            {"name": "b", "type": "macvlan", "runtimeConfig": {"mac": "x"}},
        ]
    )
    assert lookup("a", "portmap") == {"portMappings"}
    assert lookup("a", "ptp") == set()
    assert lookup("b", "macvlan") == {"mac"}
    assert lookup("c", "ptp") is None


@pytest.mark.parametrize(
    ("env", "args", "expected"),
    [
        (
            {},
            "IgnoreUnknown=true;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p;K8S_POD_INFRA_CONTAINER_ID=c;K8S_POD_UID=u1",
            [],
        ),
        ({}, "K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p", ["cni-env"]),
        ({"CNI_PATH": ""}, ENV_ARGS, ["cni-env"]),
        ({"CNI_NETNS": ""}, ENV_ARGS, ["cni-env"]),
        ({"CNI_CONTAINERID": "other"}, ENV_ARGS, ["cni-env"]),
    ],
)
def test_delegate_env(env: dict[str, str], args: str, expected: list[str]) -> None:
    root = call(1, "meta", "ADD", start=0, seconds=1, child=11, out=result("1.0.0"))
    kid = call(
        2,
        "macvlan",
        "ADD",
        start=0.1,
        ppid=11,
        args=args,
        env=env,
        ifname="net1",
        out=result("1.0.0"),
    )
    assert clauses(musts.env_violations(kid, root)) == expected
    assert musts.env_violations(root, None) == []


def test_violations_render_names_call_and_clause() -> None:
    calls = link(
        [
            call(
                1,
                "meta",
                "ADD",
                start=0,
                conf={"cniVersion": "0.3.1", "name": "m"},
                out=result("1.0.0"),
            )
        ]
    )
    (v,) = musts.violations(calls)
    text = v.render()
    assert text.startswith("call n#1 runtime -> meta ADD (n, container cccccccccccc")
    assert "cni-add (SPEC.md Section 5" in text
    assert "result cniVersion '1.0.0' is not the config's '0.3.1'" in text


def test_a_plugin_passes_on_only_the_prev_result_it_got() -> None:
    """IPAM under ptp gets ptp's stdin: without a prevResult for ptp, none for it."""
    calls = link(
        [
            call(1, "meta", "ADD", start=0, seconds=1, child=11, out=result("1.0.0")),
            call(2, "ptp", "ADD", start=0.1, seconds=0.3, ppid=11, child=12, out=result("1.0.0")),
            call(3, "host-local", "ADD", start=0.2, ppid=12, out=result("1.0.0")),
            call(
                4,
                "meta",
                "DEL",
                start=2,
                seconds=1,
                child=21,
                conf={"cniVersion": "1.0.0", "name": "net", "prevResult": result("1.0.0")},
            ),
            call(5, "ptp", "DEL", start=2.1, seconds=0.3, ppid=21, child=22),
            call(6, "host-local", "DEL", start=2.2, ppid=22),
        ]
    )
    assert [v.call for v in musts.prev_result_violations(calls)] == ["n#5"]


def test_a_delegates_own_bad_answer_is_not_blamed_on_the_meta_plugin() -> None:
    calls = link(
        [
            call(
                1,
                "meta",
                "ADD",
                start=0,
                seconds=1,
                child=11,
                exit=1,
                out={"code": 999, "msg": "net1 failed"},
            ),
            call(2, "garbage", "ADD", start=0.1, ppid=11, out="not json {{{"),
            call(3, "crash", "ADD", start=0.2, ppid=11, exit=-11),
        ]
    )
    assert musts.violations(calls) == []


def test_the_second_del_is_checked_too() -> None:
    calls = meta_with_delegates(["net2", "net1", "eth0"])
    again = [call(30, "meta", "DEL", start=5, seconds=1, child=31, env={"CNI_NETNS": ""})]
    for i, ifname in enumerate(["eth0", "net1", "net2"]):  # forward: wrong
        again.append(call(31 + i, "macvlan", "DEL", start=5.1 + i * 0.1, ifname=ifname, ppid=31))
    found = musts.del_order_violations(link([*calls, *again]))
    assert [v.call for v in found] == ["n#30"]
