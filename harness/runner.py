"""Running one scenario against a Cluster: apply, create, steps, expect, cleanup.

The runner never stops at the first failed expectation: it collects every
failure with the ``file:line`` of the expectation that failed, and cleanup
(restoring the API, pod deletion, the leak check, closing the cluster) always
runs. A need the machine cannot meet skips the scenario with the reason,
decided before the first step (the loader adds what the steps themselves
need). Afterwards nothing turns into a skip: an expectation the backend cannot
evaluate is recorded as "not checked" (never counted as passed), and a step it
cannot perform ends the scenario as an error that keeps every failure already
recorded. ``xfail`` turns a known failure into an expected one without
weakening the scenario.

Every check (expectation, ``cni`` step, ``exec`` step) gets a
:class:`CheckRecord` with its clauses (``proves``): ``harness coverage`` counts
a clause only from checks that ran and passed. Per-scenario post-checks (for
example spec MUSTs on recorded CNI calls) are hooks in :data:`POST_CHECKS`.
"""

from __future__ import annotations

import json
import shlex
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from harness.cluster import Cluster, PodOutcome, SandboxError, Unsupported
from harness.matchers import (
    diff_text,
    error_problems,
    interface_view,
    match_events,
    match_interface,
    match_routes,
    match_status,
)
from harness.scenario.loader import (
    SANDBOX_PLACEHOLDER,
    Scenario,
    expectation_kind,
    network_objects,
    spec_objects,
)
from harness.scenario.needs import Probe, missing
from harness.wiretap import hook as wiretap

NETWORKS_ANNOTATION = "k8s.v1.cni.cncf.io/networks"
STATUS_ANNOTATION = "k8s.v1.cni.cncf.io/network-status"
POD_TIMEOUT = 30.0
RECENT_EVENTS = 5

Pointer = tuple[str | int, ...]


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


#: Check statuses: a check the backend could not evaluate is "not checked",
#: its own status, never counted as passed.
PASSED, FAILED, NOT_CHECKED = "passed", "failed", "not checked"


@dataclass
class CheckRecord:
    """The outcome of one check of the scenario (an expectation, a cni or exec step)."""

    where: str  # file:line
    kind: str
    proves: tuple[str, ...]
    status: str  # passed, failed, not checked
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "where": self.where,
            "kind": self.kind,
            "proves": list(self.proves),
            "status": self.status,
        }
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class ScenarioResult:
    scenario: Scenario
    # passed, failed, error, skipped, xfailed (failed as expected), xpassed
    status: str = "passed"
    seconds: float = 0.0
    failures: list[Failure] = field(default_factory=list)
    reason: str = ""
    timings: list[tuple[str, float]] = field(default_factory=list)  # phase, seconds
    topology: dict[str, Any] = field(default_factory=dict)  # for the HTML report
    checks: list[CheckRecord] = field(default_factory=list)
    profile: str = "pymultus-thin"  # the meta-plugin profile the run used

    @property
    def klass(self) -> str:
        return self.scenario.klass

    @property
    def not_checked(self) -> list[CheckRecord]:
        return [c for c in self.checks if c.status == NOT_CHECKED]

    @property
    def ok(self) -> bool:
        return self.status in ("passed", "skipped", "xfailed", "xpassed")

    def report(self) -> str:
        if self.status == "skipped":
            return f"{self.scenario.path}: skipped: {self.reason}"
        head = ""
        if self.status == "xfailed":
            head = f"{self.scenario.path}: expected failure: {self.reason}\n"
        elif self.reason:
            head = f"{self.scenario.path}: {self.reason}\n"
        lines = [f.render() for f in self.failures]
        lines += [f"{c.where}: not checked: {c.note}" for c in self.not_checked]
        return head + "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.scenario.name,
            "path": self.scenario.path,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "reason": self.reason,
            "class": self.scenario.klass,
            "profile": self.profile,
            "covers": self.scenario.covers,
            "tags": self.scenario.tags,
            "checks": [c.to_json() for c in self.checks],
            "failures": [
                {"where": f.where, "message": f.message, "details": f.details}
                for f in self.failures
            ],
            "timings": [[phase, round(s, 3)] for phase, s in self.timings],
            "topology": self.topology,
        }


ClusterFactory = Callable[[Scenario], Cluster]

#: Per-scenario post-checks, run after cleanup (so they see the teardown too)
#: and before the verdict: each gets the finished :class:`ScenarioRun` and
#: reports violations with ``run.fail(pointer, message, details)``. An
#: exception in a hook is a scenario error, never a silent pass.
POST_CHECKS: list[Callable[[ScenarioRun], None]] = []


class ScenarioRun:
    """State of one scenario execution."""

    def __init__(self, scenario: Scenario, cluster: Cluster) -> None:
        self.scenario = scenario
        self.cluster = cluster
        self.pods = {p["name"]: p for p in scenario.data.get("pods", [])}
        self.outcomes: dict[str, PodOutcome] = {}
        self.delete_errors: dict[str, SandboxError | None] = {}
        self.created: list[str] = []
        self.failures: list[Failure] = []
        self.timings: list[tuple[str, float]] = []
        # What the report draws (harness.report.topology_svg); "traffic": ping checks.
        self.topology: dict[str, Any] = {
            "nodes": [],
            "pods": {},
            "networks": [],
            "nodeLinks": {},
            "traffic": [],
        }
        self.api_touched = False
        self.namespaces: set[str] = set()
        self.checks: list[CheckRecord] = []
        self.not_checked_note = ""
        self.since = time.time()  # the wiretap's calls of this scenario start here

    def fail(self, pointer: Pointer, message: str, details: str = "") -> None:
        self.failures.append(Failure(self.scenario.where(*pointer), message, details))

    def record(self, pointer: Pointer, kind: str, proves: Any, status: str, note: str = "") -> None:
        """Remember one check's outcome (what coverage counts)."""
        self.checks.append(
            CheckRecord(self.scenario.where(*pointer), kind, tuple(proves or ()), status, note)
        )

    def checked(self, pointer: Pointer, kind: str, proves: Any, action: Callable[[], Any]) -> None:
        """Run a check; record passed when it added no failure, failed otherwise.
        An Unsupported from a check step propagates (the scenario cannot go on)."""
        before = len(self.failures)
        try:
            action()
        except Unsupported as exc:
            self.record(pointer, kind, proves, NOT_CHECKED, str(exc))
            raise
        self.record(pointer, kind, proves, FAILED if len(self.failures) > before else PASSED)

    def namespace(self, pod: str) -> str:
        return str(self.pods[pod].get("namespace", "default"))

    def timed(self, phase: str, action: Callable[[], None]) -> None:
        started = time.monotonic()
        try:
            action()
        finally:
            self.timings.append((phase, time.monotonic() - started))

    # -------------------------------------------------------------- steps
    def apply_networks(self, objects: list[dict[str, Any]]) -> None:
        for obj in objects:
            self.ensure_namespace(obj["metadata"]["namespace"])
            self.cluster.apply(obj)
            meta = obj["metadata"]
            self.topology["networks"].append(
                {"name": f"{meta['namespace']}/{meta['name']}", "type": nad_type(obj)}
                | nad_wiring(obj)
            )

    def ensure_namespace(self, namespace: str) -> None:
        """NADs may live in namespaces no pod created yet: create them first."""
        if namespace in self.namespaces:
            return
        self.namespaces.add(namespace)
        if namespace != "default":
            self.cluster.apply(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
            )

    def delete_networks(self, names: list[str]) -> None:
        for ref in names:
            namespace, _, name = ref.rpartition("/")
            obj = {
                "apiVersion": "k8s.cni.cncf.io/v1",
                "kind": "NetworkAttachmentDefinition",
                "metadata": {"name": name, "namespace": namespace or "default"},
            }
            self.cluster.delete_object(obj)

    def create(self, names: list[str], wait: bool = True) -> None:
        for name in names:
            self.cluster.create_pod(pod_object(self.pods[name]))
            self.created.append(name)
        for name in names if wait else []:
            self.outcomes[name] = self.cluster.wait_pod(self.namespace(name), name, POD_TIMEOUT)

    def delete(self, names: list[str], pointer: Pointer, check: bool = True) -> None:
        for name in names:
            if name not in self.created:
                continue
            self.created.remove(name)
            try:
                error = self.cluster.delete_pod(self.namespace(name), name, POD_TIMEOUT)
            except TimeoutError as exc:
                # A DEL that outlives the bound is the plugin's outcome (e.g. a
                # client that keeps retrying 429s), not the harness failing to
                # run it: a failed expectation naming the bound, never an error.
                error = SandboxError(None, f"DEL did not finish within {POD_TIMEOUT:.0f} s")
                self.delete_errors[name] = error
                self.fail(pointer, f"deleting pod {name}: {error.message}", str(exc))
                continue
            self.delete_errors[name] = error
            if error is not None and check and not self.expects_delete_error(name):
                self.fail(pointer, f"deleting pod {name}: DEL failed", error.describe())

    def expects_delete_error(self, name: str) -> bool:
        """A scenario that asserts on a DEL error must not also fail on it."""
        for _pointer, item in self.all_expectations():
            want = item.get("deleteError")
            if want and want["pod"] == name and not want.get("none"):
                return True
        return False

    def all_expectations(self) -> list[tuple[Pointer, dict[str, Any]]]:
        out: list[tuple[Pointer, dict[str, Any]]] = [
            (("expect", i), e) for i, e in enumerate(self.scenario.data.get("expect", []))
        ]
        for s, step in enumerate(self.scenario.data.get("steps", [])):
            out += [(("steps", s, "expect", i), e) for i, e in enumerate(step.get("expect", []))]
        return out

    def wait(self, spec: dict[str, Any]) -> None:
        for name in spec.get("pods", []):
            self.outcomes[name] = self.cluster.wait_pod(self.namespace(name), name, POD_TIMEOUT)
        if "seconds" in spec:
            time.sleep(float(spec["seconds"]))

    def node_file(self, spec: dict[str, Any], write: bool) -> None:
        path = SANDBOX_PLACEHOLDER.sub(self._sandbox_id, spec["path"])
        nodes = [spec["node"]] if spec.get("node") else self.cluster.node_names()
        for node in nodes:
            if write:
                content = spec["content"]
                if not isinstance(content, str):
                    content = json.dumps(content, indent=2)
                self.cluster.write_node_file(node, path, content)
            else:
                self.cluster.remove_node_file(node, path)

    def _sandbox_id(self, match: Any) -> str:
        pod = match.group(1)
        sandbox = self.cluster.sandbox_id(self.namespace(pod), pod)
        if sandbox is None:
            # Real clusters cannot name the runtime's sandbox; the local one always can
            # for a created pod. Either way the step cannot be done as written: skip.
            raise Unsupported(f"{{sandbox:{pod}}}: this cluster cannot tell the pod's sandbox ID")
        return sandbox

    def machinery(self, verb: str, spec: Any) -> None:
        """Steps on the cluster's machinery: the API, and the thick-mode daemon."""
        if verb == "stopApi":
            self.api_touched = True
            scope = spec.get("scope", "all") if isinstance(spec, dict) else "all"
            self.cluster.stop_api(scope)
        elif verb == "startApi":
            self.cluster.start_api()
        elif verb == "apiFault":
            self.api_touched = True
            spec = spec or {}
            times = int(spec["times"]) if "times" in spec else None
            self.cluster.set_api_fault(
                spec.get("status"), float(spec.get("delay", 0.0)), spec.get("scope", "all"), times
            )
        elif verb in ("restartDaemon", "kill"):
            # Only clusters running the meta-plugin in thick mode have a daemon;
            # the others raise Unsupported (harness/cluster.py).
            nodes = [spec["node"]] if spec.get("node") else self.cluster.node_names()
            for node in nodes:
                if verb == "kill":
                    self.cluster.kill_process(node, spec["process"])
                else:
                    self.cluster.restart_daemon(node)

    # ------------------------------------------------------- expectations
    def expect(self, items: list[dict[str, Any]], base: Pointer) -> None:
        for index, item in enumerate(items):
            pointer = (*base, index)
            eventually = item.get("eventually")
            deadline = time.monotonic() + float(eventually["timeout"]) if eventually else 0.0
            interval = float((eventually or {}).get("interval", 0.2))
            proves = list(item.get("proves") or []) + list(
                (item.get("exec") or {}).get("proves") or []
            )
            kind = expectation_kind(item)
            while True:
                kept = self.failures
                self.failures = []
                self.not_checked_note = ""
                unsupported = ""
                try:
                    self.expect_one(item, pointer)
                except Unsupported as exc:  # the backend cannot evaluate it: not checked
                    unsupported = str(exc)
                except Exception as exc:  # an expectation that could not be evaluated
                    self.fail(
                        pointer,
                        f"could not check: {type(exc).__name__}: {exc}",
                        traceback.format_exc(limit=3),
                    )
                attempt, self.failures = self.failures, kept
                if unsupported and not attempt:
                    self.record(pointer, kind, proves, NOT_CHECKED, unsupported)
                    break
                if not attempt or time.monotonic() >= deadline:
                    if attempt and eventually:
                        attempt[0].message += f" (still after {eventually['timeout']} s)"
                    self.failures += attempt
                    if attempt:
                        self.record(pointer, kind, proves, FAILED)
                    elif self.not_checked_note:
                        # Partly evaluated (e.g. leaks on a backend that sees only pods):
                        # what was seen held, the rest is not checked, not passed.
                        self.record(pointer, kind, proves, NOT_CHECKED, self.not_checked_note)
                    else:
                        self.record(pointer, kind, proves, PASSED)
                    break
                time.sleep(interval)

    def expect_one(self, item: dict[str, Any], pointer: Pointer) -> None:
        if "pod" in item:
            self.expect_pod(item, pointer)
        elif "ping" in item:
            self.expect_ping(item["ping"], pointer)
        elif "distinctAddresses" in item:
            self.expect_distinct(item["distinctAddresses"], pointer)
        elif "leaks" in item:
            self.expect_no_leaks(pointer)
        elif "event" in item:
            self.expect_event(item["event"], pointer)
        elif "exec" in item:
            self.run_exec(item["exec"], (*pointer, "exec"))
        elif "deleteError" in item:
            self.expect_delete_error(item["deleteError"], pointer)
        elif "nodeFile" in item:
            self.expect_node_file(item["nodeFile"], pointer)
        elif "calls" in item:
            wiretap.expect(item["calls"], self.cluster, self.since, partial(self.fail, pointer))

    def expect_node_file(self, want: dict[str, Any], pointer: Pointer) -> None:
        """A file as the node sees it: present or not, and what it holds."""
        node, path = want["node"], SANDBOX_PLACEHOLDER.sub(self._sandbox_id, want["path"])
        text = self.cluster.read_node_file(node, path)  # Unsupported: not checked
        exists = want.get("exists", True)
        where = f"{node}:{path}"
        if text is None:
            if exists:
                self.fail(pointer, f"{where}: no such file, expected it to exist")
            return
        if not exists:
            self.fail(pointer, f"{where}: exists, expected it not to", text[:2000])
            return
        if "contains" in want and want["contains"] not in text:
            self.fail(pointer, f"{where}: lacks {want['contains']!r}", text[:2000])
        if "notContains" in want and want["notContains"] in text:
            self.fail(pointer, f"{where}: contains {want['notContains']!r}", text[:2000])

    def pod_context(self, name: str) -> str:
        """What a reader needs next to a failed pod expectation: its addresses
        and routes, and its recent events."""
        lines: list[str] = []
        try:
            lines.append(self.cluster.pod_network(self.namespace(name), name).describe())
        except Exception as exc:
            lines.append(f"network: unavailable ({exc})")
        try:
            events = self.cluster.events(self.namespace(name), name)[-RECENT_EVENTS:]
            lines.append("recent events:")
            lines += [
                f"  {e.get('type', '?')} {e.get('reason', '?')}: {e.get('message', '')}"
                for e in events
            ] or ["  none"]
        except Exception as exc:
            lines.append(f"events: unavailable ({exc})")
        return "\n".join(lines)

    def expect_pod(self, item: dict[str, Any], pointer: Pointer) -> None:
        name = item["pod"]
        namespace = self.namespace(name)
        outcome = self.outcomes.get(name)
        if outcome is None or not outcome.finished:
            outcome = self.cluster.wait_pod(namespace, name, POD_TIMEOUT)
            self.outcomes[name] = outcome
        want_error = item.get("error")
        want_ready = item.get("ready", want_error is None)
        if want_error is not None:
            if outcome.error is None:
                self.fail(
                    pointer,
                    f"pod {name}: expected a CNI error, but the sandbox "
                    f"{'is ready' if outcome.ready else 'did not finish'}",
                    diff_text(want_error, None),
                )
                return
            for problem in error_problems(want_error, outcome.error.code, outcome.error.message):
                self.fail(pointer, f"pod {name}: {problem}", outcome.error.message)
        if want_ready and not outcome.ready:
            detail = outcome.error.describe() if outcome.error else "timed out"
            self.fail(pointer, f"pod {name}: sandbox not ready", detail)
            return
        if not want_ready and outcome.ready:
            self.fail(pointer, f"pod {name}: sandbox is ready, expected it not to be")
            return
        if not outcome.ready:
            return
        network = self.cluster.pod_network(namespace, name)
        problems: list[str] = []
        want_itfs = item.get("interfaces") or {}
        for ifname, want in want_itfs.items():
            problems += match_interface(ifname, want, network.interface(ifname))
        if "routes" in item:
            problems += match_routes(item["routes"], network.routes)
        if problems:
            expected = {k: v for k, v in item.items() if k in ("interfaces", "routes")}
            actual = {
                "interfaces": {
                    n: interface_view(network.interface(n), want_itfs[n]) for n in want_itfs
                },
                "routes": [r.summary() for r in network.routes],
            }
            if "routes" not in item:
                del actual["routes"]
            if "interfaces" not in item:
                del actual["interfaces"]
            self.fail(
                pointer,
                f"pod {name}: {len(problems)} interface/route mismatch(es)",
                "\n".join(problems)
                + "\n"
                + diff_text(expected, actual)
                + "\n"
                + self.pod_context(name),
            )
        if "networkStatus" in item:
            pod = self.cluster.get_pod(namespace, name) or {}
            text = ((pod.get("metadata") or {}).get("annotations") or {}).get(STATUS_ANNOTATION)
            actual_status = json.loads(text) if text else []
            macs = {itf.name: itf.mac for itf in network.interfaces}
            status_problems = match_status(item["networkStatus"], actual_status, macs=macs)
            if status_problems:
                self.fail(
                    pointer,
                    f"pod {name}: network-status mismatch",
                    "\n".join(status_problems)
                    + "\n"
                    + diff_text(item["networkStatus"], actual_status),
                )

    def expect_ping(self, ping: dict[str, Any], pointer: Pointer) -> None:
        source = ping["from"]
        target = ping["to"]
        if target in self.pods:
            ifname = ping.get("toInterface") or ping.get("via") or "eth0"
            itf = self.cluster.pod_network(self.namespace(target), target).interface(ifname)
            addrs = itf.global_addresses() if itf else []
            family = ping.get("family")
            if family:
                addrs = [a for a in addrs if a.family == family]
            else:
                addrs = [a for a in addrs if a.family == 4] or addrs
            if not addrs:
                self.fail(pointer, f"ping: pod {target} has no address on {ifname}")
                self.record_traffic(ping, "", False)
                return
            address = addrs[0].ip
        else:
            address = target
        ok, output = self.cluster.ping(self.namespace(source), source, address, ping.get("via"))
        self.record_traffic(ping, address, ok != bool(ping.get("fails", False)))
        if ok == bool(ping.get("fails", False)):
            verdict = "succeeded but should fail" if ok else "failed"
            self.fail(
                pointer,
                f"ping from {source} to {target} ({address}) "
                f"via {ping.get('via', 'any')}: {verdict}",
                output + ("" if ok else "\n" + self.pod_context(source)),
            )

    def record_traffic(self, ping: dict[str, Any], address: str, passed: bool) -> None:
        """A traffic check for the topology picture: an arrow, green when it passed."""
        self.topology["traffic"].append(
            {
                "from": ping["from"],
                "to": ping["to"],
                "via": ping.get("via"),
                "toInterface": ping.get("toInterface") or ping.get("via"),
                "address": address,
                "fails": bool(ping.get("fails", False)),
                "passed": passed,
            }
        )

    def expect_distinct(self, pairs: list[str], pointer: Pointer) -> None:
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

    def expect_no_leaks(self, pointer: Pointer) -> None:
        leaks = self.cluster.leaks()
        if leaks:
            self.fail(pointer, f"{len(leaks)} leaked resource(s) after deletion", "\n".join(leaks))
        # What this backend's leak check cannot see (a real cluster without a
        # shell on its nodes sees only that pods are gone): not checked, not passed.
        missed = list(self.cluster.leak_blind_spots())
        if missed:
            self.not_checked_note = "leaks: " + "; ".join(missed)

    def expect_event(self, want: dict[str, Any], pointer: Pointer) -> None:
        name = want["pod"]
        events = self.cluster.events(self.namespace(name), name)
        problem = match_events(want, events)
        if problem:
            self.fail(pointer, f"pod {name}: {problem}", diff_text(want, summarize_events(events)))

    def run_exec(self, spec: dict[str, Any], pointer: Pointer) -> None:
        command = spec["command"]
        argv = shlex.split(command) if isinstance(command, str) else list(command)
        if "node" in spec:
            name = f"node {spec['node']}"
            code, output = self.cluster.exec_on_node(spec["node"], argv)
        else:
            name = spec["pod"]
            code, output = self.cluster.exec_in_pod(self.namespace(name), name, argv)
        want_code = spec.get("exitCode", 0)
        shown = " ".join(argv)
        if code != want_code:
            self.fail(
                pointer, f"exec in {name}: `{shown}` exited {code}, expected {want_code}", output
            )
        if "contains" in spec and spec["contains"] not in output:
            self.fail(
                pointer, f"exec in {name}: output of `{shown}` lacks {spec['contains']!r}", output
            )
        if "notContains" in spec and spec["notContains"] in output:
            self.fail(
                pointer,
                f"exec in {name}: output of `{shown}` contains {spec['notContains']!r}",
                output,
            )

    def expect_delete_error(self, want: dict[str, Any], pointer: Pointer) -> None:
        name = want["pod"]
        if name not in self.delete_errors:
            self.fail(pointer, f"pod {name}: no delete step ran for it before this expectation")
            return
        error = self.delete_errors[name]
        if want.get("none"):
            if error is not None:
                self.fail(pointer, f"pod {name}: DEL failed, expected success", error.describe())
            return
        if error is None:
            self.fail(pointer, f"pod {name}: DEL succeeded, expected a CNI error")
            return
        for problem in error_problems(want, error.code, error.message):
            self.fail(pointer, f"pod {name}: DEL {problem}", error.message)

    # ----------------------------------------------------------- topology
    def snapshot(self) -> None:
        """Record nodes, pods, interfaces and addresses for the HTML report."""
        try:
            self.topology["nodes"] = self.cluster.node_names()
        except Exception:
            return
        for node in self.topology["nodes"]:
            try:  # uplinks, bridges, masters; clusters without a node shell have none
                code, out = self.cluster.exec_on_node(node, ["ip", "-d", "-j", "addr", "show"])
                if code == 0:
                    self.topology["nodeLinks"][node] = node_links(out)
            except Exception:
                pass
        for name in list(self.created):
            namespace = self.namespace(name)
            outcome = self.outcomes.get(name)
            entry: dict[str, Any] = {
                "namespace": namespace,
                "node": None,
                "ready": bool(outcome and outcome.ready),
                "error": outcome.error.describe() if outcome and outcome.error else None,
                "interfaces": [],
            }
            try:
                entry["node"] = self.cluster.node_of(namespace, name)
                if entry["ready"]:
                    status = self._status(namespace, name)
                    by_ifname = {s.get("interface"): s.get("name") for s in status}
                    defaults = {s.get("interface") for s in status if s.get("default")}
                    for itf in self.cluster.pod_network(namespace, name).interfaces:
                        if itf.kind == "loopback":
                            continue
                        entry["interfaces"].append(
                            {
                                "name": itf.name,
                                "kind": itf.kind,
                                "addresses": [a.cidr for a in itf.global_addresses()],
                                "network": by_ifname.get(itf.name),
                                "default": itf.name in defaults,
                            }
                        )
            except Exception:
                pass
            self.topology["pods"][name] = entry

    def _status(self, namespace: str, name: str) -> list[dict[str, Any]]:
        pod = self.cluster.get_pod(namespace, name) or {}
        text = ((pod.get("metadata") or {}).get("annotations") or {}).get(STATUS_ANNOTATION)
        value = json.loads(text) if text else []
        return value if isinstance(value, list) else []

    # ---------------------------------------------------------------- run
    def run(self) -> None:
        data = self.scenario.data
        self.timed("apply", lambda: self.apply_networks(network_objects(self.scenario)))
        initial = [p["name"] for p in data.get("pods", []) if p.get("create", True)]
        if initial:
            self.timed("create", lambda: self.create(initial))
        if data.get("expect"):
            self.timed("expect", lambda: self.expect(data["expect"], ("expect",)))
        self.snapshot()
        for index, step in enumerate(data.get("steps", [])):
            ((verb, spec),) = step.items()
            started = time.monotonic()
            try:
                self.step(verb, spec, index)
            finally:
                self.timings.append((verb, time.monotonic() - started))

    def step(self, verb: str, spec: Any, index: int) -> None:
        if verb == "create":
            self.create(spec)
        elif verb == "submit":
            self.create(spec, wait=False)
        elif verb == "delete":
            self.snapshot()
            self.delete(spec, ("steps", index))
        elif verb == "apply":
            self.apply_networks(spec_objects(self.scenario, spec, ("steps", index, "apply")))
        elif verb == "deleteNetworks":
            self.delete_networks(spec)
        elif verb == "wait":
            self.wait(spec)
        elif verb == "exec":
            pointer_exec: Pointer = ("steps", index, "exec")
            self.checked(
                pointer_exec,
                "exec",
                spec.get("proves"),
                lambda: self.run_exec(spec, pointer_exec),
            )
        elif verb == "writeFile":
            self.node_file(spec, write=True)
        elif verb == "removeFile":
            self.node_file(spec, write=False)
        elif verb == "expect":
            self.expect(spec, ("steps", index, "expect"))
            self.snapshot()
        elif verb == "hotplug":
            self.hotplug(spec, ("steps", index, "hotplug"))
        elif verb == "cni":
            # The harness as the runtime for one call (harness/cnistep.py).
            from harness.cnistep import run_step

            pointer: Pointer = ("steps", index)
            self.checked(
                (*pointer, "cni"),
                "cni",
                spec.get("proves"),
                lambda: run_step(
                    spec, self.cluster, self.namespace, lambda m, d: self.fail(pointer, m, d)
                ),
            )
        elif verb in ("rotateToken", "installer"):
            self.node_side(verb, spec or {})
        else:
            self.machinery(verb, spec)

    def hotplug(self, spec: dict[str, Any], pointer: Pointer) -> None:
        """Add or remove one attachment of a running pod (thick mode's POST /delegate)."""
        name = spec["pod"]
        if "remove" in spec:
            op, network, interface = "remove", "", str(spec["remove"])
            what = f"removing {interface}"
        else:
            op, network, interface = "add", str(spec["add"]), str(spec.get("interface", ""))
            what = f"adding {network}" + (f" as {interface}" if interface else "")
        ok, answer = self.cluster.hotplug(self.namespace(name), name, op, network, interface)
        if not ok:
            self.fail(pointer, f"hotplug into pod {name}: {what} failed", answer)

    def node_side(self, verb: str, spec: dict[str, Any]) -> None:
        """Node-side machinery: the service-account token, the DaemonSet's installer."""
        if verb == "rotateToken":
            self.cluster.rotate_token(spec.get("token"))
            return
        for node in [spec["node"]] if spec.get("node") else self.cluster.node_names():
            self.cluster.run_installer(node, spec.get("action", "start"))

    def cleanup(self) -> None:
        """Restore the API, delete what is left; then, unless told otherwise,
        nothing may remain."""
        if self.api_touched:
            self.cluster.set_api_fault(None, 0.0)
            self.cluster.start_api()
        self.snapshot()
        self.delete(list(self.created), ("pods",))
        if (self.scenario.data.get("cleanup") or {}).get("leaks", "none") == "none":
            self.not_checked_note = ""
            before = len(self.failures)
            self.expect_no_leaks(("name",))
            status = FAILED if len(self.failures) > before else PASSED
            if status == PASSED and self.not_checked_note:
                status = NOT_CHECKED
            self.record(("name",), "cleanup leaks", (), status, self.not_checked_note)

    def post_checks(self) -> None:
        """The registered per-scenario post-checks (:data:`POST_CHECKS`)."""
        for hook in POST_CHECKS:
            hook(self)


def summarize_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"type": e.get("type"), "reason": e.get("reason"), "message": e.get("message")}
        for e in events
    ]


def nad_type(obj: dict[str, Any]) -> str:
    """The first plugin type of a NAD's config, for the topology drawing."""
    try:
        config = json.loads(obj["spec"]["config"] or "{}")
    except (KeyError, ValueError):
        return "?"
    if not isinstance(config, dict):
        return "?"
    if config.get("plugins"):
        return "+".join(str(p.get("type", "?")) for p in config["plugins"])
    return str(config.get("type", "(confDir)" if not config else "?"))


def nad_wiring(obj: dict[str, Any]) -> dict[str, Any]:
    """Where a NAD's first plugin attaches on the node (macvlan/ipvlan master, bridge)."""
    try:
        config = json.loads(obj["spec"]["config"] or "{}")
    except (KeyError, ValueError):
        return {}
    if not isinstance(config, dict):
        return {}
    first = (config.get("plugins") or [config])[0]
    if not isinstance(first, dict):
        return {}
    out: dict[str, Any] = {}
    for key in ("master", "bridge", "device"):
        if isinstance(first.get(key), str):
            out[key] = first[key]
    if first.get("type") == "bridge" and "bridge" not in out:
        out["bridge"] = "cni0"  # the bridge plugin's default name
    return out


def node_links(text: str) -> list[dict[str, Any]]:
    """``ip -d -j addr show`` of a node as the picture needs it: name, kind, master,
    global addresses (pods' veth host ends included; the drawing picks)."""
    try:
        links = json.loads(text or "[]")
    except ValueError:
        return []
    out: list[dict[str, Any]] = []
    for link in links if isinstance(links, list) else []:
        info = link.get("linkinfo") or {}
        out.append(
            {
                "name": link.get("ifname"),
                "kind": info.get("info_kind")
                or ("loopback" if link.get("ifname") == "lo" else "device"),
                "master": link.get("master"),
                "addresses": [
                    f"{a.get('local')}/{a.get('prefixlen')}"
                    for a in link.get("addr_info") or []
                    if a.get("scope") == "global"
                ],
            }
        )
    return out


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
    container: dict[str, Any] = {"name": "main", "image": "busybox"}
    if spec.get("ports"):
        container["ports"] = [dict(p) for p in spec["ports"]]
    if spec.get("resources"):
        asked = {name: str(count) for name, count in spec["resources"].items()}
        container["resources"] = {"limits": asked, "requests": dict(asked)}
    pod_spec: dict[str, Any] = {"containers": [container]}
    if spec.get("node"):
        pod_spec["nodeName"] = spec["node"]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod_spec}


def run_scenario(
    scenario: Scenario,
    make_cluster: ClusterFactory,
    probes: Mapping[str, Probe] | None = None,
) -> ScenarioResult:
    """Run one scenario; never raises. ``probes`` answer ``cluster.needs``."""
    result = ScenarioResult(scenario)
    started = time.monotonic()
    if scenario.needs:
        reason = missing(scenario.needs, probes or {})
        if reason:
            result.status = "skipped"
            result.reason = reason
            return result
    cluster: Cluster | None = None
    run: ScenarioRun | None = None
    try:
        phase_started = time.monotonic()
        cluster = make_cluster(scenario)
        result.timings.append(("cluster", time.monotonic() - phase_started))
        run = ScenarioRun(scenario, cluster)
        try:
            run.run()
        finally:
            run.cleanup()
            run.post_checks()
            wiretap.after_scenario(run)  # issue 13: the spec's MUSTs on every recorded call
        result.failures = run.failures
        result.status = "failed" if run.failures else "passed"
    except Unsupported as exc:
        # Skips are decided before the first step; a step the backend turns out
        # not to support ends the scenario, keeping every failure recorded so far
        # (the cleanup's leak check included). Without failures it is an error:
        # a need is missing from the scenario or from the backend's probes.
        if run is not None:
            result.failures = run.failures
        if result.failures:
            result.status = "failed"
            result.reason = f"stopped early: {exc}"
        else:
            result.status = "error"
            result.reason = (
                f"{exc} (not known before the first step: declare the need in "
                "cluster.needs, or teach harness/scenario/needs.py which need this step implies)"
            )
            result.failures.append(Failure(scenario.path, result.reason))
    except Exception as exc:
        result.status = "error"
        if run is not None:
            result.failures = run.failures
        result.failures.append(
            Failure(scenario.path, f"{type(exc).__name__}: {exc}", traceback.format_exc())
        )
    finally:
        if cluster is not None:
            close_started = time.monotonic()
            try:
                cluster.close()
            finally:
                result.timings.append(("close", time.monotonic() - close_started))
        if run is not None:
            result.timings[1:1] = run.timings
            result.topology = run.topology
            result.checks = run.checks
        result.seconds = time.monotonic() - started
    if scenario.xfail:
        if result.status in ("failed", "error"):
            result.status = "xfailed"
            result.reason = scenario.xfail
        elif result.status == "passed":
            result.status = "xpassed"
            result.reason = f"passed although marked xfail ({scenario.xfail})"
    return result
