"""A pod's network state as the kernel reports it, parsed from ``ip -j`` output.

Every backend reads interfaces the same way: ``ip -d -j addr show`` and
``ip -j route show`` run in the pod's network namespace (``ip -n`` locally,
``kubectl exec`` on a real cluster). One parser serves them all, so an
assertion means the same thing on every backend.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Address:
    ip: str
    prefixlen: int
    family: int  # 4 or 6
    scope: str = "global"

    @property
    def cidr(self) -> str:
        return f"{self.ip}/{self.prefixlen}"


@dataclass(frozen=True)
class Interface:
    name: str
    kind: str  # veth, macvlan, ipvlan, bridge, loopback, device ...
    mac: str
    mtu: int
    up: bool
    addresses: tuple[Address, ...] = field(default_factory=tuple)

    def global_addresses(self) -> list[Address]:
        return [a for a in self.addresses if a.scope == "global"]

    def summary(self) -> str:
        addrs = ", ".join(a.cidr for a in self.global_addresses()) or "no address"
        return f"{self.name} ({self.kind}, {self.mac or '-'}, mtu {self.mtu}): {addrs}"


@dataclass(frozen=True)
class Route:
    dst: str  # "default" or a CIDR
    gateway: str | None
    dev: str | None
    family: int
    table: str = "main"

    def summary(self) -> str:
        via = f" via {self.gateway}" if self.gateway else ""
        return f"{self.dst}{via} dev {self.dev}"


def _kind(link: dict[str, Any]) -> str:
    info = link.get("linkinfo") or {}
    if info.get("info_kind"):
        return str(info["info_kind"])
    if link.get("link_type") == "loopback":
        return "loopback"
    return "device"


def parse_addresses(text: str) -> list[Interface]:
    """Parse ``ip -d -j addr show``."""
    out: list[Interface] = []
    for link in json.loads(text or "[]"):
        addresses = tuple(
            Address(
                ip=str(a["local"]),
                prefixlen=int(a.get("prefixlen", 0)),
                family=6 if a.get("family") == "inet6" else 4,
                scope=str(a.get("scope", "global")),
            )
            for a in link.get("addr_info", [])
            if "local" in a
        )
        flags = link.get("flags") or []
        out.append(
            Interface(
                name=str(link["ifname"]),
                kind=_kind(link),
                mac=str(link.get("address", "")) if link.get("link_type") != "loopback" else "",
                mtu=int(link.get("mtu", 0)),
                up="UP" in flags,
                addresses=addresses,
            )
        )
    return out


def parse_routes(text: str, family: int) -> list[Route]:
    """Parse ``ip [-6] -j route show``."""
    out: list[Route] = []
    for r in json.loads(text or "[]"):
        out.append(
            Route(
                dst=str(r.get("dst", "default")),
                gateway=r.get("gateway"),
                dev=r.get("dev"),
                family=family,
                table=str(r.get("table", "main")),
            )
        )
    return out


@dataclass(frozen=True)
class PodNetwork:
    """Everything read from one pod's network namespace at one moment."""

    interfaces: tuple[Interface, ...]
    routes: tuple[Route, ...]

    def interface(self, name: str) -> Interface | None:
        for itf in self.interfaces:
            if itf.name == name:
                return itf
        return None

    def describe(self) -> str:
        lines = ["interfaces:"] + [f"  {i.summary()}" for i in self.interfaces]
        lines += ["routes:"] + [f"  {r.summary()}" for r in self.routes]
        return "\n".join(lines)


def ping_argv(address: str, interface: str | None, timeout: float) -> list[str]:
    """One ping from inside a pod, over ``interface`` when given (every backend)."""
    argv = ["ping", "-n", "-c", "1", "-W", str(max(1, int(timeout)))]
    if ":" in address:
        argv.append("-6")
    if interface:
        argv += ["-I", interface]
    return [*argv, address]
