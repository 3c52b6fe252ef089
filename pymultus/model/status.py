"""The network-status annotation (NPWG multi-net spec v1.3, Section 5).

After ADD, every attachment, the cluster default network included, gets one
map in the JSON list ``k8s.v1.cni.cncf.io/network-status`` (Multus also
writes the old name ``k8s.v1.cni.cncf.io/networks-status``). The field set is
Multus's: ``name``, ``interface``, ``ips``, ``mac``, ``mtu``, ``default``,
``dns``, ``device-info``, ``gateway``; that is also the key order written.

Deliberate differences from the reference, and where we follow it:

* ``gateway`` lists the attachment's default-route gateways. A default route
  without ``gw`` takes the gateway of the interface's address of the same
  family, as CNI SPEC.md (Section 4, Result "routes": "If unset, a value in
  gateway in the ips array may be used") and the reference plugins do;
  Multus prints such a route as ``"<nil>"``.
* Byte-level choices the spec leaves open follow the reference: ``"dns": {}``
  is written in every entry, ``"default"`` only when true.
* When ``default-route`` moves the default route to another attachment, the
  entries are rewritten with :func:`apply_default_route`, so the attachment
  that now holds the route names its gateway (Multus forgets it).
"""

from __future__ import annotations

# collections.abc without importing collections (~1.3 ms per CNI call, issue 16)
from _collections_abc import Iterable, Mapping, Sequence

from pymultus.cni import jsonlite
from pymultus.cni.errors import DECODE_FAILURE, CNIError
from pymultus.cni.ipfamily import interface_version, network_prefixlen

TYPE_CHECKING = False  # importing typing costs ~2 ms per CNI call: mypy reads this as True
if TYPE_CHECKING:
    from typing import Any

NETWORK_STATUS_ANNOTATION = "k8s.v1.cni.cncf.io/network-status"
LEGACY_NETWORK_STATUS_ANNOTATION = "k8s.v1.cni.cncf.io/networks-status"

STATUS_KEY_ORDER: tuple[str, ...] = (
    "name",
    "interface",
    "ips",
    "mac",
    "mtu",
    "default",
    "dns",
    "device-info",
    "gateway",
)
DNS_KEYS: tuple[str, ...] = ("nameservers", "domain", "search", "options")


def _family(address: object) -> int | None:
    """4 or 6 for an address with or without a prefix length, else None."""
    if not isinstance(address, str):
        return None
    return interface_version(address.strip())


def _is_default_destination(destination: object) -> bool:
    if not isinstance(destination, str):
        return False
    return network_prefixlen(destination.strip()) == 0


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _legacy_ips_and_routes(result: Mapping[str, Any]) -> tuple[list[Any], list[Any]]:
    """``ips`` and ``routes`` from a pre-0.3.0 result's ``ip4``/``ip6`` sections.

    CNI SPEC.md 0.2.0: each section has ``ip`` (CIDR), ``gateway`` and
    ``routes``; a route without ``gw`` uses the section's gateway.
    """
    ips: list[Any] = []
    routes: list[Any] = []
    for key in ("ip4", "ip6"):
        section = result.get(key)
        if not isinstance(section, Mapping):
            continue
        gateway = section.get("gateway")
        if isinstance(section.get("ip"), str):
            ips.append({"address": section["ip"], "gateway": gateway})
        for route in _list(section.get("routes")):
            if isinstance(route, Mapping):
                route = dict(route)
                if not route.get("gw") and isinstance(gateway, str):
                    route["gw"] = gateway
                routes.append(route)
    return ips, routes


def _pick_interface(interfaces: Sequence[Any], ifname: str, sandbox: str | None) -> int | None:
    """Index of the result interface this attachment created in the pod.

    NPWG v1.3 5.1.1 / 5.3.2.1: the sandbox interface. Preference: the one
    named ``ifname`` in ``sandbox``; named ``ifname`` with any sandbox; the
    first interface with a sandbox.
    """
    candidates = [
        (index, item) for index, item in enumerate(interfaces) if isinstance(item, Mapping)
    ]
    in_sandbox = [(index, item) for index, item in candidates if item.get("sandbox")]
    for index, item in in_sandbox:
        if item.get("name") == ifname and sandbox is not None and item.get("sandbox") == sandbox:
            return index
    for index, item in in_sandbox:
        if item.get("name") == ifname:
            return index
    return in_sandbox[0][0] if in_sandbox else None


def _own_ips(
    ips: Sequence[Any], has_interfaces: bool, chosen: int | None
) -> list[Mapping[str, Any]]:
    """The result's ``ips`` entries that belong to the chosen interface.

    NPWG v1.3 5.3.3.1: the ips whose ``interface`` index is the sandbox
    interface; with no interfaces at all, every ip; with no sandbox
    interface, those without an index. Entries without an index are also
    kept next to a chosen interface: some plugins omit the index, and such an
    address cannot belong to another interface we know of.
    """
    own = []
    for item in ips:
        if not isinstance(item, Mapping) or not isinstance(item.get("address"), str):
            continue
        index = item.get("interface")
        unattributed = not isinstance(index, int) or isinstance(index, bool) or index < 0
        if not has_interfaces or unattributed or index == chosen:
            own.append(item)
    return own


def default_route_gateways(routes: Iterable[Any], ips: Iterable[Mapping[str, Any]]) -> list[str]:
    """Gateways of the default routes, a missing ``gw`` taken from ``ips`` of that family."""
    ip_gateways: dict[int, str] = {}
    for item in ips:
        gateway = item.get("gateway")
        family = _family(item.get("address", ""))
        if isinstance(gateway, str) and gateway and family is not None:
            ip_gateways.setdefault(family, gateway)
    gateways: list[str] = []
    for route in routes:
        if not isinstance(route, Mapping) or not _is_default_destination(route.get("dst")):
            continue
        gateway = route.get("gw")
        if not isinstance(gateway, str) or not gateway:
            family = _family(route["dst"])
            gateway = ip_gateways.get(family) if family is not None else None
        if gateway and gateway not in gateways:
            gateways.append(gateway)
    return gateways


def _dns(result: Mapping[str, Any]) -> dict[str, Any]:
    dns = result.get("dns")
    if not isinstance(dns, Mapping):
        return {}
    return {key: dns[key] for key in DNS_KEYS if dns.get(key)}


def status_entry(
    name: str,
    ifname: str,
    result: Mapping[str, Any] | None,
    *,
    default: bool,
    sandbox: str | None,
    device_info: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The network-status map for one attachment (NPWG v1.3 5.3).

    ``name`` is ``namespace/nad`` (or the config name for a file-based default
    network), ``ifname`` the CNI_IFNAME it was added with, ``result`` its ADD
    result in any CNI version (an empty result gives the minimal map of
    NPWG v1.3 5.1.1), ``sandbox`` the CNI_NETNS path. Optional keys appear
    only when they have a value.
    """
    result = result or {}
    if "ips" not in result and ("ip4" in result or "ip6" in result):
        ips, routes = _legacy_ips_and_routes(result)
        interfaces: list[Any] = []
    else:
        ips = _list(result.get("ips"))
        routes = _list(result.get("routes"))
        interfaces = _list(result.get("interfaces"))
    chosen = _pick_interface(interfaces, ifname, sandbox)
    own_ips = _own_ips(ips, bool(interfaces), chosen)

    entry: dict[str, Any] = {"name": name, "interface": ifname}
    addresses = [item["address"].split("/", 1)[0] for item in own_ips]
    if addresses:
        entry["ips"] = addresses
    if chosen is not None:
        interface = interfaces[chosen]
        mac = interface.get("mac")
        if isinstance(mac, str) and mac:
            entry["mac"] = mac
        mtu = interface.get("mtu")
        if isinstance(mtu, int) and not isinstance(mtu, bool) and mtu > 0:
            entry["mtu"] = mtu
    if default:
        # Multus (NetworkStatus, `json:"default,omitempty"`) omits a false
        # default; NPWG v1.3 5.3.4 makes the key optional, absent meaning false.
        entry["default"] = True
    # Multus writes "dns" in every entry, empty too (its DNS is a struct, which
    # omitempty never drops): the same bytes here.
    entry["dns"] = _dns(result)
    if device_info:
        entry["device-info"] = dict(device_info)
    gateways = default_route_gateways(routes, own_ips)
    if gateways:
        entry["gateway"] = gateways
    return entry


def set_default_route_gateway(entry: Mapping[str, Any], gateways: Iterable[str]) -> dict[str, Any]:
    """A copy of ``entry`` whose default route now goes via ``gateways``.

    Gateways of the families given replace the entry's gateways of those
    families; its gateways of other families stay.
    """
    new = [gateway for gateway in gateways if gateway]
    families = {_family(gateway) for gateway in new}
    kept = [gateway for gateway in _list(entry.get("gateway")) if _family(gateway) not in families]
    return _with_gateways(entry, kept + [g for g in new if g not in kept])


def drop_default_route_gateways(
    entry: Mapping[str, Any], families: Iterable[int]
) -> dict[str, Any]:
    """A copy of ``entry`` without its default-route gateways of ``families`` (4/6)."""
    dropped = set(families)
    kept = [gateway for gateway in _list(entry.get("gateway")) if _family(gateway) not in dropped]
    return _with_gateways(entry, kept)


def _with_gateways(entry: Mapping[str, Any], gateways: list[str]) -> dict[str, Any]:
    updated = {key: value for key, value in entry.items() if key != "gateway"}
    if gateways:
        updated["gateway"] = gateways
    return canonical_entry(updated)


def apply_default_route(
    entries: Sequence[Mapping[str, Any]], chosen: Mapping[int, tuple[int, str]]
) -> list[dict[str, Any]]:
    """Rewrite entries after ``default-route`` moved default routes.

    ``chosen`` maps a family (4/6) to ``(entry index, gateway)`` (note: an
    index into ``entries``, not into the annotation; the caller translates
    :func:`pymultus.model.selection.default_route_gateways_by_family`). For
    each family, every other entry loses its gateway of that family, and the
    chosen entry names the requested one (NPWG v1.3 4.1.2.1 "default-route":
    the default route is cleared from the other attachments).
    """
    updated = [dict(entry) for entry in entries]
    for family, (index, gateway) in chosen.items():
        if not 0 <= index < len(updated):
            raise IndexError(f"default-route entry index {index} is out of range")
        updated = [drop_default_route_gateways(entry, (family,)) for entry in updated]
        updated[index] = set_default_route_gateway(updated[index], (gateway,))
    return updated


def canonical_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """``entry`` with the known keys in :data:`STATUS_KEY_ORDER`, others after, sorted."""
    ordered = {key: entry[key] for key in STATUS_KEY_ORDER if key in entry}
    for key in sorted(key for key in entry if key not in ordered):
        ordered[key] = entry[key]
    return ordered


def encode_status(entries: Iterable[Mapping[str, Any]]) -> str:
    """The annotation value: compact JSON, keys in a stable order."""
    return jsonlite.dumps([canonical_entry(entry) for entry in entries], separators=(",", ":"))


def decode_status(text: str) -> list[dict[str, Any]]:
    """Read a network-status annotation back (either annotation name).

    Empty text or ``null`` is an empty list. Anything but a JSON list of
    objects is a :class:`CNIError` with code 6 (DECODE_FAILURE).
    """
    if not text.strip():
        return []
    try:
        decoded = jsonlite.loads(text)
    except (ValueError, RecursionError) as exc:
        raise CNIError(
            DECODE_FAILURE, f"{NETWORK_STATUS_ANNOTATION} annotation is not valid JSON: {exc}"
        ) from None
    if decoded is None:
        return []
    if not isinstance(decoded, list):
        raise CNIError(
            DECODE_FAILURE, f"{NETWORK_STATUS_ANNOTATION} annotation must be a JSON list of objects"
        )
    for index, item in enumerate(decoded):
        if not isinstance(item, dict):
            raise CNIError(
                DECODE_FAILURE,
                f"{NETWORK_STATUS_ANNOTATION} annotation: element {index} must be an object",
            )
    return decoded
