"""Executables for the foreign-meta fixture: this interpreter with ``-I -S``
(no site-packages, so pymultus cannot be imported), running foreignmeta.py."""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PROFILES = {
    "thin": os.path.join(HERE, "foreign-thin.yaml"),
    "thick": os.path.join(HERE, "foreign-thick.yaml"),
}


def write_launchers(directory: str) -> dict[str, str]:
    """``foreign-meta``, ``foreign-meta-daemon``, ``foreign-meta-shim`` in ``directory``."""
    out = {}
    for name, entry in (
        ("foreign-meta", "main_thin"),
        ("foreign-meta-daemon", "main_daemon"),
        ("foreign-meta-shim", "main_shim"),
    ):
        path = os.path.join(directory, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(
                f"#!{sys.executable} -IS\n"
                "import sys\n"
                f"sys.path.insert(0, {HERE!r})\n"
                "import foreignmeta\n"
                f"sys.exit(foreignmeta.{entry}())\n"
            )
        os.chmod(path, 0o755)
        out[name] = path
    return out
