"""Test helper: put the fake kind/kubectl/docker first on PATH and read what they saw.

Used by tests/unit/test_backend_*.py (``sys.path`` gets this directory)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

BIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin")


class FakeCLI:
    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.log = tmp_path / "fakecli.jsonl"
        self.rules_file = tmp_path / "fakecli-rules.json"
        self.rules_file.write_text("[]")
        monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
        monkeypatch.setenv("FAKECLI_LOG", str(self.log))
        monkeypatch.setenv("FAKECLI_RULES", str(self.rules_file))
        monkeypatch.setenv("FAKECLI_PYTHON", sys.executable)

    def rules(self, rules: list[dict[str, Any]]) -> None:
        self.rules_file.write_text(json.dumps(rules))

    def calls(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def argvs(self, tool: str | None = None) -> list[list[str]]:
        return [[c["tool"], *c["argv"]] for c in self.calls() if tool in (None, c["tool"])]
