"""harness peers: the peer-results page and its judgement of the four runs."""

from __future__ import annotations

from typing import Any

import pytest

from harness.report.peers import (
    Peers,
    anchors,
    judge,
    merge_runs,
    parse_reasons,
    render,
)

COMPAT = '| <a id="c-codes"></a>Every error is code 999. | ... |'


def doc(profile: str, **statuses: str) -> dict[str, Any]:
    classes = {"a.yaml": "spec", "r.yaml": "reference", "x.yaml": "extension"}
    return {
        "profile": profile,
        "finished": "2026-12-04T20:00:00Z",
        "backend": "local",
        "results": [
            {"path": f"scenarios/{name}", "status": status, "class": classes[name], "reason": ""}
            for name, status in statuses.items()
        ],
    }


def runs(**multus: str) -> dict[str, dict[str, Any]]:
    base = {"a.yaml": "passed", "r.yaml": "passed", "x.yaml": "failed"}
    thin = {**base, **multus}
    return {
        "multus-thin": doc("multus-thin", **thin),
        "multus-thick": doc("multus-thick", **base),
        "pymultus-thin": doc("pymultus-thin", **{k: "passed" for k in base}),
        "pymultus-thick": doc("pymultus-thick", **{k: "passed" for k in base}),
    }


REASONS = {"x.yaml": {"reason": "code 999", "compatibility": "c-codes"}}


def test_agreeing_runs_render_every_scenario_with_its_reason() -> None:
    peers = Peers.of(runs())
    reasons = parse_reasons(REASONS)
    assert judge(peers, reasons, anchors(COMPAT)) == []
    page = render(peers, reasons, {"multus-thin": ["mt.json"]}, [])
    row = next(line for line in page.splitlines() if line.startswith("| [x.yaml]"))
    assert "| extension | **FAIL** | **FAIL** | pass | pass |" in row
    assert "code 999 ([compatibility](compatibility.md#c-codes))" in row
    assert "--profile multus-thin --results-json mt.json" in page


@pytest.mark.parametrize(
    ("multus", "reasons", "compat", "problem"),
    [
        ({"a.yaml": "failed"}, REASONS, COMPAT, "a.yaml: fails on multus-thin with no reason"),
        (
            {"r.yaml": "failed"},
            REASONS,
            COMPAT,
            "r.yaml: class reference but failed on multus-thin",
        ),
        ({"a.yaml": "error"}, REASONS, COMPAT, "harness could not run it with multus-thin"),
        (
            {},
            {**REASONS, "a.yaml": {"reason": "old", "compatibility": "c-codes"}},
            COMPAT,
            "a.yaml: a reason is listed but it passed on multus-thin (stale)",
        ),
        ({}, REASONS, "no anchors", "compatibility anchor #c-codes is not in compatibility.md"),
    ],
)
def test_disagreements_are_reported(
    multus: dict[str, str], reasons: dict[str, Any], compat: str, problem: str
) -> None:
    problems = judge(Peers.of(runs(**multus)), parse_reasons(reasons), anchors(compat))
    assert any(problem in p for p in problems), problems


def test_a_pymultus_failure_is_a_disagreement() -> None:
    data = runs()
    data["pymultus-thick"] = doc(
        "pymultus-thick", **{"a.yaml": "failed", "r.yaml": "passed", "x.yaml": "passed"}
    )
    assert judge(Peers.of(data), parse_reasons(REASONS), anchors(COMPAT)) == [
        "a.yaml: failed on pymultus-thick"
    ]


def test_a_rerun_replaces_its_scenarios_only() -> None:
    merged = merge_runs(
        merge_runs(None, doc("multus-thin", **{"a.yaml": "failed", "r.yaml": "passed"})),
        doc("multus-thin", **{"a.yaml": "passed"}),
    )
    statuses = {r["path"]: r["status"] for r in merged["results"]}
    assert statuses == {"scenarios/a.yaml": "passed", "scenarios/r.yaml": "passed"}
    assert merged["reruns"][0]["scenarios"] == ["a.yaml"]


def test_per_profile_reasons_and_bad_entries() -> None:
    reasons = parse_reasons(
        {"x.yaml": {"multus-thick": {"reason": "thick only", "compatibility": "c-codes"}}}
    )
    assert set(reasons["x.yaml"]) == {"multus-thick"}
    with pytest.raises(ValueError, match=r"x\.yaml: needs 'reason' and 'compatibility'"):
        parse_reasons({"x.yaml": {"reason": "no anchor"}})
    with pytest.raises(ValueError, match=r"are not \['multus-thin'"):
        parse_reasons(
            {"x.yaml": {"reason": "r", "compatibility": "c", "profiles": ["pymultus-thin"]}}
        )
