"""The fuzz target in ``make test``: a bounded run, and every kept input replayed.

tests/fuzz/fuzz_entry.py holds the target and the contract it checks. The
bounded run starts from tests/fuzz/corpus/ (never written to: new inputs go
to a temporary directory). A crash leaves its input in the temporary
artifact directory, named in the failure: copy it to tests/fuzz/regressions/
with a name saying what it found, fix the bug, and the replay keeps it fixed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import fuzz_entry
import pytest

HERE = Path(__file__).parent
CORPUS = HERE / "corpus"
REGRESSIONS = HERE / "regressions"
#: Seconds of coverage-guided fuzzing inside `make test` (`make fuzz` runs longer).
BOUNDED_SECONDS = int(os.environ.get("PYMULTUS_FUZZ_SECONDS", "15"))


def _inputs(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))


@pytest.fixture(scope="module")
def sandbox() -> Iterator[fuzz_entry.Sandbox]:
    import shutil

    box = fuzz_entry.Sandbox()
    try:
        yield box
    finally:
        shutil.rmtree(box.root, ignore_errors=True)


@pytest.mark.parametrize("path", _inputs(REGRESSIONS), ids=lambda p: p.name)
def test_regression_input_keeps_the_contract(sandbox: fuzz_entry.Sandbox, path: Path) -> None:
    fuzz_entry.check_one(sandbox, path.read_bytes())


@pytest.mark.parametrize("path", _inputs(CORPUS), ids=lambda p: p.name)
def test_seed_input_keeps_the_contract(sandbox: fuzz_entry.Sandbox, path: Path) -> None:
    fuzz_entry.check_one(sandbox, path.read_bytes())


def test_seeds_reach_success_and_failure(sandbox: fuzz_entry.Sandbox) -> None:
    """The corpus must exercise both ends, or the fuzzer starts blind."""
    outcomes = set()
    for path in _inputs(CORPUS):
        sandbox.reset()
        cwd = os.getcwd()
        os.chdir(sandbox.root)
        try:
            rc, _, _, command = fuzz_entry.run_one(sandbox, path.read_bytes())
        finally:
            os.chdir(cwd)
        outcomes.add((command, rc))
    assert {("ADD", 0), ("ADD", 1), ("DEL", 0), ("VERSION", 0)} <= outcomes


def test_bounded_fuzz_run_finds_no_crash(tmp_path: Path) -> None:
    new_corpus = tmp_path / "corpus"
    artifacts = tmp_path / "artifacts"
    new_corpus.mkdir()
    artifacts.mkdir()
    cmd = [
        sys.executable,
        str(HERE / "fuzz_entry.py"),
        str(new_corpus),
        str(CORPUS),
        f"-max_total_time={BOUNDED_SECONDS}",
        "-timeout=20",
        "-rss_limit_mb=1024",
        f"-artifact_prefix={artifacts}/",
        "-print_final_stats=1",
    ]
    env = {**os.environ, "PYMULTUS_FUZZ_SANDBOX": str(tmp_path / "sandbox")}
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=BOUNDED_SECONDS + 120, check=False, env=env
    )
    crashes = sorted(artifacts.iterdir())
    assert proc.returncode == 0 and not crashes, (
        f"fuzzing found a crash (exit {proc.returncode}); inputs: "
        f"{[str(c) for c in crashes]}\n{proc.stderr[-4000:]}"
    )
    runs = [line for line in proc.stderr.splitlines() if "number_of_executed_units" in line]
    assert runs and int(runs[0].split(":")[-1]) > 100, proc.stderr[-2000:]
