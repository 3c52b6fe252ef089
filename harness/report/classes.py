"""Pass/fail per scenario class and per profile: the line a reader of a run
against another implementation looks for first.

``spec`` and ``reference`` scenarios are conformance: a peer implementation is
judged on them. ``extension`` scenarios check what pymultus does beyond the
reference; a foreign meta-plugin failing them is expected. Counting them
apart keeps one from hiding the other. Pure functions over results.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.runner import ScenarioResult

CLASS_ORDER = ("spec", "reference", "extension")
DEFAULT_PROFILE = "pymultus-thin"
#: result status -> the column it is counted in
COLUMN = {
    "passed": "passed",
    "xpassed": "passed",
    "failed": "failed",
    "error": "failed",
    "xfailed": "xfailed",
    "skipped": "skipped",
}
COLUMNS = ("passed", "failed", "skipped", "xfailed")


def profile_name(options: Any) -> str:
    """The meta-plugin profile of a run: the options' own ``profile`` when the
    run has one (set by the profile-aware CLI), else derived from the mode for
    pymultus, or ``custom-<mode>`` for another ``--meta-plugin`` binary."""
    resolve = getattr(options, "meta_profile", None)  # harness.backends.Options
    named_or_local = getattr(options, "profile", None) or getattr(options, "profile_file", None)
    if callable(resolve) and (named_or_local or getattr(options, "backend", "") == "local"):
        try:
            return str(resolve().name)  # a --profile-file's own name too
        except ValueError:  # ProfileError: reported where the run starts
            pass
    named = getattr(options, "profile", None)
    if named:
        return str(getattr(named, "name", named))
    mode = str(getattr(options, "mode", "thin") or "thin")
    return f"custom-{mode}" if getattr(options, "meta_plugin", None) else f"pymultus-{mode}"


def class_counts(
    results: Sequence[ScenarioResult],
) -> dict[tuple[str, str], dict[str, int]]:
    """(profile, class) -> {passed, failed, skipped, xfailed, notChecked}, in
    profile order of first appearance and class order spec, reference, extension."""
    profiles: list[str] = []
    for r in results:
        if r.profile not in profiles:
            profiles.append(r.profile)
    out: dict[tuple[str, str], dict[str, int]] = {}
    for profile in profiles:
        for klass in CLASS_ORDER:
            chosen = [r for r in results if r.profile == profile and r.klass == klass]
            if not chosen:
                continue
            counts = {c: 0 for c in COLUMNS}
            for r in chosen:
                counts[COLUMN[r.status]] += 1
            counts["notChecked"] = sum(len(r.not_checked) for r in chosen)
            out[(profile, klass)] = counts
    return out


def class_lines(results: Sequence[ScenarioResult]) -> list[str]:
    """``pymultus-thin  spec       30 passed, 1 failed, 2 skipped`` lines."""
    lines = []
    for (profile, klass), counts in class_counts(results).items():
        text = ", ".join(f"{counts[c]} {c}" for c in COLUMNS if counts[c] or c != "xfailed")
        if counts["notChecked"]:
            text += f" ({counts['notChecked']} check(s) not checked)"
        lines.append(f"{profile:<16} {klass:<10} {text}")
    return lines


def class_document(results: Sequence[ScenarioResult]) -> list[dict[str, Any]]:
    """The per-class counts for the results JSON."""
    return [
        {"profile": profile, "class": klass, **counts}
        for (profile, klass), counts in class_counts(results).items()
    ]
