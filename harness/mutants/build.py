"""Making one mutant: copy the package, apply the edit, compile, write a launcher.

The launcher is the mutated copy's CNI binary: like the ``pymultus`` console
script, but run with ``python -I`` (no PYTHONPATH, no user site, no script
directory) and with the copy first on ``sys.path``, so the installed package
is never imported instead. It refuses to run (exit 70, a message on stderr)
if the package it imports is not the copy, so a kit bug cannot turn a
mutant into the unmodified program and a "caught" into a lie.
"""

from __future__ import annotations

import compileall
import difflib
import importlib.util
import io
import json
import os
import shutil
import sys
from contextlib import redirect_stdout
from dataclasses import dataclass

from harness.mutants.model import Catalog, CatalogError, Mutant, apply_edit

CONTROL_ID = "control"
#: Exit code of a launcher that found the wrong package (EX_SOFTWARE).
WRONG_PACKAGE_EXIT = 70


@dataclass(frozen=True)
class Build:
    id: str
    root: str  # the mutant's own directory
    launcher: str  # the executable to pass as --meta-plugin
    diff: str  # unified diff of the edit ("" for the control)


def package_source(package: str) -> str:
    """The directory holding ``package`` as this interpreter imports it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise CatalogError(f"cannot find the package {package!r} to mutate; pass --source")
    return os.path.dirname(next(iter(spec.submodule_search_locations)))


def launcher_text(python: str, src: str, catalog: Catalog, label: str) -> str:
    module, _, func = catalog.entry.partition(":")
    pkg = catalog.package
    return f'''#!{python} -I
"""{label}: {pkg} from {src} as a CNI binary (made by harness mutants)."""
import sys

sys.path.insert(0, {src!r})
import {pkg}

if not {pkg}.__file__.startswith({src!r} + "/"):
    sys.stderr.write("mutant launcher: imported {pkg} from %s, not from {src}\\n" % {pkg}.__file__)
    sys.exit({WRONG_PACKAGE_EXIT})
from {module} import {func}

sys.exit({func}())
'''


def build(
    catalog: Catalog,
    mutant: Mutant | None,
    work_dir: str,
    source: str | None = None,
    python: str = sys.executable,
) -> Build:
    """Build ``mutant`` (None: the unmodified control) under ``work_dir/<id>``.

    Raises CatalogError when the snippet does not match exactly once or the
    mutated copy does not compile.
    """
    ident = mutant.id if mutant else CONTROL_ID
    source = source or package_source(catalog.package)
    root = os.path.join(work_dir, ident)
    src = os.path.join(root, "src")
    if os.path.exists(root):
        shutil.rmtree(root)
    shutil.copytree(
        os.path.join(source, catalog.package),
        os.path.join(src, catalog.package),
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    diff = ""
    if mutant is not None:
        path = os.path.join(src, catalog.package, mutant.file)
        try:
            with open(path, encoding="utf-8") as f:
                before = f.read()
        except FileNotFoundError:
            raise CatalogError(
                f"mutant {mutant.id}: no file {mutant.file} in the package"
            ) from None
        after = apply_edit(before, mutant)
        with open(path, "w", encoding="utf-8") as f:
            f.write(after)
        diff = "".join(
            difflib.unified_diff(
                before.splitlines(keepends=True),
                after.splitlines(keepends=True),
                f"a/{catalog.package}/{mutant.file}",
                f"b/{catalog.package}/{mutant.file}",
            )
        )
    out = io.StringIO()
    with redirect_stdout(out):
        compiled = compileall.compile_dir(src, quiet=1, force=True)
    if not compiled:
        raise CatalogError(f"{ident}: the mutated copy does not compile: {out.getvalue().strip()}")
    bin_dir = os.path.join(root, "bin")
    os.makedirs(bin_dir, exist_ok=True)
    launcher = os.path.join(bin_dir, catalog.binary)
    label = f"mutant {ident}" if mutant else "control (unmodified)"
    with open(launcher, "w", encoding="utf-8") as f:
        f.write(launcher_text(python, src, catalog, label))
    os.chmod(launcher, 0o755)
    with open(os.path.join(root, "mutant.json"), "w", encoding="utf-8") as f:
        meta = {"id": ident, "launcher": launcher, "diff": diff}
        if mutant is not None:
            meta.update(description=mutant.description, breaks=mutant.breaks, file=mutant.file)
        json.dump(meta, f, indent=1)
    return Build(ident, root, launcher, diff)
