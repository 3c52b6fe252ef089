"""Is a success result well formed for its own cniVersion? (CNI SPEC.md Section 5)

Judging only: nothing here changes a result. :func:`view` reads the
addresses, interfaces, routes and dns of a result of any version into one
shape so a judge can compare them with the kernel; the result itself, as the
plugin printed it, is what callers keep.

- 0.1.0 / 0.2.0: ``ip4`` / ``ip6`` objects (``ip`` CIDR, ``gateway``, ``routes``), ``dns``.
- 0.3.0 / 0.3.1: ``interfaces``, ``ips`` (with ``version`` "4"/"6"), ``routes``, ``dns``.
- 0.4.0 / 1.0.0 / 1.1.0: the same; 1.0.0 drops ``ips[].version``; 1.1.0 adds
  route ``mtu``/``advmss``/``priority``/``table``/``scope`` and interface
  ``mtu``/``socketPath``/``pciID``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from harness.cniruntime.version import KNOWN_VERSIONS

LEGACY_VERSIONS = ("0.1.0", "0.2.0")
MAC = re.compile(r"^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5,19}$")


def is_legacy(version: str) -> bool:
    return version in LEGACY_VERSIONS


def _cidr_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return "is not a string"
    try:
        ipaddress.ip_interface(value)
    except ValueError:
        return f"{value!r} is not an address with a prefix length (CIDR)"
    if "/" not in value:
        return f"{value!r} has no prefix length"
    return None


def _ip_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return "is not a string"
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return f"{value!r} is not an IP address"
    return None


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _routes(routes: Any, where: str, version: str) -> list[str]:
    if not isinstance(routes, list):
        return [f"{where} must be a list"]
    problems = []
    for i, route in enumerate(routes):
        at = f"{where}[{i}]"
        if not isinstance(route, dict):
            problems.append(f"{at} must be an object")
            continue
        problem = _cidr_problem(route.get("dst"))
        if problem:
            problems.append(f"{at}.dst {problem}")
        if "gw" in route and route["gw"] not in (None, ""):
            problem = _ip_problem(route["gw"])
            if problem:
                problems.append(f"{at}.gw {problem}")
        if version == "1.1.0":
            for key in ("mtu", "advmss", "priority", "table", "scope"):
                if key in route and not _int(route[key]):
                    problems.append(f"{at}.{key} must be an integer")
    return problems


def _dns(dns: Any) -> list[str]:
    if not isinstance(dns, dict):
        return ["dns must be an object"]
    problems = []
    for key in ("nameservers", "search", "options"):
        if key in dns and not (
            isinstance(dns[key], list) and all(isinstance(v, str) for v in dns[key])
        ):
            problems.append(f"dns.{key} must be a list of strings")
    if "domain" in dns and not isinstance(dns["domain"], str):
        problems.append("dns.domain must be a string")
    return problems


def _legacy(result: dict[str, Any], version: str) -> list[str]:
    problems = []
    for key in ("ip4", "ip6"):
        if key not in result:
            continue
        block = result[key]
        if not isinstance(block, dict):
            problems.append(f"{key} must be an object")
            continue
        problem = _cidr_problem(block.get("ip"))
        if problem:
            problems.append(f"{key}.ip {problem}")
        if block.get("gateway"):
            problem = _ip_problem(block["gateway"])
            if problem:
                problems.append(f"{key}.gateway {problem}")
        if "routes" in block:
            problems += _routes(block["routes"], f"{key}.routes", version)
    for key in ("interfaces", "ips"):
        if key in result:
            problems.append(f"{key} does not exist in cniVersion {version} results")
    return problems


def _interfaces(interfaces: Any, version: str) -> list[str]:
    if not isinstance(interfaces, list):
        return ["interfaces must be a list"]
    problems = []
    for i, iface in enumerate(interfaces):
        at = f"interfaces[{i}]"
        if not isinstance(iface, dict):
            problems.append(f"{at} must be an object")
            continue
        if not isinstance(iface.get("name"), str) or not iface["name"]:
            problems.append(f"{at}.name is missing or not a string")
        mac = iface.get("mac")
        if mac not in (None, "") and not (isinstance(mac, str) and MAC.match(mac)):
            problems.append(f"{at}.mac {mac!r} is not a hardware address")
        if "sandbox" in iface and not isinstance(iface["sandbox"], str):
            problems.append(f"{at}.sandbox must be a string")
        if version == "1.1.0" and "mtu" in iface and not _int(iface["mtu"]):
            problems.append(f"{at}.mtu must be an integer")
    return problems


def _ips(ips: Any, version: str, n_interfaces: int) -> list[str]:
    if not isinstance(ips, list):
        return ["ips must be a list"]
    problems = []
    for i, ip in enumerate(ips):
        at = f"ips[{i}]"
        if not isinstance(ip, dict):
            problems.append(f"{at} must be an object")
            continue
        problem = _cidr_problem(ip.get("address"))
        if problem:
            problems.append(f"{at}.address {problem}")
        elif version in ("0.3.0", "0.3.1"):
            family = str(ipaddress.ip_interface(ip["address"]).version)
            if ip.get("version") != family:
                problems.append(
                    f"{at}.version is {ip.get('version')!r}; a {version} result says "
                    f"{family!r} for {ip['address']}"
                )
        if ip.get("gateway"):
            problem = _ip_problem(ip["gateway"])
            if problem:
                problems.append(f"{at}.gateway {problem}")
        if "interface" in ip and ip["interface"] is not None:
            index = ip["interface"]
            if not _int(index) or not 0 <= index < n_interfaces:
                problems.append(
                    f"{at}.interface {index!r} is not an index into interfaces "
                    f"(it has {n_interfaces})"
                )
    return problems


def result_shape_problems(result: Any) -> list[str]:
    """Each way ``result`` is not a valid success result of its cniVersion."""
    if not isinstance(result, dict):
        return ["the result must be a JSON object"]
    version = result.get("cniVersion")
    if not isinstance(version, str):
        return ["cniVersion is missing or not a string"]
    if version not in KNOWN_VERSIONS:
        return [f"cniVersion {version!r} is not one of {', '.join(KNOWN_VERSIONS)}"]
    if is_legacy(version):
        problems = _legacy(result, version)
    else:
        interfaces = result.get("interfaces", [])
        problems = _interfaces(interfaces, version)
        n = len(interfaces) if isinstance(interfaces, list) else 0
        problems += _ips(result.get("ips", []), version, n)
        if "routes" in result:
            problems += _routes(result["routes"], "routes", version)
    if "dns" in result:
        problems += _dns(result["dns"])
    return problems


def view(result: dict[str, Any]) -> dict[str, Any]:
    """Interfaces, ips, routes and dns of a result of any version, in one shape
    (the rich one), for comparison only. Unknown fields are left out."""
    version = str(result.get("cniVersion", ""))
    if not is_legacy(version):
        out: dict[str, Any] = {
            k: result[k] for k in ("interfaces", "ips", "routes", "dns") if k in result
        }
        out["cniVersion"] = version
        return out
    ips: list[dict[str, Any]] = []
    routes: list[dict[str, Any]] = []
    for key in ("ip4", "ip6"):
        block = result.get(key)
        if not isinstance(block, dict):
            continue
        ip: dict[str, Any] = {"address": block.get("ip")}
        if block.get("gateway"):
            ip["gateway"] = block["gateway"]
        ips.append(ip)
        routes += [dict(r) for r in block.get("routes") or [] if isinstance(r, dict)]
    legacy: dict[str, Any] = {"cniVersion": version, "interfaces": [], "ips": ips}
    legacy["routes"] = routes
    out = legacy
    if "dns" in result:
        out["dns"] = result["dns"]
    return out
