"""The local cluster's machinery, as failure scenarios act on it.

What a scenario does to the cluster rather than to pods: the API server
refusing or faulting requests, the meta-plugin's daemon restarted, killed or
asked to hot-plug (thick form, :mod:`harness.backends.local.thick`), the
bearer token rotated, and the DaemonSet's installer (``pymultus-install``)
started or stopped on a node. What this cluster cannot do raises
:class:`harness.cluster.Unsupported`, which the runner reports as "not
checked" (or a skip), never as passed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time

from harness.backends.local.files import write_private_text
from harness.backends.local.nodeaccess import NodeAccess
from harness.backends.local.nodesetup import NodeSetup
from harness.backends.local.runinfo import RunInfo
from harness.backends.local.topology import Node
from harness.cluster import Unsupported


class Machinery(NodeAccess, NodeSetup, RunInfo):
    # ------------------------------------------------------------- the API
    def stop_api(self, scope: str = "all") -> None:
        """Refuse API connections: everywhere, or (``scope="nodes"``) only from nodes."""
        self.api_server.pause(scope)

    def start_api(self) -> None:
        self.api_server.resume()

    def set_api_fault(
        self, kind: str | None, delay: float = 0.0, scope: str = "all", times: int | None = None
    ) -> None:
        self.api_server.set_fault(kind, delay=delay, scope=scope, times=times)

    # ------------------------------------------------------- thick daemon
    def restart_daemon(self, node: str) -> None:
        """Restart the node's meta-plugin daemon (thick mode; thin has none)."""
        if self.mode != "thick":
            raise Unsupported("restartDaemon: the meta-plugin runs in thin mode (no daemon)")
        self.thick().restart_daemon(self, self.topology.node(node))

    def kill_process(self, node: str, process: str) -> None:
        """SIGKILL the node's daemon (``process="daemon"``); thick mode only."""
        if self.mode != "thick":
            raise Unsupported(f"kill {process}: the meta-plugin runs in thin mode (no daemon)")
        if process != "daemon":
            raise Unsupported(f"kill {process}: the local backend can only kill the daemon")
        self.thick().kill_daemon(self, self.topology.node(node))

    def hotplug(
        self, namespace: str, name: str, op: str, network: str = "", interface: str = ""
    ) -> tuple[bool, str]:
        """``POST /delegate`` to the daemon of the pod's node (thick mode only)."""
        if self.mode != "thick":
            raise Unsupported("hotplug: the meta-plugin runs in thin mode (no daemon)")
        if self.profile.implementation != "pymultus":
            raise Unsupported(
                f"hotplug: the harness speaks pymultus's /delegate body, not {self.profile.name}'s"
            )
        node = self.node_of(namespace, name)
        if node is None:
            return False, f"pod {namespace}/{name} is not bound to a node"
        body = {"podNamespace": namespace, "podName": name, "op": op}
        if network:
            body["network"] = network
        if interface:
            body["interface"] = interface
        status, text = self.thick().hotplug(self, self.topology.node(node), body)
        return status == 200, text if status else f"daemon unreachable: {text}"

    # ------------------------------------------------- token, installer
    def rotate_token(self, token: str | None = None, timeout: float = 10.0) -> None:
        """A new bearer token: the old one is refused at once; the harness's client,
        kubectl's kubeconfig and every node's token file get the new one.

        Where pymultus-install runs it must rewrite the plugin's kubeconfig from
        the token file itself (that is what is tested); elsewhere the harness
        rewrites it as the thin DaemonSet would. Thick nodes read the token file.
        """
        new = token or secrets.token_urlsafe(24)
        self.api_server.set_token(new)
        self.token = new
        self.client().token = new
        self.write_kubeconfig(self.kubeconfig, secure=True)
        self.write_info()
        kubeconfig = self.profile.kubeconfig
        for node in self.topology.nodes:
            write_private_text(self._token_file(node), new + "\n")
            if not kubeconfig or self.profile.kubeconfig_token_file:
                continue  # read from the token file: nothing to rewrite
            if node.name in self._installers:
                self._wait_for_text(node, kubeconfig, new, timeout)
            else:
                self.write_kubeconfig(node.host_path(kubeconfig))

    def _wait_for_text(self, node: Node, path: str, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in (self.read_node_file(node.name, path) or ""):
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"pymultus-install on {node.name} did not rewrite {path} with the "
                    f"rotated token within {timeout:.0f} s"
                )
            time.sleep(0.05)

    def run_installer(self, node: str, action: str, interval: float = 0.1) -> None:
        """Start ``pymultus-install`` against the node's conf dir, as the DaemonSet's
        container does with the host's (host paths, the root namespaces), or stop
        it with SIGTERM (it removes its config). Binaries are already on the node;
        its log is ``pymultus-install.log`` in the node's run directory."""
        if action == "stop":
            proc = self._installers.pop(node, None)
            if proc is not None:
                self._stop_installer(proc)
            return
        if action != "start":
            raise ValueError(f"installer action must be start or stop, not {action!r}")
        if self.profile.implementation != "pymultus":
            raise Unsupported(
                f"installer: pymultus-install installs pymultus, not profile {self.profile.name}"
            )
        if node in self._installers:
            return
        target = self.topology.node(node)
        argv = [
            sys.executable, "-m", "pymultus.install.main",
            "--mode", self.mode,
            "--cni-conf-dir", target.host_path("/etc/cni/net.d"),
            "--host-conf-dir", "/etc/cni/net.d",
            "--skip-binaries",
            "--cni-dir", self.profile.cache_dir,
            "--token-file", self._token_file(target),
            "--ca-file", os.path.join(os.path.dirname(self._token_file(target)), "ca.crt"),
            "--interval", str(interval),
        ]  # fmt: skip
        if self.mode == "thick":
            # The shim's config points at the daemon the harness runs on the node;
            # the daemon's options are the ones that daemon was started with.
            thick = self.thick()
            argv += [
                "--socket-dir", thick.socket_dir(target),
                "--daemon-config", target.host_path(thick.DAEMON_CONFIG_IN_NODE),
            ]  # fmt: skip
        else:
            argv += ["--server", self.node_server]
        with open(os.path.join(target.root, "pymultus-install.log"), "ab") as log:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        self._installers[node] = proc
        # Recorded like the thick daemons: a crashed run's cleanup kills it too.
        self.topology.state.pids.append(proc.pid)
        self.topology._save()

    def _stop_installer(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if proc.pid in self.topology.state.pids:
            self.topology.state.pids.remove(proc.pid)
            with contextlib.suppress(OSError):
                self.topology._save()
