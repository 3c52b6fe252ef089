"""Writing the files a local cluster hands to others: tokens, configs, run info.

Each is replaced in one rename, because someone reads it while it changes:
containerd's CRI plugin re-reads the CNI conf dir on every inotify event,
``harness exec`` reads the sandbox map, plugins read their kubeconfig.
Secrets (tokens, kubeconfigs, run info with the token) are root-only.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import threading
from typing import Any


def write_private_text(path: str, text: str) -> None:
    """Atomically replace ``path`` with ``text``, readable by root only (tokens)."""
    tmp = f"{path}.{threading.get_ident()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_atomic(path: str, text: str) -> None:
    """Replace ``path`` in one rename: containerd's CRI plugin re-reads the conf dir
    on every inotify event and must never see a half-written config. The
    temporary name has no config extension, so no runtime ever loads it."""
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{secrets.token_hex(4)}~")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    with contextlib.suppress(FileNotFoundError):  # an existing file keeps its mode
        os.chmod(tmp, os.stat(path).st_mode & 0o7777)
    os.replace(tmp, path)


def write_private_json(path: str, obj: Any) -> None:
    write_private_text(path, json.dumps(obj, indent=2, sort_keys=True))
