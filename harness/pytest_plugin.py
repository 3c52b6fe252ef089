"""pytest plugin: scenario files are test items, and fixtures for tests in Python.

Registered under the ``pytest11`` entry point, so any project that installs
pymultus can put scenario YAML files next to its tests and run them with
pytest (collected when their name is ``*.yaml`` inside a ``scenarios``
directory, or when given explicitly on the command line), or write tests in
Python with the ``cluster``, ``nad`` and ``pod`` fixtures::

    @pytest.mark.cluster(nodes=1)
    def test_macvlan(cluster, nad, pod):
        nad("macvlan-conf", {"cniVersion": "0.3.1", "type": "macvlan", ...})
        p = pod("samplepod", networks="macvlan-conf")
        p.expect(interfaces={"net1": {"kind": "macvlan"}})

A failed ``expect`` prints expected vs actual as a diff, the pod's addresses
and routes, and its recent events.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.backends import BACKENDS, Options, make_cluster, probes_for, unavailable_reason
from harness.cluster import Cluster, PodOutcome
from harness.matchers import (
    diff_text,
    error_problems,
    match_interface,
    match_routes,
    match_status,
)
from harness.netstate import PodNetwork
from harness.runner import (
    POD_TIMEOUT,
    RECENT_EVENTS,
    STATUS_ANNOTATION,
    ScenarioResult,
    pod_object,
    run_scenario,
)
from harness.scenario.loader import NAD_API_VERSION, NAD_KIND, Scenario, ScenarioError
from harness.scenario.loader import load_scenario as load_scenario
from harness.vendor.pytest_fixtures import cni_vendor_check  # noqa: F401 (a fixture)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pymultus-harness", "pymultus network conformance harness")
    group.addoption("--backend", default="local", help="cluster backend (default: local)")
    group.addoption(
        "--meta-plugin", default=None, help="meta-plugin binary under test (default: this pymultus)"
    )
    group.addoption(
        "--cni-bin-dir",
        default="/usr/lib/cni",
        help="directory of the reference CNI plugins (default: /usr/lib/cni)",
    )
    group.addoption(
        "--k8s-version", default=None, help="Kubernetes version for backends that run one"
    )
    group.addoption(
        "--keep-cluster",
        action="store_true",
        default=False,
        help="keep real clusters (kind, k3s) after the run for debugging",
    )
    group.addoption(
        "--mode",
        default=None,
        choices=("thin", "thick"),
        help="without --profile: pymultus-thin or pymultus-thick (default: thin)",
    )
    group.addoption(
        "--profile",
        default=None,
        help="meta-plugin profile: pymultus-thin, pymultus-thick, multus-thin, multus-thick",
    )
    group.addoption(
        "--profile-file", default=None, help="a meta-plugin profile of your own (YAML/JSON)"
    )
    group.addoption("--daemon", default=None, help="a thick profile's daemon binary")
    group.addoption("--shim", default=None, help="a thick profile's shim binary")
    group.addoption(
        "--runtime",
        default="simulated",
        choices=("simulated", "containerd"),
        help="local nodes' CNI caller: the simulated kubelet or a real containerd "
        "(default: simulated; a scenario's cluster.runtime wins)",
    )
    group.addoption(
        "--harness-suite",
        action="store_true",
        default=False,
        help="collect the conformance suite shipped with the harness (beside any paths given)",
    )


def pytest_configure(config: pytest.Config) -> None:
    check_profile_options(config)
    config.addinivalue_line(
        "markers", "cluster(nodes=1, meta_config=None): shape of the `cluster` fixture"
    )
    if config.getoption("--harness-suite", default=False):
        from harness.scenario.suite import suite_dir

        # Found as `harness run` finds it (harness.scenario.suite): paths given on the
        # command line are kept; otherwise the suite replaces testpaths / the cwd.
        given = config.args_source == pytest.Config.ArgsSource.ARGS
        config.args[:] = [*(config.args if given else []), suite_dir()]
    backend = config.getoption("--backend", default="local")
    if backend not in BACKENDS:
        # A typo must stop the run, not skip every scenario with exit 0.
        raise pytest.UsageError(
            f"--backend {backend!r}: unknown backend (available: {', '.join(BACKENDS)})"
        )


def record_outcome(
    config: pytest.Config, path: Path, options: Options, result: ScenarioResult
) -> None:
    """Log the outcome for ``harness skips`` (when ``$HARNESS_SKIP_LOG`` is set),
    so CI can refuse skips nobody expected."""
    from harness.report.classes import profile_name
    from harness.report.skips import log_outcome, run_key

    result.profile = profile_name(options)
    key = run_key(options.backend, getattr(options, "runtime", None), result.profile)
    log_outcome(key, os.path.relpath(path, config.rootpath), result.status, result.reason)


def cannot_run(options: Options) -> None:
    """Fail (never skip) when the backend cannot run here: not root, no CNI
    plugins, a missing tool. A skip would pass a run that checked nothing."""
    reason = unavailable_reason(options)
    if reason:
        pytest.fail(f"backend {options.backend} cannot run here: {reason}", pytrace=False)


def options_from(config: pytest.Config) -> Options:
    """The run's options; a profile that cannot run is a usage error (pytest exits)."""
    from harness.profiles import ProfileError, choose

    mode = config.getoption("--mode")
    try:
        profile = choose(config.getoption("--profile"), config.getoption("--profile-file"), mode)
    except ProfileError as exc:
        raise pytest.UsageError(str(exc)) from None
    return Options(
        backend=config.getoption("--backend"),
        meta_plugin=config.getoption("--meta-plugin"),
        cni_bin_dir=config.getoption("--cni-bin-dir"),
        mode=profile.form,
        runtime=config.getoption("--runtime"),
        k8s_version=config.getoption("--k8s-version"),
        keep_cluster=config.getoption("--keep-cluster"),
        profile=config.getoption("--profile"),
        profile_file=config.getoption("--profile-file"),
        daemon=config.getoption("--daemon"),
        shim=config.getoption("--shim"),
    )


def check_profile_options(config: pytest.Config) -> None:
    """A profile that cannot run with the binaries given stops the session at once
    (pytest's usage error), before any scenario runs; never a substitute."""
    given = [
        config.getoption(o, default=None)
        for o in ("--profile", "--profile-file", "--daemon", "--shim", "--meta-plugin", "--mode")
    ]
    if not any(given) or config.getoption("--backend", default="local") != "local":
        return
    import sys

    from harness.profiles import ProfileError, resolve_binaries

    options = options_from(config)
    profile = options.meta_profile()
    pymultus = None
    if profile.implementation == "pymultus" and profile.form == "thin" and not options.meta_plugin:
        from harness.backends.local.cluster import default_meta_plugin

        with contextlib.suppress(FileNotFoundError):
            pymultus = default_meta_plugin()
    try:
        resolve_binaries(
            profile, options.meta_plugin, options.daemon, options.shim, pymultus, sys.executable
        )
    except ProfileError as exc:
        raise pytest.UsageError(str(exc)) from None


def scenario_placeholders(config: pytest.Config) -> dict[str, str] | None:
    """The run's profile's ``{{ name }}`` values (None: not decidable, loader defaults)."""
    from harness.profiles import ProfileError

    try:
        return options_from(config).meta_profile().placeholders()
    except (ProfileError, pytest.UsageError):
        return None


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say which meta-plugin profile and binaries this run uses."""
    from harness.profiles import ProfileError

    try:
        from harness.commands.run import run_description

        ran = run_description(options_from(config))
    except (ProfileError, pytest.UsageError, FileNotFoundError) as exc:
        return [f"harness: {exc}"]
    return ["harness: " + ", ".join(f"{k}={v}" for k, v in ran.items())]


# ------------------------------------------------------------ scenario files
def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.suffix in (".yaml", ".yml") and (
        file_path.parent.name == "scenarios" or parent.session.isinitpath(file_path)
    ):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[ScenarioItem]:
        try:
            scenario = load_scenario(str(self.path), scenario_placeholders(self.config))
        except ScenarioError as exc:
            yield ScenarioItem.from_parent(self, name=self.path.stem, error=exc)
            return
        item = ScenarioItem.from_parent(self, name=scenario.name, scenario=scenario)
        item.user_properties.append(("class", scenario.klass))
        for clause in scenario.covers:
            item.user_properties.append(("covers", clause))
        yield item


class ScenarioFailed(Exception):
    pass


class ScenarioItem(pytest.Item):
    def __init__(
        self, *, scenario: Any = None, error: ScenarioError | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.error = error
        self.result: ScenarioResult | None = None

    def runtest(self) -> None:
        if self.error is not None:
            raise self.error
        options = options_from(self.config)
        if options.backend == "local":
            self.user_properties.append(("profile", options.meta_profile().name))
        cannot_run(options)
        self.result = run_scenario(
            self.scenario, lambda s: make_cluster(s, options), probes_for(options)
        )
        record_outcome(self.config, self.path, options, self.result)
        if self.result.status == "skipped":
            # Reported at the scenario file (reportinfo), not at this line.
            raise pytest.skip.Exception(self.result.reason, _use_item_location=True)
        if self.result.status == "xfailed":
            pytest.xfail(self.result.reason)
        if not self.result.ok:
            raise ScenarioFailed(self.result.report())

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, (ScenarioFailed, ScenarioError)):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[os.PathLike[str] | str, int | None, str]:
        return self.path, 0, f"scenario: {self.name}"


# ------------------------------------------------------------------ fixtures
class Pod:
    """A pod created through the ``pod`` fixture, with assertions on it."""

    def __init__(self, cluster: Cluster, name: str, namespace: str) -> None:
        self.cluster = cluster
        self.name = name
        self.namespace = namespace
        self.outcome: PodOutcome | None = None
        self.deleted = False

    def wait(self, timeout: float = POD_TIMEOUT) -> PodOutcome:
        self.outcome = self.cluster.wait_pod(self.namespace, self.name, timeout)
        return self.outcome

    @property
    def ready(self) -> bool:
        return bool((self.outcome or self.wait()).ready)

    def network(self) -> PodNetwork:
        return self.cluster.pod_network(self.namespace, self.name)

    def network_status(self) -> list[dict[str, Any]]:
        pod = self.cluster.get_pod(self.namespace, self.name) or {}
        text = ((pod.get("metadata") or {}).get("annotations") or {}).get(STATUS_ANNOTATION)
        value = json.loads(text) if text else []
        return value if isinstance(value, list) else []

    def events(self) -> list[dict[str, Any]]:
        return self.cluster.events(self.namespace, self.name)

    def ping(self, address: str, interface: str | None = None) -> bool:
        return self.cluster.ping(self.namespace, self.name, address, interface)[0]

    def context(self) -> str:
        """Addresses, routes and recent events: printed with every failed expect."""
        lines = []
        try:
            lines.append(self.network().describe())
        except Exception as exc:
            lines.append(f"network: unavailable ({exc})")
        lines.append("recent events:")
        lines += [
            f"  {e.get('type')} {e.get('reason')}: {e.get('message')}"
            for e in self.events()[-RECENT_EVENTS:]
        ] or ["  none"]
        return "\n".join(lines)

    def expect(
        self,
        interfaces: dict[str, Any] | None = None,
        routes: list[dict[str, Any]] | dict[str, Any] | None = None,
        network_status: list[dict[str, Any]] | dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> None:
        """Assert like a scenario's pod expectation (same matchers, same keys)."""
        outcome = self.outcome if self.outcome and self.outcome.finished else self.wait()
        if error is not None:
            got = outcome.error
            assert got is not None, f"pod {self.name}: expected CNI error {error}, got none"
            wrong = error_problems(error, got.code, got.message)
            assert not wrong, f"pod {self.name}: {'; '.join(wrong)}: {got.message}"
            return
        assert outcome.ready, (
            f"pod {self.name}: sandbox not ready: "
            f"{outcome.error.describe() if outcome.error else 'timed out'}"
        )
        network = self.network()
        problems: list[str] = []
        for ifname, want in (interfaces or {}).items():
            problems += match_interface(ifname, want, network.interface(ifname))
        if routes is not None:  # a list is all the pod's routes; {includes: [...]} at least
            problems += match_routes(routes, network.routes)
        expected: dict[str, Any] = {"interfaces": interfaces or {}, "routes": routes or []}
        actual: dict[str, Any] = {
            "interfaces": {
                i.name: {
                    "kind": i.kind,
                    "mac": i.mac,
                    "mtu": i.mtu,
                    "addresses": [a.cidr for a in i.global_addresses()],
                }
                for i in network.interfaces
                if i.name in (interfaces or {})
            },
            "routes": [r.summary() for r in network.routes],
        }
        if network_status is not None:
            status = self.network_status()
            problems += match_status(network_status, status)
            expected["networkStatus"] = network_status
            actual["networkStatus"] = status
        if problems:
            raise AssertionError(
                f"pod {self.namespace}/{self.name}: {len(problems)} mismatch(es)\n"
                + "\n".join(problems)
                + "\n"
                + diff_text(expected, actual)
                + "\n"
                + self.context()
            )

    def delete(self, timeout: float = POD_TIMEOUT) -> None:
        if not self.deleted:
            self.deleted = True
            error = self.cluster.delete_pod(self.namespace, self.name, timeout)
            assert error is None, f"pod {self.name}: DEL failed: {error.describe()}"


def _fixture_scenario(nodes: int, meta_config: dict[str, Any] | None) -> Scenario:
    """The cluster fixture builds clusters through the same factory as scenarios."""
    from harness.scenario.loader import Lines

    data: dict[str, Any] = {"name": "pytest fixture", "class": "spec", "covers": ["cni-add"]}
    data["cluster"] = {"nodes": nodes, "metaConfig": meta_config or {}}
    return Scenario("<pytest>", data, Lines())


@pytest.fixture
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """A fresh cluster for one test (``@pytest.mark.cluster(nodes=2, meta_config=...)``).

    Fails when the backend cannot run here (never a silent skip); closed
    (everything removed) at teardown."""
    options = options_from(request.config)
    cannot_run(options)
    marker = request.node.get_closest_marker("cluster")
    kwargs = dict(marker.kwargs) if marker else {}
    made = make_cluster(
        _fixture_scenario(int(kwargs.get("nodes", 1)), kwargs.get("meta_config")), options
    )
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def nad(cluster: Cluster) -> Iterator[Callable[..., dict[str, Any]]]:
    """Factory: ``nad(name, config, namespace="default")`` applies a NAD
    (config: a dict or a JSON string); all are deleted at teardown."""
    made: list[dict[str, Any]] = []

    def apply(name: str, config: Any, namespace: str = "default") -> dict[str, Any]:
        text = config if isinstance(config, str) else json.dumps(config)
        if namespace != "default":
            cluster.apply(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
            )
        obj = {
            "apiVersion": NAD_API_VERSION,
            "kind": NAD_KIND,
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"config": text},
        }
        made.append(obj)
        return cluster.apply(obj)

    yield apply
    for obj in made:
        with contextlib.suppress(Exception):
            cluster.delete_object(obj)


@pytest.fixture
def pod(cluster: Cluster) -> Iterator[Callable[..., Pod]]:
    """Factory: ``pod(name, networks=None, namespace="default", node=None,
    annotations=None, wait=True)`` creates a pod (and waits for its sandbox);
    pods still there at teardown are deleted, then nothing may have leaked
    (links, leases, caches, namespaces): a leak fails the test at teardown."""
    made: list[Pod] = []

    def create(
        name: str,
        networks: str | list[dict[str, Any]] | None = None,
        namespace: str = "default",
        node: str | None = None,
        annotations: dict[str, str] | None = None,
        wait: bool = True,
    ) -> Pod:
        spec: dict[str, Any] = {"name": name, "namespace": namespace}
        if networks is not None:
            spec["networks"] = networks
        if node:
            spec["node"] = node
        if annotations:
            spec["annotations"] = annotations
        cluster.create_pod(pod_object(spec))
        handle = Pod(cluster, name, namespace)
        made.append(handle)
        if wait:
            handle.wait()
        return handle

    yield create
    for handle in reversed(made):
        if not handle.deleted:
            handle.deleted = True
            with contextlib.suppress(Exception):
                cluster.delete_pod(handle.namespace, handle.name, POD_TIMEOUT)
    leaks = cluster.leaks()
    if leaks:
        pytest.fail(
            f"{len(leaks)} leaked resource(s) after the pods' deletion:\n" + "\n".join(leaks)
        )
