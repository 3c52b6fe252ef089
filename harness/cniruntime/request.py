"""The per-call parameters a runtime passes in the environment (CNI SPEC.md Section 2)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


def containerd_args(
    namespace: str, name: str, uid: str, sandbox_id: str
) -> tuple[tuple[str, str], ...]:
    """``CNI_ARGS`` exactly as containerd's CRI plugin passes them, in its order."""
    return (
        ("K8S_POD_INFRA_CONTAINER_ID", sandbox_id),
        ("K8S_POD_UID", uid),
        ("IgnoreUnknown", "1"),
        ("K8S_POD_NAMESPACE", namespace),
        ("K8S_POD_NAME", name),
    )


def format_args(args: tuple[tuple[str, str], ...]) -> str:
    return ";".join(f"{k}={v}" for k, v in args)


def parse_args(text: str) -> tuple[tuple[str, str], ...]:
    """``"A=1;B=2"`` -> pairs; a malformed pair is kept with an empty value."""
    out = []
    for part in text.split(";"):
        if part:
            key, _, value = part.partition("=")
            out.append((key, value))
    return tuple(out)


@dataclass(frozen=True)
class CNIRequest:
    """One call's CNI_* parameters. Empty means absent, as libcni treats it."""

    command: str
    container_id: str = ""
    netns: str = ""
    ifname: str = ""
    args: tuple[tuple[str, str], ...] = ()
    path: tuple[str, ...] = ()

    def to_env(self) -> dict[str, str]:
        """Every CNI_* variable, set even when empty (libcni's ``Args.AsEnv``)."""
        return {
            "CNI_COMMAND": self.command,
            "CNI_CONTAINERID": self.container_id,
            "CNI_NETNS": self.netns,
            "CNI_IFNAME": self.ifname,
            "CNI_ARGS": format_args(self.args),
            "CNI_PATH": ":".join(self.path),
        }

    def with_(self, **changes: Any) -> CNIRequest:
        return dataclasses.replace(self, **changes)


def compose_env(base: Mapping[str, str], request: CNIRequest) -> dict[str, str]:
    """The plugin's environment: the runtime's own without CNI_*, plus the request's."""
    env = {k: v for k, v in base.items() if not k.startswith("CNI_")}
    env.update(request.to_env())
    return env
