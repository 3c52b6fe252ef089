"""Reading a node's wiretap record and telling who called whom.

Each line of a record file is one finished call (:mod:`harness.wiretap.tap`).
A call's parent is the call whose real binary is the caller's process (the
meta-plugin runs its delegates itself: ``ppid`` = the parent's ``child``); a
call made by a daemon (thick mode, the delegates' parent is the daemon, not a
wrapper) is given the innermost call on the same node and container that
encloses it in time. A call without a parent was made by the runtime.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

RUNTIME = "runtime"


@dataclass
class Call:
    """One recorded CNI call."""

    id: str  # "<node>#<n>", n counting in start order on that node
    node: str
    plugin: str
    command: str
    env: dict[str, str]
    stdin: str
    stdout: str
    stderr: str
    exit: int
    start: float
    seconds: float
    pid: int = 0
    ppid: int = 0
    child: int = 0
    parent: str = ""  # the parent call's id, "" for the runtime's calls
    caller: str = RUNTIME  # the parent's plugin, or "runtime"
    children: list[str] = field(default_factory=list)

    @property
    def end(self) -> float:
        return self.start + self.seconds

    @property
    def ok(self) -> bool:
        return self.exit == 0

    @property
    def container_id(self) -> str:
        return self.env.get("CNI_CONTAINERID", "")

    @property
    def ifname(self) -> str:
        return self.env.get("CNI_IFNAME", "")

    @property
    def netns(self) -> str:
        return self.env.get("CNI_NETNS", "")

    def cni_args(self) -> dict[str, str]:
        out = {}
        for part in self.env.get("CNI_ARGS", "").split(";"):
            if part:
                key, _, value = part.partition("=")
                out[key] = value
        return out

    @property
    def conf(self) -> dict[str, Any] | None:
        """The config on stdin, decoded (None if it is not a JSON object)."""
        return _object(self.stdin)

    @property
    def output(self) -> dict[str, Any] | None:
        """stdout decoded (None if empty or not a JSON object)."""
        return _object(self.stdout)

    @property
    def network(self) -> str:
        conf = self.conf or {}
        return str(conf.get("name", ""))

    def describe(self) -> str:
        """One line naming the call: who called whom, for what, where."""
        where = (
            f"{self.node}, container {self.container_id[:12]}" if self.container_id else self.node
        )
        extra = f", ifname {self.ifname}" if self.ifname else ""
        net = f", network {self.network}" if self.network else ""
        return (
            f"call {self.id} {self.caller} -> {self.plugin} {self.command} "
            f"({where}{extra}{net}; exit {self.exit})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "node": self.node,
            "plugin": self.plugin,
            "command": self.command,
            "caller": self.caller,
            "parent": self.parent,
            "containerId": self.container_id,
            "ifname": self.ifname,
            "network": self.network,
            "exit": self.exit,
            "start": self.start,
            "seconds": round(self.seconds, 6),
            "env": self.env,
            "stdin": self.stdin,
            "stdout": self.stdout,
            "stderr": self.stderr[:2000],
        }


def _object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except (ValueError, TypeError):
        return None
    return value if isinstance(value, dict) else None


def parse_lines(lines: Iterable[str], node: str) -> list[Call]:
    """Calls of one node's record, in start order, numbered; bad lines are skipped."""
    calls = []
    for line in lines:
        try:
            raw = json.loads(line)
        except ValueError:
            continue  # a torn last line of a killed writer
        if not isinstance(raw, dict):
            continue
        calls.append(
            Call(
                id="",
                node=node,
                plugin=str(raw.get("plugin", "")),
                command=str(raw.get("command", "")),
                env={str(k): str(v) for k, v in (raw.get("env") or {}).items()},
                stdin=str(raw.get("stdin", "")),
                stdout=str(raw.get("stdout", "")),
                stderr=str(raw.get("stderr", "")),
                exit=int(raw.get("exit", 0)),
                start=float(raw.get("start", 0.0)),
                seconds=float(raw.get("seconds", 0.0)),
                pid=int(raw.get("pid", 0)),
                ppid=int(raw.get("ppid", 0)),
                child=int(raw.get("child", 0)),
            )
        )
    calls.sort(key=lambda c: c.start)
    for n, call in enumerate(calls, 1):
        call.id = f"{node}#{n}"
    return calls


def _encloses(outer: Call, inner: Call) -> bool:
    return outer is not inner and outer.start <= inner.start and inner.end <= outer.end + 1e-3


def link(calls: list[Call]) -> list[Call]:
    """Set ``parent``, ``caller`` and ``children`` (calls of one node, start order)."""
    by_child: dict[int, list[Call]] = {}
    for call in calls:
        call.parent, call.caller, call.children = "", RUNTIME, []
    for call in calls:
        by_child.setdefault(call.child, []).append(call)
    for call in calls:
        parent = next((c for c in by_child.get(call.ppid, []) if _encloses(c, call)), None)
        if parent is None and call.container_id:
            around = [
                c
                for c in calls
                if _encloses(c, call)
                and c.container_id == call.container_id
                and c.plugin != call.plugin
                # Never a call its own process made: a sibling, not a parent
                # (containerd runs a pod's loopback and the meta-plugin at once).
                and c.ppid != call.ppid
            ]
            parent = max(around, key=lambda c: c.start) if around else None
        if parent is not None:
            call.parent = parent.id
            call.caller = parent.plugin
            parent.children.append(call.id)
    return calls


def read_record(path: str, node: str, since: float = 0.0) -> list[Call]:
    """The linked calls of one record file that started at or after ``since``."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    calls = link(parse_lines(lines, node))
    return [c for c in calls if c.start >= since]
