"""The thin-mode CNI entry point: the ``pymultus`` executable is the CNI binary.

stdin/env -> engine -> stdout. Runs once per pod per operation, so it imports
only the standard library and pymultus's own light modules (measured in
docs/architecture.md). Every failure leaves as a CNI error result with a
spec code on stdout and a non-zero exit; a traceback never reaches the runtime.
"""

from __future__ import annotations

import os
import sys

from pymultus.cni import jsonlite
from pymultus.cni.errors import INTERNAL, INVALID_CONFIG, CNIError
from pymultus.cni.nesting import nested_problem
from pymultus.cni.request import CNIRequest, parse_config_bytes
from pymultus.cni.version import version_result

TYPE_CHECKING = False  # importing typing costs ~2 ms per CNI call: mypy reads this as True
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, BinaryIO, TextIO

FALLBACK_VERSION = "1.0.0"  # for errors raised before the config's version is known


def handle(request: CNIRequest, conf: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """Run one CNI command; returns what goes to stdout (may be empty)."""
    version = str(conf.get("cniVersion", ""))
    if request.command == "VERSION":
        return version_result(version or FALLBACK_VERSION)
    refuse_nesting(request, env)
    from pymultus.thincall import run_configured  # the engine: not for VERSION

    return run_configured(request, conf, env)


class NothingToDo(Exception):
    """A nested DEL: succeed at once (the refused ADD created nothing)."""


def refuse_nesting(request: CNIRequest, env: Mapping[str, str]) -> None:
    """Refuse to run as a meta-plugin's delegate (issue 15, item 2).

    Checked before the configuration is read: a nested instance must not even
    open the ``logFile`` its (NAD-chosen) configuration names. CNI SPEC.md
    section 5: code 7, invalid configuration (the NAD's).
    """
    problem = nested_problem(env)
    if problem is None:
        return
    if request.command == "DEL":
        raise NothingToDo(problem)
    raise CNIError(INVALID_CONFIG, problem)


def run(env: Mapping[str, str], stdin: BinaryIO, stdout: TextIO, stderr: TextIO) -> int:
    version = FALLBACK_VERSION
    try:
        request = CNIRequest.from_env(env)
        raw = stdin.read() if request.command != "VERSION" else stdin.read() or b"{}"
        conf = parse_config_bytes(raw)
        version = str(conf.get("cniVersion") or FALLBACK_VERSION)
        out = handle(request, conf, env)
    except NothingToDo:
        return 0
    except CNIError as exc:
        stdout.write(exc.to_json(version) + "\n")
        return 1
    except Exception as exc:  # a bug: still answer the runtime in protocol
        import traceback  # only on this path: it costs 2 ms to import

        traceback.print_exc(file=stderr)
        err = CNIError(INTERNAL, f"internal error in pymultus: {type(exc).__name__}: {exc}")
        stdout.write(err.to_json(version) + "\n")
        return 1
    if out:
        stdout.write(jsonlite.dumps(out) + "\n")
    return 0


def main() -> int:
    return run(os.environ, sys.stdin.buffer, sys.stdout, sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
