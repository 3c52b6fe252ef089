"""``check_plugin``: run every check against one plugin binary and collect a Report.

Each check gets fresh namespaces (its own node and containers, see
:mod:`harness.vendor.sandbox`) and its own time budget; a check that runs out
of time fails with what it was doing. Checks never share state, so one
plugin bug shows up in the checks it concerns and not in every later one.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from harness.cniruntime.errors import CNIError
from harness.vendor.checks import (
    BASE_CHECKS,
    NO_INTERFACE,
    Check,
    Fail,
    Skip,
    capability_checks,
)
from harness.vendor.report import FAILED, PASSED, SKIPPED, CheckResult, Report
from harness.vendor.sandbox import (
    CheckTimeout,
    ConfigFactory,
    Sandbox,
    Subject,
    Unsupported,
    binary_problem,
)

DEFAULT_TIMEOUT = 20.0
DELEGATE_CHECK = "delegate"
Progress = Callable[[CheckResult], None]


def with_version(config: dict[str, Any]) -> ConfigFactory:
    """A factory that returns ``config`` with its cniVersion set to the one asked for."""

    def factory(version: str) -> dict[str, Any]:
        return {**config, "cniVersion": version}

    return factory


def unavailable_reason() -> str | None:
    """Why the battery cannot run on this machine (it needs namespaces), or None."""
    if os.geteuid() != 0:
        return "the vendor checks need root (network and mount namespaces)"
    return None


def _infer_type(config: dict[str, Any], binary: str) -> str:
    if isinstance(config.get("type"), str) and "plugins" not in config:
        return str(config["type"])
    return os.path.basename(binary)


def check_plugin(
    binary: str,
    config: dict[str, Any] | ConfigFactory,
    *,
    cni_versions: Sequence[str] | None = None,
    plugin_type: str | None = None,
    ifname: str = "eth0",
    cni_path: Sequence[str] = ("/usr/lib/cni",),
    runtime_config: dict[str, Any] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    only: Sequence[str] | None = None,
    delegate: bool = True,
    source: str | None = None,
    progress: Progress | None = None,
) -> Report:
    """Run the battery against ``binary`` and return the :class:`Report`.

    ``config`` is a network configuration (a single plugin, or a list in which
    the plugin of type ``plugin_type`` is the one under test; default: the
    single plugin's ``type``, else the binary's file name), or a factory
    ``cni_version -> configuration``. ``cni_versions`` default to the
    configuration's own (``["1.0.0"]`` for a factory). ``only`` selects checks
    by name; ``delegate=False`` leaves out the cluster-based check.
    """
    started = time.monotonic()
    if callable(config):
        factory = config
        versions = list(cni_versions or ["1.0.0"])
        sample = factory(versions[0])
    else:
        factory = with_version(config)
        versions = list(cni_versions or [str(config.get("cniVersion", "1.0.0"))])
        sample = config
    subject = Subject(
        binary=binary,
        plugin_type=plugin_type or _infer_type(sample, binary),
        config_factory=factory,
        ifname=ifname,
        cni_path=tuple(cni_path),
        runtime_config=dict(runtime_config or {}),
        source=source or "configuration",
    )
    report = Report(plugin=binary, config=subject.source, cni_versions=versions)
    problem = binary_problem(binary) or unavailable_reason()
    if problem:
        report.results.append(CheckResult("setup", FAILED, summary=problem, evidence=problem))
        report.seconds = time.monotonic() - started
        return report
    from harness.backends.local.topology import destroy_run_dir, stale_run_dirs

    for run_dir in stale_run_dirs():  # what a crashed earlier run left
        destroy_run_dir(run_dir)
    for version in versions:
        suffix = f"@{version}" if len(versions) > 1 else ""
        try:
            ncl = subject.conflist(version)
            subject.position(ncl)
        except CNIError as err:
            report.results.append(
                CheckResult(f"config{suffix}", FAILED, summary=err.msg, evidence=err.msg)
            )
            continue
        checks = [*BASE_CHECKS, *capability_checks(ncl, subject.plugin_type)]
        ipam_only = False
        for check in checks:
            if only and check.name not in only:
                continue
            result = run_check(check, subject, version, timeout)
            ipam_only |= result.status == SKIPPED and result.reason.startswith(NO_INTERFACE)
            result.name += suffix
            report.results.append(result)
            if progress:
                progress(result)
        if delegate and (not only or DELEGATE_CHECK in only):
            result = run_delegate_check(subject, version, ipam_only)
            result.name += suffix
            report.results.append(result)
            if progress:
                progress(result)
    report.seconds = time.monotonic() - started
    return report


def run_check(check: Check, subject: Subject, version: str, timeout: float) -> CheckResult:
    """One check in its own sandbox, its outcome whatever happens."""
    started = time.monotonic()
    result = CheckResult(check.name, PASSED)
    try:
        with Sandbox(subject, version, started + timeout) as sb:
            result.summary = check.func(sb)
    except Skip as skip:
        result.status, result.reason = SKIPPED, str(skip)
    except Unsupported as exc:
        result.status, result.reason = SKIPPED, str(exc)
    except Fail as fail:
        result.status, result.summary, result.evidence = FAILED, fail.summary, fail.evidence
    except CheckTimeout as exc:
        result.status = FAILED
        result.summary = f"timed out after {timeout:g} s: {exc}"
        result.evidence = result.summary
    except CNIError as err:
        result.status, result.summary = FAILED, f"{err.msg}"
        result.evidence = f"code {err.code}: {err.msg}\n{err.details}".strip()
    except Exception as exc:  # a check that could not run is a failure, with why
        result.status = FAILED
        result.summary = f"the check could not run: {type(exc).__name__}: {exc}"
        result.evidence = traceback.format_exc(limit=4)
    result.seconds = time.monotonic() - started
    return result


def run_delegate_check(subject: Subject, version: str, ipam_only: bool = False) -> CheckResult:
    from harness.vendor.delegate import DelegateSkip, run_delegate

    started = time.monotonic()
    result = CheckResult(DELEGATE_CHECK, PASSED)
    if ipam_only:
        result.status = SKIPPED
        result.reason = (
            NO_INTERFACE + ": a NAD needs an interface plugin; test it as that plugin's ipam"
        )
        return result
    try:
        problems = run_delegate(subject, version)
        if problems:
            result.status = FAILED
            result.summary = problems[0].splitlines()[0]
            result.evidence = "\n".join(problems)
        else:
            result.summary = "net1 made behind a NAD; network-status matches the kernel; no leaks"
    except DelegateSkip as skip:
        result.status, result.reason = SKIPPED, str(skip)
    except Exception as exc:
        result.status = FAILED
        result.summary = f"the check could not run: {type(exc).__name__}: {exc}"
        result.evidence = traceback.format_exc(limit=4)
    result.seconds = time.monotonic() - started
    return result
