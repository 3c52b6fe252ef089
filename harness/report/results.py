"""The results JSON: what ``harness run --results-json`` writes and
``harness coverage`` reads to show each clause's last result."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from harness.runner import ScenarioResult

RESULTS_VERSION = 2  # 2: class, profile and per-check records (checks[].proves/status)


def results_document(results: Sequence[ScenarioResult], meta: dict[str, Any]) -> dict[str, Any]:
    from harness.report.classes import class_document

    return {
        "version": RESULTS_VERSION,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **meta,
        "classes": class_document(results),
        "results": [r.to_json() for r in results],
    }


def load_documents(path: str) -> list[dict[str, Any]]:
    """The results of one file: a results document, or a list of them (one per
    profile, e.g. a peer run)."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    docs = data if isinstance(data, list) else [data]
    return [d for d in docs if isinstance(d, dict)]


def load_results(path: str) -> dict[str, str]:
    """Scenario path -> status, from a results JSON file."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    return {str(r["path"]): str(r["status"]) for r in data.get("results", [])}
