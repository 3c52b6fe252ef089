"""No module of the local backend grows past ~500 lines (issue 17, "a store one
can change"): a room that size is read in one sitting; past it, split it into
modules named for what they hold, as cluster.py was (docs/architecture.md)."""

from __future__ import annotations

from pathlib import Path

import harness.backends.local as local

LIMIT = 500
ROOT = Path(local.__file__).parent
# protoc's output, generated at setup time from cri.proto (not ours to shape).
GENERATED = ROOT / "containerd" / "_generated"


def modules() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if GENERATED not in p.parents)


def test_the_local_backend_has_modules() -> None:
    names = {p.name for p in modules()}
    assert {"cluster.py", "apiserver.py", "kubelet.py"} <= names


def test_no_local_backend_module_is_over_the_limit() -> None:
    too_long = {
        str(p.relative_to(ROOT)): n
        for p in modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > LIMIT
    }
    assert not too_long, f"split these modules (over {LIMIT} lines): {too_long}"
