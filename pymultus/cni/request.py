"""One CNI invocation's parameters: the ``CNI_*`` environment and the stdin config.

CNI SPEC.md Section 2 ("Parameters", and each operation's "Input") says which
variables each command needs. :meth:`CNIRequest.from_env` enforces that, so a
plugin gets a typed request or a CNIError(INVALID_ENV) naming the variable at
fault, never a KeyError. :meth:`CNIRequest.to_env` is the inverse, used when we
are the runtime (delegates, the harness's simulated kubelet).
"""

from __future__ import annotations

from pymultus.cni.errors import DECODE_FAILURE, INVALID_ENV, CNIError
from pymultus.cni.record import Record, init_fields

TYPE_CHECKING = False  # importing typing costs ~2 ms per CNI call: mypy reads this as True
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

ADD = "ADD"
DEL = "DEL"
CHECK = "CHECK"
VERSION = "VERSION"
STATUS = "STATUS"
GC = "GC"
COMMANDS: tuple[str, ...] = (ADD, DEL, CHECK, VERSION, STATUS, GC)

# CNI SPEC.md Section 2 ("CNI operations"): required variables per command.
# CNI_PATH and CNI_ARGS are optional for all of them; STATUS, GC and VERSION
# concern the plugin, not a container, so they need no container variables.
_REQUIRED: dict[str, tuple[str, ...]] = {
    ADD: ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    CHECK: ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    DEL: ("CNI_CONTAINERID", "CNI_IFNAME"),
    VERSION: (),
    STATUS: (),
    GC: (),
}
_ATTACHMENT_COMMANDS = (ADD, CHECK, DEL)

# CNI SPEC.md Section 2 ("Parameters", CNI_CONTAINERID): "Must start with an
# alphanumeric character, optionally followed by any combination of one or more
# alphanumeric characters, underscore (_), dot (.) or hyphen (-)."
_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_CONTAINER_ID_CHARS = _ALNUM | frozenset("_.-")

# Linux IFNAMSIZ is 16 bytes including the terminating NUL.
_IFNAME_MAX_BYTES = 15


def container_id_problem(value: str) -> str | None:
    """Why ``value`` is not a valid container id, or None when it is."""
    if not value:
        return "is empty"
    if value[0] not in _ALNUM or not all(c in _CONTAINER_ID_CHARS for c in value):
        return (
            "must start with a letter or digit and contain only letters, digits, '_', '.' and '-'"
        )
    return None


def ifname_problem(value: str) -> str | None:
    """Why ``value`` cannot be a Linux interface name, or None when it can.

    CNI SPEC.md (ADD parameters): not empty, not "." or "..", shorter than 16
    characters, no "/", ":" or whitespace.
    """
    if not value:
        return "is empty"
    if value in (".", ".."):
        return f"must not be {value!r}"
    if len(value.encode("utf-8", "surrogateescape")) > _IFNAME_MAX_BYTES:
        return f"is longer than {_IFNAME_MAX_BYTES} bytes"
    for ch in value:
        if ch in "/:" or ch.isspace() or ch == "\0":
            return f"must not contain {ch!r}"
    return None


def parse_cni_args(text: str) -> tuple[tuple[str, str], ...]:
    """``"K=V;K2=V2"`` -> ``(("K", "V"), ("K2", "V2"))``, order kept.

    Empty segments (a trailing ``;``) are ignored. A value may itself contain
    ``=`` (only the first one splits). A segment without ``=`` or with an empty
    key raises CNIError(INVALID_ENV) naming CNI_ARGS and the segment.
    """
    pairs: list[tuple[str, str]] = []
    for segment in text.split(";"):
        if segment == "":
            continue
        key, sep, value = segment.partition("=")
        if not sep or not key:
            raise CNIError(
                INVALID_ENV,
                f"CNI_ARGS: invalid pair {segment!r}; expected KEY=VALUE pairs separated by ';'",
            )
        pairs.append((key, value))
    return tuple(pairs)


def format_cni_args(args: tuple[tuple[str, str], ...]) -> str:
    """Inverse of :func:`parse_cni_args`."""
    return ";".join(f"{k}={v}" for k, v in args)


class CNIRequest(Record):
    """The per-invocation parameters of one CNI call (CNI SPEC.md Section 2).

    Absent optional values are empty strings/tuples (the reference libraries
    also treat an empty variable as absent).
    """

    command: str
    container_id: str
    netns: str
    ifname: str
    args: tuple[tuple[str, str], ...]
    path: tuple[str, ...]

    __slots__ = ("args", "command", "container_id", "ifname", "netns", "path")
    _frozen = True

    def __init__(
        self,
        command: str,
        container_id: str = "",
        netns: str = "",
        ifname: str = "",
        args: tuple[tuple[str, str], ...] = (),
        path: tuple[str, ...] = (),
    ) -> None:
        init_fields(
            self,
            command=command,
            container_id=container_id,
            netns=netns,
            ifname=ifname,
            args=args,
            path=path,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CNIRequest:
        """Read and validate the CNI_* variables for ``CNI_COMMAND``."""
        command = env.get("CNI_COMMAND", "")
        if not command:
            raise CNIError(
                INVALID_ENV,
                "CNI_COMMAND is not set; set it to one of " + ", ".join(COMMANDS),
            )
        if command not in _REQUIRED:
            raise CNIError(
                INVALID_ENV,
                f"CNI_COMMAND {command!r} is unknown; expected one of " + ", ".join(COMMANDS),
            )
        missing = [name for name in _REQUIRED[command] if not env.get(name)]
        if missing:
            raise CNIError(
                INVALID_ENV,
                f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} required "
                f"for CNI_COMMAND={command} but not set",
            )
        container_id = env.get("CNI_CONTAINERID", "")
        ifname = env.get("CNI_IFNAME", "")
        if command in _ATTACHMENT_COMMANDS:
            problem = container_id_problem(container_id)
            if problem:
                raise CNIError(INVALID_ENV, f"CNI_CONTAINERID {container_id!r} {problem}")
            problem = ifname_problem(ifname)
            if problem:
                raise CNIError(INVALID_ENV, f"CNI_IFNAME {ifname!r} {problem}")
            args = parse_cni_args(env.get("CNI_ARGS", ""))
        else:
            # VERSION/STATUS/GC do not use CNI_ARGS: a malformed one must not
            # make them fail (VERSION in particular needs nothing at all).
            try:
                args = parse_cni_args(env.get("CNI_ARGS", ""))
            except CNIError:
                args = ()
        path = tuple(p for p in env.get("CNI_PATH", "").split(":") if p)
        return cls(
            command=command,
            container_id=container_id,
            netns=env.get("CNI_NETNS", ""),
            ifname=ifname,
            args=args,
            path=path,
        )

    def arg(self, key: str) -> str | None:
        """The value of CNI_ARGS ``key`` (the last one if repeated), or None."""
        found: str | None = None
        for k, v in self.args:
            if k == key:
                found = v
        return found

    def args_dict(self) -> dict[str, str]:
        """CNI_ARGS as a dict (a repeated key keeps its last value)."""
        return dict(self.args)

    def to_env(self) -> dict[str, str]:
        """The CNI_* variables for invoking a plugin with this request.

        Every variable is set, empty when absent, as the reference runtime
        library does; plugins read an empty variable as unset.
        """
        return {
            "CNI_COMMAND": self.command,
            "CNI_CONTAINERID": self.container_id,
            "CNI_NETNS": self.netns,
            "CNI_IFNAME": self.ifname,
            "CNI_ARGS": format_cni_args(self.args),
            "CNI_PATH": ":".join(self.path),
        }

    def with_(self, **changes: Any) -> CNIRequest:
        """A copy with some fields replaced, e.g. ``req.with_(ifname="net1")``."""
        return self.replace(**changes)


def reject_constant(name: str) -> Any:
    """``parse_constant`` for ``json.loads``: NaN, Infinity and -Infinity are not JSON.

    RFC 8259 section 6 has no such numbers; Python accepts them by default
    and would hand them on to plugins that (rightly) refuse them.
    """
    raise ValueError(f"{name} is not valid JSON (RFC 8259 numbers are finite)")


_reject_constant = reject_constant


def parse_config_bytes(data: bytes, what: str = "network configuration on stdin") -> dict[str, Any]:
    """Decode a JSON object or raise CNIError(DECODE_FAILURE) naming ``what``.

    CNI SPEC.md Section 5 (error code 6, "failed to decode content"). The
    message carries line and column so a hand-written file can be fixed.
    """
    from pymultus.cni import jsonlite
    from pymultus.cni.limits import MAX_CONFIG_BYTES, check_size

    check_size(len(data), MAX_CONFIG_BYTES, what)
    if not data.strip():
        raise CNIError(DECODE_FAILURE, f"{what} is empty; expected a JSON object")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CNIError(
            DECODE_FAILURE, f"{what} is not valid UTF-8 (byte offset {e.start})"
        ) from None
    try:
        value = jsonlite.loads(text, parse_constant=_reject_constant)
    except ValueError as e:
        # json.JSONDecodeError (a ValueError) carries where: the message says it so a
        # hand-written file can be fixed; jsonlite keeps json off the path of valid input.
        msg, line, col = (
            getattr(e, "msg", None),
            getattr(e, "lineno", None),
            getattr(e, "colno", None),
        )
        if msg is not None and line is not None:
            raise CNIError(
                DECODE_FAILURE, f"failed to parse {what} as JSON: {msg} at line {line} column {col}"
            ) from None
        raise CNIError(DECODE_FAILURE, f"failed to parse {what} as JSON: {e}") from None
    except RecursionError:
        # Found by tests/unit/test_props_entry.py: "[[[[...]]]]" blew the stack.
        raise CNIError(
            DECODE_FAILURE, f"failed to parse {what} as JSON: nested too deeply"
        ) from None
    if not isinstance(value, dict):
        raise CNIError(
            DECODE_FAILURE,
            f"{what} must be a JSON object, got {type(value).__name__}",
        )
    return value
