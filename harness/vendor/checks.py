"""The checks of the vendor battery, one function each.

A check receives a fresh :class:`~harness.vendor.sandbox.Sandbox` (its own
node and containers) and either returns a one-line summary (passed), raises
:class:`Fail` with the evidence, or :class:`Skip` with the reason. Each names
the CNI spec section it comes from. Leaks are asserted where releasing
resources is the point of the check: ``no-leaks``, ``del-netns-gone``,
``concurrent-add``, ``status-gc`` and (in :mod:`harness.vendor.delegate`)
``delegate``; the other DEL checks assert only that DEL succeeds.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from harness.backends.local import sh
from harness.cniruntime.config import NetworkConfigList
from harness.cniruntime.config import load_config as load_network_config
from harness.cniruntime.errors import INCOMPATIBLE_VERSION, CNIError
from harness.cniruntime.invoke import find_plugin
from harness.cniruntime.request import CNIRequest
from harness.cniruntime.version import at_least
from harness.vendor.judge import (
    Snapshot,
    as_current,
    distinct_address_problems,
    error_output_problems,
    kernel_problems,
    leak_problems,
    passthrough_problems,
    result_problems,
    shared_links,
    version_problems,
)
from harness.vendor.sandbox import Container, Sandbox

CONCURRENT_ADDS = 8
LEAK_SETTLE_SECONDS = 1.0
#: Why checks about the container interface skip an IPAM plugin (its ADD makes none).
NO_INTERFACE = "the plugin made no container interface (an IPAM plugin)"


class Fail(Exception):
    def __init__(self, summary: str, evidence: str = "") -> None:
        super().__init__(summary)
        self.summary = summary
        self.evidence = evidence


class Skip(Exception):
    pass


CheckFunc = Callable[[Sandbox], str]


@dataclass(frozen=True)
class Check:
    name: str
    func: CheckFunc
    doc: str


# ----------------------------------------------------------------- helpers
def _cni_fail(what: str, err: CNIError) -> Fail:
    evidence = f"code {err.code}: {err.msg}"
    if err.details:
        evidence += f"\ndetails: {err.details}"
    return Fail(f"{what}: {err.msg}", evidence)


def _add(sb: Sandbox, container: Container, **kwargs: Any) -> dict[str, Any]:
    try:
        return sb.add(container, **kwargs)
    except CNIError as err:
        raise _cni_fail("ADD failed", err) from None


def _try_del(sb: Sandbox, container: Container, prev: dict[str, Any] | None, **kw: Any) -> None:
    """Best-effort DEL where DEL is not what the check is about (the node goes anyway)."""
    with contextlib.suppress(CNIError):
        sb.delete(container, prev, **kw)


def _made_interface(result: dict[str, Any], ifname: str) -> bool:
    current = as_current(result)
    return any(
        i.get("name") == ifname and i.get("sandbox") for i in current.get("interfaces") or []
    )


def _require_first(sb: Sandbox, ncl: NetworkConfigList, why: str) -> None:
    position = sb.subject.position(ncl)
    if position != 0:
        first = ncl.plugins[0].get("type")
        raise Skip(f"the interface is made by {first}, not by the plugin under test: {why}")


def _require_check(sb: Sandbox, ncl: NetworkConfigList) -> None:
    if not at_least(sb.cni_version, "0.4.0"):
        raise Skip(f"CHECK exists from CNI 0.4.0; the configuration is {sb.cni_version}")
    if ncl.disable_check:
        raise Skip("the configuration sets disableCheck")


def _leaks(sb: Sandbox, before: Snapshot, containers: list[Container] | None = None) -> list[str]:
    """What is left compared with ``before``, once the kernel has settled.

    The kernel destroys a veth pair asynchronously after its namespace goes
    (tens of ms): poll briefly before calling anything a leak.
    """
    deadline = time.monotonic() + LEAK_SETTLE_SECONDS
    while True:
        problems = leak_problems(before, sb.snapshot(containers))
        if not problems or time.monotonic() > deadline:
            return problems
        time.sleep(0.1)


def _evidence(problems: list[str], *extra: str) -> str:
    return "\n".join([*problems, *[e for e in extra if e]])


# ------------------------------------------------------------------ checks
def check_version(sb: Sandbox) -> str:
    """CNI SPEC.md Section 2 (VERSION) and Section 5 ("Version")."""
    execute = sb.executor(None)
    try:
        out = execute(
            sb.subject.plugin_type,
            "VERSION",
            {"cniVersion": sb.cni_version},
            CNIRequest(command="VERSION"),
        )
    except CNIError as err:
        raise _cni_fail("VERSION failed", err) from None
    problems = version_problems(out, [sb.cni_version])
    if problems:
        raise Fail(problems[0], _evidence(problems, f"output: {json.dumps(out)}"))
    return f"supports {', '.join(out['supportedVersions'])}"


def check_add_result(sb: Sandbox) -> str:
    """CNI SPEC.md Section 5 ("Success"): a valid result in the request's version."""
    container = sb.new_container()
    final = _add(sb, container)
    _, out = sb.last_result_of_subject(container)
    problems = result_problems(
        out, cni_version=sb.cni_version, netns=container.path, ifname=sb.subject.ifname
    )
    _try_del(sb, container, final)
    if problems:
        raise Fail(problems[0], _evidence(problems, f"result: {json.dumps(out)}"))
    current = as_current(out)
    return (
        f"{len(current.get('interfaces') or [])} interface(s), "
        f"{len(current.get('ips') or [])} address(es), {len(current.get('routes') or [])} route(s)"
    )


def check_add_kernel(sb: Sandbox) -> str:
    """The ADD result describes the kernel (CNI SPEC.md Section 5: interfaces,
    ips and routes are what the plugin configured)."""
    container = sb.new_container()
    final = _add(sb, container)
    _, out = sb.last_result_of_subject(container)
    current = as_current(out)
    if not any(i.get("sandbox") for i in current.get("interfaces") or []) and not (
        sb.container_network(container).interface(sb.subject.ifname)
    ):
        _try_del(sb, container, final)
        raise Skip(NO_INTERFACE + ": nothing to compare with the kernel")
    pod = sb.container_network(container)
    node = sb.node_network()
    problems = kernel_problems(out, pod, node, ifname=sb.subject.ifname)
    _try_del(sb, container, final)
    if problems:
        raise Fail(
            problems[0],
            _evidence(problems, f"result: {json.dumps(out)}", "container:\n" + pod.describe()),
        )
    return "interfaces, MACs, MTUs, addresses and routes match the kernel"


def check_add_existing(sb: Sandbox) -> str:
    """CNI SPEC.md Section 2 (ADD): a plugin must fail when the interface name
    already exists in the container."""
    ncl = sb.conflist()
    _require_first(sb, ncl, "a second ADD would fail before reaching it")
    first = sb.new_container()
    final = _add(sb, first)
    if not _made_interface(final, sb.subject.ifname):
        _try_del(sb, first, final)
        raise Skip(NO_INTERFACE + ": no name to clash")
    second = Container(first.container_id + "b", first.netns)
    conf = sb.subject_conf(ncl, None, sb.subject.runtime_config)
    raw = sb.raw("ADD", json.dumps(conf).encode(), second)
    _try_del(sb, first, final)
    problems = error_output_problems(raw.rc, raw.stdout)
    if problems:
        raise Fail(
            f"second ADD of {sb.subject.ifname} in the same container: {problems[0]}",
            _evidence(problems, raw.evidence()),
        )
    return "refused with a valid error"


def check_add_bad_config(sb: Sandbox) -> str:
    """CNI SPEC.md Section 5 ("Error"): bad input gives an error object with a valid code."""
    container = sb.new_container()
    ncl = sb.conflist()
    conf = sb.subject_conf(ncl, None, sb.subject.runtime_config)
    cases = [
        ("stdin is not JSON", b'{"cniVersion": "1.0.0", "name": '),
        ("unsupported cniVersion 99.0.0", json.dumps({**conf, "cniVersion": "99.0.0"}).encode()),
    ]
    problems: list[str] = []
    evidence: list[str] = []
    codes: list[str] = []
    existed = sb.container_network(container).interface(sb.subject.ifname) is not None
    for label, stdin in cases:
        raw = sb.raw("ADD", stdin, container)
        found = error_output_problems(raw.rc, raw.stdout)
        problems += [f"{label}: {p}" for p in found]
        evidence.append(f"{label}: {raw.evidence()}")
        try:
            codes.append(f"{label}: code {json.loads(raw.stdout).get('code')}")
        except (ValueError, AttributeError):
            codes.append(f"{label}: no error object")
    left = sb.container_network(container).interface(sb.subject.ifname)
    if left is not None and not existed:
        problems.append(f"a refused ADD left {left.summary()} in the container")
    if problems:
        raise Fail(problems[0], _evidence(problems, *evidence))
    return "; ".join(codes)


def check_check_after_add(sb: Sandbox) -> str:
    """CNI SPEC.md Section 2 (CHECK) and Section 3 ("Checking an attachment")."""
    ncl = sb.conflist()
    _require_check(sb, ncl)
    container = sb.new_container()
    final = _add(sb, container)
    try:
        sb.check(container, final, ncl)
    except CNIError as err:
        raise _cni_fail("CHECK right after ADD failed", err) from None
    finally:
        _try_del(sb, container, final)
    return "CHECK succeeded"


def check_check_after_removal(sb: Sandbox) -> str:
    """CNI SPEC.md Section 2 (CHECK): "return an error if the container's
    networking isn't as expected" -- here the interface is gone."""
    ncl = sb.conflist()
    _require_check(sb, ncl)
    _require_first(sb, ncl, "its CHECK does not own the interface")
    container = sb.new_container()
    final = _add(sb, container)
    if not _made_interface(final, sb.subject.ifname):
        _try_del(sb, container, final)
        raise Skip(NO_INTERFACE + ": nothing to remove")
    try:
        sh.run(["ip", "-n", container.netns, "link", "del", sb.subject.ifname])
    except sh.CommandError as exc:
        _try_del(sb, container, final)
        raise Skip(f"the kernel refuses to delete {sb.subject.ifname}: {exc.stderr}") from None
    conf = sb.subject_conf(ncl, final, sb.subject.runtime_config)
    raw = sb.raw("CHECK", json.dumps(conf).encode(), container)
    _try_del(sb, container, final)
    problems = error_output_problems(raw.rc, raw.stdout)
    if problems:
        raise Fail(
            f"CHECK after {sb.subject.ifname} was deleted: {problems[0]}",
            _evidence(problems, raw.evidence()),
        )
    return "CHECK failed with a valid error, as it must"


def _must_del(sb: Sandbox, container: Container, prev: dict[str, Any] | None, what: str) -> None:
    try:
        sb.delete(container, prev)
    except CNIError as err:
        raise _cni_fail(f"{what} failed", err) from None


def check_del_twice(sb: Sandbox) -> str:
    """CNI SPEC.md Section 2 (DEL): DEL of a deleted attachment must succeed."""
    container = sb.new_container()
    final = _add(sb, container)
    _must_del(sb, container, final, "first DEL")
    _must_del(sb, container, final, "second DEL")
    return "both DELs succeeded"


def check_del_netns_gone(sb: Sandbox) -> str:
    """CNI SPEC.md Section 2 (DEL): DEL must succeed, and release what it holds,
    when the container's namespace no longer exists."""
    container = sb.new_container()
    before = sb.snapshot()
    final = _add(sb, container)
    sb.remove_container_netns(container)
    try:
        sb.delete(container, final)
    except CNIError as err:
        fail = _cni_fail("DEL after the namespace was deleted failed", err)
        if os.path.lexists(container.path):
            fail.evidence += f"\nand the DEL created a file at CNI_NETNS {container.path}"
        raise fail from None
    problems = _leaks(sb, before)
    if os.path.lexists(container.path):
        problems.append(f"the DEL created a file at CNI_NETNS {container.path}")
    if problems:
        raise Fail(f"DEL succeeded but left: {problems[0]}", _evidence(problems))
    return "DEL succeeded and released everything on the host"


def check_del_without_prev(sb: Sandbox) -> str:
    """CNI SPEC.md Section 2 (DEL): prevResult may be missing (a runtime that
    lost its cache); DEL must still succeed."""
    container = sb.new_container()
    _add(sb, container)
    _must_del(sb, container, None, "DEL without prevResult")
    return "DEL without prevResult succeeded"


def check_no_leaks(sb: Sandbox) -> str:
    """CNI SPEC.md Section 2 (DEL): release every resource the ADD took."""
    container = sb.new_container()
    before = sb.snapshot([container])
    final = _add(sb, container)
    _must_del(sb, container, final, "DEL")
    problems = _leaks(sb, before, [container])
    after = sb.snapshot([container])
    if problems:
        raise Fail(f"{len(problems)} thing(s) left after DEL: {problems[0]}", _evidence(problems))
    checked = "links, /var/lib/cni files, container interfaces"
    checked += ", iptables/nft rules" if not after.notes else ""
    shared = shared_links(before, after)
    kept = f"; kept the shared bridge {', '.join(shared)}" if shared else ""
    return f"nothing left ({checked}){kept}" + (
        f"; {'; '.join(after.notes)}" if after.notes else ""
    )


def _chain_after(sb: Sandbox, ncl: NetworkConfigList) -> NetworkConfigList:
    """The plugin under test followed by tuning (a standard chained plugin)."""
    try:
        find_plugin("tuning", sb.subject.cni_path)
    except CNIError:
        raise Skip(
            "no tuning plugin in the CNI path to chain after the plugin under test"
        ) from None
    plugin = ncl.plugins[sb.subject.position(ncl)]
    conf = {"cniVersion": sb.cni_version, "name": ncl.name, "plugins": [plugin, {"type": "tuning"}]}
    return load_network_config(conf, f"{sb.subject.source} followed by tuning")


def check_chaining(sb: Sandbox) -> str:
    """CNI SPEC.md Section 3: in a list, each plugin gets the previous result as
    prevResult and must pass it on; DEL and CHECK get the final result."""
    if not at_least(sb.cni_version, "0.3.0"):
        raise Skip(f"chaining (prevResult) exists from CNI 0.3.0; config is {sb.cni_version}")
    ncl = sb.conflist()
    position = sb.subject.position(ncl)
    appended = position == 0 and len(ncl.plugins) == 1
    if appended:
        ncl = _chain_after(sb, ncl)
    container = sb.new_container()
    try:
        final = sb.add(container, ncl=ncl)
    except CNIError as err:
        last = sb.calls[-1] if sb.calls else None
        if appended and last and last.plugin_type == "tuning" and err.code == INCOMPATIBLE_VERSION:
            raise Skip(f"the tuning plugin to chain with does not speak {sb.cni_version}") from None
        raise _cni_fail("ADD of the chain failed", err) from None
    problems: list[str] = []
    prev, out = sb.last_result_of_subject(container)
    if position == 0 and not _made_interface(out, sb.subject.ifname):
        _try_del(sb, container, final, ncl=ncl)
        raise Skip(NO_INTERFACE + ": chaining applies to the plugin that makes the interface")
    if position > 0:
        if not prev:
            problems.append("the plugin under test was given no prevResult")
        problems += passthrough_problems(prev, out)
        role = f"after {ncl.plugins[position - 1].get('type')}"
    else:
        problems += [
            f"the chain's final result lost it: {p}" for p in passthrough_problems(out, final)
        ]
        role = f"before {', '.join(str(p.get('type')) for p in ncl.plugins[1:])}"
    if at_least(sb.cni_version, "0.4.0") and not ncl.disable_check:
        try:
            sb.check(container, final, ncl)
        except CNIError as err:
            problems.append(f"CHECK of the chain failed: {err.msg}")
    try:
        sb.delete(container, final, ncl=ncl)
    except CNIError as err:
        problems.append(f"DEL of the chain failed: {err.msg}")
    if problems:
        raise Fail(
            problems[0],
            _evidence(problems, f"prevResult: {json.dumps(prev)}", f"result: {json.dumps(out)}"),
        )
    return f"chained {role}: prevResult passed through, CHECK and DEL of the chain succeeded"


# ---------------------------------------------------------- capabilities
def default_capability_value(cap: str, plugin: dict[str, Any]) -> Any:
    """A runtimeConfig value to exercise ``cap`` (NPWG / CNI CONVENTIONS.md)."""
    if cap == "mac":
        return "02:42:0a:63:00:07"
    if cap == "ips":
        ipam = plugin.get("ipam") or {}
        subnet = ipam.get("subnet")
        ranges = ipam.get("ranges") or []
        if not subnet and ranges and ranges[0]:
            subnet = ranges[0][0].get("subnet")
        net = ipaddress.ip_network(subnet or "10.99.0.0/24", strict=False)
        return [f"{net[42]}/{net.prefixlen}"]
    if cap == "portMappings":
        return [{"hostPort": 18081, "containerPort": 8080, "protocol": "tcp"}]
    if cap == "bandwidth":
        return {
            "ingressRate": 8_000_000,
            "ingressBurst": 800_000,
            "egressRate": 8_000_000,
            "egressBurst": 800_000,
        }
    return None


CHECKED_CAPABILITIES = ("mac", "ips", "portMappings", "bandwidth")


def capability_check(cap: str) -> CheckFunc:
    def run(sb: Sandbox) -> str:
        ncl = sb.conflist()
        plugin = ncl.plugins[sb.subject.position(ncl)]
        if cap not in CHECKED_CAPABILITIES:
            raise Skip(f"the kit has no check for capability {cap!r} yet")
        value = sb.subject.runtime_config.get(cap, default_capability_value(cap, plugin))
        container = sb.new_container()
        final = _add(sb, container, runtime={cap: value})
        _, out = sb.last_result_of_subject(container)
        problems: list[str] = []
        evidence: list[str] = [f"runtimeConfig: {json.dumps({cap: value})}"]
        pod = sb.container_network(container)
        itf = pod.interface(sb.subject.ifname)
        if cap == "mac":
            ifaces = [i for i in as_current(out).get("interfaces") or [] if i.get("sandbox")]
            macs = [str(i.get("mac", "")).lower() for i in ifaces]
            if str(value).lower() not in macs:
                problems.append(f"result interfaces have MACs {macs}, not {value}")
            if itf is None or itf.mac.lower() != str(value).lower():
                problems.append(f"kernel: {itf.summary() if itf else 'no ' + sb.subject.ifname}")
        elif cap == "ips":
            have = {str(ip.get("address")) for ip in as_current(out).get("ips") or []}
            kernel = {a.cidr for a in itf.addresses} if itf else set()
            for address in value:
                if address not in have:
                    problems.append(f"result ips {sorted(have)} lack requested {address}")
                if itf is not None and address not in kernel:
                    problems.append(f"kernel addresses {sorted(kernel)} lack requested {address}")
        elif cap == "portMappings":
            rules, notes = sb.rules()
            ports = [str(m["hostPort"]) for m in value]
            for port in ports:
                if not any(port in r for r in rules):
                    problems.append(f"no iptables/nft rule in the node mentions hostPort {port}")
            evidence += notes
        elif cap == "bandwidth":
            qdiscs = sb.qdiscs()
            if not any(q.startswith("tbf ") for q in qdiscs):
                problems.append(f"no tbf qdisc on the node after ADD (qdiscs: {qdiscs})")
        try:
            sb.delete(container, final, runtime={cap: value})
        except CNIError as err:
            problems.append(f"DEL failed: {err.msg}")
        if cap == "portMappings":
            rules, _ = sb.rules()
            for m in value:
                if any(str(m["hostPort"]) in r for r in rules):
                    problems.append(f"rules for hostPort {m['hostPort']} remain after DEL")
        if cap == "bandwidth" and any(q.startswith("tbf ") for q in sb.qdiscs()):
            problems.append("a tbf qdisc remains on the node after DEL")
        if problems:
            raise Fail(problems[0], _evidence(problems, *evidence, f"result: {json.dumps(out)}"))
        return f"{cap} honoured and released"

    run.__doc__ = f"NPWG / CNI CONVENTIONS.md: the {cap} capability is honoured."
    return run


# --------------------------------------------------------- status and gc
def check_status_gc(sb: Sandbox) -> str:
    """CNI SPEC.md v1.1.0 Section 2 (STATUS, GC) and Section 3 ("Garbage-collecting")."""
    if not at_least(sb.cni_version, "1.1.0"):
        raise Skip(
            f"STATUS and GC exist from CNI 1.1.0; the configuration is {sb.cni_version} "
            "(run with --cni-version 1.1.0 if the plugin supports it)"
        )
    ncl = sb.conflist()
    try:
        sb.status(ncl)
    except CNIError as err:
        raise _cni_fail("STATUS failed", err) from None
    keep, drop = sb.new_container(), sb.new_container()
    kept = _add(sb, keep)
    with_keep = sb.snapshot()
    _add(sb, drop)
    try:
        sb.gc(ncl, [keep])
    except CNIError as err:
        raise _cni_fail("GC failed", err) from None
    problems = [
        f"GC kept a resource of a stale attachment: {p}"
        for p in leak_problems(with_keep, sb.snapshot())
    ]
    _try_del(sb, keep, kept)
    if problems:
        raise Fail(problems[0], _evidence(problems))
    return "STATUS succeeded; GC released the stale attachment and kept the valid one"


# ------------------------------------------------------------ concurrency
def check_concurrent(sb: Sandbox) -> str:
    """Runtimes run ADDs for different containers in parallel (CNI SPEC.md
    Section 2: a plugin must cope, e.g. by locking its IPAM store)."""
    containers = [sb.new_container() for _ in range(CONCURRENT_ADDS)]
    before = sb.snapshot(containers)

    def add(c: Container) -> dict[str, Any] | CNIError:
        try:
            return sb.add(c)
        except CNIError as err:
            return err

    with ThreadPoolExecutor(max_workers=CONCURRENT_ADDS) as pool:
        outcomes = list(pool.map(add, containers))
    errors = [
        f"container {n}: ADD: {o.msg}" for n, o in enumerate(outcomes) if isinstance(o, CNIError)
    ]
    results = [o for o in outcomes if not isinstance(o, CNIError)]
    problems = errors + distinct_address_problems(results)

    def delete(pair: tuple[Container, dict[str, Any] | CNIError]) -> str | None:
        c, outcome = pair
        try:
            sb.delete(c, None if isinstance(outcome, CNIError) else outcome)
        except CNIError as err:
            return f"{c.container_id}: DEL: {err.msg}"
        return None

    with ThreadPoolExecutor(max_workers=CONCURRENT_ADDS) as pool:
        problems += [p for p in pool.map(delete, zip(containers, outcomes, strict=True)) if p]
    problems += _leaks(sb, before, containers)
    if problems:
        raise Fail(
            f"{len(problems)} problem(s) with {CONCURRENT_ADDS} parallel ADDs: {problems[0]}",
            _evidence(problems),
        )
    return f"{CONCURRENT_ADDS} parallel ADDs and DELs, distinct addresses, nothing left"


BASE_CHECKS: tuple[Check, ...] = (
    Check("version", check_version, "VERSION output shape; supports the config's version"),
    Check("add-result", check_add_result, "ADD result valid for its version"),
    Check("add-kernel", check_add_kernel, "ADD result matches the kernel"),
    Check("add-existing-ifname", check_add_existing, "ADD on an existing interface name fails"),
    Check("add-bad-config", check_add_bad_config, "bad config gives an error with a valid code"),
    Check("check-after-add", check_check_after_add, "CHECK after ADD succeeds"),
    Check(
        "check-after-removal", check_check_after_removal, "CHECK fails once the interface is gone"
    ),
    Check("del-twice", check_del_twice, "DEL twice succeeds"),
    Check("del-netns-gone", check_del_netns_gone, "DEL with the namespace gone succeeds, no leak"),
    Check("del-without-prevresult", check_del_without_prev, "DEL with no prevResult succeeds"),
    Check("chaining", check_chaining, "prevResult passed through in a chain"),
    Check("status-gc", check_status_gc, "STATUS and GC (1.1.0)"),
    Check("concurrent-add", check_concurrent, f"{CONCURRENT_ADDS} parallel ADDs"),
    Check("no-leaks", check_no_leaks, "nothing left after DEL"),
)


def capability_checks(ncl: NetworkConfigList, plugin_type: str) -> list[Check]:
    for plugin in ncl.plugins:
        if plugin.get("type") == plugin_type:
            caps = sorted(k for k, v in (plugin.get("capabilities") or {}).items() if v is True)
            return [
                Check(f"capability-{cap}", capability_check(cap), f"{cap} capability honoured")
                for cap in caps
            ]
    return []
