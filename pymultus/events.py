"""Kubernetes events about a pod's attachments (``AddedInterface``, ``NoNetworkFound``).

The reference emits them in the background and the process often exits
before they are sent (a failed ADD's ``NoNetworkFound`` is usually lost).
Here they are posted synchronously, before the CNI call returns: a few
milliseconds per event on the API, and the message users look for in
``kubectl describe pod`` is really there. A failure to post is logged and
never fails the CNI call.
"""

from __future__ import annotations

# collections.abc without importing collections (~1.3 ms per CNI call, issue 16)
from _collections_abc import Mapping, Sequence

TYPE_CHECKING = False  # importing typing costs ~2 ms per CNI call: mypy reads this as True
if TYPE_CHECKING:
    from typing import Any

ADDED_INTERFACE = "AddedInterface"
NO_NETWORK_FOUND = "NoNetworkFound"


def result_addresses(result: Mapping[str, Any] | None) -> list[str]:
    """The CIDR addresses of a CNI result of any version (``ips`` or ``ip4``/``ip6``)."""
    if not result:
        return []
    found: list[str] = []
    ips = result.get("ips")
    if isinstance(ips, list):
        for item in ips:
            if isinstance(item, Mapping) and isinstance(item.get("address"), str):
                found.append(item["address"])
        return found
    for key in ("ip4", "ip6"):
        section = result.get(key)
        if isinstance(section, Mapping) and isinstance(section.get("ip"), str):
            found.append(section["ip"])
    return found


def added_interface_message(ifname: str, network: str, addresses: Sequence[str]) -> str:
    """``Add net1 [10.1.1.11/24] from default/macvlan-conf`` (the reference's wording)."""
    return f"Add {ifname} [{' '.join(addresses)}] from {network}"


def no_network_found_message(namespace: str, name: str, detail: str) -> str:
    return (
        f"cannot find a network-attachment-definition ({name}) in namespace ({namespace}): {detail}"
    )
