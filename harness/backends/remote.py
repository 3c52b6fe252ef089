"""What every real-cluster backend (kind, k3s, existing) shares.

A real cluster is driven the way a person would drive it: ``kubectl`` for
objects, pods and ``kubectl exec POD -- ip -d -j addr show`` for interface
state (parsed by :mod:`harness.netstate`, the same parser as the local
backend, so an expectation means the same thing everywhere), and a shell on
the node (``docker exec NODE ...``) for leak checks and node files, where the
backend has one.

Every external command is a :class:`Command` value run by a :class:`Tools`
object. That is the seam the tests use: the real :class:`Tools` runs the
executables found on PATH (fake ``kind``/``kubectl``/``docker`` under test),
and :class:`DryRun` only records, for ``harness run --dry-run``.

Scenarios run in namespaces of their own (``<run id>-<namespace>``), so a run
never touches what it did not create: the namespace is mapped on the way in
(objects, the networks annotation) and back on the way out (the pod, the
network-status annotation), so scenarios written for the local backend,
which say ``default/macvlan-conf``, run unchanged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shlex
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.backends.entry import Backend
from harness.cluster import CNICall, CNICallOutcome, PodOutcome, SandboxError, Unsupported
from harness.netstate import PodNetwork, parse_addresses, parse_routes, ping_argv
from harness.scenario.needs import Probe

if TYPE_CHECKING:
    from harness.backends.options import Options
    from harness.scenario.loader import Scenario

NETWORKS_ANNOTATION = "k8s.v1.cni.cncf.io/networks"
STATUS_ANNOTATION = "k8s.v1.cni.cncf.io/network-status"
RUN_LABEL = "harness.pymultus.dev/run"
# Namespaces whose meaning is their name (Multus' systemNamespaces default,
# multusNamespace): used as they are, objects in them deleted one by one.
SHARED_NAMESPACES = frozenset({"kube-system"})
# An image with iproute2 (``ip -j``) and ping, so `kubectl exec` can read the
# pod's network namespace. Pinned; loaded into kind nodes ahead of the run.
POD_IMAGE = "docker.io/nicolaka/netshoot:v0.13"
# Kubelet event reasons that carry a sandbox's CNI error.
SANDBOX_FAILED = ("FailedCreatePodSandBox",)
# Label every pymultus DaemonSet in deploy/ carries (thin and thick); the
# reference Multus manifest labels its DaemonSet app=multus.
PYMULTUS_SELECTOR = "app=pymultus"
REFERENCE_SELECTOR = "app=multus"
TEARDOWN_FAILED = ("FailedKillPod", "FailedKillPodSandbox")


# ------------------------------------------------------------------ commands
_PLACEHOLDER = re.compile(r"^<[a-z][a-z0-9_]*>$")


@dataclass(frozen=True)
class Command:
    """One external command: what the dry run prints and the tests pin."""

    argv: tuple[str, ...]
    stdin: str | None = None
    cwd: str | None = None
    check: bool = True
    timeout: float = 600.0
    output: str | None = None  # a file that receives stdout (logs)
    capture: str | None = None  # remember stdout (stripped) as <capture> for later argv

    def render(self) -> str:
        """As a shell line: captured output becomes a variable (``pid1=$(...)``) and
        ``<pid1>`` in a later argv its use, so a dry run reads as a runnable script."""
        text = " ".join(
            f'"${arg[1:-1]}"' if _PLACEHOLDER.match(arg) else shlex.quote(arg) for arg in self.argv
        )
        if self.capture:
            text = f"{self.capture}=$({text})"
        if self.cwd:
            text = f"(cd {shlex.quote(self.cwd)} && {text})"
        if self.output:
            text += f" > {shlex.quote(self.output)}"
        if self.stdin is not None:
            text += f"  # stdin: {len(self.stdin.encode())} bytes"
        return text


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str


class ToolError(RuntimeError):
    """A command failed: names the command and shows what it printed."""

    def __init__(self, command: Command, result: Completed) -> None:
        output = (result.stderr or result.stdout).strip()[-2000:]
        super().__init__(
            f"`{command.render()}` exited {result.returncode}" + (f":\n{output}" if output else "")
        )
        self.command = command
        self.result = result


class Tools:
    """Runs commands with the executables on PATH."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.env = dict(env) if env is not None else None

    def run(self, command: Command) -> Completed:
        try:
            proc = subprocess.run(
                list(command.argv),
                input=command.stdin,
                cwd=command.cwd,
                capture_output=True,
                text=True,
                timeout=command.timeout,
                env=self.env,
                check=False,
            )
        except FileNotFoundError as exc:
            raise ToolError(command, Completed(127, "", f"{command.argv[0]}: not found")) from exc
        except subprocess.TimeoutExpired as exc:
            raise ToolError(
                command, Completed(124, "", f"timed out after {command.timeout:.0f} s")
            ) from exc
        result = Completed(proc.returncode, proc.stdout, proc.stderr)
        if command.output:
            write_text(command.output, proc.stdout)
        if command.check and proc.returncode != 0:
            raise ToolError(command, result)
        return result


class DryRun(Tools):
    """Records commands instead of running them; every command "succeeds" silently."""

    def __init__(self) -> None:
        super().__init__()
        self.commands: list[Command] = []

    def run(self, command: Command) -> Completed:
        self.commands.append(command)
        return Completed(0, "", "")


# ------------------------------------------------------- namespace mapping
class NamespaceMap:
    """Scenario namespace <-> cluster namespace for one run."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self._back: dict[str, str] = {}

    def to_cluster(self, namespace: str) -> str:
        if namespace in SHARED_NAMESPACES:
            return namespace
        mapped = f"{self.run_id}-{namespace}"
        if len(mapped) > 63:  # a DNS label (Kubernetes API conventions: names)
            digest = hashlib.sha256(namespace.encode()).hexdigest()[:8]
            mapped = f"{self.run_id}-{namespace[: 62 - len(self.run_id) - 9]}-{digest}"
        self._back[mapped] = namespace
        return mapped

    def to_scenario(self, namespace: str) -> str:
        if namespace in self._back:
            return self._back[namespace]
        prefix = f"{self.run_id}-"
        return namespace[len(prefix) :] if namespace.startswith(prefix) else namespace


def map_networks_annotation(text: str, mapping: Callable[[str], str]) -> str:
    """Rewrite the namespaces named in a networks annotation (NPWG v1.3 4.1.2.1.1).

    Both forms: the comma list (``ns/name@ifname``) and the JSON list (objects
    with ``namespace``). Text that is neither is left as it is, so a scenario
    about malformed annotations still sends its malformed text."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            elements = json.loads(stripped)
        except ValueError:
            return text
        if not isinstance(elements, list):
            return text
        out = []
        for element in elements:
            if isinstance(element, dict) and isinstance(element.get("namespace"), str):
                element = {**element, "namespace": mapping(element["namespace"])}
            out.append(element)
        return json.dumps(out)
    parts = []
    for part in text.split(","):
        item = part.strip()
        if "/" in item:
            namespace, rest = item.split("/", 1)
            if namespace:
                item = f"{mapping(namespace)}/{rest}"
        parts.append(item)
    return ",".join(parts)


def map_status_annotation(text: str, mapping: Callable[[str], str]) -> str:
    """Rewrite ``namespace/name`` in network-status entries (NPWG v1.3 4.1.3)."""
    try:
        entries = json.loads(text)
    except ValueError:
        return text
    if not isinstance(entries, list):
        return text
    for entry in entries:
        name = entry.get("name") if isinstance(entry, dict) else None
        if isinstance(name, str) and "/" in name:
            namespace, rest = name.split("/", 1)
            entry["name"] = f"{mapping(namespace)}/{rest}"
    return json.dumps(entries)


def parse_cni_code(message: str) -> int | None:
    """A CNI error code in a kubelet event, when the runtime reported one.

    containerd puts only the plugin's message in the event, not its code; the
    code is found only when the message carries it (``code 7``, ``"code":7``)."""
    match = re.search(r'"code"\s*:\s*(\d+)|\bcode[ =:]+(\d+)\b', message)
    if not match:
        return None
    return int(match.group(1) or match.group(2))


# -------------------------------------------------------------- the cluster
NodeExec = Callable[[str, Sequence[str], str | None], Completed]


@dataclass
class ClusterAccess:
    """How one real cluster is reached: what the backend hands each scenario."""

    name: str
    kubectl: tuple[str, ...]  # "kubectl --kubeconfig X [--context Y]"
    nodes: dict[str, str]  # scenario node name (node-1 ...) -> cluster node name
    tools: Tools
    node_exec: NodeExec | None = None  # None: no shell on the nodes (existing clusters)
    probes: dict[str, Probe] = field(default_factory=dict)
    pod_image: str = POD_IMAGE
    poll: float = 1.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


class KubectlCluster:
    """The Cluster protocol (harness/cluster.py) over kubectl, for one scenario."""

    def __init__(self, access: ClusterAccess, run_id: str) -> None:
        self.access = access
        self.name = access.name
        self.ns = NamespaceMap(run_id)
        self.run_id = run_id
        self.namespaces: list[str] = []  # cluster namespaces this scenario created
        self.shared_objects: list[dict[str, Any]] = []  # created in SHARED_NAMESPACES
        self.pods: set[tuple[str, str]] = set()
        self.baseline: dict[str, set[str]] | None = None

    # -------------------------------------------------------------- plumbing
    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> Completed:
        return self.access.tools.run(
            Command((*self.access.kubectl, *args), stdin=stdin, check=check, timeout=120)
        )

    def kubectl_json(self, *args: str) -> dict[str, Any] | None:
        out = self.kubectl(*args, "-o", "json").stdout.strip()
        if not out:
            return None
        data: dict[str, Any] = json.loads(out)
        return data

    def capabilities(self) -> dict[str, Probe]:
        """What this cluster offers for ``cluster.needs`` (harness.scenario.needs)."""
        return dict(self.access.probes)

    def node_names(self) -> list[str]:
        return list(self.access.nodes)

    def _cluster_node(self, node: str) -> str:
        if node in self.access.nodes:
            return self.access.nodes[node]
        if node in self.access.nodes.values():
            return node
        raise Unsupported(
            f"node {node!r}: this cluster has nodes {sorted(self.access.nodes)} "
            f"({', '.join(self.access.nodes.values())})"
        )

    def _scenario_node(self, node: str) -> str:
        for alias, real in self.access.nodes.items():
            if real == node:
                return alias
        return node

    # -------------------------------------------------------------- objects
    def ensure_namespace(self, namespace: str) -> str:
        mapped = self.ns.to_cluster(namespace)
        if mapped in SHARED_NAMESPACES or mapped in self.namespaces:
            return mapped
        obj = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": mapped, "labels": {RUN_LABEL: self.run_id}},
        }
        self.kubectl("apply", "-f", "-", stdin=json.dumps(obj))
        self.namespaces.append(mapped)
        return mapped

    def _to_cluster(self, obj: dict[str, Any]) -> dict[str, Any]:
        obj = json.loads(json.dumps(obj))
        metadata = obj.setdefault("metadata", {})
        if obj.get("kind") == "Namespace":
            metadata["name"] = self.ensure_namespace(metadata["name"])
            return obj
        metadata["namespace"] = self.ensure_namespace(metadata.get("namespace", "default"))
        metadata.setdefault("labels", {})[RUN_LABEL] = self.run_id
        return obj

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        mapped = self._to_cluster(obj)
        if obj.get("kind") == "Namespace":
            return mapped
        if mapped["metadata"]["namespace"] in SHARED_NAMESPACES:
            self.shared_objects.append(mapped)
        out = self.kubectl("apply", "-f", "-", "-o", "json", stdin=json.dumps(mapped)).stdout
        return json.loads(out) if out.strip() else mapped

    def delete_object(self, obj: dict[str, Any]) -> None:
        mapped = self._to_cluster(obj)
        self.kubectl("delete", "--ignore-not-found", "-f", "-", stdin=json.dumps(mapped))

    def pod_manifest(self, pod: dict[str, Any]) -> dict[str, Any]:
        """The runner's pod, made runnable here: our namespace, our image, real node names."""
        mapped = self._to_cluster(pod)
        annotations = mapped["metadata"].get("annotations") or {}
        if NETWORKS_ANNOTATION in annotations:
            annotations[NETWORKS_ANNOTATION] = map_networks_annotation(
                annotations[NETWORKS_ANNOTATION], self.ns.to_cluster
            )
        spec = mapped.setdefault("spec", {})
        if spec.get("nodeName"):
            spec["nodeName"] = self._cluster_node(spec["nodeName"])
        spec["terminationGracePeriodSeconds"] = 0
        spec["containers"] = [
            {
                "name": "main",
                "image": self.access.pod_image,
                "imagePullPolicy": "IfNotPresent",
                "command": ["sleep", "infinity"],
                # ping needs a raw socket (NET_RAW is not in every runtime's default set)
                "securityContext": {"capabilities": {"add": ["NET_RAW"]}},
            }
        ]
        return mapped

    def create_pod(self, pod: dict[str, Any]) -> dict[str, Any]:
        manifest = self.pod_manifest(pod)
        meta = manifest["metadata"]
        self.pods.add((meta["namespace"], meta["name"]))
        out = self.kubectl("create", "-f", "-", "-o", "json", stdin=json.dumps(manifest)).stdout
        return self._from_cluster(json.loads(out)) if out.strip() else pod

    def _from_cluster(self, pod: dict[str, Any]) -> dict[str, Any]:
        metadata = pod.get("metadata") or {}
        if "namespace" in metadata:
            metadata["namespace"] = self.ns.to_scenario(metadata["namespace"])
        annotations = metadata.get("annotations") or {}
        if STATUS_ANNOTATION in annotations:
            annotations[STATUS_ANNOTATION] = map_status_annotation(
                annotations[STATUS_ANNOTATION], self.ns.to_scenario
            )
        spec = pod.get("spec") or {}
        if spec.get("nodeName"):
            spec["nodeName"] = self._scenario_node(spec["nodeName"])
        return pod

    def _raw_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.kubectl_json(
            "get", "pod", name, "-n", self.ns.to_cluster(namespace), "--ignore-not-found"
        )

    def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        pod = self._raw_pod(namespace, name)
        return self._from_cluster(pod) if pod else None

    def events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        listing = self.kubectl_json(
            "get",
            "events",
            "-n",
            self.ns.to_cluster(namespace),
            "--field-selector",
            f"involvedObject.name={name}",
        )
        return list((listing or {}).get("items", []))

    def _event_error(self, namespace: str, name: str, reasons: Iterable[str]) -> SandboxError:
        wanted = set(reasons)
        for event in reversed(self.events(namespace, name)):
            if event.get("reason") in wanted:
                message = str(event.get("message", ""))
                return SandboxError(parse_cni_code(message), message)
        return SandboxError(None, "")

    def wait_pod(self, namespace: str, name: str, timeout: float) -> PodOutcome:
        started = self.access.clock()
        while True:
            pod = self._raw_pod(namespace, name)
            conditions = ((pod or {}).get("status") or {}).get("conditions") or []
            elapsed = self.access.clock() - started
            if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
                return PodOutcome(True, seconds=elapsed)
            error = self._event_error(namespace, name, SANDBOX_FAILED)
            if error.message:
                return PodOutcome(False, error, elapsed)
            if elapsed >= timeout:
                return PodOutcome(False, seconds=elapsed)
            self.access.sleep(self.access.poll)

    def delete_pod(self, namespace: str, name: str, timeout: float) -> SandboxError | None:
        cluster_ns = self.ns.to_cluster(namespace)
        self.kubectl(
            "delete",
            "pod",
            name,
            "-n",
            cluster_ns,
            "--ignore-not-found",
            "--wait=true",
            f"--timeout={int(timeout)}s",
        )
        self.pods.discard((cluster_ns, name))
        error = self._event_error(namespace, name, TEARDOWN_FAILED)
        return error if error.message else None

    def node_of(self, namespace: str, name: str) -> str | None:
        pod = self.get_pod(namespace, name)
        node = ((pod or {}).get("spec") or {}).get("nodeName")
        return str(node) if node else None

    def sandbox_id(self, namespace: str, name: str) -> str | None:
        # The sandbox ID is the runtime's, not in the API; readable only through
        # the node's runtime (crictl), which scenarios needing it do not get here.
        return None

    def exec_on_node(self, node: str, argv: list[str], timeout: float = 30.0) -> tuple[int, str]:
        result = self._node_exec(node, argv)
        return result.returncode, result.stdout + result.stderr

    def restart_daemon(self, node: str) -> None:
        raise Unsupported(f"{self.name}: restarting the meta-plugin daemon is not supported here")

    def kill_process(self, node: str, process: str) -> None:
        raise Unsupported(f"{self.name}: killing the {process} on a node is not supported here")

    def cni_call(self, call: CNICall) -> CNICallOutcome:
        raise Unsupported(
            f"{self.name}: the harness cannot call CNI as the node's runtime here "
            "(the runtime's own caches and network namespaces are out of reach)"
        )

    def hotplug(
        self, namespace: str, name: str, op: str, network: str = "", interface: str = ""
    ) -> tuple[bool, str]:
        raise Unsupported(f"{self.name}: hot-plug through the node daemon is not supported here")

    def rotate_token(self, token: str | None = None) -> None:
        raise Unsupported(f"{self.name}: cannot rotate the API token of a real cluster")

    def run_installer(self, node: str, action: str) -> None:
        raise Unsupported(f"{self.name}: the installer runs as the cluster's DaemonSet here")

    def read_node_file(self, node: str, path: str) -> str | None:
        quoted = shlex.quote(path)
        result = self._node_exec(node, ["sh", "-c", f"test -e {quoted} || exit 3; cat {quoted}"])
        if result.returncode == 3:
            return None
        if result.returncode != 0:
            raise RuntimeError(f"reading {path} on {node}: {result.stderr.strip()}")
        return result.stdout

    # ---------------------------------------------------------------- pods
    def exec_in_pod(
        self, namespace: str, name: str, argv: list[str], timeout: float = 30.0
    ) -> tuple[int, str]:
        result = self.kubectl(
            "exec", "-n", self.ns.to_cluster(namespace), name, "-c", "main", "--", *argv,
            check=False,
        )  # fmt: skip
        return result.returncode, result.stdout + result.stderr

    def _exec_ok(self, namespace: str, name: str, argv: list[str]) -> str:
        code, output = self.exec_in_pod(namespace, name, argv)
        if code != 0:
            raise RuntimeError(f"`{shlex.join(argv)}` in pod {namespace}/{name}: {output.strip()}")
        return output

    def pod_network(self, namespace: str, name: str) -> PodNetwork:
        interfaces = parse_addresses(
            self._exec_ok(namespace, name, ["ip", "-d", "-j", "addr", "show"])
        )
        routes = parse_routes(self._exec_ok(namespace, name, ["ip", "-j", "route", "show"]), 4)
        routes += parse_routes(
            self._exec_ok(namespace, name, ["ip", "-6", "-j", "route", "show"]), 6
        )
        return PodNetwork(tuple(interfaces), tuple(routes))

    def ping(
        self, namespace: str, name: str, address: str, interface: str | None, timeout: float = 2.0
    ) -> tuple[bool, str]:
        code, output = self.exec_in_pod(namespace, name, ping_argv(address, interface, timeout))
        return code == 0, output

    # ---------------------------------------------------------------- nodes
    def _node_exec(self, node: str, argv: Sequence[str], stdin: str | None = None) -> Completed:
        if self.access.node_exec is None:
            raise Unsupported(f"{self.name}: no shell on the nodes of this cluster")
        return self.access.node_exec(self._cluster_node(node), argv, stdin)

    def write_node_file(self, node: str, path: str, content: str) -> None:
        directory = os.path.dirname(path) or "/"
        script = f"mkdir -p {shlex.quote(directory)} && cat > {shlex.quote(path)}"
        self._node_exec(node, ["sh", "-c", script], content)

    def remove_node_file(self, node: str, path: str) -> None:
        self._node_exec(node, ["rm", "-f", path])

    def node_state(self, node: str) -> set[str]:
        """Everything on a node that a pod's ADD may create and its DEL must remove."""
        found: set[str] = set()
        links = self._node_exec(node, ["ip", "-d", "-j", "link", "show"]).stdout
        for link in json.loads(links or "[]"):
            kind = ((link.get("linkinfo") or {}).get("info_kind")) or "device"
            found.add(f"link {link.get('ifname')} ({kind})")
        files = self._node_exec(
            node,
            ["sh", "-c", "ls -1 /var/run/netns 2>/dev/null; find /var/lib/cni -type f 2>/dev/null"],
        ).stdout
        for line in files.splitlines():
            line = line.strip()
            if not line:
                continue
            base = os.path.basename(line)
            if line.startswith("/var/lib/cni/networks") and (
                base == "lock" or base.startswith("last_reserved")
            ):
                continue  # host-local's bookkeeping, not a lease
            found.add(f"file {line}" if line.startswith("/") else f"network namespace {line}")
        return found

    def snapshot(self) -> None:
        """Record what the nodes hold before the scenario (other pods run there too)."""
        if self.access.node_exec is not None:
            self.baseline = {node: self.node_state(node) for node in self.access.nodes}

    def leak_blind_spots(self) -> list[str]:
        """What :meth:`leaks` cannot see here: reported "not checked", never passed."""
        if self.baseline is not None:
            return []
        return [
            "network namespaces, links, IPAM leases and cache files on the nodes "
            "(no shell on this cluster's nodes: only pod deletion was checked)"
        ]

    def leaks(self) -> list[str]:
        found: list[str] = []
        for namespace, name in sorted(self.pods):
            if self._raw_pod(self.ns.to_scenario(namespace), name) is not None:
                found.append(f"pod {namespace}/{name} still exists")
        if self.baseline is not None:
            for node, before in self.baseline.items():
                where = f"{node} ({self.access.nodes[node]})"
                found += [f"{where}: {item}" for item in sorted(self.node_state(node) - before)]
        return found

    def wiretap_files(self) -> list[tuple[str, str]]:
        """Empty: the nodes' bin dirs are the DaemonSet's, not wrapped by the harness
        (a scenario's calls are "not checked" here)."""
        return []

    def network_configs(self) -> list[dict[str, Any]]:
        raise Unsupported(f"{self.name}: the harness does not read the nodes' CNI configs here")

    # ------------------------------------------------------------ machinery
    def stop_api(self, scope: str = "all") -> None:
        raise Unsupported(f"{self.name}: cannot stop the API server of a real cluster")

    def start_api(self) -> None:
        raise Unsupported(f"{self.name}: cannot stop the API server of a real cluster")

    def set_api_fault(
        self, kind: str | None, delay: float = 0.0, scope: str = "all", times: int | None = None
    ) -> None:
        raise Unsupported(f"{self.name}: cannot inject API faults into a real cluster")

    def close(self) -> None:
        """Delete what this scenario created, and nothing else."""
        for obj in reversed(self.shared_objects):
            self.kubectl(
                "delete", "--ignore-not-found", "-f", "-", stdin=json.dumps(obj), check=False
            )
        for namespace in reversed(self.namespaces):
            self.kubectl(
                "delete",
                "namespace",
                namespace,
                "--ignore-not-found",
                "--wait=true",
                "--timeout=120s",
                check=False,
            )
        self.namespaces.clear()
        self.shared_objects.clear()


# ------------------------------------------------------------ the backends
class RemoteBackend:
    """A real cluster for a whole run: set up once, one KubectlCluster per scenario."""

    name = "remote"

    def __init__(self, tools: Tools, report_dir: str = "reports", keep: bool = False) -> None:
        self.tools = tools
        self.report_dir = report_dir
        self.keep = keep
        self.access: ClusterAccess | None = None
        self.counter = 0
        self.values: dict[str, str] = {}

    def setup_commands(self) -> list[Command]:
        return []

    def teardown_commands(self) -> list[Command]:
        return []

    def log_commands(self) -> list[Command]:
        return []

    def plan(self) -> list[Command]:
        """Everything a run does around the scenarios, for ``--dry-run``."""
        return [*self.setup_commands(), *([] if self.keep else self.teardown_commands())]

    def start(self) -> ClusterAccess:
        raise NotImplementedError

    def run_all(self, commands: Iterable[Command]) -> None:
        """Run in order; ``<name>`` in an argv is what a ``capture="name"`` command printed."""
        for command in commands:
            argv = tuple(self.values.get(arg, arg) for arg in command.argv)
            result = self.tools.run(dataclasses.replace(command, argv=argv))
            if command.capture and result.stdout.strip():
                self.values[f"<{command.capture}>"] = result.stdout.strip()

    def cluster_for(self, scenario_nodes: int) -> KubectlCluster:
        if self.access is None:
            self.access = self.start()
        if scenario_nodes > len(self.access.nodes):
            raise Unsupported(
                f"the scenario needs {scenario_nodes} nodes; {self.access.name} has "
                f"{len(self.access.nodes)} for pods"
            )
        self.counter += 1
        run_id = f"hx{os.getpid() % 100000:05d}s{self.counter}"
        cluster = KubectlCluster(self.access, run_id)
        cluster.snapshot()
        return cluster

    def collect_logs(self) -> None:
        """Best effort: a failing log command must not hide the run's own failure."""
        os.makedirs(self.report_dir, exist_ok=True)
        for command in self.log_commands():
            try:
                self.tools.run(command)
            except ToolError as exc:
                print(f"collecting logs: {exc}")

    def finish(self, failed: bool) -> None:
        if failed and self.access is not None:
            self.collect_logs()
        if not self.keep:
            for command in self.teardown_commands():
                self.tools.run(dataclasses.replace(command, check=False))
        self.access = None


def write_text(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


# ------------------------------------------------- one backend per run (CLI)
Build = Callable[["Options", Tools], RemoteBackend]
_SESSIONS: dict[Options, RemoteBackend] = {}


def session(options: Options, build: Build) -> RemoteBackend:
    """The run's backend for these options (``build`` makes it the first time):
    started once, on the first scenario, torn down by :func:`finish_all`."""
    backend = _SESSIONS.get(options)
    if backend is None:
        backend = _SESSIONS[options] = build(options, Tools())
        if len(_SESSIONS) == 1:
            import atexit

            atexit.register(finish_all, False)
    return backend


def started(options: Options, build: Build) -> ClusterAccess:
    """The run's cluster, started now if no scenario has started it yet."""
    backend = session(options, build)
    if backend.access is None:
        backend.access = backend.start()
    return backend.access


def finish_all(failed: bool) -> None:
    """Collect logs if the run failed, and delete clusters not asked to be kept."""
    while _SESSIONS:
        _options, backend = _SESSIONS.popitem()
        backend.finish(failed)


def machinery_probes(node_shell: Callable[[], bool]) -> dict[str, Probe]:
    """What a real cluster's machinery offers scenarios' steps: kubectl exec in
    pods, and files and commands on nodes when it has a shell there. The rest
    (API faults, the runtime's role, sandbox IDs, the daemon) it cannot do: a
    scenario needing them is skipped before its first step."""

    def shell() -> str | None:
        return None if node_shell() else "no shell on this cluster's nodes"

    return {"pod-exec": lambda: None, "node-exec": shell, "node-files": shell}


def backend_entry(
    build: Build,
    probes: Callable[[Options], dict[str, Probe]],
    unavailable: Callable[[Options], str | None],
) -> Backend:
    """A real-cluster backend's registry entry (harness.backends): one cluster per
    run, made by ``build`` on the first scenario, a KubectlCluster per scenario."""

    def cluster(scenario: Scenario, options: Options) -> KubectlCluster:
        return session(options, build).cluster_for(scenario.nodes)

    def plan(options: Options) -> list[Command]:
        return build(options, DryRun()).plan()

    return Backend(cluster=cluster, probes=probes, unavailable=unavailable, plan=plan)


# ------------------------------------------------------------ CLI plumbing
def add_cluster_arguments(parser: Any) -> None:
    """``harness run`` options for real clusters (docs/ci.md)."""
    group = parser.add_argument_group("real clusters (--backend kind, k3s, existing)")
    group.add_argument("--k8s-version", help="Kubernetes minor, e.g. 1.31 (default: newest known)")
    group.add_argument("--ip-family", default="ipv4", choices=("ipv4", "dual"))
    group.add_argument(
        "--keep-cluster", action="store_true", help="leave the cluster running (and reuse it)"
    )
    group.add_argument("--kubeconfig", help="the cluster's kubeconfig (--backend existing)")
    group.add_argument("--context", help="kubeconfig context (--backend existing)")
    group.add_argument(
        "--report-dir", default="reports", help="where logs go when a run fails (default: reports)"
    )
    group.add_argument(
        "--deploy",
        metavar="MANIFEST",
        help="apply this manifest (path or URL) instead of deploy/<mode> (the reference Multus)",
    )
    group.add_argument(
        "--dry-run",
        action="store_true",
        help="print the commands the run would execute around the scenarios, and exit",
    )


def cluster_options(args: Any) -> dict[str, Any]:
    """The Options fields ``add_cluster_arguments`` fills (missing ones keep defaults)."""
    names = ("k8s_version", "ip_family", "keep_cluster", "kubeconfig", "context", "report_dir")
    out = {name: getattr(args, name) for name in names if hasattr(args, name)}
    if hasattr(args, "deploy"):
        out["deploy"] = args.deploy
    return out
