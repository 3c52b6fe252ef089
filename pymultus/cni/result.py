"""CNI success results: conversion between spec versions, validation, empty results.

Three shapes exist (CNI SPEC.md Section 5 "Success", and the 0.2.0/0.4.0 specs):

==============  =====================================================================
versions        shape
==============  =====================================================================
0.1.0, 0.2.0    ``ip4``/``ip6``: ``{ip, gateway, routes: [{dst, gw}]}``, ``dns``
0.3.x, 0.4.0    ``interfaces: [{name, mac, sandbox}]``,
                ``ips: [{version, address, gateway, interface}]``,
                ``routes: [{dst, gw}]``, ``dns``
1.0.0           as 0.4.0 but ``ips`` have no ``version``
1.1.0           as 1.0.0 plus ``interfaces[].mtu/socketPath/pciID`` and
                ``routes[].mtu/advmss/priority/table/scope``
==============  =====================================================================

:func:`convert_result` reads every field any version defines and writes the
ones the target version defines. What a target cannot carry is dropped:

* to 0.1.0/0.2.0: ``interfaces``; ``ips[].interface``; every IP after the first
  of each family; routes of a family that has no IP; the 1.1.0-only fields.
* to 0.3.x/0.4.0/1.0.0: the 1.1.0-only fields listed above.
* keys no CNI version defines (vendor extensions) are dropped, as the reference
  library does when it decodes a result into its typed structures.

Converting to the result's own version returns an unchanged copy: a result that
needs no conversion is passed through untouched (extensions included).
"""

from __future__ import annotations

from pymultus.cni import jsonlite
from pymultus.cni.errors import DECODE_FAILURE, INCOMPATIBLE_VERSION, CNIError
from pymultus.cni.ipfamily import address_version, interface_version
from pymultus.cni.version import SUPPORTED_VERSIONS

TYPE_CHECKING = False  # importing typing costs ~2 ms per CNI call: mypy reads this as True
if TYPE_CHECKING:
    from typing import Any

LEGACY_VERSIONS = ("0.1.0", "0.2.0")
_V03_VERSIONS = ("0.3.0", "0.3.1", "0.4.0")

_DNS_FIELDS = ("nameservers", "domain", "search", "options")
_IFACE_FIELDS_V1_1 = ("name", "mac", "mtu", "sandbox", "socketPath", "pciID")
_IFACE_FIELDS_OLD = ("name", "mac", "sandbox")
_ROUTE_FIELDS_V1_1 = ("dst", "gw", "mtu", "advmss", "priority", "table", "scope")
_ROUTE_FIELDS_OLD = ("dst", "gw")
_IP_FIELDS = ("address", "gateway", "interface")


def _iface_fields(version: str) -> tuple[str, ...]:
    return _IFACE_FIELDS_V1_1 if version == "1.1.0" else _IFACE_FIELDS_OLD


def _route_fields(version: str) -> tuple[str, ...]:
    return _ROUTE_FIELDS_V1_1 if version == "1.1.0" else _ROUTE_FIELDS_OLD


def is_legacy(version: str) -> bool:
    """True for the 0.1.0/0.2.0 ``ip4``/``ip6`` result shape."""
    return version in LEGACY_VERSIONS


def _ip_family(text: Any, with_prefix: bool) -> int | None:
    """4 or 6 for an IP (``with_prefix``: a CIDR ``ip/len``), None if it is not one."""
    if not isinstance(text, str):
        return None
    if with_prefix:
        return interface_version(text) if "/" in text else None
    return address_version(text)


def _version_of(result: Any, what: str) -> str:
    if not isinstance(result, dict):
        raise CNIError(DECODE_FAILURE, f"{what} is not a JSON object")
    version = result.get("cniVersion")
    if version is None or version == "":
        raise CNIError(
            DECODE_FAILURE,
            f"{what} has no cniVersion; a plugin result must say which CNI version it is",
        )
    if not isinstance(version, str) or version not in SUPPORTED_VERSIONS:
        raise CNIError(
            INCOMPATIBLE_VERSION,
            f"{what} has cniVersion {version!r}, which is not one of "
            + ", ".join(SUPPORTED_VERSIONS),
        )
    return version


def _list_of_objects(value: Any, where: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(x, dict) for x in value):
        raise CNIError(DECODE_FAILURE, f"result field {where} must be a list of objects")
    return value


def _pick(obj: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {k: jsonlite.copy_tree(obj[k]) for k in fields if k in obj}


class _Neutral:
    """A version-independent view of a result (a superset of every version)."""

    def __init__(self) -> None:
        self.interfaces: list[dict[str, Any]] | None = None
        # Each ip keeps its fields plus its family (4/6) under "_family".
        self.ips: list[dict[str, Any]] | None = None
        self.routes: list[dict[str, Any]] | None = None
        self.dns: dict[str, Any] | None = None


def _read_dns(result: dict[str, Any], n: _Neutral) -> None:
    if "dns" not in result or result["dns"] is None:
        return
    if not isinstance(result["dns"], dict):
        raise CNIError(DECODE_FAILURE, "result field dns must be an object")
    n.dns = _pick(result["dns"], _DNS_FIELDS)


def _read_legacy(result: dict[str, Any]) -> _Neutral:
    n = _Neutral()
    ips: list[dict[str, Any]] = []
    routes: list[dict[str, Any]] = []
    has_routes = False
    for family, key in ((4, "ip4"), (6, "ip6")):
        block = result.get(key)
        if block is None:
            continue
        if not isinstance(block, dict):
            raise CNIError(DECODE_FAILURE, f"result field {key} must be an object")
        if not isinstance(block.get("ip"), str):
            raise CNIError(DECODE_FAILURE, f"result field {key}.ip must be a CIDR string")
        ip: dict[str, Any] = {"address": block["ip"], "_family": family}
        if block.get("gateway"):
            ip["gateway"] = block["gateway"]
        ips.append(ip)
        if "routes" in block and block["routes"] is not None:
            has_routes = True
            routes.extend(
                _pick(r, _ROUTE_FIELDS_OLD)
                for r in _list_of_objects(block["routes"], f"{key}.routes")
            )
    n.ips = ips or None
    n.routes = routes if has_routes and routes else None
    _read_dns(result, n)
    return n


def _read_rich(result: dict[str, Any]) -> _Neutral:
    n = _Neutral()
    if "interfaces" in result and result["interfaces"] is not None:
        n.interfaces = [
            _pick(i, _IFACE_FIELDS_V1_1)
            for i in _list_of_objects(result["interfaces"], "interfaces")
        ]
    if "ips" in result and result["ips"] is not None:
        n.ips = []
        for idx, ip in enumerate(_list_of_objects(result["ips"], "ips")):
            entry = _pick(ip, _IP_FIELDS)
            declared = ip.get("version")
            if declared in ("4", "6"):
                entry["_family"] = int(declared)
            else:
                entry["_family"] = _ip_family(ip.get("address"), with_prefix=True)
            entry["_index"] = idx
            n.ips.append(entry)
    if "routes" in result and result["routes"] is not None:
        n.routes = [
            _pick(r, _ROUTE_FIELDS_V1_1) for r in _list_of_objects(result["routes"], "routes")
        ]
    _read_dns(result, n)
    return n


def _family_or_fail(ip: dict[str, Any]) -> int:
    family = ip.get("_family")
    if family is None:
        raise CNIError(
            DECODE_FAILURE,
            f"result field ips[{ip.get('_index', '?')}].address {ip.get('address')!r} "
            "is not an IP address in CIDR notation, so its IP version is unknown",
        )
    return int(family)


def _write_legacy(n: _Neutral, version: str) -> dict[str, Any]:
    out: dict[str, Any] = {"cniVersion": version}
    blocks: dict[int, dict[str, Any]] = {}
    for ip in n.ips or []:
        family = _family_or_fail(ip)
        if family in blocks:
            continue  # 0.2.0 carries one address per family: the first wins
        block: dict[str, Any] = {"ip": ip.get("address")}
        if ip.get("gateway"):
            block["gateway"] = ip["gateway"]
        blocks[family] = block
    for idx, route in enumerate(n.routes or []):
        route_family = _ip_family(route.get("dst"), with_prefix=True)
        if route_family is None:
            raise CNIError(
                DECODE_FAILURE,
                f"result field routes[{idx}].dst {route.get('dst')!r} is not a CIDR",
            )
        if route_family in blocks:
            blocks[route_family].setdefault("routes", []).append(_pick(route, _ROUTE_FIELDS_OLD))
    for family, key in ((4, "ip4"), (6, "ip6")):
        if family in blocks:
            out[key] = blocks[family]
    if n.dns is not None:
        out["dns"] = n.dns
    return out


def _write_rich(n: _Neutral, version: str) -> dict[str, Any]:
    out: dict[str, Any] = {"cniVersion": version}
    with_ip_version = version in _V03_VERSIONS
    if n.interfaces is not None:
        fields = _iface_fields(version)
        out["interfaces"] = [_pick(i, fields) for i in n.interfaces]
    if n.ips is not None:
        ips: list[dict[str, Any]] = []
        for ip in n.ips:
            entry: dict[str, Any] = {}
            if with_ip_version:
                entry["version"] = str(_family_or_fail(ip))
            entry.update(_pick(ip, _IP_FIELDS))
            ips.append(entry)
        out["ips"] = ips
    if n.routes is not None:
        fields = _route_fields(version)
        out["routes"] = [_pick(r, fields) for r in n.routes]
    if n.dns is not None:
        out["dns"] = n.dns
    return out


def convert_result(result: dict[str, Any], to_version: str) -> dict[str, Any]:
    """Convert a success result from its own ``cniVersion`` to ``to_version``.

    CNI SPEC.md Section 3 requires results in the version the caller asked for.
    Raises CNIError(DECODE_FAILURE) for a result without ``cniVersion`` or with
    malformed fields the conversion needs, CNIError(INCOMPATIBLE_VERSION) for
    an unknown source or target version. The input is never modified.
    """
    from_version = _version_of(result, "result")
    if to_version not in SUPPORTED_VERSIONS:
        raise CNIError(
            INCOMPATIBLE_VERSION,
            f"cannot convert a result to CNI version {to_version!r}; supported: "
            + ", ".join(SUPPORTED_VERSIONS),
        )
    if from_version == to_version:
        same: dict[str, Any] = jsonlite.copy_tree(result)
        return same
    neutral = _read_legacy(result) if is_legacy(from_version) else _read_rich(result)
    if is_legacy(to_version):
        return _write_legacy(neutral, to_version)
    return _write_rich(neutral, to_version)


def empty_result(cni_version: str) -> dict[str, Any]:
    """A success result with nothing in it, in ``cni_version``'s shape."""
    if is_legacy(cni_version):
        return {"cniVersion": cni_version, "dns": {}}
    return {"cniVersion": cni_version, "interfaces": [], "ips": [], "routes": [], "dns": {}}


# --- validation -------------------------------------------------------------------


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_str_list(value: Any, where: str, problems: list[str]) -> None:
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        problems.append(f"{where} must be a list of strings")


def _check_dns(dns: Any, problems: list[str]) -> None:
    if not isinstance(dns, dict):
        problems.append("dns must be an object")
        return
    if "nameservers" in dns:
        ns = dns["nameservers"]
        if not isinstance(ns, list):
            problems.append("dns.nameservers must be a list of IP addresses")
        else:
            for i, server in enumerate(ns):
                if _ip_family(server, with_prefix=False) is None:
                    problems.append(f"dns.nameservers[{i}] {server!r} is not an IP address")
    if "domain" in dns and not isinstance(dns["domain"], str):
        problems.append("dns.domain must be a string")
    for key in ("search", "options"):
        if key in dns:
            _check_str_list(dns[key], f"dns.{key}", problems)


def _check_route(route: Any, where: str, version: str, problems: list[str]) -> None:
    if not isinstance(route, dict):
        problems.append(f"{where} must be an object")
        return
    dst_family = _ip_family(route.get("dst"), with_prefix=True)
    if "dst" not in route:
        problems.append(f"{where}.dst is missing")
    elif dst_family is None:
        problems.append(f"{where}.dst {route['dst']!r} is not a CIDR")
    if "gw" in route:
        gw_family = _ip_family(route["gw"], with_prefix=False)
        if gw_family is None:
            problems.append(f"{where}.gw {route['gw']!r} is not an IP address")
        elif dst_family is not None and gw_family != dst_family:
            problems.append(f"{where}.gw {route['gw']!r} is not of the same IP version as dst")
    if version == "1.1.0":
        for key in ("mtu", "advmss", "priority"):
            if key in route and not (_is_int(route[key]) and route[key] >= 0):
                problems.append(f"{where}.{key} must be a non-negative integer")
        for key in ("table", "scope"):
            if key in route and not _is_int(route[key]):
                problems.append(f"{where}.{key} must be an integer")


def _check_routes(routes: Any, where: str, version: str, problems: list[str]) -> None:
    if not isinstance(routes, list):
        problems.append(f"{where} must be a list")
        return
    for i, route in enumerate(routes):
        _check_route(route, f"{where}[{i}]", version, problems)


def _validate_legacy(result: dict[str, Any], version: str, problems: list[str]) -> None:
    for family, key in ((4, "ip4"), (6, "ip6")):
        if key not in result:
            continue
        block = result[key]
        if not isinstance(block, dict):
            problems.append(f"{key} must be an object")
            continue
        if "ip" not in block:
            problems.append(f"{key}.ip is missing")
        elif _ip_family(block["ip"], with_prefix=True) != family:
            problems.append(
                f"{key}.ip {block['ip']!r} is not an IPv{family} address in CIDR notation"
            )
        if "gateway" in block and _ip_family(block["gateway"], with_prefix=False) != family:
            problems.append(f"{key}.gateway {block['gateway']!r} is not an IPv{family} address")
        if "routes" in block:
            _check_routes(block["routes"], f"{key}.routes", version, problems)
    for key in ("interfaces", "ips", "routes"):
        if key in result:
            problems.append(f"{key} is not part of a CNI {version} result (it has ip4/ip6)")


def _check_interface(iface: Any, where: str, version: str, problems: list[str]) -> None:
    if not isinstance(iface, dict):
        problems.append(f"{where} must be an object")
        return
    name = iface.get("name")
    if not isinstance(name, str) or not name:
        problems.append(f"{where}.name is missing or empty")
    for key in ("mac", "sandbox"):
        if key in iface and not isinstance(iface[key], str):
            problems.append(f"{where}.{key} must be a string")
    mac = iface.get("mac")
    if isinstance(mac, str) and mac and not _is_mac(mac):
        problems.append(f"{where}.mac {mac!r} is not a hardware address like 0a:58:0a:f4:00:05")
    if version == "1.1.0":
        if "mtu" in iface and not (_is_int(iface["mtu"]) and iface["mtu"] >= 0):
            problems.append(f"{where}.mtu must be a non-negative integer")
        for key in ("socketPath", "pciID"):
            if key in iface and not isinstance(iface[key], str):
                problems.append(f"{where}.{key} must be a string")


def _is_mac(mac: str) -> bool:
    parts = mac.split(":")
    hexdigits = "0123456789abcdefABCDEF"
    return len(parts) >= 6 and all(len(p) == 2 and all(c in hexdigits for c in p) for p in parts)


def _check_ip(
    ip: Any, where: str, version: str, n_interfaces: int | None, problems: list[str]
) -> None:
    if not isinstance(ip, dict):
        problems.append(f"{where} must be an object")
        return
    family = _ip_family(ip.get("address"), with_prefix=True)
    if "address" not in ip:
        problems.append(f"{where}.address is missing")
    elif family is None:
        problems.append(f"{where}.address {ip['address']!r} is not an IP address in CIDR notation")
    if version in _V03_VERSIONS:
        declared = ip.get("version")
        if declared not in ("4", "6"):
            problems.append(f'{where}.version must be "4" or "6" in a CNI {version} result')
        elif family is not None and int(declared) != family:
            problems.append(
                f"{where}.version {declared!r} does not match address {ip['address']!r}"
            )
    elif "version" in ip:
        problems.append(f"{where}.version is not part of a CNI {version} result (removed in 1.0.0)")
    if "gateway" in ip:
        gw_family = _ip_family(ip["gateway"], with_prefix=False)
        if gw_family is None:
            problems.append(f"{where}.gateway {ip['gateway']!r} is not an IP address")
        elif family is not None and gw_family != family:
            problems.append(
                f"{where}.gateway {ip['gateway']!r} is not of the same IP version as address"
            )
    if "interface" in ip:
        index = ip["interface"]
        if not _is_int(index) or index < 0:
            problems.append(
                f"{where}.interface must be a non-negative integer index into interfaces"
            )
        elif n_interfaces is not None and index >= n_interfaces:
            problems.append(
                f"{where}.interface {index} is out of range (the result has "
                f"{n_interfaces} interface{'s' if n_interfaces != 1 else ''})"
            )


def _validate_rich(result: dict[str, Any], version: str, problems: list[str]) -> None:
    n_interfaces: int | None = 0
    if "interfaces" in result:
        interfaces = result["interfaces"]
        if not isinstance(interfaces, list):
            problems.append("interfaces must be a list")
            n_interfaces = None
        else:
            n_interfaces = len(interfaces)
            for i, iface in enumerate(interfaces):
                _check_interface(iface, f"interfaces[{i}]", version, problems)
    if "ips" in result:
        ips = result["ips"]
        if not isinstance(ips, list):
            problems.append("ips must be a list")
        else:
            for i, ip in enumerate(ips):
                _check_ip(ip, f"ips[{i}]", version, n_interfaces, problems)
    if "routes" in result:
        _check_routes(result["routes"], "routes", version, problems)
    for key in ("ip4", "ip6"):
        if key in result:
            problems.append(f"{key} is not part of a CNI {version} result (use ips)")


def validate_result(result: dict[str, Any]) -> list[str]:
    """Problems in a success result, judged against its own ``cniVersion``.

    An empty list means valid. Each problem names the field (``ips[0].address``)
    and what is wrong, so a vendor can fix the plugin from the message alone.
    """
    if not isinstance(result, dict):
        return [f"the result must be a JSON object, got {type(result).__name__}"]
    version = result.get("cniVersion")
    if version is None:
        return ["cniVersion is missing"]
    if not isinstance(version, str) or version not in SUPPORTED_VERSIONS:
        return [
            f"cniVersion {version!r} is not one of the CNI versions "
            + ", ".join(SUPPORTED_VERSIONS)
        ]
    problems: list[str] = []
    if is_legacy(version):
        _validate_legacy(result, version, problems)
    else:
        _validate_rich(result, version, problems)
    if "dns" in result:
        _check_dns(result["dns"], problems)
    return problems
