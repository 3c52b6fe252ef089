"""Pure judgements: is this output what the CNI spec asks for, does it match the kernel?

Every function takes data already read (a plugin's decoded output, a parsed
``ip -j`` view, two snapshots) and returns a list of problems, each one
sentence naming the field or object at fault. Empty list: nothing wrong. The
I/O that produces the inputs lives in :mod:`harness.vendor.sandbox`.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.cniruntime.errors import CNIError
from harness.cniruntime.resultshape import is_legacy, result_shape_problems, view
from harness.netstate import Interface, PodNetwork, Route

# CNI SPEC.md Section 5 ("Error"): 1-7 and 11 are defined by the spec; 50 and 51
# by v1.1.0 (STATUS); 100 and up are the plugin's own. The reference Go
# library also emits 8 (invalid netns) and 999 (internal), so plugins built
# on it do too: we accept them and say so.
SPEC_CODES = frozenset({1, 2, 3, 4, 5, 6, 7, 11, 50, 51})
LIBRARY_CODES = frozenset({8, 999})


def error_code_problem(code: Any) -> str | None:
    """Why ``code`` is not a valid CNI error code, or None."""
    if not isinstance(code, int) or isinstance(code, bool):
        return f"code {code!r} is not an integer"
    if code in SPEC_CODES or code in LIBRARY_CODES or code >= 100:
        return None
    return (
        f"code {code} is reserved by the CNI spec (valid: 1-7, 11, 50, 51, 100 and up; "
        "8 and 999 as the reference library uses them)"
    )


def error_output_problems(rc: int, stdout: bytes) -> list[str]:
    """Problems with a plugin's answer to a request it must refuse.

    CNI SPEC.md Section 5 ("Error"): non-zero exit and an error object
    ``{cniVersion, code, msg, details}`` on stdout.
    """
    if rc == 0:
        return ["the plugin exited 0 (success) where it must fail"]
    if rc < 0:
        return [f"the plugin was killed by signal {-rc} instead of answering with an error"]
    try:
        err = json.loads(stdout)
    except ValueError:
        text = stdout[:200].decode("utf-8", "replace").strip() or "(empty)"
        return [f"stdout is not a JSON error object: {text}"]
    if not isinstance(err, dict):
        return ["stdout is JSON but not an object"]
    problems: list[str] = []
    problem = error_code_problem(err.get("code"))
    if problem:
        problems.append(problem)
    if not isinstance(err.get("msg"), str) or not err.get("msg"):
        problems.append("msg is missing or empty: the error must say what went wrong")
    if "details" in err and not isinstance(err["details"], str):
        problems.append("details must be a string")
    return problems


def version_problems(output: dict[str, Any], wanted: Sequence[str]) -> list[str]:
    """Problems with a VERSION answer (CNI SPEC.md Section 5, "Version")."""
    problems: list[str] = []
    if not isinstance(output.get("cniVersion"), str) or not output.get("cniVersion"):
        problems.append("cniVersion is missing or not a string")
    supported = output.get("supportedVersions")
    if not isinstance(supported, list) or not supported:
        problems.append("supportedVersions is missing or not a non-empty list")
        return problems
    if not all(isinstance(v, str) for v in supported):
        problems.append("supportedVersions must be a list of strings")
        return problems
    for version in wanted:
        if version not in supported:
            problems.append(
                f"the configuration's cniVersion {version} is not in supportedVersions {supported}"
            )
    return problems


def cni_error_problems(err: CNIError) -> list[str]:
    """Problems with an error as harness.cniruntime.invoke decoded it."""
    if "without error JSON on stdout" in err.msg:
        return [f"the plugin failed without an error object on stdout: {err.msg}"]
    problem = error_code_problem(err.code)
    return [problem] if problem else []


def as_current(result: dict[str, Any]) -> dict[str, Any]:
    """A read-only view of a result of any version in the rich (0.3.0+) shape,
    so one comparison serves every version (the result itself is never converted)."""
    return view(result)


def result_problems(
    result: dict[str, Any], *, cni_version: str, netns: str, ifname: str
) -> list[str]:
    """Problems of an ADD result judged against the request that produced it.

    CNI SPEC.md Section 5 ("Success"): valid for its version, in the version
    of the request; interfaces in the container have ``sandbox`` = CNI_NETNS;
    ``ips[].interface`` is an index into ``interfaces``.
    """
    problems = result_shape_problems(result)
    if result.get("cniVersion") != cni_version:
        problems.append(
            f"cniVersion {result.get('cniVersion')!r} is not the request's {cni_version!r} "
            "(a plugin must answer in the version it was called with)"
        )
    if problems or is_legacy(cni_version):
        return problems
    interfaces = result.get("interfaces") or []
    for i, iface in enumerate(interfaces):
        sandbox = iface.get("sandbox")
        if sandbox and sandbox != netns:
            problems.append(
                f"interfaces[{i}] ({iface.get('name')}) has sandbox {sandbox!r}; "
                f"an interface in the container must name CNI_NETNS {netns!r}"
            )
    in_sandbox = [i for i in interfaces if i.get("sandbox")]
    if in_sandbox and not any(i.get("name") == ifname for i in in_sandbox):
        names = [i.get("name") for i in in_sandbox]
        problems.append(
            f"no interface named CNI_IFNAME {ifname!r} in the container (result has {names})"
        )
    return problems


def _route_dst(text: str) -> str:
    if text in ("0.0.0.0/0", "::/0"):
        return "default"
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return text
    return str(net) if net.prefixlen != net.max_prefixlen else str(net.network_address)


def _mac_equal(a: str, b: str) -> bool:
    return a.lower() == b.lower()


def _kernel_mac(itf: Interface) -> str:
    # netstate leaves the loopback's MAC empty; the kernel's is all zeros.
    return itf.mac or "00:00:00:00:00:00"


def _iface_problems(
    iface: dict[str, Any], where: str, itf: Interface | None, side: str
) -> list[str]:
    if itf is None:
        return [f"{where} {iface.get('name')!r} is not in the {side}"]
    problems: list[str] = []
    mac = iface.get("mac")
    if isinstance(mac, str) and mac and not _mac_equal(mac, _kernel_mac(itf)):
        problems.append(f"{where} {itf.name}: result mac {mac}, kernel mac {_kernel_mac(itf)}")
    mtu = iface.get("mtu")
    if isinstance(mtu, int) and mtu and mtu != itf.mtu:
        problems.append(f"{where} {itf.name}: result mtu {mtu}, kernel mtu {itf.mtu}")
    return problems


def kernel_problems(
    result: dict[str, Any], pod: PodNetwork, node: PodNetwork, *, ifname: str
) -> list[str]:
    """Where an ADD result and the kernel disagree: interfaces (MAC, MTU),
    addresses, routes.

    Interfaces with a ``sandbox`` are looked up in the container, the others on
    the host (the node). Addresses are checked on the interface their
    ``interface`` index names (on CNI_IFNAME when a legacy result has no
    index); routes in any routing table of the container. A result without
    container interfaces (an IPAM plugin's) configures nothing, so only its
    interfaces are compared.
    """
    current = as_current(result)
    interfaces: list[dict[str, Any]] = current.get("interfaces") or []
    problems: list[str] = []
    for i, iface in enumerate(interfaces):
        if iface.get("sandbox"):
            itf = pod.interface(str(iface.get("name")))
            problems += _iface_problems(iface, f"interfaces[{i}]", itf, "container")
        else:
            itf = node.interface(str(iface.get("name")))
            problems += _iface_problems(iface, f"interfaces[{i}]", itf, "host (node) namespace")
    sandboxed = [i for i in interfaces if i.get("sandbox")]
    legacy_target = pod.interface(ifname) if not interfaces else None
    if not sandboxed and legacy_target is None:
        return problems
    for i, ip in enumerate(current.get("ips") or []):
        index = ip.get("interface")
        if isinstance(index, int) and 0 <= index < len(interfaces):
            target = interfaces[index]
            if not target.get("sandbox"):
                continue  # an address on a host-side interface: not ours to check here
            itf = pod.interface(str(target.get("name")))
        else:
            itf = legacy_target or pod.interface(ifname)
        if itf is None:
            continue  # reported above
        address = str(ip.get("address"))
        have = {a.cidr for a in itf.addresses}
        if _normal_cidr(address) not in {_normal_cidr(a) for a in have}:
            problems.append(
                f"ips[{i}].address {address} is not on {itf.name} in the container "
                f"(kernel has {sorted(have) or 'no address'})"
            )
    problems += route_problems(current.get("routes") or [], pod.routes)
    return problems


def _normal_cidr(text: str) -> str:
    try:
        return str(ipaddress.ip_interface(text))
    except ValueError:
        return text


def route_problems(want: Iterable[dict[str, Any]], have: Sequence[Route]) -> list[str]:
    problems: list[str] = []
    for i, route in enumerate(want):
        dst = _route_dst(str(route.get("dst")))
        candidates = [r for r in have if _route_dst(r.dst) == dst]
        if not candidates:
            problems.append(
                f"routes[{i}] {route.get('dst')} is in the result but not in any routing "
                "table of the container"
            )
            continue
        gw = route.get("gw")
        if gw and not any(r.gateway == gw for r in candidates):
            gws = sorted({r.gateway or "none" for r in candidates})
            problems.append(f"routes[{i}] {route.get('dst')}: result gw {gw}, kernel gw {gws}")
    return problems


def passthrough_problems(prev: dict[str, Any], out: dict[str, Any]) -> list[str]:
    """What a chained plugin dropped from its prevResult.

    CNI SPEC.md Section 3 ("Adding an attachment") and Section 2 (ADD output):
    a plugin given a prevResult must return it, possibly modified; interfaces
    and addresses it did not remove must still be there.
    """
    before = as_current(prev)
    after = as_current(out)
    problems: list[str] = []
    names_after = {i.get("name") for i in after.get("interfaces") or []}
    for iface in before.get("interfaces") or []:
        if iface.get("name") not in names_after:
            problems.append(f"interface {iface.get('name')!r} of prevResult is missing")
    addrs_after = {_normal_cidr(str(ip.get("address"))) for ip in after.get("ips") or []}
    for ip in before.get("ips") or []:
        if _normal_cidr(str(ip.get("address"))) not in addrs_after:
            problems.append(f"address {ip.get('address')} of prevResult is missing")
    return problems


@dataclass(frozen=True)
class Snapshot:
    """What can leak on a node: its links, its /var/lib/cni files, its rules."""

    links: frozenset[str] = frozenset()
    files: frozenset[str] = frozenset()
    rules: frozenset[str] = frozenset()
    container_links: frozenset[str] = frozenset()
    notes: tuple[str, ...] = field(default_factory=tuple)


def shared_links(before: Snapshot, after: Snapshot) -> list[str]:
    """New bridges on the node: shared infrastructure, not a container's leak.

    A bridge plugin makes one bridge per network for every container on the
    node and, by design, never deletes it (neither on a real node); the local
    cluster's leak check treats it the same way. Veths left on it still count.
    """
    return sorted(x for x in after.links - before.links if x.endswith(" (bridge)"))


def leak_problems(before: Snapshot, after: Snapshot) -> list[str]:
    """What ``after`` has that ``before`` had not (what DEL left behind)."""
    shared = set(shared_links(before, after))
    new_links = sorted(after.links - before.links - shared)
    problems = [f"host link {x} was not removed" for x in new_links]
    problems += [f"file {x} was not removed" for x in sorted(after.files - before.files)]
    problems += [f"rule left behind: {x}" for x in sorted(after.rules - before.rules)]
    problems += [
        f"container link {x} was not removed"
        for x in sorted(after.container_links - before.container_links)
    ]
    return problems


_COUNTERS = re.compile(r"\s*-c \d+ \d+")


def iptables_rules(text: str) -> set[str]:
    """Rules and user chains in ``iptables-save`` output, as ``table: line``.

    Table headers, built-in chain policies, counters and comments are left
    out: iptables creates tables on first use and never removes them, which
    is not a leak; a rule or a chain a plugin added and did not remove is.
    """
    out: set[str] = set()
    table = "?"
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith("-A "):
            out.add(f"{table}: {_COUNTERS.sub('', line)}")
        elif line.startswith(":"):
            name, _, rest = line[1:].partition(" ")
            if rest.startswith("-"):
                out.add(f"{table}: chain {name}")
    return out


IPTABLES_TABLES = frozenset({"filter", "nat", "mangle", "raw", "security"})


def nft_rules(text: str, *, skip_iptables: bool) -> set[str]:
    """Rules and non-base chains in ``nft -j list ruleset`` output.

    With ``skip_iptables``, the tables iptables-nft manages (ip/ip6 filter,
    nat ...) are left out: :func:`iptables_rules` already reports them.
    """
    try:
        items = json.loads(text or "{}").get("nftables", [])
    except (ValueError, AttributeError):
        return set()
    out: set[str] = set()
    for item in items:
        for kind in ("chain", "rule"):
            obj = item.get(kind) if isinstance(item, dict) else None
            if not isinstance(obj, dict):
                continue
            family, table = obj.get("family"), obj.get("table")
            if skip_iptables and family in ("ip", "ip6") and table in IPTABLES_TABLES:
                continue
            if kind == "chain" and "hook" not in obj:
                out.add(f"{family} {table}: chain {obj.get('name')}")
            elif kind == "rule":
                expr = [
                    e for e in obj.get("expr") or [] if not (isinstance(e, dict) and "counter" in e)
                ]
                out.add(f"{family} {table} {obj.get('chain')}: {json.dumps(expr, sort_keys=True)}")
    return out


def _host_scoped(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_link_local


def distinct_address_problems(results: Sequence[dict[str, Any]]) -> list[str]:
    """Two containers given the same address (N concurrent ADDs)."""
    seen: dict[str, int] = {}
    problems: list[str] = []
    for n, result in enumerate(results):
        for ip in as_current(result).get("ips") or []:
            address = str(ip.get("address", "")).split("/")[0]
            if _host_scoped(address):
                continue  # 127.0.0.1 in every container is no clash
            if address in seen:
                problems.append(f"containers {seen[address]} and {n} both got {address}")
            seen.setdefault(address, n)
    return problems


def status_ip_problems(entry: dict[str, Any], itf: Interface | None) -> list[str]:
    """A network-status entry (NPWG v1.3 4.1.2.1.2) against the kernel's interface."""
    if itf is None:
        return [f"interface {entry.get('interface')!r} of network-status is not in the pod"]
    problems: list[str] = []
    kernel = {a.ip for a in itf.global_addresses()}
    listed = set(entry.get("ips") or [])
    if listed != kernel:
        problems.append(
            f"network-status ips {sorted(listed)} differ from the kernel's {sorted(kernel)} "
            f"on {itf.name}"
        )
    mac = entry.get("mac")
    if mac and not _mac_equal(str(mac), itf.mac):
        problems.append(f"network-status mac {mac}, kernel mac {itf.mac} on {itf.name}")
    return problems
