"""Meta-plugins must not be nested (issue 15, item 2). Pure, standard library only.

A NetworkAttachmentDefinition whose config names a meta-plugin (``"type":
"pymultus"``) would make every ADD and DEL start the meta-plugin again, with
a configuration the NAD's author chose, as root: unbounded recursion (one
new process per level, each outliving ``delegateTimeout``) and a root
process whose ``logFile``, ``cniDir``, ``binDir`` and ``kubeconfig`` anyone
allowed to write a NAD decides.

Two independent guards:

1. planning refuses a delegate whose type is a known meta-plugin, ours or
   the reference's (:data:`META_PLUGIN_TYPES`), naming the network;
2. every delegate pymultus starts gets :data:`DELEGATE_MARKER` in its
   environment; pymultus (thin or shim) started with it refuses to work, so
   a second level is refused whatever its binary is called (a copy or a
   symlink under another name). Its DEL succeeds at once: a refused ADD
   created nothing.
"""

from __future__ import annotations

#: Set in the environment of every delegate the meta-plugin runs; its value
#: names the meta-plugin that set it.
DELEGATE_MARKER = "PYMULTUS_DELEGATE_OF"

#: Plugin types that are meta-plugins: pymultus's own binaries and Multus's.
META_PLUGIN_TYPES = frozenset({"pymultus", "pymultus-shim", "multus", "multus-shim"})


def nested_problem(env: object) -> str | None:
    """Why a meta-plugin started with ``env`` must not run, or None.

    ``env`` is a mapping of the process environment (typed loosely so the
    shim needs no ``typing`` import).
    """
    get = getattr(env, "get", None)
    outer = get(DELEGATE_MARKER) if get is not None else None
    if not outer:
        return None
    return (
        f"pymultus was started as a delegate of the meta-plugin {outer!r} "
        f"({DELEGATE_MARKER} is set): meta-plugins cannot be nested; a "
        "NetworkAttachmentDefinition must name an ordinary CNI plugin"
    )
