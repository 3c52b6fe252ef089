"""Planning: which delegates a pod gets, in which order, with which names.

Pure functions of data, no I/O, so the whole decision table can be tested
without a cluster. Planning happens in two steps because the configs of the
networks a pod asks for must be fetched in between (from the API or from
files), and that is I/O the engine owns:

1. :func:`requested_networks` reads the meta-plugin config and the pod and
   says which networks to fetch (:class:`NetworkRef`).
2. :func:`build_plan` takes those references with their fetched configs and
   returns the ordered :class:`Delegate` list the engine runs.

Order and naming follow the reference (Multus): the cluster (default) network
first, then ``defaultNetworks``, then the annotation's elements in order. The
interface name is the element's ``interface``; else ``CNI_IFNAME`` for the
default network; else ``net<N>`` with N the delegate's position in the list
(the default network is position 0).
"""

from __future__ import annotations

# collections.abc without importing collections (~1.3 ms per CNI call, issue 16)
from _collections_abc import Mapping, Sequence

from pymultus.cni.conflist import NetworkConfigList, capabilities, load_network_config
from pymultus.cni.errors import INVALID_CONFIG, CNIError
from pymultus.cni.nesting import META_PLUGIN_TYPES
from pymultus.cni.record import Record, init_fields
from pymultus.model.config import MultusConfig
from pymultus.model.selection import (
    ANNOTATION,
    DEFAULT_NETWORK_ANNOTATION,
    NetworkSelection,
    default_route_gateways_by_family,
    parse_default_network_annotation,
    parse_networks,
)

TYPE_CHECKING = False  # importing typing costs ~2 ms per CNI call: mypy reads this as True
if TYPE_CHECKING:
    from typing import Any

# Where a network reference comes from; decides how the engine fetches it.
CLUSTER = "cluster"  # clusterNetwork (NAD, conf name, directory or file)
CLUSTER_OVERRIDE = "cluster-override"  # v1.multus-cni.io/default-network (a NAD)
INLINE = "inline"  # an entry of `delegates`: config given inline
DEFAULT_NETWORKS = "default-networks"  # defaultNetworks (NAD or conf name)
SELECTION = "selection"  # an element of the networks annotation (a NAD)


class NetworkRef(Record):
    """A network the pod gets, before its configuration is fetched."""

    source: str
    name: str
    namespace: str
    selection: NetworkSelection | None
    inline_conf: Mapping[str, Any] | None

    __slots__ = ("inline_conf", "name", "namespace", "selection", "source")
    _frozen = True

    def __init__(
        self,
        source: str,
        name: str,
        namespace: str,
        selection: NetworkSelection | None = None,
        inline_conf: Mapping[str, Any] | None = None,
    ) -> None:
        init_fields(
            self,
            source=source,
            name=name,
            namespace=namespace,
            selection=selection,
            inline_conf=inline_conf,
        )

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


class ResolvedNetwork(Record):
    """A network reference with its fetched configuration and reported name."""

    conf: Mapping[str, Any]
    status_name: str
    # The NAD's k8s.v1.cni.cncf.io/resourceName (device plugin resource), if any.
    resource_name: str

    __slots__ = ("conf", "resource_name", "status_name")
    _frozen = True

    def __init__(
        self,
        conf: Mapping[str, Any],
        status_name: str,
        resource_name: str = "",
    ) -> None:
        init_fields(
            self,
            conf=conf,
            status_name=status_name,
            resource_name=resource_name,
        )


def status_name_for(ref: NetworkRef, conf: Mapping[str, Any], from_nad: bool) -> str:
    """The network-status `name`: ``ns/nad`` for NADs, the conf name for files.

    The reference reports a file-based default network by its conf name, and
    every NAD-backed attachment as ``namespace/name``.
    """
    if from_nad:
        return ref.key
    return str(conf.get("name") or ref.name)


class Delegate(Record):
    """One CNI network to run for the pod: what the engine executes and caches."""

    status_name: str
    conf: dict[str, Any]
    ifname: str
    is_default: bool
    runtime_config: dict[str, Any]
    # NPWG v1.3 4.1.2.1.8 "default-route": gateways this attachment must own.
    default_route: tuple[str, ...]
    # Multus extension / resourceName: the device given to the delegate.
    device_id: str
    resource_name: str
    # auxiliaryCNIChainName: a chained config run on the default interface
    # after every attachment, with the default network's result as prevResult.
    auxiliary: bool

    __slots__ = (
        "auxiliary",
        "conf",
        "default_route",
        "device_id",
        "ifname",
        "is_default",
        "resource_name",
        "runtime_config",
        "status_name",
    )
    _frozen = True

    def __init__(
        self,
        status_name: str,
        conf: dict[str, Any],
        ifname: str,
        is_default: bool,
        runtime_config: dict[str, Any] | None = None,
        default_route: tuple[str, ...] = (),
        device_id: str = "",
        resource_name: str = "",
        auxiliary: bool = False,
    ) -> None:
        init_fields(
            self,
            status_name=status_name,
            conf=conf,
            ifname=ifname,
            is_default=is_default,
            runtime_config=runtime_config if runtime_config is not None else {},
            default_route=default_route,
            device_id=device_id,
            resource_name=resource_name,
            auxiliary=auxiliary,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.status_name,
            "conf": self.conf,
            "ifname": self.ifname,
            "default": self.is_default,
            "runtimeConfig": self.runtime_config,
        }
        if self.default_route:
            out["defaultRoute"] = list(self.default_route)
        if self.device_id:
            out["deviceID"] = self.device_id
        if self.resource_name:
            out["resourceName"] = self.resource_name
        if self.auxiliary:
            out["auxiliary"] = True
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Delegate:
        return cls(
            status_name=str(data["name"]),
            conf=dict(data["conf"]),
            ifname=str(data["ifname"]),
            is_default=bool(data.get("default", False)),
            runtime_config=dict(data.get("runtimeConfig") or {}),
            default_route=tuple(str(g) for g in data.get("defaultRoute") or ()),
            device_id=str(data.get("deviceID") or ""),
            resource_name=str(data.get("resourceName") or ""),
            auxiliary=bool(data.get("auxiliary", False)),
        )


def pod_annotations(pod: Mapping[str, Any] | None) -> Mapping[str, str]:
    if not pod:
        return {}
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    return annotations if isinstance(annotations, Mapping) else {}


def requested_networks(
    cfg: MultusConfig, pod: Mapping[str, Any] | None, pod_namespace: str
) -> list[NetworkRef]:
    """The networks a pod gets, in delegate order, before fetching their configs.

    ``pod`` is None in delegates-only mode (no API configured) or when the pod
    could not be found: then only the configured networks apply.
    """
    annotations = pod_annotations(pod)
    refs: list[NetworkRef] = []

    override = parse_default_network_annotation(
        annotations.get(DEFAULT_NETWORK_ANNOTATION, ""),
        pod_namespace,
        multus_namespace=cfg.multus_namespace,
    )
    if override is not None:
        # namespaceIsolation covers this annotation too (the reference checks only
        # the networks annotation): besides the pod's own and the global
        # namespaces, only multusNamespace, where default networks live.
        if override.namespace != cfg.multus_namespace:
            check_namespace_allowed(cfg, override, pod_namespace)
        refs.append(NetworkRef(CLUSTER_OVERRIDE, override.name, override.namespace))
    elif cfg.cluster_network:
        refs.append(NetworkRef(CLUSTER, cfg.cluster_network, cfg.multus_namespace))
    if cfg.delegates and not cfg.cluster_network:
        for index, conf in enumerate(cfg.delegates):
            if index == 0 and override is not None:
                continue  # the annotation replaces the default network
            name = str(conf.get("name", f"delegate-{index}"))
            refs.append(NetworkRef(INLINE, name, "", inline_conf=conf))

    if pod_namespace not in cfg.system_namespaces:
        for name in cfg.default_networks:
            refs.append(NetworkRef(DEFAULT_NETWORKS, name, cfg.multus_namespace))

    request_text = annotations.get(ANNOTATION, "")
    if request_text:
        for selection in parse_networks(request_text, pod_namespace):
            check_namespace_allowed(cfg, selection, pod_namespace)
            refs.append(
                NetworkRef(SELECTION, selection.name, selection.namespace, selection=selection)
            )
    return refs


def check_namespace_allowed(
    cfg: MultusConfig, selection: NetworkSelection, pod_namespace: str
) -> None:
    """`namespaceIsolation`: a pod may use NADs of its own or a global namespace."""
    if not cfg.namespace_isolation:
        return
    if selection.namespace == pod_namespace or selection.namespace in cfg.global_namespaces:
        return
    raise CNIError(
        INVALID_CONFIG,
        f"namespace isolation: pod in namespace {pod_namespace!r} may not use "
        f"NetworkAttachmentDefinition {selection.namespace}/{selection.name}",
        "namespaceIsolation is on; allowed namespaces are the pod's own and "
        f"globalNamespaces {list(cfg.global_namespaces)}",
    )


# NPWG v1.3 4.1.2.1.x: selection fields handed to the delegate as runtimeConfig
# under the well-known capability of the same meaning (CNI CONVENTIONS.md).
_CAPABILITY_FIELDS = (
    ("ips", "ips"),
    ("mac", "mac"),
    ("port_mappings", "portMappings"),
    ("bandwidth", "bandwidth"),
    ("infiniband_guid", "infinibandGUID"),
)


def delegate_network_config(conf: Mapping[str, Any], source: str) -> NetworkConfigList:
    """A delegate's config as a list; a config without cniVersion is 0.1.0.

    CNI SPEC.md (section 1): an absent cniVersion means 0.1.0, which is what
    the reference plugins assume too, so such NADs keep working.
    """
    return load_network_config(dict(conf), source, default_version="0.1.0")


def check_not_meta_plugin(ncl: NetworkConfigList, label: str) -> None:
    """Refuse a delegate whose plugin is a meta-plugin (issue 15, item 2).

    A NAD of ``"type": "pymultus"`` (or Multus's ``multus``) would start the
    meta-plugin again for every ADD and DEL, recursively, as root and with a
    config the NAD's author chose; see :mod:`pymultus.cni.nesting`.
    """
    for plugin in ncl.plugins:
        kind = plugin.get("type")
        if isinstance(kind, str) and kind in META_PLUGIN_TYPES:
            raise CNIError(
                INVALID_CONFIG,
                f"network {label} names the meta-plugin {kind!r} as its plugin type: "
                "meta-plugins cannot be nested",
                "the NetworkAttachmentDefinition must name an ordinary CNI plugin "
                "(macvlan, bridge, ipvlan, ...)",
            )


def selection_runtime_config(selection: NetworkSelection, declared: set[str]) -> dict[str, Any]:
    """runtimeConfig for one annotation element, checked against capabilities.

    NPWG v1.3 4.1.2.1.3-4.1.2.1.9: a request for ips/mac/portMappings/bandwidth
    that no plugin of the delegate declares as a capability MUST fail (the
    reference silently ignores it; see docs/compatibility.md). ``declared``:
    the capabilities the delegate's plugins declare.
    """
    runtime: dict[str, Any] = {}
    for attr, capability in _CAPABILITY_FIELDS:
        value = getattr(selection, attr)
        if not value:
            continue
        if capability not in declared:
            raise CNIError(
                INVALID_CONFIG,
                f"network {selection.namespace}/{selection.name} was requested with "
                f"{capability!r} but no plugin of its config declares the {capability!r} "
                "capability",
                f'add "capabilities": {{"{capability}": true}} to the plugin that '
                "implements it, or remove the field from the pod's networks annotation",
            )
        runtime[capability] = list(value) if isinstance(value, tuple) else value
    return runtime


def build_plan(
    refs: Sequence[NetworkRef],
    resolved: Sequence[ResolvedNetwork],
    runtime_ifname: str,
    runtime_config: Mapping[str, Any],
    device_ids: Mapping[int, str] | None = None,
) -> list[Delegate]:
    """The ordered delegates for the pod, from references and their fetched configs.

    ``runtime_config`` is what the runtime handed the meta-plugin (its
    capability args, e.g. portMappings): it goes to the default network, as
    the runtime meant it for the pod's primary interface. ``device_ids`` maps
    a delegate position to the device the kubelet allocated for its NAD's
    ``k8s.v1.cni.cncf.io/resourceName`` (a ``deviceID`` in the element wins).
    """
    if len(refs) != len(resolved):
        raise ValueError("one resolved network per network reference")
    selections = [ref.selection for ref in refs if ref.selection is not None]
    default_route_gateways_by_family(selections)  # one gateway per family (no ECMP)

    delegates: list[Delegate] = []
    used: dict[str, str] = {}
    for position, (ref, network) in enumerate(zip(refs, resolved, strict=True)):
        conf = network.conf
        is_default = position == 0
        selection = ref.selection
        if selection is not None and selection.interface:
            ifname = selection.interface
        elif is_default:
            ifname = runtime_ifname
        else:
            ifname = f"net{position}"
        label = network.status_name
        if ifname in used:
            raise CNIError(
                INVALID_CONFIG,
                f"interface name {ifname!r} is requested twice: by {used[ifname]} and by {label}",
                'give each attachment its own interface name (the "interface" field or '
                "the @ifname suffix)",
            )
        used[ifname] = label
        # Every delegate's config is checked here, before the engine writes its
        # cache or runs anything: a bad config must not leave state behind.
        ncl = delegate_network_config(conf, f"network {label}")
        check_not_meta_plugin(ncl, label)
        declared = capabilities(ncl)
        runtime: dict[str, Any] = dict(runtime_config) if is_default else {}
        delegate_conf = dict(conf)
        device_id = device_ids.get(position, "") if device_ids else ""
        if selection is not None:
            runtime.update(selection_runtime_config(selection, declared))
            cni_args = dict(selection.cni_args or {})
            if selection.ipam_claim_reference:
                # NPWG v1.3 4.1.2.1.10: the claim travels to the IPAM plugin in args.cni.
                cni_args.setdefault(IPAM_CLAIM_ARG, selection.ipam_claim_reference)
            if cni_args:
                delegate_conf = with_cni_args(delegate_conf, cni_args)
            device_id = selection.device_id or device_id
        if device_id:
            runtime["deviceID"] = device_id
            delegate_conf = with_device_id(delegate_conf, device_id)
        delegates.append(
            Delegate(
                status_name=label,
                conf=delegate_conf,
                ifname=ifname,
                is_default=is_default,
                runtime_config=runtime,
                default_route=selection.default_route if selection is not None else (),
                device_id=device_id,
                resource_name=network.resource_name,
            )
        )
    return delegates


IPAM_CLAIM_ARG = "ipam-claim-reference"


def with_device_id(conf: Mapping[str, Any], device_id: str) -> dict[str, Any]:
    """Put ``deviceID`` into the delegate's config (every plugin of a list).

    Device plugins' CNI plugins (SR-IOV, host-device with pciBusID) read the
    allocated device from a top-level ``deviceID`` key, as Multus writes it;
    the runtimeConfig ``deviceID`` capability (CNI CONVENTIONS.md) is set too.
    """
    if isinstance(conf.get("plugins"), list):
        out = dict(conf)
        out["plugins"] = [
            {**p, "deviceID": device_id} if isinstance(p, Mapping) else p for p in conf["plugins"]
        ]
        return out
    return {**conf, "deviceID": device_id}


def with_cni_args(conf: Mapping[str, Any], cni_args: Mapping[str, Any]) -> dict[str, Any]:
    """Merge the element's ``cni-args`` into ``args.cni`` of every plugin.

    NPWG v1.3 4.1.2.1.2: the annotation's values win over those in the config.
    """

    def merged(plugin: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(plugin)
        args = dict(out.get("args") or {})
        cni = dict(args.get("cni") or {})
        cni.update(cni_args)
        args["cni"] = cni
        out["args"] = args
        return out

    if isinstance(conf.get("plugins"), list):
        out = dict(conf)
        out["plugins"] = [merged(p) if isinstance(p, Mapping) else p for p in conf["plugins"]]
        return out
    return merged(conf)
