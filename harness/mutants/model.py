"""What a mutant is, and how a catalog of them is read.

Pure data and validation: no file system, no processes. A catalog names the
package it mutates (``package``, a directory copied whole), how the mutated
copy is started as a CNI binary (``entry``, ``module:function``; ``binary``,
the executable's file name: the CNI ``type`` the backend installs it as) and
the mutants. Vendors can keep their own catalog in YAML or JSON with the
same keys (:func:`catalog_from_data`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

_ID = re.compile(r"[a-z0-9][a-z0-9-]*")


class CatalogError(ValueError):
    """A catalog or mutant that cannot be used (bad data, a stale snippet)."""


@dataclass(frozen=True)
class Mutant:
    """One deliberately broken variant: replace ``find`` by ``replace`` in ``file``."""

    id: str
    description: str
    file: str  # relative to the package directory
    find: str
    replace: str
    breaks: str = ""  # the clause or reference behaviour it violates
    # Scenario files (names in the suite directory) that should fail against it.
    catches: tuple[str, ...] = ()
    fast: bool = False  # in the make-test subset (run against ``catches`` only)

    def problems(self) -> list[str]:
        out = []
        if not _ID.fullmatch(self.id):
            out.append(f"id {self.id!r}: use lower case letters, digits and '-'")
        if not self.find:
            out.append(f"{self.id}: find is empty")
        if self.find == self.replace:
            out.append(f"{self.id}: replace equals find (nothing would change)")
        if self.file.startswith("/") or ".." in self.file.split("/"):
            out.append(f"{self.id}: file {self.file!r} must be relative to the package")
        if self.fast and not self.catches:
            out.append(f"{self.id}: fast needs catches (the scenarios the subset runs)")
        return out


@dataclass(frozen=True)
class Catalog:
    package: str  # import name, also the directory copied
    entry: str  # module:function run by the launcher
    binary: str  # file name of the launcher (the CNI type)
    mutants: tuple[Mutant, ...] = field(default_factory=tuple)

    def check(self) -> None:
        """Raise CatalogError listing every problem (duplicate ids included)."""
        problems = [p for m in self.mutants for p in m.problems()]
        seen: set[str] = set()
        for mutant in self.mutants:
            if mutant.id in seen:
                problems.append(f"duplicate mutant id {mutant.id}")
            seen.add(mutant.id)
        if ":" not in self.entry:
            problems.append(f"entry {self.entry!r} must be module:function")
        if not self.binary or "/" in self.binary:
            problems.append(f"binary {self.binary!r} must be a file name")
        if problems:
            raise CatalogError("; ".join(problems))

    def select(self, ids: Sequence[str]) -> list[Mutant]:
        """The mutants named (all when ``ids`` is empty); an unknown id is an error."""
        if not ids:
            return list(self.mutants)
        by_id = {m.id: m for m in self.mutants}
        unknown = [i for i in ids if i not in by_id]
        if unknown:
            raise CatalogError(f"unknown mutant {', '.join(unknown)} (see `harness mutants list`)")
        return [by_id[i] for i in ids]


def apply_edit(text: str, mutant: Mutant) -> str:
    """``text`` with the mutant's one edit; the snippet must occur exactly once.

    A snippet found zero times is stale (the source changed under it), and one
    found twice is ambiguous: both are errors, so a mutant can never silently
    be the unmodified program.
    """
    count = text.count(mutant.find)
    if count != 1:
        what = "not found (stale mutant)" if count == 0 else f"found {count} times (ambiguous)"
        raise CatalogError(f"mutant {mutant.id}: snippet in {mutant.file} {what}: {mutant.find!r}")
    return text.replace(mutant.find, mutant.replace, 1)


_MUTANT_KEYS = {f for f in Mutant.__dataclass_fields__}


def catalog_from_data(data: Mapping[str, Any]) -> Catalog:
    """A catalog from parsed YAML/JSON: {package, entry, binary, mutants: [...]}."""
    try:
        mutants = []
        for item in data.get("mutants") or []:
            extra = set(item) - _MUTANT_KEYS
            if extra:
                raise CatalogError(f"mutant {item.get('id')}: unknown keys {sorted(extra)}")
            mutants.append(
                Mutant(
                    **{
                        **item,
                        "catches": tuple(item.get("catches") or ()),
                        "fast": bool(item.get("fast", False)),
                    }
                )
            )
        catalog = Catalog(
            package=str(data["package"]),
            entry=str(data["entry"]),
            binary=str(data.get("binary") or data["package"]),
            mutants=tuple(mutants),
        )
    except (KeyError, TypeError) as exc:
        raise CatalogError(f"catalog: {exc}") from None
    catalog.check()
    return catalog
