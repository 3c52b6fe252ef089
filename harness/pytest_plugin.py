"""pytest plugin: scenario files are test items.

Registered under the ``pytest11`` entry point, so any project that installs
pymultus can put scenario YAML files next to its tests and run them with
pytest (collected when their name is ``*.yaml`` inside a ``scenarios``
directory, or when given explicitly on the command line).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.backends import Options, make_cluster, unavailable_reason
from harness.runner import ScenarioResult, run_scenario
from harness.scenario.loader import ScenarioError, load_scenario


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


def options_from(config: pytest.Config) -> Options:
    return Options(
        backend=config.getoption("--backend"),
        meta_plugin=config.getoption("--meta-plugin"),
        cni_bin_dir=config.getoption("--cni-bin-dir"),
    )


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.suffix in (".yaml", ".yml") and (
        file_path.parent.name == "scenarios" or parent.session.isinitpath(file_path)
    ):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[ScenarioItem]:
        try:
            scenario = load_scenario(str(self.path))
        except ScenarioError as exc:
            yield ScenarioItem.from_parent(self, name=self.path.stem, error=exc)
            return
        item = ScenarioItem.from_parent(self, name=scenario.name, scenario=scenario)
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
        reason = unavailable_reason(options)
        if reason:
            pytest.skip(reason)
        self.result = run_scenario(self.scenario, lambda s: make_cluster(s, options))
        if not self.result.ok:
            raise ScenarioFailed(self.result.report())

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, (ScenarioFailed, ScenarioError)):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[os.PathLike[str] | str, int | None, str]:
        return self.path, 0, f"scenario: {self.name}"
