"""A Cluster double for runner/report unit tests: pods are dicts, networks are
built from a table, nothing touches the kernel."""

from __future__ import annotations

from typing import Any

from harness.cluster import CNICall, CNICallOutcome, PodOutcome, SandboxError, Unsupported
from harness.netstate import Address, Interface, PodNetwork, Route


def macvlan_pod_network(net1_ip: str = "192.168.1.200") -> PodNetwork:
    return PodNetwork(
        interfaces=(
            Interface("lo", "loopback", "", 65536, True, (Address("127.0.0.1", 8, 4, "host"),)),
            Interface(
                "eth0", "veth", "0a:58:0a:f4:01:05", 1500, True, (Address("10.244.1.5", 24, 4),)
            ),
            Interface(
                "net1", "macvlan", "02:00:00:00:00:01", 1500, True, (Address(net1_ip, 24, 4),)
            ),
        ),
        routes=(Route("default", "10.244.1.1", "eth0", 4),),
    )


class FakeCluster:
    name = "fake"

    def __init__(self, **behaviour: Any) -> None:
        self.behaviour = behaviour
        self.pods: dict[str, dict[str, Any]] = {}
        self.applied: list[dict[str, Any]] = []
        self.calls: list[tuple[Any, ...]] = []
        self.closed = False
        self.leak_list: list[str] = list(behaviour.get("leaks", []))
        self.api_up = True

    def node_names(self) -> list[str]:
        return ["node-1"]

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.applied.append(obj)
        return obj

    def delete_object(self, obj: dict[str, Any]) -> None:
        self.calls.append(("delete_object", obj["metadata"]["name"]))

    def create_pod(self, pod: dict[str, Any]) -> dict[str, Any]:
        self.pods[pod["metadata"]["name"]] = pod
        return pod

    def wait_pod(self, namespace: str, name: str, timeout: float) -> PodOutcome:
        error = self.behaviour.get("errors", {}).get(name)
        if error:
            return PodOutcome(False, SandboxError(error[0], error[1]))
        return PodOutcome(True)

    def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        pod = self.pods.get(name)
        if pod is None:
            return None
        status = self.behaviour.get("status", "[]")
        return {
            **pod,
            "metadata": {
                **pod["metadata"],
                "annotations": {"k8s.v1.cni.cncf.io/network-status": status},
            },
        }

    def delete_pod(self, namespace: str, name: str, timeout: float) -> SandboxError | None:
        self.pods.pop(name, None)
        self.calls.append(("delete_pod", name, self.api_up))
        if name in self.behaviour.get("delete_hangs", ()):
            raise TimeoutError(f"pod {namespace}/{name} still exists after {timeout:.0f} s")
        return self.behaviour.get("delete_errors", {}).get(name)

    def pod_network(self, namespace: str, name: str) -> PodNetwork:
        return macvlan_pod_network()

    def ping(
        self, namespace: str, name: str, address: str, interface: str | None, timeout: float = 2.0
    ) -> tuple[bool, str]:
        self.calls.append(("ping", name, address, interface))
        return self.behaviour.get("ping", True), "1 packets transmitted"

    def events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        return self.behaviour.get("events", [])

    def leaks(self) -> list[str]:
        self.calls.append(("leaks",))
        return self.leak_list

    def leak_blind_spots(self) -> list[str]:
        """What this fake's leak check cannot see (``blind=[...]``)."""
        return list(self.behaviour.get("blind", []))

    def stop_api(self, scope: str = "all") -> None:
        self.api_up = False
        self.calls.append(("stop_api", scope))

    def start_api(self) -> None:
        self.api_up = True
        self.calls.append(("start_api",))

    def set_api_fault(
        self, kind: str | None, delay: float = 0.0, scope: str = "all", times: int | None = None
    ) -> None:
        call = ("fault", kind, delay) if scope == "all" else ("fault", kind, delay, scope)
        self.calls.append(call)

    def write_node_file(self, node: str, path: str, content: str) -> None:
        self.calls.append(("write", node, path, content))

    def remove_node_file(self, node: str, path: str) -> None:
        self.calls.append(("remove", node, path))

    def node_of(self, namespace: str, name: str) -> str | None:
        return "node-1"

    def sandbox_id(self, namespace: str, name: str) -> str | None:
        return f"sandbox-of-{name}" if name in self.pods else None

    def exec_in_pod(
        self, namespace: str, name: str, argv: list[str], timeout: float = 30.0
    ) -> tuple[int, str]:
        self.calls.append(("exec", name, argv))
        return self.behaviour.get("exec", (0, "hello"))

    def exec_on_node(self, node: str, argv: list[str], timeout: float = 30.0) -> tuple[int, str]:
        self.calls.append(("node_exec", node, argv))
        return self.behaviour.get("node_exec", (0, "rules"))

    def restart_daemon(self, node: str) -> None:
        raise Unsupported("restartDaemon: no daemon (thin)")

    def kill_process(self, node: str, process: str) -> None:
        raise Unsupported("kill: no daemon (thin)")

    # What a thin cluster without a runtime seam cannot do: refused, as every
    # backend refuses what it cannot (harness/cluster.py).
    def hotplug(
        self, namespace: str, name: str, op: str, network: str = "", interface: str = ""
    ) -> tuple[bool, str]:
        raise Unsupported("hotplug: no daemon in this fake (thin)")

    def rotate_token(self, token: str | None = None) -> None:
        raise Unsupported("rotateToken: this fake has no API token")

    def run_installer(self, node: str, action: str) -> None:
        raise Unsupported("installer: this fake has no installer")

    def read_node_file(self, node: str, path: str) -> str | None:
        raise Unsupported("nodeFile: this fake cannot read files on nodes")

    def cni_call(self, call: CNICall) -> CNICallOutcome:
        raise Unsupported("cni: this fake is not a runtime")

    def wiretap_files(self) -> list[tuple[str, str]]:
        return []  # no wiretap: calls are not checked

    def network_configs(self) -> list[dict[str, Any]]:
        return []

    def close(self) -> None:
        self.closed = True
