"""The results JSON: what ``harness run --results-json`` writes and
``harness coverage`` reads to show each clause's last result."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from harness.runner import ScenarioResult

RESULTS_VERSION = 1


def results_document(results: Sequence[ScenarioResult], meta: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": RESULTS_VERSION,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **meta,
        "results": [r.to_json() for r in results],
    }


def load_results(path: str) -> dict[str, str]:
    """Scenario path -> status, from a results JSON file."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    return {str(r["path"]): str(r["status"]) for r in data.get("results", [])}
