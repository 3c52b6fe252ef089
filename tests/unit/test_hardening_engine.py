"""A failed ADD leaves nothing behind, whatever step fails.

NPWG v1.3 7.2 (fail fast) and the engine's own contract
(pymultus/engine.py, Engine.add): on failure the delegates already added
are deleted in reverse and the delegate cache is removed. These cases make
each later step of ADD fail and check both halves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pymultus.cni.errors import DECODE_FAILURE, CNIError
from pymultus.cni.request import CNIRequest
from pymultus.engine import Engine
from pymultus.log import Logger
from pymultus.model.config import parse_config
from pymultus.state import DelegateCache


class Recorder:
    def __init__(self, add_result: dict[str, Any]) -> None:
        self.add_result = add_result
        self.calls: list[str] = []

    def __call__(
        self, plugin_type: str, command: str, conf: dict[str, Any], request: CNIRequest
    ) -> dict[str, Any]:
        self.calls.append(command)
        return dict(self.add_result) if command == "ADD" else {}


def engine_for(tmp_path: Path, version: str, execute: Recorder) -> Engine:
    cfg = parse_config(
        {
            "cniVersion": version,
            "name": "multus",
            "cniDir": str(tmp_path),
            "delegates": [{"cniVersion": "1.0.0", "name": "n", "type": "x"}],
        }
    )
    return Engine(
        cfg=cfg,
        execute=execute,
        cache=DelegateCache(str(tmp_path)),
        kube=None,
        log=Logger("error", "", False),
    )


def test_a_malformed_delegate_result_is_rolled_back(tmp_path: Path) -> None:
    execute = Recorder({"cniVersion": "1.0.0", "ips": "not-a-list"})
    with pytest.raises(CNIError) as exc:
        engine_for(tmp_path, "1.0.0", execute).add(CNIRequest("ADD", "c1", "/n", "eth0"))
    assert exc.value.code == DECODE_FAILURE
    assert execute.calls == ["ADD", "DEL"]
    assert list(tmp_path.iterdir()) == []


def test_a_result_that_cannot_be_converted_is_rolled_back(tmp_path: Path) -> None:
    execute = Recorder({"cniVersion": "1.0.0", "ips": [{"address": "not-an-ip"}]})
    with pytest.raises(CNIError) as exc:
        engine_for(tmp_path, "0.2.0", execute).add(CNIRequest("ADD", "c1", "/n", "eth0"))
    assert exc.value.code == DECODE_FAILURE
    assert execute.calls == ["ADD", "DEL"]
    assert list(tmp_path.iterdir()) == []
