"""The ``cni`` step: call the node's meta-plugin as the runtime would, and judge
the outcome.

Scenarios otherwise act only through pods, and the simulated kubelet always
sends correct requests; CHECK, VERSION, STATUS, GC, a repeated DEL and a
request with a wrong pod UID need the harness to be the runtime for one call
(:meth:`harness.cluster.Cluster.cni_call`). Parsing the step and judging its
outcome are pure functions here, so they are unit tested without a cluster.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from harness import matchers
from harness.cluster import Cluster, CNICall, CNICallOutcome

#: Commands that act on a pod's sandbox; the others are asked of a node.
POD_COMMANDS = ("ADD", "DEL", "CHECK")


def parse_call(spec: dict[str, Any], namespace_of: Callable[[str], str]) -> CNICall:
    """The :class:`CNICall` a step describes (the schema has already validated it)."""
    command = str(spec["command"])
    pod = str(spec.get("pod", ""))
    if command in POD_COMMANDS and not pod:
        raise ValueError(f"cni {command}: needs a pod (its sandbox is the target)")
    args = tuple(
        (str(k), None if v is None else str(v)) for k, v in (spec.get("args") or {}).items()
    )
    return CNICall(
        command=command,
        pod=pod,
        namespace=namespace_of(pod) if pod else "default",
        node=str(spec.get("node", "")),
        ifname=spec.get("ifname"),
        args=args,
        netns=spec.get("netns"),
        container_id=spec.get("containerId"),
        new_sandbox=bool(spec.get("newSandbox", False)),
        cni_version=spec.get("cniVersion"),
    )


def default_expectation(spec: dict[str, Any]) -> dict[str, Any]:
    """Without ``expect`` a call must succeed, as a pod operation must."""
    return dict(spec.get("expect") or {"ok": True})


def outcome_problems(want: dict[str, Any], outcome: CNICallOutcome) -> list[str]:
    """Every way ``outcome`` differs from ``want`` (empty: it matches).

    ``ok: true`` also requires that the plugin was called (a runtime skips
    e.g. STATUS below 1.1.0: ``skipped: true`` accepts that explicitly).
    """
    problems: list[str] = []
    error = outcome.error
    if "ok" in want:
        if want["ok"] and error is not None:
            problems.append(f"failed: {error.describe()}")
        if want["ok"] and outcome.skipped and not want.get("skipped"):
            problems.append(f"the plugin was not called: {outcome.skipped}")
        if not want["ok"] and error is None:
            problems.append("succeeded, expected a CNI error")
    if "skipped" in want and bool(outcome.skipped) != bool(want["skipped"]):
        problems.append(
            f"skipped ({outcome.skipped})" if outcome.skipped else "called, expected a skip"
        )
    if "error" in want:
        problems += error_problems(want["error"], outcome)
    if "result" in want:
        if outcome.result is None:
            problems.append("no result (only ADD and VERSION return one)")
        else:
            problems += [f"result{p}" for p in subset_problems(want["result"], outcome.result)]
    if "links" in want:
        if outcome.links is None:
            problems.append("links: only known for a newSandbox call")
        elif sorted(outcome.links) != sorted(want["links"]):
            problems.append(
                f"links in the new sandbox are {sorted(outcome.links)}, "
                f"expected {sorted(want['links'])}"
            )
    if outcome.cleanup_error is not None:
        problems.append(
            f"DEL of the new sandbox after ADD failed: {outcome.cleanup_error.describe()}"
        )
    return problems


def error_problems(want: dict[str, Any], outcome: CNICallOutcome) -> list[str]:
    error = outcome.error
    if error is None:
        return [
            "succeeded, expected a CNI error" + (f" ({outcome.skipped})" if outcome.skipped else "")
        ]
    found = matchers.error_problems(want, error.code, error.message)
    return [f"{p}: {error.message}" for p in found]


def subset_problems(want: Any, actual: Any, path: str = "") -> list[str]:
    """``want`` holds for the raw ``actual`` result: the scenario value matcher
    (:func:`harness.matchers.value_problems`: objects by key, lists exactly
    unless ``includes``/``ordered``, address matchers, presence)."""
    return matchers.value_problems(want, actual, path)


def describe_call(call: CNICall) -> str:
    target = f"pod {call.pod}" if call.pod else f"node {call.node}"
    extras = []
    if call.new_sandbox:
        extras.append("new sandbox")
    if call.ifname is not None:
        extras.append(f"ifname {call.ifname}")
    extras += [f"{k}={'(removed)' if v is None else v}" for k, v in call.args]
    return f"cni {call.command} on {target}" + (f" ({', '.join(extras)})" if extras else "")


def describe_outcome(outcome: CNICallOutcome) -> str:
    lines = [
        f"outcome: {'ok' if outcome.ok else outcome.error.describe() if outcome.error else ''}"
    ]
    if outcome.skipped:
        lines.append(f"skipped: {outcome.skipped}")
    if outcome.result is not None:
        lines.append("result: " + json.dumps(outcome.result, sort_keys=True)[:2000])
    if outcome.links is not None:
        lines.append(f"links in the new sandbox: {list(outcome.links)}")
    env = dict(outcome.env)
    if env:
        lines.append("sent: " + " ".join(f"{k}={env[k]}" for k in sorted(env) if env[k]))
    return "\n".join(lines)


def run_step(
    spec: dict[str, Any],
    cluster: Cluster,
    namespace_of: Callable[[str], str],
    fail: Callable[[str, str], None],
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> CNICallOutcome | None:
    """Make the call (again, with ``eventually``, until the expectation holds or the
    timeout passes) and report a mismatch through ``fail(message, details)``."""
    call = parse_call(spec, namespace_of)
    want = default_expectation(spec)
    eventually = spec.get("eventually")
    deadline = monotonic() + float(eventually["timeout"]) if eventually else 0.0
    interval = float((eventually or {}).get("interval", 0.5))
    while True:
        outcome: CNICallOutcome | None = None
        try:
            outcome = cluster.cni_call(call)  # Unsupported on real clusters
            problems = outcome_problems(want, outcome)
        except LookupError as exc:  # no such pod or sandbox (yet): retried like a mismatch
            problems = [f"cannot call: {exc}"]
        if not problems or monotonic() >= deadline:
            break
        sleep(interval)
    if problems:
        still = f" (still after {eventually['timeout']} s)" if eventually else ""
        shown = [describe_outcome(outcome)] if outcome is not None else []
        fail(f"{describe_call(call)}: {problems[0]}{still}", "\n".join([*problems[1:], *shown]))
    return outcome
