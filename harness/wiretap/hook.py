"""The runner's two uses of the wiretap, kept here so runner.py has one line each.

- :func:`expect`: a scenario's ``calls:`` expectation.
- :func:`after_scenario`: at the end of every scenario, the spec's MUSTs on
  every recorded call (:mod:`harness.wiretap.musts`); each violation fails the
  scenario naming the call and the clause, and the calls go into the
  scenario's report data (``topology["calls"]``, the HTML timeline).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.cluster import Cluster, Unsupported
from harness.wiretap import collect, musts
from harness.wiretap import expect as calls_expect
from harness.wiretap.records import Call

Fail = Callable[[str, str], None]
#: Bytes of stdin/stdout kept per call in the report data.
REPORT_TEXT = 4000


def expect(spec: dict[str, Any], cluster: Cluster, since: float, fail: Fail) -> None:
    calls = collect.calls_since(cluster, since)
    if calls is None:
        raise Unsupported("calls: this cluster records no CNI calls (no wiretap on its nodes)")
    problems = calls_expect.problems(spec, calls)
    if problems:
        fail(problems[0], "\n".join([*problems[1:], "recorded:", calls_expect.render_calls(calls)]))


def report_entry(call: Call) -> dict[str, Any]:
    entry = call.to_json()
    for key in ("stdin", "stdout", "stderr"):
        entry[key] = entry[key][:REPORT_TEXT]
    return entry


def after_scenario(run: Any) -> None:
    """Check the MUSTs on the scenario's calls; never raises (a broken record is a failure)."""
    try:
        calls = collect.calls_since(run.cluster, run.since)
        if calls is None:
            run.topology["calls"] = None  # not checked: no wiretap on this cluster
            return
        found = musts.violations(calls, collect.declared_capabilities(run.cluster))
        run.topology["calls"] = [report_entry(c) for c in calls]
    except Exception as exc:
        run.fail(("name",), f"wiretap: could not read the recorded CNI calls: {exc}")
        return
    allowed = {
        str(a["clause"]): str(a["reason"])
        for a in (run.scenario.data.get("wiretap") or {}).get("allow", [])
    }
    run.topology["wiretapAllowed"] = [
        f"{v.render()} (allowed: {allowed[v.clause]})" for v in found if v.clause in allowed
    ]
    for violation in (v for v in found if v.clause not in allowed):
        run.fail(
            ("name",),
            f"wiretap: {violation.render()}",
            calls_expect.render_calls(calls),
        )
