"""The suite travels with the package: a wheel in a fresh venv finds its own scenarios.

The project is built into a wheel and installed (with its dependencies, as
a user would) into a new virtualenv; then, from a directory that has no
``scenarios/``, the installed ``harness run``, ``validate``, ``coverage`` and
the pytest plugin (``--harness-suite``) all find the conformance suite the
wheel carries in ``harness/_data/scenarios``, never the checkout.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SUITE = sorted(p.name for p in (REPO / "scenarios").glob("*.yaml"))


def sh(*argv: str | Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """bin/ of a fresh venv holding the project's wheel and pytest."""
    base = tmp_path_factory.mktemp("wheel")
    built = sh(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", base, REPO, cwd=base)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = base.glob("pymultus-*.whl")
    venv = base / "venv"
    made = sh(sys.executable, "-m", "venv", "--without-pip", venv, cwd=base)
    assert made.returncode == 0, made.stderr
    pip = sh(
        sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "-q",
        wheel, "pytest", cwd=base,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stderr[-3000:]
    yield venv / "bin"


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A working directory with no scenarios/ and no checkout above it."""
    where = tmp_path / "somewhere"
    where.mkdir()
    return where


def test_the_wheel_carries_and_finds_the_suite(installed: Path, elsewhere: Path) -> None:
    where = sh(installed / "python", "-c", "import harness; print(harness.__file__)", cwd=elsewhere)
    assert "site-packages" in where.stdout and str(REPO) not in where.stdout, where
    validated = sh(installed / "harness", "validate", cwd=elsewhere)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    shown = sorted(Path(line.split()[1]).name for line in validated.stdout.splitlines())
    assert shown == SUITE
    assert "/_data/scenarios/" in validated.stdout and str(REPO) not in validated.stdout

    coverage = sh(installed / "harness", "coverage", cwd=elsewhere)
    assert coverage.returncode == 0, coverage.stdout + coverage.stderr
    assert "invalid scenario" not in coverage.stdout and "quickstart" in coverage.stdout

    collected = sh(installed / "python", "-m", "pytest", "--harness-suite", "--collect-only", "-q",
                   "-p", "no:cacheprovider", cwd=elsewhere)  # fmt: skip
    assert collected.returncode == 0, collected.stdout + collected.stderr
    assert f"{len(SUITE)} tests collected" in collected.stdout, collected.stdout[-2000:]


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network and mount namespaces)")
@pytest.mark.skipif(not os.path.isdir("/usr/lib/cni"), reason="no CNI plugins in /usr/lib/cni")
def test_harness_run_with_no_path_runs_the_packaged_suite(installed: Path, elsewhere: Path) -> None:
    ran = sh(installed / "harness", "run", "-k", "quickstart", cwd=elsewhere, timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "quickstart" in ran.stdout and " 0 failed" in ran.stdout, ran.stdout
    assert "passed" in ran.stdout and "invalid scenario" not in ran.stderr
