"""What the meta-plugin itself does inside the pod's network namespace.

Two things, both cheap and both optional: moving the default route
(``default-route``) and listing the pod's links (CHECK verifies that every
attachment's interface still exists, also for delegates too old to CHECK).

NPWG v1.3 4.1.2.1.8 ("default-route"): the gateway listed by a selection
element becomes the pod's default route for that IP family, on that
element's interface, and the default routes of that family the other
attachments installed are removed (the reference does the same after all
delegates ran).

How: ``nsenter --net=CNI_NETNS ip -<family> -batch -`` with two commands,
"flush every default route of the family in the main table" and "add the
requested one". Alternatives considered:

* ``ip -n NAME``: needs a name under /var/run/netns, but CNI_NETNS is any
  path (containerd uses /var/run/netns/cni-..., others /proc/PID/ns/net).
* ``setns(2)`` through ctypes plus a hand-written rtnetlink client: no
  subprocess, but setns switches only the calling thread, which the thick
  daemon (many threads) would have to fence carefully, and a netlink
  encoder is a lot of code on the CNI path for one route per pod.

One ``nsenter`` + ``ip`` process costs about 3.5 ms here, half of what
``ip -n NAME route replace`` costs (``ip -n`` also remounts /sys in a new
mount namespace), and only pods that request ``default-route`` pay it
(benchmarks/meta_default_route.py; figures in benchmarks/README.md).
"""

from __future__ import annotations

# collections.abc without importing collections (~1.3 ms per CNI call, issue 16)
from _collections_abc import Callable, Sequence

from pymultus.cni.errors import INVALID_CONFIG, IO_FAILURE, CNIError

#: Runs ``argv`` with ``stdin``; returns (exit status, combined output).
Runner = Callable[[Sequence[str], bytes], tuple[int, str]]

_DEFAULT_DESTINATION = {4: "0.0.0.0/0", 6: "::/0"}


def batch_commands(family: int, ifname: str, gateway: str) -> str:
    """The ``ip -batch`` input that leaves exactly one default route of ``family``.

    Pure, so it is tested as text. ``flush exact`` matches only the default
    destination (not every route), ``table main`` leaves policy-routing
    tables of other plugins (sbr) alone.
    """
    if family not in _DEFAULT_DESTINATION:
        raise ValueError(f"IP family must be 4 or 6, got {family!r}")
    return (
        f"route flush exact {_DEFAULT_DESTINATION[family]} table main\n"
        f"route add default via {gateway} dev {ifname}\n"
    )


def argv_for(netns: str, family: int) -> list[str]:
    return ["nsenter", f"--net={netns}", "--", "ip", f"-{family}", "-batch", "-"]


def run_process(argv: Sequence[str], stdin: bytes) -> tuple[int, str]:
    from pymultus.cni.invoke import run_argv  # no subprocess on the CNI path (issue 16)

    try:
        code, out, err = run_argv(argv, stdin, timeout=30)
    except OSError as exc:  # TimeoutError included
        return 127, str(exc)
    return code, (out + err).decode("utf-8", "replace").strip()


def set_default_route(
    netns: str, family: int, ifname: str, gateway: str, run: Runner = run_process
) -> None:
    """Make ``gateway`` via ``ifname`` the only default route of ``family`` in ``netns``.

    Raises CNIError naming the interface and gateway when the kernel refuses
    (e.g. the gateway is not on a subnet of that interface).
    """
    if not netns:
        raise CNIError(
            INVALID_CONFIG,
            f"default-route {gateway} on {ifname}: CNI_NETNS is empty, cannot change routes",
        )
    code, output = run(argv_for(netns, family), batch_commands(family, ifname, gateway).encode())
    if code != 0:
        raise CNIError(
            IO_FAILURE if code == 127 else INVALID_CONFIG,
            f"cannot make {gateway} the IPv{family} default route on {ifname} "
            f"(default-route of the pod's networks annotation)",
            f"{output or f'exit status {code}'}; the gateway must be reachable on a subnet "
            f"of {ifname}'s addresses",
        )


OWN_NETNS = "/proc/self/ns/net"


def is_own_netns(netns: str, own: str = OWN_NETNS) -> bool:
    """Whether ``netns`` is the network namespace this process runs in.

    Compared by device and inode, as the kernel identifies namespaces (a
    bind mount under /var/run/netns and /proc/PID/ns/net of the same
    namespace are the same inode). A path that cannot be read is not ours:
    the delegates will report it.
    """
    import os

    try:
        theirs = os.stat(netns)
        mine = os.stat(own)
    except (OSError, ValueError):
        return False
    return (theirs.st_dev, theirs.st_ino) == (mine.st_dev, mine.st_ino)


def list_links(netns: str, run: Runner = run_process) -> set[str]:
    """The names of the links in ``netns`` (one ``ip -o link show``)."""
    code, output = run(["nsenter", f"--net={netns}", "--", "ip", "-o", "link", "show"], b"")
    if code != 0:
        raise CNIError(
            IO_FAILURE,
            f"cannot list the links of the pod's network namespace {netns}",
            output or f"exit status {code}",
        )
    return parse_link_names(output)


def parse_link_names(output: str) -> set[str]:
    """Link names from ``ip -o link show`` lines (``2: net1@if5: <...> ...``)."""
    names: set[str] = set()
    for line in output.splitlines():
        parts = line.split(": ", 2)
        if len(parts) >= 2 and parts[0].strip().isdigit():
            names.add(parts[1].split("@", 1)[0].strip())
    return names
