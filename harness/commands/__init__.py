"""Subcommands of the ``harness`` CLI, one module each.

Each module exposes ``register(subparsers)`` that adds its parser and sets
``func`` to a function taking the parsed arguments and returning an exit code.
"""

from __future__ import annotations

# Order here is the order in `harness --help`.
COMMAND_MODULES = (
    "harness.commands.run",
    "harness.commands.validate",
    "harness.commands.coverage",
    "harness.commands.skips",
    "harness.commands.cluster",
    "harness.commands.exec",
    "harness.commands.logs",
    "harness.commands.vendor",
    "harness.commands.mutants",
)
