"""The pod's network selection annotations (NPWG multi-net spec v1.3, Section 4).

``k8s.v1.cni.cncf.io/networks`` asks for extra attachments, in one of two
formats that implementations must both support (NPWG v1.3 4.1):

* the comma-delimited format (4.1.1): ``name``, ``namespace/name``, and the
  Multus extension ``name@ifname`` / ``namespace/name@ifname``;
* the JSON list format (4.1.2): a list of selection elements (4.1.2.1).

Like Multus, the JSON format is assumed whenever the text contains ``[``,
``{`` or ``"``. The JSON value must be a list, as in the spec and Multus; a
lone object is rejected with a hint to wrap it in ``[...]``.

Validation is stricter than Multus, which checks names only in the comma
format and, in JSON elements, only ``mac``, ``infiniband-guid`` and ``ips``.
Every field is checked here, in both formats, so a bad request fails at once
with an error (code 7) that names the annotation, the element and the field,
rather than deep inside a delegate. Key lookup follows Go's case-insensitive
matching, as Multus does. Keys this module does not know are ignored (NPWG
v1.3 4.1.2.1 reserves them for extensions) and kept in
:attr:`NetworkSelection.raw`.

``v1.multus-cni.io/default-network`` replaces the cluster default network
for one pod. Multus parses it with the same parser, defaulting the namespace
to ``multusNamespace`` (not the pod's), and accepts exactly one network.
"""

from __future__ import annotations

# collections.abc without importing collections (~1.3 ms per CNI call, issue 16)
from _collections_abc import Mapping, Sequence

from pymultus.cni import jsonlite
from pymultus.cni.errors import INVALID_CONFIG, CNIError
from pymultus.cni.ipfamily import address_version
from pymultus.cni.record import Record, init_fields
from pymultus.cni.request import reject_constant
from pymultus.model.config import DEFAULT_MULTUS_NAMESPACE, go_json_get, json_type_name
from pymultus.model.nad import LABEL_RULE, NAD_NAME_RULE, is_dns1123_label, is_nad_name

TYPE_CHECKING = False  # importing typing costs ~2 ms per CNI call: mypy reads this as True
if TYPE_CHECKING:
    from typing import Any

ANNOTATION = "k8s.v1.cni.cncf.io/networks"
DEFAULT_NETWORK_ANNOTATION = "v1.multus-cni.io/default-network"

# Linux IFNAMSIZ is 16 bytes including the terminating NUL.
IFNAME_MAX_BYTES = 15
IFNAME_RULE = "1 to 15 bytes, no '/', ':', NUL or whitespace, not '.' or '..'"
PORT_PROTOCOLS: tuple[str, ...] = ("tcp", "udp", "sctp")
BANDWIDTH_KEYS: tuple[str, ...] = ("ingressRate", "ingressBurst", "egressRate", "egressBurst")
_JSON_MARKERS = frozenset('[{"')


class NetworkSelection(Record):
    """One requested attachment: an element of the networks annotation.

    ``namespace`` is always filled in (the pod's, or ``multusNamespace`` for
    the default-network annotation). Empty optional requests are normalised
    to None or ``()``; ``raw`` keeps the element exactly as written (for the
    comma format, the parts that were given).
    """

    name: str
    namespace: str
    interface: str | None
    ips: tuple[str, ...]
    mac: str | None
    cni_args: dict[str, Any] | None
    port_mappings: tuple[dict[str, Any], ...]
    bandwidth: dict[str, Any] | None
    default_route: tuple[str, ...]
    infiniband_guid: str | None
    ipam_claim_reference: str | None
    raw: dict[str, Any]
    # Multus extension: a device ID requested directly in the element.
    device_id: str | None

    __slots__ = (
        "bandwidth",
        "cni_args",
        "default_route",
        "device_id",
        "infiniband_guid",
        "interface",
        "ipam_claim_reference",
        "ips",
        "mac",
        "name",
        "namespace",
        "port_mappings",
        "raw",
    )
    _frozen = True

    def __init__(
        self,
        name: str,
        namespace: str,
        interface: str | None = None,
        ips: tuple[str, ...] = (),
        mac: str | None = None,
        cni_args: dict[str, Any] | None = None,
        port_mappings: tuple[dict[str, Any], ...] = (),
        bandwidth: dict[str, Any] | None = None,
        default_route: tuple[str, ...] = (),
        infiniband_guid: str | None = None,
        ipam_claim_reference: str | None = None,
        raw: dict[str, Any] | None = None,
        device_id: str | None = None,
    ) -> None:
        init_fields(
            self,
            name=name,
            namespace=namespace,
            interface=interface,
            ips=ips,
            mac=mac,
            cni_args=cni_args,
            port_mappings=port_mappings,
            bandwidth=bandwidth,
            default_route=default_route,
            infiniband_guid=infiniband_guid,
            ipam_claim_reference=ipam_claim_reference,
            raw=raw if raw is not None else {},
            device_id=device_id,
        )

    @property
    def ref(self) -> str:
        """``namespace/name``: how the attachment is named in messages and status."""
        return f"{self.namespace}/{self.name}"


def ip_version(text: str) -> int | None:
    """4 or 6 for an IP address (no prefix), None when ``text`` is not one."""
    if "%" in text:  # IPv6 zone ids cannot be requested or routed to
        return None
    return address_version(text)


def _ip_or_cidr_version(text: str) -> int | None:
    """Like :func:`ip_version`, also accepting ``address/prefix`` (as Go's ParseCIDR)."""
    address, slash, prefix = text.partition("/")
    version = ip_version(address)
    if version is None or not slash:
        return version
    limit = 32 if version == 4 else 128
    if not prefix.isdigit() or not prefix.isascii() or int(prefix) > limit:
        return None
    return version


def is_valid_ifname(name: str) -> bool:
    """Whether the kernel accepts ``name`` as an interface name (dev_valid_name)."""
    if name in ("", ".", ".."):
        return False
    if len(name.encode("utf-8", "surrogatepass")) > IFNAME_MAX_BYTES:
        return False
    # NUL too: it would end the name in the kernel, and cannot be passed to a
    # delegate in CNI_IFNAME at all (found by tests/unit/test_props_parsers.py).
    return not any(ch in "/:\0" or ch.isspace() for ch in name)


def _parse_hw_address(text: str) -> bytes | None:
    """Decode a hardware address in the notations Go's net.ParseMAC accepts.

    ``aa:bb:..`` or ``aa-bb-..`` (two hex digits per octet) and ``aabb.ccdd..``
    (four hex digits per group). Multus validates ``mac`` and
    ``infiniband-guid`` with net.ParseMAC, so the same spellings work here.
    """
    if len(text) >= 14 and text[2] in ":-":
        parts = text.split(text[2])
        if all(len(part) == 2 for part in parts):
            return _hex_bytes("".join(parts))
        return None
    if len(text) >= 14 and text[4] == ".":
        parts = text.split(".")
        if all(len(part) == 4 for part in parts):
            return _hex_bytes("".join(parts))
    return None


def _hex_bytes(digits: str) -> bytes | None:
    if not digits.isascii():
        return None
    try:
        return bytes.fromhex(digits)
    except ValueError:
        return None


class _Problem(Exception):
    """A validation failure inside one element; turned into a CNIError by the caller."""


def _annotation_error(annotation: str, detail: str) -> CNIError:
    return CNIError(INVALID_CONFIG, f"invalid {annotation} annotation: {detail}")


def _check_namespace(namespace: str) -> None:
    if not is_dns1123_label(namespace):
        raise _Problem(f'namespace "{namespace}" is not a valid DNS-1123 label ({LABEL_RULE})')


def _check_name(name: str) -> None:
    if not is_nad_name(name):
        raise _Problem(
            f'network name "{name}" is not a valid DNS-1123 NetworkAttachmentDefinition '
            f"name ({NAD_NAME_RULE})"
        )


def _check_ifname(name: str) -> None:
    # NPWG v1.3 4.1.2.1 "interface": must be a valid Linux kernel interface name.
    if not is_valid_ifname(name):
        raise _Problem(
            f'interface name "{name}" is not a valid Linux interface name ({IFNAME_RULE})'
        )


# --- the comma-delimited format (NPWG v1.3 4.1.1) -------------------------------------


def _parse_comma_item(item: str, pod_namespace: str) -> NetworkSelection:
    namespace_part: str | None = None
    rest = item
    if "/" in item:
        namespace_part, rest = item.split("/", 1)
        if "/" in rest:
            raise _Problem("more than one '/' (expected namespace/name[@interface])")
        namespace_part = namespace_part.strip()
        if not namespace_part:
            raise _Problem("the namespace before '/' is empty")
    ifname: str | None = None
    name = rest
    if "@" in rest:
        name, ifname = rest.split("@", 1)
        if "@" in ifname:
            raise _Problem("more than one '@' (expected name@interface)")
        ifname = ifname.strip()
    name = name.strip()
    if namespace_part is not None:
        _check_namespace(namespace_part)
    if not name:
        raise _Problem("the network name is empty")
    _check_name(name)
    raw: dict[str, Any] = {"name": name}
    if namespace_part is not None:
        raw["namespace"] = namespace_part
    if ifname is not None:
        if not ifname:
            raise _Problem("the interface name after '@' is empty")
        _check_ifname(ifname)
        raw["interface"] = ifname
    return NetworkSelection(
        name=name,
        namespace=namespace_part if namespace_part is not None else pod_namespace,
        interface=ifname,
        raw=raw,
    )


def _parse_comma_format(text: str, pod_namespace: str, annotation: str) -> list[NetworkSelection]:
    selections = []
    for index, item in enumerate(text.split(",")):
        item = item.strip()
        try:
            if not item:
                raise _Problem(
                    f"item {index} is empty: remove the stray ',' or name a network there"
                )
            selections.append(_parse_comma_item(item, pod_namespace))
        except _Problem as problem:
            if not item:
                raise _annotation_error(annotation, str(problem)) from None
            raise _annotation_error(annotation, f'"{item}": {problem}') from None
    return selections


# --- the JSON list format (NPWG v1.3 4.1.2) -------------------------------------------


def _optional_string(element: Mapping[str, Any], key: str) -> str | None:
    """A string field; absent, null and "" all mean "not requested" (Go zero value)."""
    value = go_json_get(element, key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Problem(f'field "{key}" must be a string, got {json_type_name(value)}')
    return value or None


def _string_list(element: Mapping[str, Any], key: str) -> list[str]:
    value = go_json_get(element, key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Problem(f'field "{key}" must be an array of strings, got {json_type_name(value)}')
    for position, item in enumerate(value):
        if not isinstance(item, str):
            raise _Problem(
                f'field "{key}"[{position}] must be a string, got {json_type_name(item)}'
            )
    return value


def _ips(element: Mapping[str, Any]) -> tuple[str, ...]:
    # NPWG v1.3 4.1.2.1 "ips": IPv4/IPv6 addresses; Multus also takes CIDR notation,
    # which the static IPAM plugin needs to know the prefix. An empty list is accepted
    # as "no request" (as Multus does), although the spec asks for at least one.
    ips = _string_list(element, "ips")
    for item in ips:
        if _ip_or_cidr_version(item.strip()) is None:
            raise _Problem(f'field "ips": "{item}" is not an IP address or CIDR')
    return tuple(item.strip() for item in ips)


def _mac(element: Mapping[str, Any]) -> str | None:
    # NPWG v1.3 4.1.2.1 "mac": a 6-byte Ethernet MAC or a 20-byte IPoIB hardware address.
    mac = _optional_string(element, "mac")
    if mac is None:
        return None
    decoded = _parse_hw_address(mac)
    if decoded is None or len(decoded) not in (6, 20):
        raise _Problem(
            f'field "mac": "{mac}" is not a 6-byte Ethernet MAC (aa:bb:cc:dd:ee:ff) '
            "or a 20-byte IP-over-InfiniBand address"
        )
    return mac


def _infiniband_guid(element: Mapping[str, Any]) -> str | None:
    # Multus validates the GUID with net.ParseMAC: 6, 8 (the usual EUI-64 GUID) or 20 bytes.
    guid = _optional_string(element, "infiniband-guid")
    if guid is None:
        return None
    decoded = _parse_hw_address(guid)
    if decoded is None or len(decoded) not in (6, 8, 20):
        raise _Problem(
            f'field "infiniband-guid": "{guid}" is not a hardware address '
            "(for example 00:11:22:33:44:55:66:77)"
        )
    return guid


def _cni_args(element: Mapping[str, Any]) -> dict[str, Any] | None:
    value = go_json_get(element, "cni-args")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _Problem(f'field "cni-args" must be an object, got {json_type_name(value)}')
    return value


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _port_mappings(element: Mapping[str, Any]) -> tuple[dict[str, Any], ...]:
    # CNI CONVENTIONS.md "portMappings" capability: {hostPort, containerPort, protocol, hostIP}.
    value = go_json_get(element, "portMappings")
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _Problem(f'field "portMappings" must be an array, got {json_type_name(value)}')
    mappings = []
    for position, mapping in enumerate(value):
        where = f'field "portMappings"[{position}]'
        if not isinstance(mapping, dict):
            raise _Problem(f"{where} must be an object, got {json_type_name(mapping)}")
        for key in ("hostPort", "containerPort"):
            port = go_json_get(mapping, key)
            if port is None:
                raise _Problem(f'{where} has no "{key}"')
            if not _is_int(port) or not 1 <= port <= 65535:
                raise _Problem(f'{where}."{key}" must be an integer from 1 to 65535, got {port!r}')
        protocol = go_json_get(mapping, "protocol")
        if protocol is not None and (
            not isinstance(protocol, str) or protocol.lower() not in PORT_PROTOCOLS
        ):
            raise _Problem(f'{where}."protocol" must be tcp, udp or sctp, got {protocol!r}')
        host_ip = go_json_get(mapping, "hostIP")
        if host_ip is not None and (
            not isinstance(host_ip, str) or (host_ip and ip_version(host_ip) is None)
        ):
            raise _Problem(f'{where}."hostIP" must be an IP address, got {host_ip!r}')
        mappings.append(mapping)
    return tuple(mappings)


def _bandwidth(element: Mapping[str, Any]) -> dict[str, Any] | None:
    # CNI CONVENTIONS.md "bandwidth" capability; rates in bit/s, bursts in bits.
    value = go_json_get(element, "bandwidth")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _Problem(f'field "bandwidth" must be an object, got {json_type_name(value)}')
    amounts: dict[str, int] = {}
    for key in BANDWIDTH_KEYS:
        amount = go_json_get(value, key)
        if amount is None:
            amounts[key] = 0
        elif not _is_int(amount) or amount < 0:
            raise _Problem(
                f'field "bandwidth"."{key}" must be a non-negative integer, got {amount!r}'
            )
        else:
            amounts[key] = amount
    for direction in ("ingress", "egress"):
        if amounts[f"{direction}Burst"] and not amounts[f"{direction}Rate"]:
            raise _Problem(
                f'field "bandwidth": "{direction}Burst" is set without "{direction}Rate": '
                "a burst needs its rate"
            )
    return value


def _default_route(element: Mapping[str, Any]) -> tuple[str, ...]:
    # NPWG v1.3 4.1.2.1 "default-route": gateway IP addresses (no prefix).
    gateways = _string_list(element, "default-route")
    for gateway in gateways:
        if ip_version(gateway.strip()) is None:
            raise _Problem(f'field "default-route": "{gateway}" is not an IP address')
    return tuple(gateway.strip() for gateway in gateways)


def _interface(element: Mapping[str, Any]) -> str | None:
    interface = _optional_string(element, "interface")
    if interface is None:
        # Multus still honours the pre-3.2 spelling when "interface" is not set.
        interface = _optional_string(element, "interfaceRequest")
    if interface is not None:
        _check_ifname(interface)
    return interface


def _parse_element(element: object, pod_namespace: str) -> NetworkSelection:
    if not isinstance(element, dict):
        raise _Problem(f"must be an object, got {json_type_name(element)}")
    # NPWG v1.3 4.1.2.1 "name": required; "namespace": optional, empty means the pod's.
    name = _optional_string(element, "name")
    if name is None:
        raise _Problem('has no "name": name the NetworkAttachmentDefinition to attach')
    _check_name(name)
    namespace = _optional_string(element, "namespace")
    if namespace is not None:
        _check_namespace(namespace)
    ips = _ips(element)
    claim = _optional_string(element, "ipam-claim-reference")
    if claim is not None and ips:
        # NPWG v1.3: an IPAMClaim decides the addresses, so static ips cannot be combined.
        raise _Problem('"ipam-claim-reference" cannot be combined with "ips": use one of them')
    return NetworkSelection(
        name=name,
        namespace=namespace or pod_namespace,
        interface=_interface(element),
        ips=ips,
        mac=_mac(element),
        cni_args=_cni_args(element),
        port_mappings=_port_mappings(element),
        bandwidth=_bandwidth(element),
        default_route=_default_route(element),
        infiniband_guid=_infiniband_guid(element),
        ipam_claim_reference=claim,
        raw=element,
        device_id=_optional_string(element, "deviceID"),
    )


def _parse_json_format(text: str, pod_namespace: str, annotation: str) -> list[NetworkSelection]:
    try:
        decoded = jsonlite.loads(text, parse_constant=reject_constant)
    except ValueError as exc:
        raise _annotation_error(annotation, f"not valid JSON ({exc})") from None
    except RecursionError:
        raise _annotation_error(annotation, "not valid JSON (nested too deeply)") from None
    if isinstance(decoded, dict):
        raise _annotation_error(
            annotation,
            "the JSON format is a list of selection elements: wrap the object in [ ]",
        )
    if not isinstance(decoded, list):
        raise _annotation_error(
            annotation,
            f"the JSON format is a list of selection elements, got {json_type_name(decoded)}",
        )
    selections = []
    for index, element in enumerate(decoded):
        try:
            selections.append(_parse_element(element, pod_namespace))
        except _Problem as problem:
            label = f"element {index}"
            if isinstance(element, dict) and isinstance(go_json_get(element, "name"), str):
                label += f' ("{go_json_get(element, "name")}")'
            raise _annotation_error(annotation, f"{label}: {problem}") from None
    return selections


def parse_networks(
    text: str, pod_namespace: str, annotation: str = ANNOTATION
) -> list[NetworkSelection]:
    """Parse a networks annotation into selections, in annotation order.

    Empty or whitespace-only text selects nothing. Raises :class:`CNIError`
    (code 7) naming ``annotation``, the element and the bad part.
    """
    from pymultus.cni.limits import MAX_ANNOTATION_BYTES, check_size

    # Bounded before any parsing: the text comes from whoever may create pods.
    check_size(
        len(text.encode("utf-8", "surrogatepass")),
        MAX_ANNOTATION_BYTES,
        f"the {annotation} annotation",
        "request fewer networks, or move per-network settings into the "
        "NetworkAttachmentDefinitions",
    )
    if not text.strip():
        return []
    if _JSON_MARKERS.intersection(text):
        return _parse_json_format(text, pod_namespace, annotation)
    return _parse_comma_format(text, pod_namespace, annotation)


def parse_default_network_annotation(
    text: str,
    pod_namespace: str,
    *,
    multus_namespace: str = DEFAULT_MULTUS_NAMESPACE,
) -> NetworkSelection | None:
    """Parse ``v1.multus-cni.io/default-network``: one name, ns/name or JSON element.

    As in Multus, a network without an explicit namespace is looked up in
    ``multus_namespace``, not in ``pod_namespace``: the cluster default network
    is an administrator's choice, so a pod cannot shadow it by creating a NAD
    of the same name in its own namespace. Pass the config's
    ``multus_namespace``. ``pod_namespace`` only appears in messages.
    Returns None when the annotation is empty.
    """
    if not text.strip():
        return None
    annotation = DEFAULT_NETWORK_ANNOTATION
    selections = parse_networks(text, multus_namespace, annotation)
    if len(selections) != 1:
        count = "no" if not selections else str(len(selections))
        raise _annotation_error(
            annotation,
            f"it names {count} networks; a pod in namespace {pod_namespace} has exactly "
            "one default network: name exactly one NetworkAttachmentDefinition",
        )
    return selections[0]


def default_route_gateways_by_family(
    selections: Sequence[NetworkSelection],
) -> dict[int, tuple[int, str]]:
    """Which selection carries the default route for IPv4 and IPv6.

    Returns ``{family: (selection index, gateway)}`` for families with a
    ``default-route`` request. A second gateway for the same family, in the
    same or another element, is an error: the kernel route would need ECMP,
    which neither Multus nor NPWG v1.3 4.1.2.1 ("default-route") supports.
    """
    chosen: dict[int, tuple[int, str]] = {}
    for index, selection in enumerate(selections):
        for gateway in selection.default_route:
            family = ip_version(gateway)
            if family is None:
                raise _annotation_error(
                    ANNOTATION,
                    f'element {index} ("{selection.name}"): field "default-route": '
                    f'"{gateway}" is not an IP address',
                )
            if family in chosen:
                first_index, first_gateway = chosen[family]
                first = selections[first_index]
                raise _annotation_error(
                    ANNOTATION,
                    f"more than one IPv{family} default-route gateway: "
                    f'"{first_gateway}" (element {first_index}, {first.ref}) and '
                    f'"{gateway}" (element {index}, {selection.ref}); multipath (ECMP) '
                    "default routes are not supported: request one gateway per IP family",
                )
            chosen[family] = (index, gateway)
    return chosen
