"""Running the kernel's tools (ip, nsenter, mount): argv lists only, never a shell."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence


class CommandError(RuntimeError):
    def __init__(self, argv: Sequence[str], code: int, stderr: str) -> None:
        self.argv = list(argv)
        self.code = code
        self.stderr = stderr.strip()
        super().__init__(f"{' '.join(argv)} failed ({code}): {self.stderr}")


def run(
    argv: Sequence[str], *, stdin: str | None = None, check: bool = True, timeout: float = 30.0
) -> str:
    proc = subprocess.run(
        list(argv), input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        raise CommandError(argv, proc.returncode, proc.stderr)
    return proc.stdout


def ip_batch(commands: Sequence[str], netns: str | None = None) -> None:
    """Run many `ip` commands in one process (``ip -batch -``): one fork, not N."""
    if not commands:
        return
    argv = ["ip"]
    if netns:
        argv += ["-n", netns]
    run([*argv, "-batch", "-"], stdin="\n".join(commands) + "\n")
