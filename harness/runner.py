"""Running one scenario against a Cluster: apply, create, expect, delete, check leaks.

The runner never stops at the first failed expectation: it collects every
failure with the ``file:line`` of the expectation that failed, and cleanup
(pod deletion, the leak check, closing the cluster) always runs.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.cluster import Cluster, PodOutcome
from harness.matchers import (
    diff_text,
    match_interface,
    match_routes,
    match_status,
)
from harness.scenario.loader import Scenario, network_objects

NETWORKS_ANNOTATION = "k8s.v1.cni.cncf.io/networks"
STATUS_ANNOTATION = "k8s.v1.cni.cncf.io/network-status"
POD_TIMEOUT = 30.0


@dataclass
class Failure:
    where: str  # file:line
    message: str
    details: str = ""

    def render(self) -> str:
        text = f"{self.where}: {self.message}"
        if self.details:
            text += "\n" + "\n".join("    " + line for line in self.details.splitlines())
        return text


@dataclass
class ScenarioResult:
    scenario: Scenario
    status: str = "passed"  # passed, failed, error, skipped
    seconds: float = 0.0
    failures: list[Failure] = field(default_factory=list)
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("passed", "skipped")

    def report(self) -> str:
        if self.status == "skipped":
            return f"{self.scenario.path}: skipped: {self.reason}"
        return "\n".join(f.render() for f in self.failures)


ClusterFactory = Callable[[Scenario], Cluster]


class ScenarioRun:
    """State of one scenario execution."""

    def __init__(self, scenario: Scenario, cluster: Cluster) -> None:
        self.scenario = scenario
        self.cluster = cluster
        self.pods = {p["name"]: p for p in scenario.data.get("pods", [])}
        self.outcomes: dict[str, PodOutcome] = {}
        self.created: list[str] = []
        self.failures: list[Failure] = []

    def fail(self, pointer: tuple[str | int, ...], message: str, details: str = "") -> None:
        self.failures.append(Failure(self.scenario.where(*pointer), message, details))

    def namespace(self, pod: str) -> str:
        return str(self.pods[pod].get("namespace", "default"))

    # -------------------------------------------------------------- steps
    def apply_networks(self) -> None:
        for obj in network_objects(self.scenario):
            self.cluster.apply(obj)

    def create(self, names: list[str]) -> None:
        for name in names:
            self.cluster.create_pod(pod_object(self.pods[name]))
            self.created.append(name)
        for name in names:
            self.outcomes[name] = self.cluster.wait_pod(self.namespace(name), name, POD_TIMEOUT)

    def delete(self, names: list[str], pointer: tuple[str | int, ...]) -> None:
        for name in names:
            if name not in self.created:
                continue
            self.created.remove(name)
            error = self.cluster.delete_pod(self.namespace(name), name, POD_TIMEOUT)
            if error is not None:
                self.fail(pointer, f"deleting pod {name}: DEL failed", error.describe())

    def expect(self, items: list[dict[str, Any]], base: tuple[str | int, ...]) -> None:
        for index, item in enumerate(items):
            pointer = (*base, index)
            try:
                if "pod" in item:
                    self.expect_pod(item, pointer)
                elif "ping" in item:
                    self.expect_ping(item["ping"], pointer)
                elif "distinctAddresses" in item:
                    self.expect_distinct(item["distinctAddresses"], pointer)
                elif "leaks" in item:
                    self.expect_no_leaks(pointer)
            except Exception as exc:  # an expectation that could not be evaluated
                self.fail(
                    pointer,
                    f"could not check: {type(exc).__name__}: {exc}",
                    traceback.format_exc(limit=3),
                )

    def expect_pod(self, item: dict[str, Any], pointer: tuple[str | int, ...]) -> None:
        name = item["pod"]
        namespace = self.namespace(name)
        outcome = self.outcomes.get(name) or self.cluster.wait_pod(namespace, name, POD_TIMEOUT)
        want_error = item.get("error")
        want_ready = item.get("ready", want_error is None)
        if want_error is not None:
            if outcome.error is None:
                self.fail(
                    pointer,
                    f"pod {name}: expected a CNI error, but the sandbox "
                    f"{'is ready' if outcome.ready else 'did not finish'}",
                )
                return
            if "code" in want_error and outcome.error.code != want_error["code"]:
                self.fail(
                    pointer,
                    f"pod {name}: CNI error code {outcome.error.code}, "
                    f"expected {want_error['code']}",
                    outcome.error.message,
                )
            if "contains" in want_error and want_error["contains"] not in outcome.error.message:
                self.fail(
                    pointer,
                    f"pod {name}: CNI error message does not contain {want_error['contains']!r}",
                    outcome.error.message,
                )
        if want_ready and not outcome.ready:
            detail = outcome.error.describe() if outcome.error else "timed out"
            self.fail(pointer, f"pod {name}: sandbox not ready", detail)
            return
        if not outcome.ready:
            return
        network = self.cluster.pod_network(namespace, name)
        problems: list[str] = []
        for ifname, want in (item.get("interfaces") or {}).items():
            problems += match_interface(ifname, want, network.interface(ifname))
        problems += match_routes(item.get("routes") or [], network.routes)
        if problems:
            self.fail(
                pointer,
                f"pod {name}: {len(problems)} interface/route mismatch(es)",
                "\n".join(problems) + "\n" + network.describe(),
            )
        if "networkStatus" in item:
            pod = self.cluster.get_pod(namespace, name) or {}
            text = ((pod.get("metadata") or {}).get("annotations") or {}).get(STATUS_ANNOTATION)
            actual = json.loads(text) if text else []
            status_problems = match_status(item["networkStatus"], actual)
            if status_problems:
                self.fail(
                    pointer,
                    f"pod {name}: network-status mismatch",
                    "\n".join(status_problems) + "\n" + diff_text(item["networkStatus"], actual),
                )

    def expect_ping(self, ping: dict[str, Any], pointer: tuple[str | int, ...]) -> None:
        source = ping["from"]
        target = ping["to"]
        if target in self.pods:
            ifname = ping.get("toInterface") or ping.get("via") or "eth0"
            itf = self.cluster.pod_network(self.namespace(target), target).interface(ifname)
            addrs = [a for a in (itf.global_addresses() if itf else []) if a.family == 4] or (
                itf.global_addresses() if itf else []
            )
            if not addrs:
                self.fail(pointer, f"ping: pod {target} has no address on {ifname}")
                return
            address = addrs[0].ip
        else:
            address = target
        ok, output = self.cluster.ping(self.namespace(source), source, address, ping.get("via"))
        if ok == bool(ping.get("fails", False)):
            verdict = "succeeded but should fail" if ok else "failed"
            self.fail(
                pointer,
                f"ping from {source} to {target} ({address}) "
                f"via {ping.get('via', 'any')}: {verdict}",
                output,
            )

    def expect_distinct(self, pairs: list[str], pointer: tuple[str | int, ...]) -> None:
        seen: dict[str, str] = {}
        for pair in pairs:
            pod, ifname = pair.split("/", 1)
            itf = self.cluster.pod_network(self.namespace(pod), pod).interface(ifname)
            if itf is None:
                self.fail(pointer, f"{pair}: no such interface")
                continue
            for addr in itf.global_addresses():
                if addr.ip in seen:
                    self.fail(pointer, f"{pair} and {seen[addr.ip]} share address {addr.ip}")
                seen[addr.ip] = pair

    def expect_no_leaks(self, pointer: tuple[str | int, ...]) -> None:
        leaks = self.cluster.leaks()
        if leaks:
            self.fail(pointer, f"{len(leaks)} leaked resource(s) after deletion", "\n".join(leaks))

    # ---------------------------------------------------------------- run
    def run(self) -> None:
        data = self.scenario.data
        self.apply_networks()
        self.create([p["name"] for p in data.get("pods", []) if p.get("create", True)])
        self.expect(data.get("expect", []), ("expect",))
        for index, step in enumerate(data.get("steps", [])):
            if "create" in step:
                self.create(step["create"])
            elif "delete" in step:
                self.delete(step["delete"], ("steps", index))
            elif "expect" in step:
                self.expect(step["expect"], ("steps", index, "expect"))

    def cleanup(self) -> None:
        """Delete what is left; then, unless told otherwise, nothing may remain."""
        self.delete(list(self.created), ("pods",))
        if (self.scenario.data.get("cleanup") or {}).get("leaks", "none") == "none":
            self.expect_no_leaks(("name",))


def pod_object(spec: dict[str, Any]) -> dict[str, Any]:
    annotations = dict(spec.get("annotations") or {})
    networks = spec.get("networks")
    if networks is not None:
        annotations[NETWORKS_ANNOTATION] = (
            networks if isinstance(networks, str) else json.dumps(networks)
        )
    metadata: dict[str, Any] = {"name": spec["name"], "namespace": spec.get("namespace", "default")}
    if annotations:
        metadata["annotations"] = annotations
    if spec.get("labels"):
        metadata["labels"] = dict(spec["labels"])
    pod_spec: dict[str, Any] = {"containers": [{"name": "main", "image": "busybox"}]}
    if spec.get("node"):
        pod_spec["nodeName"] = spec["node"]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod_spec}


def run_scenario(scenario: Scenario, make_cluster: ClusterFactory) -> ScenarioResult:
    result = ScenarioResult(scenario)
    started = time.monotonic()
    cluster: Cluster | None = None
    run: ScenarioRun | None = None
    try:
        cluster = make_cluster(scenario)
        run = ScenarioRun(scenario, cluster)
        try:
            run.run()
        finally:
            run.cleanup()
        result.failures = run.failures
        result.status = "failed" if run.failures else "passed"
    except Exception as exc:
        result.status = "error"
        if run is not None:
            result.failures = run.failures
        result.failures.append(
            Failure(scenario.path, f"{type(exc).__name__}: {exc}", traceback.format_exc())
        )
    finally:
        if cluster is not None:
            cluster.close()
        result.seconds = time.monotonic() - started
    return result
