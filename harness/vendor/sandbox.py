"""Fresh namespaces for one check: a node, containers, and the plugin run inside the node.

Each check gets its own one-node :class:`~harness.backends.local.topology.Topology`:
a node network namespace with ``eth0``/``eth1`` uplinks and a private mount
namespace (so host-local leases land in that node's own ``/var/lib/cni``),
plus as many container namespaces as it asks for. The plugin under test runs
inside the node (``nsenter`` into its network and mount namespaces) with the
node's ``/opt/cni/bin`` as ``CNI_PATH``, exactly as a runtime on a node would
run it. Nothing touches the root network namespace; :meth:`Sandbox.close`
removes everything, and a crashed run's leftovers are removed by the next run
(the topology records what it made under ``/run/harness``).

Kernel state is read by parsing ``ip -j`` with :mod:`harness.netstate`, as the
rest of the harness does (not pyroute2).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.backends.local import sh
from harness.backends.local.topology import NETNS_DIR, Topology
from harness.cniruntime.config import NetworkConfigList, plugin_conf
from harness.cniruntime.config import load_config as load_network_config
from harness.cniruntime.errors import INVALID_CONFIG, CNIError
from harness.cniruntime.invoke import Executor, exec_plugin, find_plugin
from harness.cniruntime.ops import add_list, check_list, del_list, gc_list, status_list
from harness.cniruntime.request import CNIRequest
from harness.netstate import PodNetwork, parse_addresses, parse_routes
from harness.vendor.judge import Snapshot, iptables_rules, nft_rules

NODE_BIN_DIR = "/opt/cni/bin"
# Paths a node sees as its own: a binary there on the host is hidden inside it.
_NODE_PRIVATE = ("/etc/cni/", "/var/lib/cni/", "/opt/cni/")
UNSUPPORTED_MARKERS = ("operation not supported", "not supported by the kernel")
ConfigFactory = Callable[[str], dict[str, Any]]


class CheckTimeout(Exception):
    """The check's time budget ran out."""


class Unsupported(Exception):
    """The kernel cannot do what the plugin needs (e.g. no ipvlan): skip, never fake."""


def unsupported_reason(err: CNIError) -> str | None:
    text = f"{err.msg} {err.details}".lower()
    if any(marker in text for marker in UNSUPPORTED_MARKERS):
        return f"the kernel cannot run this plugin here: {err.msg}"
    return None


@dataclass(frozen=True)
class Subject:
    """The plugin under test and how to configure it.

    ``config_factory(cni_version)`` returns a network configuration (a single
    plugin or a list) in which the plugin of type ``plugin_type`` is the one
    under test; the others (e.g. ptp before tuning) are run from ``cni_path``.
    """

    binary: str
    plugin_type: str
    config_factory: ConfigFactory
    ifname: str = "eth0"
    cni_path: tuple[str, ...] = ("/usr/lib/cni",)
    runtime_config: Mapping[str, Any] = field(default_factory=dict)
    source: str = "configuration"

    def conflist(self, cni_version: str) -> NetworkConfigList:
        return load_network_config(self.config_factory(cni_version), self.source)

    def position(self, ncl: NetworkConfigList) -> int:
        for i, plugin in enumerate(ncl.plugins):
            if plugin.get("type") == self.plugin_type:
                return i
        types = [p.get("type") for p in ncl.plugins]
        raise CNIError(
            INVALID_CONFIG,
            f"{self.source}: no plugin of type {self.plugin_type!r} (the plugin under test) in "
            f"{types}; pass --type with the type that names it",
        )


def binary_problem(binary: str) -> str | None:
    """Why ``binary`` cannot be tested, or None."""
    real = os.path.realpath(binary)
    if not os.path.isfile(real) or not os.access(real, os.X_OK):
        return f"{binary} is not an executable file"
    if any(real.startswith(p) for p in _NODE_PRIVATE):
        return (
            f"{binary} is under {real.split('/')[1]}/..., which each simulated node replaces "
            "with its own directory; copy the plugin elsewhere"
        )
    return None


@dataclass
class Call:
    plugin_type: str
    command: str
    conf: dict[str, Any]
    container_id: str
    result: dict[str, Any] | None = None
    error: CNIError | None = None
    seconds: float = 0.0


@dataclass
class Container:
    container_id: str
    netns: str  # name under /run/netns

    @property
    def path(self) -> str:
        return f"{NETNS_DIR}/{self.netns}"


@dataclass
class Raw:
    """A plugin run whose raw output matters (error-shape checks)."""

    rc: int
    stdout: bytes
    stderr: bytes

    def evidence(self) -> str:
        out = self.stdout[:800].decode("utf-8", "replace").strip() or "(empty)"
        err = self.stderr[:800].decode("utf-8", "replace").strip() or "(empty)"
        return f"exit status {self.rc}\nstdout: {out}\nstderr: {err}"


class Sandbox:
    """One check's node and containers; use as a context manager."""

    def __init__(self, subject: Subject, cni_version: str, deadline: float) -> None:
        self.subject = subject
        self.cni_version = cni_version
        self.deadline = deadline
        self.id = "vk" + secrets.token_hex(3)
        self.topology = Topology(
            self.id,
            1,
            list(subject.cni_path),
            extra_binaries={subject.plugin_type: os.path.realpath(subject.binary)},
        )
        self.node = self.topology.nodes[0]
        self.containers: list[Container] = []
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._created = False

    # ------------------------------------------------------------ lifecycle
    def __enter__(self) -> Sandbox:
        for attempt in range(3):
            try:
                self.topology.create()
                break
            except sh.CommandError as exc:
                # Another run's topology may remove a mount target (/opt/cni ...)
                # it created just as ours mounts over it: try again.
                if "mount point does not exist" not in exc.stderr or attempt == 2:
                    raise
                self.topology = Topology(
                    self.id, 1, list(self.subject.cni_path), self.topology.extra_binaries
                )
                self.node = self.topology.nodes[0]
        self._created = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._created:
            self.topology.destroy()
            self._created = False
        for container in self.containers:
            _remove_netns_file(container.path)

    def new_container(self) -> Container:
        with self._lock:
            n = len(self.containers) + 1
            container = Container(f"{self.id}c{n:03d}", f"{self.id}-ctr-{n}")
            self.containers.append(container)
        self.topology.add_netns(container.netns)
        sh.run(["ip", "-n", container.netns, "link", "set", "lo", "up"])
        return container

    def remove_container_netns(self, container: Container) -> None:
        """Delete the container's namespace as a runtime would, and make sure
        its path is gone (a plugin must then see "no such file")."""
        self.topology.remove_netns(container.netns)
        _remove_netns_file(container.path)

    # ------------------------------------------------------------- running
    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise CheckTimeout("the check ran out of time")
        return left

    def prefix(self) -> list[str]:
        return self.node.exec_prefix()

    def env(
        self, command: str, container: Container | None, netns: str | None = None
    ) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CNI_")}
        env.update({"CNI_COMMAND": command, "CNI_PATH": NODE_BIN_DIR})
        if container is not None:
            env.update(
                {
                    "CNI_CONTAINERID": container.container_id,
                    "CNI_NETNS": container.path if netns is None else netns,
                    "CNI_IFNAME": self.subject.ifname,
                }
            )
        return env

    def binary_for(self, plugin_type: str) -> str:
        if plugin_type == self.subject.plugin_type:
            return os.path.realpath(self.subject.binary)
        return find_plugin(plugin_type, self.subject.cni_path)

    def executor(self, container: Container | None, netns: str | None = None) -> Executor:
        """An Executor (harness.cniruntime.invoke) that records every call."""

        def execute(
            plugin_type: str, command: str, conf: dict[str, Any], request: CNIRequest
        ) -> dict[str, Any]:
            call = Call(plugin_type, command, conf, container.container_id if container else "")
            started = time.monotonic()
            try:
                call.result = exec_plugin(
                    self.binary_for(plugin_type),
                    command,
                    conf,
                    self.env(command, container, netns),
                    timeout=self.remaining(),
                    argv_prefix=self.prefix(),
                )
                return call.result
            except CNIError as err:
                call.error = err
                if "did not finish within" in err.msg:
                    raise CheckTimeout(err.msg) from None
                raise
            finally:
                call.seconds = time.monotonic() - started
                with self._lock:
                    self.calls.append(call)

        return execute

    def raw(self, command: str, stdin: bytes, container: Container | None) -> Raw:
        """Run the plugin under test with exactly ``stdin``; keep its raw output."""
        try:
            proc = subprocess.run(
                [*self.prefix(), os.path.realpath(self.subject.binary)],
                input=stdin,
                capture_output=True,
                env=self.env(command, container),
                timeout=self.remaining(),
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise CheckTimeout(f"{command} did not finish in time") from None
        return Raw(proc.returncode, proc.stdout, proc.stderr)

    def conflist(self) -> NetworkConfigList:
        return self.subject.conflist(self.cni_version)

    def subject_conf(
        self, ncl: NetworkConfigList, prev: dict[str, Any] | None, runtime: Mapping[str, Any]
    ) -> dict[str, Any]:
        plugin = ncl.plugins[self.subject.position(ncl)]
        return plugin_conf(ncl, plugin, runtime, prev)

    def add(
        self,
        container: Container,
        ncl: NetworkConfigList | None = None,
        runtime: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """ADD the list; a kernel that cannot do it raises :class:`Unsupported`."""
        ncl = ncl or self.conflist()
        request = CNIRequest(
            command="ADD",
            container_id=container.container_id,
            netns=container.path,
            ifname=self.subject.ifname,
        )
        try:
            return add_list(ncl, request, self._runtime(runtime), self.executor(container))
        except CNIError as err:
            reason = unsupported_reason(err)
            if reason:
                raise Unsupported(reason) from None
            raise

    def delete(
        self,
        container: Container,
        prev: dict[str, Any] | None,
        ncl: NetworkConfigList | None = None,
        runtime: Mapping[str, Any] | None = None,
    ) -> None:
        request = CNIRequest(
            command="DEL",
            container_id=container.container_id,
            netns=container.path,
            ifname=self.subject.ifname,
        )
        del_list(
            ncl or self.conflist(), request, self._runtime(runtime), prev, self.executor(container)
        )

    def check(self, container: Container, prev: dict[str, Any], ncl: NetworkConfigList) -> None:
        request = CNIRequest(
            command="CHECK",
            container_id=container.container_id,
            netns=container.path,
            ifname=self.subject.ifname,
        )
        check_list(ncl, request, self._runtime(None), prev, self.executor(container))

    def status(self, ncl: NetworkConfigList) -> None:
        status_list(ncl, self.executor(None), path=(NODE_BIN_DIR,))

    def gc(self, ncl: NetworkConfigList, valid: list[Container]) -> None:
        attachments = [
            {"containerID": c.container_id, "ifname": self.subject.ifname} for c in valid
        ]
        gc_list(ncl, attachments, self.executor(None), path=(NODE_BIN_DIR,))

    def _runtime(self, runtime: Mapping[str, Any] | None) -> Mapping[str, Any]:
        return self.subject.runtime_config if runtime is None else runtime

    def last_result_of_subject(self, container: Container) -> tuple[dict[str, Any], dict[str, Any]]:
        """(prevResult given to, result returned by) the plugin under test's last ADD."""
        for call in reversed(self.calls):
            if (
                call.command == "ADD"
                and call.plugin_type == self.subject.plugin_type
                and call.container_id == container.container_id
                and call.result is not None
            ):
                return dict(call.conf.get("prevResult") or {}), call.result
        raise LookupError("the plugin under test was not called for ADD")

    # -------------------------------------------------------------- kernel
    def container_network(self, container: Container) -> PodNetwork:
        return read_network(["ip", "-n", container.netns])

    def node_network(self) -> PodNetwork:
        return read_network(["ip", "-n", self.node.netns])

    def in_node(self, argv: list[str], check: bool = False) -> str:
        return sh.run(["nsenter", f"--net={NETNS_DIR}/{self.node.netns}", "--", *argv], check=check)

    def rules(self) -> tuple[set[str], list[str]]:
        """iptables/ip6tables/nft rules in the node (what portmap, ptp ipMasq... add)."""
        lines: set[str] = set()
        notes: list[str] = []
        saved = 0
        for tool in ("iptables-save", "ip6tables-save"):
            try:
                text = self.in_node([tool], check=True)
            except (OSError, sh.CommandError) as exc:
                notes.append(f"{tool} not checked: {exc}")
                continue
            saved += 1
            lines |= {f"{tool}: {x}" for x in iptables_rules(text)}
        try:
            text = self.in_node(["nft", "-j", "list", "ruleset"], check=True)
            lines |= {f"nft: {x}" for x in nft_rules(text, skip_iptables=saved == 2)}
        except (OSError, sh.CommandError) as exc:
            notes.append(f"nft not checked: {exc}")
        return lines, notes

    def snapshot(self, containers: list[Container] | None = None) -> Snapshot:
        links = frozenset(f"{i.name} ({i.kind})" for i in self.node_network().interfaces)
        files: set[str] = set()
        root = self.node.host_path("/var/lib/cni")
        for dirpath, _dirs, names in os.walk(root):
            rel = os.path.relpath(dirpath, root)
            for name in names:
                if name == "lock" or name.startswith("last_reserved"):
                    continue  # host-local's bookkeeping, kept by design
                files.add(os.path.normpath(os.path.join("/var/lib/cni", rel, name)))
        rules, notes = self.rules()
        ctr_links: set[str] = set()
        for c in containers or []:
            if os.path.exists(c.path):
                for itf in self.container_network(c).interfaces:
                    if itf.name != "lo":
                        ctr_links.add(f"{c.netns}: {itf.name} ({itf.kind})")
        return Snapshot(
            frozenset(links), frozenset(files), frozenset(rules), frozenset(ctr_links), tuple(notes)
        )

    def qdiscs(self) -> list[str]:
        """``kind dev`` of every qdisc in the node namespace (bandwidth's tbf)."""
        import json

        text = self.in_node(["tc", "-j", "qdisc", "show"])
        try:
            data = json.loads(text or "[]")
        except ValueError:
            return []
        return [f"{q.get('kind')} {q.get('dev')}" for q in data]


def read_network(ip: list[str]) -> PodNetwork:
    interfaces = parse_addresses(sh.run([*ip, "-d", "-j", "addr", "show"]))
    routes = parse_routes(sh.run([*ip, "-j", "route", "show", "table", "all"]), 4)
    routes += parse_routes(sh.run([*ip, "-6", "-j", "route", "show", "table", "all"]), 6)
    return PodNetwork(tuple(interfaces), tuple(routes))


def _remove_netns_file(path: str) -> None:
    """Unmount and remove a namespace file; the unlink can briefly fail with
    EBUSY while a node's mount namespace still holds the propagated mount."""
    for _ in range(40):
        if not os.path.lexists(path):
            return
        sh.run(["umount", "-l", path], check=False)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.025)
