"""Loading scenario files: YAML -> validated data that remembers its lines.

A scenario error must point at ``file:line``, so the loader keeps, for every
value, the line it came from (:class:`Lines`), validates the document against
the JSON Schema shipped in this package, and resolves fixtures by name.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import jsonschema
import yaml

FORMAT_VERSION = 2  # v2: class required, strict lists, proves, error codes (docs/scenarios.md)
CLASSES = ("spec", "reference", "extension")
NAD_KIND = "NetworkAttachmentDefinition"
NAD_API_VERSION = "k8s.cni.cncf.io/v1"


class ScenarioError(Exception):
    """A scenario file that cannot be run, with the place to fix it."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line
        self.message = message


Pointer = tuple[str | int, ...]


@dataclass
class Lines:
    """Line numbers (1-based) of every value in a YAML document, by JSON pointer."""

    by_pointer: dict[Pointer, int] = field(default_factory=dict)

    def line(self, pointer: Pointer) -> int | None:
        # The closest enclosing value that has a line.
        for end in range(len(pointer), -1, -1):
            if pointer[:end] in self.by_pointer:
                return self.by_pointer[pointer[:end]]
        return None


def _walk(node: yaml.Node, pointer: Pointer, lines: Lines) -> None:
    lines.by_pointer[pointer] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                _walk(value, (*pointer, key.value), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*pointer, index), lines)


@dataclass
class Scenario:
    path: str
    data: dict[str, Any]
    lines: Lines

    @property
    def name(self) -> str:
        return str(self.data["name"])

    @property
    def covers(self) -> list[str]:
        """Declared clauses: shown in reports, counted by nothing (see ``proves``)."""
        return list(self.data.get("covers", []))

    @property
    def klass(self) -> str:
        """spec, reference or extension (``class:``)."""
        return str(self.data.get("class", "spec"))

    @property
    def proves(self) -> list[str]:
        """Every clause some expectation of this scenario proves, in order."""
        out: list[str] = []
        for check in checks(self):
            out += [c for c in check.proves if c not in out]
        return out

    @property
    def tags(self) -> list[str]:
        return list(self.data.get("tags", []))

    @property
    def beyond_reference(self) -> bool:
        """An extension scenario: behaviour the reference lacks, reported apart."""
        return self.klass == "extension"

    @property
    def xfail(self) -> str | None:
        value = self.data.get("xfail")
        return str(value) if value else None

    @property
    def declared_needs(self) -> list[str]:
        return list((self.data.get("cluster") or {}).get("needs", []))

    @property
    def needs(self) -> list[str]:
        """Declared needs, then what the steps and checks themselves need (an
        API fault, a shell on a node, the runtime's role ...): all of them are
        decided before the first step, so a backend that cannot do one skips
        the scenario instead of stopping it half-way."""
        out = self.declared_needs
        out += [n for n in implied_needs(self.data) if n not in out]
        return out

    @property
    def nodes(self) -> int:
        return int((self.data.get("cluster") or {}).get("nodes", 1))

    @property
    def runtime(self) -> str | None:
        """``cluster.runtime`` if the scenario pins one (else the run's --runtime)."""
        value = (self.data.get("cluster") or {}).get("runtime")
        return str(value) if value else None

    @property
    def meta_config(self) -> dict[str, Any]:
        return dict((self.data.get("cluster") or {}).get("metaConfig") or {})

    @property
    def devices(self) -> dict[str, int]:
        """Simulated device plugin resources per node (``cluster.devices``)."""
        return dict((self.data.get("cluster") or {}).get("devices") or {})

    def line(self, *pointer: str | int) -> int | None:
        return self.lines.line(tuple(pointer))

    def where(self, *pointer: str | int) -> str:
        line = self.line(*pointer)
        return f"{self.path}:{line}" if line else self.path


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    text = resources.files("harness.scenario").joinpath("schema.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def fixtures_dir() -> str:
    """fixtures/ of the source tree, or the copy shipped inside the package."""
    from harness.scenario.suite import shipped_dir

    return shipped_dir("fixtures")


def load_scenario(path: str, placeholders: Mapping[str, str] | None = None) -> Scenario:
    """Load and check one file; ``placeholders`` fill its ``{{ name }}``s (the run's
    profile; default: the pymultus-thin profile's, so validation needs no run)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise ScenarioError(path, None, f"cannot read: {exc.strerror}") from exc
    text = fill_placeholders(path, text, placeholders)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ScenarioError(path, line, f"invalid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(data, dict) or node is None:
        raise ScenarioError(path, 1, "a scenario is a YAML mapping with at least name and covers")
    lines = Lines()
    _walk(node, (), lines)
    validate(path, data, lines)
    scenario = Scenario(path, data, lines)
    check_references(scenario)
    from harness.scenario.strict import check_strict

    check_strict(scenario)
    # Resolve fixtures now, so `harness validate` reports an unknown one.
    network_objects(scenario)
    for index, step in enumerate(data.get("steps", [])):
        if "apply" in step:
            spec_objects(scenario, step["apply"], ("steps", index, "apply"))
    return scenario


def fill_placeholders(path: str, text: str, values: Mapping[str, str] | None) -> str:
    from harness.scenario.placeholders import PlaceholderError, substitute

    if values is None:
        from harness.profiles import BUILTIN

        values = BUILTIN["pymultus-thin"].placeholders()
    try:
        return substitute(text, values)
    except PlaceholderError as exc:
        raise ScenarioError(path, exc.line, exc.message) from None


def validate(path: str, data: dict[str, Any], lines: Lines) -> None:
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        error = jsonschema.exceptions.best_match(errors) or errors[0]
        pointer = tuple(error.absolute_path)
        where = "/".join(str(p) for p in pointer) or "(top level)"
        raise ScenarioError(path, lines.line(pointer), f"{where}: {error.message}")


def check_references(scenario: Scenario) -> None:
    """Names used in expectations and steps must be declared pods."""
    pods = {p["name"] for p in scenario.data.get("pods", [])}

    def check(name: str, *pointer: str | int) -> None:
        if name not in pods:
            raise ScenarioError(
                scenario.path,
                scenario.line(*pointer),
                f"unknown pod {name!r} (declared pods: {sorted(pods)})",
            )

    def check_expectations(items: list[dict[str, Any]], *base: str | int) -> None:
        for i, exp in enumerate(items):
            if "pod" in exp:
                check(exp["pod"], *base, i, "pod")
            if "ping" in exp:
                check(exp["ping"]["from"], *base, i, "ping", "from")
                if "/" not in exp["ping"]["to"] and not _is_ip(exp["ping"]["to"]):
                    check(exp["ping"]["to"], *base, i, "ping", "to")
            for key in ("event", "exec", "deleteError"):
                if key in exp and "pod" in exp[key]:
                    check(exp[key]["pod"], *base, i, key, "pod")
            if "node" in exp.get("exec", {}):
                check_node(scenario, exp["exec"]["node"], nodes, *base, i, "exec", "node")
            for pair in exp.get("distinctAddresses", []):
                check(pair.split("/")[0], *base, i, "distinctAddresses")

    nodes = scenario.nodes
    check_expectations(scenario.data.get("expect", []), "expect")
    for p, pod in enumerate(scenario.data.get("pods", [])):
        check_node(scenario, pod.get("node"), nodes, "pods", p, "node")
    for s, step in enumerate(scenario.data.get("steps", [])):
        for verb in ("create", "delete", "submit"):
            for j, name in enumerate(step.get(verb, [])):
                check(name, "steps", s, verb, j)
        for j, name in enumerate((step.get("wait") or {}).get("pods", [])):
            check(name, "steps", s, "wait", "pods", j)
        if "exec" in step and "pod" in step["exec"]:
            check(step["exec"]["pod"], "steps", s, "exec", "pod")
        if "exec" in step and "node" in step["exec"]:
            check_node(scenario, step["exec"]["node"], nodes, "steps", s, "exec", "node")
        if "pod" in (step.get("cni") or {}):
            check(step["cni"]["pod"], "steps", s, "cni", "pod")
        if "node" in (step.get("cni") or {}):
            check_node(scenario, step["cni"]["node"], nodes, "steps", s, "cni", "node")
        for verb in ("writeFile", "removeFile", "restartDaemon", "kill"):
            if isinstance(step.get(verb), dict):
                check_node(scenario, step[verb].get("node"), nodes, "steps", s, verb, "node")
                for pod in SANDBOX_PLACEHOLDER.findall(step[verb].get("path", "")):
                    check(pod, "steps", s, verb, "path")
        check_expectations(step.get("expect", []), "steps", s, "expect")
    check_clauses(scenario)


SANDBOX_PLACEHOLDER = re.compile(r"\{sandbox:([a-z0-9-]+)\}")


def node_names(count: int) -> list[str]:
    """Node names every backend uses for a cluster of ``count`` nodes (1-based, as
    the local backend names them: node-1 owns pod CIDR 10.244.1.0/24)."""
    return [f"node-{i}" for i in range(1, count + 1)]


def check_node(scenario: Scenario, node: str | None, count: int, *pointer: str | int) -> None:
    if node is not None and node not in node_names(count):
        raise ScenarioError(
            scenario.path,
            scenario.line(*pointer),
            f"unknown node {node!r}: cluster.nodes is {count}, so nodes are {node_names(count)}",
        )


def check_clauses(scenario: Scenario) -> None:
    """Every ``covers`` entry must be in the clause catalogue (clauses.yaml), so
    coverage reports cannot silently miss a misspelt clause."""
    from harness.scenario.clauses import catalogue

    known = catalogue()
    named: list[tuple[str, Pointer]] = [
        (clause, ("covers", i)) for i, clause in enumerate(scenario.covers)
    ]
    for check in checks(scenario):
        named += [(clause, (*check.pointer, "proves", i)) for i, clause in enumerate(check.proves)]
    for clause, pointer in named:
        if clause not in known:
            close = sorted(k for k in known if k.startswith(clause.rsplit("-", 1)[0]))[:8]
            raise ScenarioError(
                scenario.path,
                scenario.line(*pointer),
                f"unknown clause {clause!r}: add it to harness/scenario/clauses.yaml "
                f"or use a known one (e.g. {close or sorted(known)[:5]})",
            )


@dataclass(frozen=True)
class Check:
    """One assertion of a scenario: an expectation, a ``cni`` step or an ``exec``
    step. ``pointer`` is where it is in the file (its ``file:line``), ``kind``
    the expectation's key, ``proves`` the clauses it proves when it passes."""

    pointer: Pointer
    kind: str
    spec: dict[str, Any]
    proves: tuple[str, ...]


EXPECTATION_KINDS = (
    "pod",
    "ping",
    "distinctAddresses",
    "leaks",
    "event",
    "exec",
    "deleteError",
    "nodeFile",
    "calls",
)


def expectation_kind(item: dict[str, Any]) -> str:
    return next((k for k in EXPECTATION_KINDS if k in item), next(iter(item), "?"))


def checks(scenario: Scenario) -> list[Check]:
    """Every assertion in file order: top-level ``expect``, then each step's."""
    return checks_of(scenario.data)


def checks_of(data: dict[str, Any]) -> list[Check]:
    out: list[Check] = []

    def add(items: list[dict[str, Any]], *base: str | int) -> None:
        for i, item in enumerate(items):
            proves = list(item.get("proves") or [])
            if "exec" in item:
                proves += item["exec"].get("proves") or []
            out.append(Check((*base, i), expectation_kind(item), item, tuple(proves)))

    add(data.get("expect", []), "expect")
    for s, step in enumerate(data.get("steps", [])):
        if "expect" in step:
            add(step["expect"], "steps", s, "expect")
        for verb in ("cni", "exec"):
            if isinstance(step.get(verb), dict):
                spec = step[verb]
                out.append(Check(("steps", s, verb), verb, spec, tuple(spec.get("proves") or [])))
    return out


def implied_needs(data: dict[str, Any]) -> list[str]:
    """What the steps and checks of a scenario need from the backend, in order."""
    from harness.scenario.needs import STEP_NEEDS

    out: list[str] = []

    def add(need: str) -> None:
        if need not in out:
            out.append(need)

    if (data.get("cluster") or {}).get("devices"):
        add("devices")
    for step in data.get("steps", []):
        for verb, spec in step.items():
            if verb in STEP_NEEDS:
                add(STEP_NEEDS[verb])
            if isinstance(spec, dict) and SANDBOX_PLACEHOLDER.search(str(spec.get("path", ""))):
                add("sandbox-id")
    for check in checks_of(data):
        spec = check.spec.get("exec") if check.kind == "exec" and "exec" in check.spec else None
        if check.kind == "exec" and spec is None:
            spec = check.spec
        if spec is not None:
            add("node-exec" if "node" in spec else "pod-exec")
        if check.kind == "nodeFile":
            add("node-files")
            if SANDBOX_PLACEHOLDER.search(check.spec["nodeFile"]["path"]):
                add("sandbox-id")
    return out


def _is_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def network_objects(scenario: Scenario) -> list[dict[str, Any]]:
    """The NetworkAttachmentDefinitions a scenario applies, fixtures resolved."""
    return spec_objects(scenario, scenario.data.get("networks", []), ("networks",))


def spec_objects(
    scenario: Scenario, specs: list[dict[str, Any]], base: tuple[str | int, ...]
) -> list[dict[str, Any]]:
    """NAD objects from network specs (top-level ``networks`` or an ``apply`` step)."""
    out = []
    for index, spec in enumerate(specs):
        if "fixture" in spec:
            spec = {
                **load_fixture(scenario, (*base, index, "fixture"), spec["fixture"]),
                **{k: v for k, v in spec.items() if k != "fixture"},
            }
        config = spec.get("config", "")
        if not isinstance(config, str):
            config = json.dumps(config)
        metadata: dict[str, Any] = {
            "name": spec["name"],
            "namespace": spec.get("namespace", "default"),
        }
        if spec.get("annotations"):
            metadata["annotations"] = dict(spec["annotations"])
        out.append(
            {
                "apiVersion": NAD_API_VERSION,
                "kind": NAD_KIND,
                "metadata": metadata,
                "spec": {"config": config},
            }
        )
    return out


def load_fixture(scenario: Scenario, pointer: tuple[str | int, ...], name: str) -> dict[str, Any]:
    path = os.path.join(fixtures_dir(), "nads", f"{name}.yaml")
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except OSError as exc:
        available = sorted(n[:-5] for n in os.listdir(os.path.dirname(path)) if n.endswith(".yaml"))
        raise ScenarioError(
            scenario.path,
            scenario.line(*pointer),
            f"unknown network fixture {name!r} (available: {available})",
        ) from exc
    if not isinstance(data, dict) or "name" not in data or "config" not in data:
        raise ScenarioError(path, 1, "a network fixture has name and config")
    return data
