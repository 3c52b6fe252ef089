"""What the meta-plugin answered containerd: its error code, which CRI does not carry.

containerd's CRI plugin turns a plugin's CNI error into the text of a gRPC
error (``plugin type=... failed (add): <msg>``): the kubelet, and so the
harness, never sees the error's ``code``. Scenarios assert codes (CNI SPEC.md
Section 6, "Error"), so on containerd nodes the meta-plugin's entry in
``/opt/cni/bin`` is a transparent POSIX sh wrapper: it runs the real binary
with the same stdin, environment and stderr, prints its stdout unchanged,
exits with its status, and keeps a copy of the answer of every failed call in
the node's ``tap`` directory, named by command and pod UID (from CNI_ARGS).
The harness reads those copies to name the code of a failed RunPodSandbox or
StopPodSandbox; nothing else changes for containerd or the plugin.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex

REAL_DIR = "bin"  # in the tap dir: real binaries that were files, out of the bin dir


def wrapper_script(real: str, tap_dir: str) -> str:
    return f"""#!/bin/sh
# harness tap (harness/backends/local/containerd/tap.py): runs {real}
# stdout byte for byte (the x keeps trailing newlines), the same exit status,
# and the same death by signal.
out=$({shlex.quote(real)}; rc=$?; printf x; exit "$rc")
rc=$?
out=${{out%x}}
printf '%s' "$out"
if [ "$rc" -ne 0 ]; then
  uid=${{CNI_ARGS##*K8S_POD_UID=}}
  uid=${{uid%%;*}}
  f={shlex.quote(tap_dir)}/"$CNI_COMMAND-$uid-$CNI_CONTAINERID"
  printf '%s' "$out" > "$f.tmp" 2>/dev/null && mv -f "$f.tmp" "$f.json" 2>/dev/null
fi
if [ "$rc" -gt 128 ] && [ "$rc" -lt 160 ]; then
  trap - "$((rc - 128))" 2>/dev/null
  kill -"$((rc - 128))" $$
fi
exit "$rc"
"""


def install(bin_dir: str, name: str, tap_dir: str) -> None:
    """Put the wrapper in front of ``bin_dir/name`` (a symlink or a file).

    A file is moved out of the bin dir (into the tap dir), so that nothing
    else in the bin dir (the wiretap wraps every binary there) sees two."""
    entry = os.path.join(bin_dir, name)
    if not os.path.lexists(entry):
        return
    os.makedirs(tap_dir, exist_ok=True)
    if os.path.islink(entry):
        real = os.path.realpath(entry)
        os.unlink(entry)
    else:
        os.makedirs(os.path.join(tap_dir, REAL_DIR), exist_ok=True)
        real = os.path.join(tap_dir, REAL_DIR, name)
        os.replace(entry, real)
    tmp = entry + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(wrapper_script(real, tap_dir))
    os.chmod(tmp, 0o755)
    os.replace(tmp, entry)


def take_error(tap_dir: str, command: str, uid: str) -> dict[str, object] | None:
    """The newest failed ``command`` answer for pod ``uid`` (removed once read)."""
    prefix = f"{command}-{uid}-"
    try:
        names = [n for n in os.listdir(tap_dir) if n.startswith(prefix) and n.endswith(".json")]
    except OSError:
        return None
    if not names:
        return None
    paths = sorted((os.path.join(tap_dir, n) for n in names), key=os.path.getmtime)
    answer: dict[str, object] | None = None
    with contextlib.suppress(OSError, ValueError):
        with open(paths[-1], encoding="utf-8") as f:
            data = json.load(f)
        if isinstance(data, dict):
            answer = data
    for path in paths:
        with contextlib.suppress(OSError):
            os.unlink(path)
    return answer


def forget(tap_dir: str, uid: str) -> None:
    """Drop every answer kept for pod ``uid``."""
    with contextlib.suppress(OSError):
        for name in os.listdir(tap_dir):
            if f"-{uid}-" in name:
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(tap_dir, name))
