"""Running the suite against mutants, and judging who caught what.

Every run is a separate ``harness run ... --meta-plugin <launcher>
--results-json F`` process (its own clusters, its own files), so runs are
independent and can go in parallel. Judging is pure (:func:`verdict`):

* **caught**: some scenario *failed* (an expectation did not hold) against
  the mutant and passed against the control (the same kit, no edit);
* **broken**: no such failure, but some scenario ended in *error* (the
  harness or the cluster broke): the mutant made the harness crash, which is
  not a verdict, so it is not counted as caught;
* **survived**: everything passed (or was skipped);
* **stale**: the mutant could not be built (its snippet no longer matches,
  or the copy does not compile).

A mutant's own ``catches`` scenarios run first; the rest of the suite runs
only when they did not catch it (``full=True`` runs everything, to see
every scenario that notices it).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from harness.mutants.build import Build, build
from harness.mutants.model import Catalog, CatalogError, Mutant

CAUGHT, BROKEN, SURVIVED, STALE = "caught", "broken", "survived", "stale"
#: Bound on one `harness run` process (scenarios have their own timeouts).
RUN_TIMEOUT = 1800.0


@dataclass
class SuiteRun:
    """Statuses by scenario path from one `harness run`, or why there are none."""

    statuses: dict[str, str] = field(default_factory=dict)
    failures: dict[str, list[str]] = field(default_factory=dict)  # path -> where: message
    problem: str = ""  # the run itself did not produce results
    seconds: float = 0.0


@dataclass
class MutantResult:
    id: str
    verdict: str
    caught_by: list[str] = field(default_factory=list)
    broken_by: list[str] = field(default_factory=list)
    detail: str = ""
    seconds: float = 0.0
    scenarios_run: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "verdict": self.verdict,
            "caughtBy": self.caught_by,
            "brokenBy": self.broken_by,
            "detail": self.detail,
            "seconds": round(self.seconds, 2),
            "scenariosRun": self.scenarios_run,
        }


def verdict(
    ident: str, runs: Sequence[SuiteRun], control: Mapping[str, str] | None
) -> MutantResult:
    """Judge one mutant from its runs and the control's statuses (None: not run).

    Without a control every failure counts (the make-test subset relies on
    the same scenarios passing in the ordinary suite run).
    """
    caught: list[str] = []
    broken: list[str] = []
    problems: list[str] = []
    count = 0
    for run in runs:
        count += len(run.statuses)
        if run.problem:
            problems.append(run.problem)
        for path, status in run.statuses.items():
            baseline_ok = control is None or control.get(path) == "passed"
            if status == "failed" and baseline_ok and path not in caught:
                caught.append(path)
            elif status == "error" and path not in broken:
                broken.append(path)
    seconds = sum(r.seconds for r in runs)
    result = MutantResult(ident, SURVIVED, caught, broken, seconds=seconds, scenarios_run=count)
    if caught:
        result.verdict = CAUGHT
        messages = [m for r in runs for m in r.failures.get(caught[0], [])]
        result.detail = messages[0] if messages else ""
    elif broken or problems:
        result.verdict = BROKEN
        names = [os.path.basename(p) for p in broken]
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        result.detail = "; ".join(problems) or f"error in {shown}"
    return result


def read_results(path: str) -> tuple[dict[str, str], dict[str, list[str]]]:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    statuses: dict[str, str] = {}
    failures: dict[str, list[str]] = {}
    for item in data.get("results", []):
        statuses[str(item["path"])] = str(item["status"])
        failures[str(item["path"])] = [
            f"{f.get('where')}: {f.get('message')}" for f in item.get("failures") or []
        ]
    return statuses, failures


def run_suite(
    launcher: str,
    paths: Sequence[str],
    out_dir: str,
    label: str,
    extra_args: Sequence[str] = (),
    timeout: float = RUN_TIMEOUT,
) -> SuiteRun:
    """One `harness run` of ``paths`` with ``launcher`` as the meta-plugin."""
    if not paths:
        return SuiteRun()
    if STOPPING:
        return SuiteRun(problem="interrupted")
    results = os.path.join(out_dir, f"{label}.json")
    log_path = os.path.join(out_dir, f"{label}.log")
    argv = [sys.executable, "-m", "harness.cli", "run", *paths, "--meta-plugin", launcher]
    argv += ["--results-json", results, *extra_args]
    started = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        LIVE.add(proc)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            stop(proc)
            return SuiteRun(
                problem=f"harness run exceeded {timeout:.0f} s (see {log_path})",
                seconds=time.monotonic() - started,
            )
        finally:
            LIVE.discard(proc)
    seconds = time.monotonic() - started
    try:
        statuses, failures = read_results(results)
    except (OSError, ValueError, KeyError) as exc:
        return SuiteRun(
            problem=f"harness run wrote no results ({exc}); exit {proc.returncode}, see {log_path}",
            seconds=seconds,
        )
    return SuiteRun(statuses, failures, seconds=seconds)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """End a run and everything it started, then tear down what it left.

    `harness run` treats SIGINT as the end of one scenario and goes on with
    the next, so the run is terminated; the cluster it was running is then
    a run directory whose owner is dead, which :func:`clean_stale_runs`
    removes (as every cluster start would).
    """
    for sig, wait in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(wait)
            break
        except subprocess.TimeoutExpired:
            continue
    clean_stale_runs()


def clean_stale_runs() -> None:
    """Remove local-backend run directories whose owning process is gone."""
    from harness.backends.local.topology import destroy_run_dir, stale_run_dirs

    for run_dir in stale_run_dirs():
        destroy_run_dir(run_dir)


#: Runs in progress (stopped when the sweep is interrupted).
LIVE: set[subprocess.Popen[bytes]] = set()


STOPPING: list[bool] = []  # non-empty once the sweep is interrupted: start no new run


def stop_all() -> None:
    STOPPING.append(True)
    for proc in list(LIVE):
        stop(proc)


def scenario_paths(suite: Sequence[str], names: Sequence[str]) -> list[str]:
    """The suite files whose base name is in ``names`` (in ``names`` order)."""
    by_name = {os.path.basename(p): p for p in suite}
    return [by_name[n] for n in names if n in by_name]


def missing_catches(catalog: Catalog, suite: Sequence[str]) -> list[str]:
    """``catches`` entries naming no scenario of the suite (a catalog error)."""
    names = {os.path.basename(p) for p in suite}
    return [f"{m.id}: {n}" for m in catalog.mutants for n in m.catches if n not in names]


def sweep_one(
    build_result: Build,
    mutant: Mutant,
    suite: Sequence[str],
    out_dir: str,
    full: bool,
    fast: bool,
    extra_args: Sequence[str],
    control: Callable[[], Mapping[str, str] | None],
    timeout: float,
) -> list[SuiteRun]:
    """Stage 1: the mutant's catches; stage 2 (unless caught or ``fast``): the rest.

    ``control`` gives the control's statuses when they are known already
    (None while it still runs: then any failure ends the search; the final
    verdict is made again once the control is done).
    """
    launcher = build_result.launcher
    if full:
        return [run_suite(launcher, suite, out_dir, mutant.id, extra_args, timeout)]
    first = scenario_paths(suite, mutant.catches)
    runs = [run_suite(launcher, first, out_dir, mutant.id, extra_args, timeout)]
    if fast or verdict(mutant.id, runs, control()).verdict == CAUGHT:
        return runs
    # The rest of the suite, and once more any of the catches that ended in
    # error (the machinery broke, e.g. a namespace could not be made): an error
    # is no verdict, so it gets a second chance before the mutant can survive.
    errored = [p for p in first if runs[0].statuses.get(p) == "error"]
    rest = errored + [p for p in suite if p not in first]
    runs.append(run_suite(launcher, rest, out_dir, f"{mutant.id}-rest", extra_args, timeout))
    return runs


def sweep(
    catalog: Catalog,
    mutants: Sequence[Mutant],
    suite: Sequence[str],
    work_dir: str,
    *,
    jobs: int = 2,
    full: bool = False,
    fast: bool = False,
    with_control: bool = True,
    extra_args: Sequence[str] = (),
    source: str | None = None,
    timeout: float = RUN_TIMEOUT,
    progress: Callable[[str], None] = print,
) -> tuple[list[MutantResult], SuiteRun | None]:
    """Build and run every mutant (and the control), ``jobs`` runs at a time."""
    builds: dict[str, Build] = {}
    stale: list[MutantResult] = []
    for mutant in mutants:
        try:
            builds[mutant.id] = build(catalog, mutant, work_dir, source)
        except CatalogError as exc:
            stale.append(MutantResult(mutant.id, STALE, detail=str(exc)))
    runs: dict[str, list[SuiteRun]] = {}
    control_run: SuiteRun | None = None
    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        control_future = None
        if with_control:
            control_build = build(catalog, None, work_dir, source)
            wanted = list(suite)
            if fast:  # only what the mutants will run
                wanted = sorted({p for m in mutants for p in scenario_paths(suite, m.catches)})
            control_future = pool.submit(
                run_control, control_build.launcher, wanted, work_dir, extra_args, timeout
            )

        def control_now() -> Mapping[str, str] | None:
            if control_future is not None and control_future.done():
                return control_future.result().statuses
            return None

        todo = {
            pool.submit(
                sweep_one,
                builds[m.id],
                m,
                suite,
                work_dir,
                full,
                fast,
                extra_args,
                control_now,
                timeout,
            ): m
            for m in mutants
            if m.id in builds
        }
        for done, future in enumerate(as_completed(todo), 1):
            mutant = todo[future]
            runs[mutant.id] = future.result()
            so_far = verdict(mutant.id, runs[mutant.id], control_now())
            progress(f"[{done}/{len(todo)}] {describe(so_far)}")
        if control_future is not None:
            control_run = control_future.result()
    except BaseException:  # interrupted (Ctrl-C, SIGTERM): no new runs, stop the live ones
        pool.shutdown(wait=False, cancel_futures=True)
        stop_all()
        raise
    pool.shutdown()
    control = control_run.statuses if control_run is not None else None
    judged = {ident: verdict(ident, r, control) for ident, r in runs.items()}
    judged.update({r.id: r for r in stale})
    return [judged[m.id] for m in mutants], control_run


FLAKY = "flaky"


def run_control(
    launcher: str,
    paths: Sequence[str],
    out_dir: str,
    extra_args: Sequence[str],
    timeout: float,
) -> SuiteRun:
    """The unmodified copy over ``paths``; what fails is run once more.

    A scenario that fails and then passes is marked ``flaky``: it counts for
    no mutant (only a control ``passed`` makes a failure a catch), and it is
    listed, without failing the sweep.
    """
    control = run_suite(launcher, paths, out_dir, "control", extra_args, timeout)
    again = [p for p, status in control.statuses.items() if status in ("failed", "error")]
    if again and not control.problem:
        rerun = run_suite(launcher, again, out_dir, "control-rerun", extra_args, timeout)
        for path in again:
            if rerun.statuses.get(path) == "passed":
                control.statuses[path] = FLAKY
    return control


def describe(result: MutantResult) -> str:
    head = f"{result.id}: {result.verdict}"
    if result.verdict == CAUGHT:
        head += f" by {', '.join(os.path.basename(p) for p in result.caught_by)}"
    elif result.detail:
        head += f" ({result.detail})"
    return f"{head} [{result.scenarios_run} scenarios, {result.seconds:.1f} s]"


def control_problems(control: SuiteRun | None) -> list[str]:
    """Why the control run makes the verdicts untrustworthy (empty: it does not)."""
    if control is None:
        return []
    if control.problem:
        return [f"control: {control.problem}"]
    return [
        f"control: {os.path.basename(path)} {status} against the unmodified meta-plugin"
        for path, status in control.statuses.items()
        if status in ("failed", "error")
    ]


def control_notes(control: SuiteRun | None) -> list[str]:
    """Scenarios that failed once and passed on a rerun: they caught nothing."""
    if control is None:
        return []
    return [
        f"note: {os.path.basename(path)} is flaky against the unmodified meta-plugin "
        "(failed, then passed): it counts for no mutant"
        for path, status in control.statuses.items()
        if status == FLAKY
    ]


def summary(results: Sequence[MutantResult], control: SuiteRun | None) -> tuple[str, int]:
    """The closing lines and the exit code (0 only when every mutant is caught)."""
    total = len(results)
    caught = [r for r in results if r.verdict == CAUGHT]
    lines = [f"caught {len(caught)}/{total}"]
    for label, kind in (
        ("survivors", SURVIVED),
        ("broken, not caught", BROKEN),
        ("stale (not built)", STALE),
    ):
        group = [r for r in results if r.verdict == kind]
        if group:
            lines.append(f"{label}: " + ", ".join(r.id for r in group))
            lines += [f"  {r.id}: {r.detail}" for r in group if r.detail and kind != SURVIVED]
    problems = control_problems(control)
    lines += problems + control_notes(control)
    ok = len(caught) == total and not problems
    return "\n".join(lines), 0 if ok else 1
