"""The GitHub Actions workflows, the composite action and the version table.

actionlint checks syntax, expressions and (with shellcheck) the run scripts;
these tests check what the project promises about its CI: the matrix, pinned
actions, reports, the peer job that does not gate, and the table updater.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.backends import versions

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
ACTION = REPO / ".github" / "actions" / "conformance" / "action.yml"
RECORDINGS = REPO / "tests" / "fakes" / "recordings"


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def on(workflow: dict[str, Any]) -> dict[str, Any]:
    trigger: dict[str, Any] = workflow.get("on", workflow.get(True))  # YAML 1.1: on == True
    return trigger


def all_uses() -> list[tuple[str, str]]:
    found = []
    for path in [*WORKFLOWS, ACTION]:
        for match in re.finditer(r"^\s*(?:-\s*)?uses:\s*(\S+)", path.read_text(), re.MULTILINE):
            found.append((path.name, match.group(1)))
    return found


def test_there_are_workflows() -> None:
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "conformance.yml"}


@pytest.mark.skipif(
    shutil.which("actionlint") is None and not (REPO / ".venv/bin/actionlint").exists(),
    reason="actionlint not installed (make setup installs it)",
)
def test_actionlint_has_no_findings() -> None:
    exe = shutil.which("actionlint") or str(REPO / ".venv/bin/actionlint")
    proc = subprocess.run(
        [exe, "-no-color", *map(str, WORKFLOWS)], cwd=REPO, capture_output=True, text=True,
        check=False, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_external_actions_are_pinned_to_versions() -> None:
    external = [(f, u) for f, u in all_uses() if not u.startswith("./")]
    assert external
    for where, uses in external:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+(/[\w./-]+)?@(v\d+\.\d+\.\d+|[0-9a-f]{40})", uses), (
            f"{where}: {uses} is not pinned to a full version"
        )


def test_the_kind_matrix_covers_versions_modes_and_families() -> None:
    assert len(versions.matrix_versions()) >= 4
    conformance = load(REPO / ".github/workflows/conformance.yml")
    inputs = on(conformance)["workflow_call"]["inputs"]
    assert yaml.safe_load(inputs["modes"]["default"]) == ["thin", "thick"]
    assert yaml.safe_load(inputs["ip-families"]["default"]) == ["ipv4", "dual"]
    matrix = conformance["jobs"]["kind"]["strategy"]["matrix"]
    assert set(matrix) == {"k8s", "mode", "ip-family"}
    assert "versions.py --matrix" in conformance["jobs"]["versions"]["steps"][1]["run"]
    assert conformance["jobs"]["kind"]["strategy"]["fail-fast"] is False


def test_ci_jobs() -> None:
    ci = load(REPO / ".github/workflows/ci.yml")
    jobs = ci["jobs"]
    assert set(jobs) >= {"fast", "kind", "k3s", "reference-peer"}
    assert "make test" in " ".join(str(s.get("run", "")) for s in jobs["fast"]["steps"])
    assert jobs["kind"]["uses"] == "./.github/workflows/conformance.yml"
    assert jobs["kind"]["needs"] == jobs["k3s"]["needs"] == "fast"
    assert jobs["reference-peer"]["continue-on-error"] is True  # reported, not gating
    peer = jobs["reference-peer"]["steps"][-1]["with"]
    assert "k8snetworkplumbingwg/multus-cni" in peer["deploy"]
    assert jobs["k3s"]["steps"][-1]["with"]["backend"] == "k3s"


def test_reports_are_artifacts_and_the_summary_goes_to_the_job() -> None:
    text = ACTION.read_text()
    for flag in ("--junit-xml", "--html", "--markdown", "GITHUB_STEP_SUMMARY"):
        assert flag in text
    steps = load(ACTION)["runs"]["steps"]
    upload = steps[-1]
    assert upload["uses"].startswith("actions/upload-artifact@")
    assert upload["if"] == "always()"


def test_action_inputs_do_not_reach_scripts_unquoted() -> None:
    """Inputs go through env: (no script injection through ${{ inputs.x }} in run:)."""
    for step in load(ACTION)["runs"]["steps"]:
        assert "${{" not in str(step.get("run", ""))


# ------------------------------------------------------------- version table
def test_table_images_are_digest_pinned_and_match_their_minor() -> None:
    for minor, image in versions.KIND_IMAGES.items():
        assert re.fullmatch(rf"kindest/node:v{re.escape(minor)}\.\d+@sha256:[0-9a-f]{{64}}", image)
    for minor, image in versions.K3S_IMAGES.items():
        assert image.startswith(f"rancher/k3s:v{minor}.")


@pytest.mark.parametrize(
    ("given", "minor"), [("1.31", "1.31"), ("v1.31.2", "1.31"), (" 1.30.13 ", "1.30")]
)
def test_minor(given: str, minor: str) -> None:
    assert versions.minor(given) == minor


def test_release_notes_parser() -> None:
    notes = (RECORDINGS / "kind-v0.28.0-release-notes.md").read_text()
    images = versions.parse_release_notes(notes)
    assert images == versions.KIND_IMAGES


def run_updater(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "ci" / "update-versions.py"), *args],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip


def test_update_script_rewrites_an_outdated_table(tmp_path: Path) -> None:
    source = (REPO / "harness" / "backends" / "versions.py").read_text()
    old_block = versions.render_generated_block(
        "v0.27.0", {k: v for k, v in versions.KIND_IMAGES.items() if k != "1.33"}
    )
    table = tmp_path / "versions.py"
    table.write_text(versions.replace_generated_block(source, old_block))
    notes = str(RECORDINGS / "kind-v0.28.0-release-notes.md")
    common = ["--notes", notes, "--kind-version", "v0.28.0", "--table", str(table)]
    check = run_updater(*common, "--check")
    assert check.returncode == 1 and "behind kind v0.28.0" in check.stdout
    update = run_updater(*common)
    assert update.returncode == 0, update.stderr
    assert table.read_text() == source  # exactly the checked-in table
    assert run_updater(*common, "--check").returncode == 0


def test_update_script_refuses_thin_release_notes(tmp_path: Path) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text("- v1.33.1: `kindest/node:v1.33.1@sha256:" + "a" * 64 + "`\n")
    table = tmp_path / "versions.py"
    shutil.copy(REPO / "harness" / "backends" / "versions.py", table)
    proc = run_updater("--notes", str(notes), "--kind-version", "v9", "--table", str(table))
    assert proc.returncode != 0 and "need at least 4" in proc.stderr
    assert table.read_text() == (REPO / "harness" / "backends" / "versions.py").read_text()


def test_versions_cli_for_ci() -> None:
    script = str(REPO / "harness" / "backends" / "versions.py")
    out = subprocess.run(
        [sys.executable, script, "--matrix"], capture_output=True, text=True, check=True
    ).stdout
    assert yaml.safe_load(out) == versions.matrix_versions()
    node = subprocess.run(
        [sys.executable, script, "--node-version", "1.31"], capture_output=True, text=True,
        check=True,
    ).stdout.strip()  # fmt: skip
    assert node == versions.KIND_IMAGES["1.31"].split(":")[1].split("@")[0]
