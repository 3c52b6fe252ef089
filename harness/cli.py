"""The ``harness`` command line: a thin shell over the runner and backends.

    harness run [PATHS...] [-k TEXT] [--backend local] [--meta-plugin PATH]
    harness validate FILES...

Subcommands live in :mod:`harness.commands`, one module each.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from harness.commands import COMMAND_MODULES


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="harness", description="network conformance harness for CNI meta-plugins and plugins"
    )
    sub = p.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
