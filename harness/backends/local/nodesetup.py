"""Bringing a local node up as a real node has it: what is written on it.

A kind node gets its default network's config (``10-kindnet.conflist``:
ptp + host-local, one pod CIDR per node) and, from the meta-plugin's
DaemonSet, the plugin's config first in ``/etc/cni/net.d``, a kubeconfig and
the DaemonSet pod's service-account files. Here the harness writes them
itself, as the meta-plugin's profile (:mod:`harness.profiles`) says; in
thick form :mod:`harness.backends.local.thick` turns the node into a thick
node. The Node object the kubelet registers is :mod:`nodestatus`'s.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
from typing import Any

from harness.backends.local import nodestatus
from harness.backends.local.clusterbase import ClusterBase
from harness.backends.local.files import write_atomic, write_private_text
from harness.backends.local.topology import Node

DEFAULT_NETWORK_NAME = "kindnet"


def default_network_conf(node: Node) -> dict[str, Any]:
    """kind-like default network: ptp + host-local with the node's pod CIDR."""
    return {
        "cniVersion": "1.0.0",
        "name": DEFAULT_NETWORK_NAME,
        "plugins": [
            {
                "type": "ptp",
                "ipMasq": False,
                "mtu": 1500,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": node.pod_cidr, "gateway": gateway(node.pod_cidr)}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            }
        ],
    }


def gateway(cidr: str) -> str:
    return str(ipaddress.ip_network(cidr)[1])


def node_object(node: Node) -> dict[str, Any]:
    """The Node the kubelet registers (complete: see :mod:`nodestatus`)."""
    return nodestatus.node_object(node.name, node.ip, node.pod_cidr, cluster_id=node.netns)


class NodeSetup(ClusterBase):
    def kubeconfig_text(self, secure: bool = True, token_file: str = "") -> str:
        """A kubeconfig for this cluster: https with the CA (kubectl and the nodes;
        the same URL works in both), or ``secure=False`` the harness's plain-http
        root listener; with ``token_file`` the token is read from that file at
        each request."""
        cluster: dict[str, Any] = {"server": self.secure_server if secure else self.server}
        if secure:
            with open(self.ca_file, "rb") as f:
                cluster["certificate-authority-data"] = base64.b64encode(f.read()).decode()
        # JSON (which is YAML), as pymultus-install writes it: the meta-plugin's
        # CNI path reads it without a YAML parser (issue 16).
        return json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": self.name, "cluster": cluster}],
                "users": [
                    {
                        "name": "admin",
                        "user": {"tokenFile": token_file} if token_file else {"token": self.token},
                    }
                ],
                "contexts": [
                    {"name": self.name, "context": {"cluster": self.name, "user": "admin"}}
                ],
                "current-context": self.name,
            },
            indent=2,
        )

    def write_kubeconfig(self, path: str, secure: bool = True, token_file: str = "") -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.kubeconfig_text(secure, token_file))

    def meta_conf(self) -> dict[str, Any]:
        """The meta-plugin's node config in thin form (thick: what its daemon is given)."""
        profile = self.profile
        conf: dict[str, Any] = {
            "cniVersion": "1.0.0",
            "name": f"{self.meta_name}-cni-network",
            "type": profile.cni_type,
        }
        if profile.kubeconfig:
            conf["kubeconfig"] = profile.kubeconfig
        conf.update(
            {
                "clusterNetwork": f"/etc/cni/net.d/10-{DEFAULT_NETWORK_NAME}.conflist",
                "confDir": profile.conf_dir,
                "cniDir": profile.cache_dir,
                "binDir": "/opt/cni/bin",
                **self.meta_config,
            }
        )
        return conf

    def install_node(self, node: Node) -> None:
        """Put the default network and the meta-plugin's config on a node."""
        conf_dir = node.host_path("/etc/cni/net.d")
        write_atomic(
            os.path.join(conf_dir, f"10-{DEFAULT_NETWORK_NAME}.conflist"),
            json.dumps(default_network_conf(node), indent=2),
        )
        self.write_service_account(node)
        if self.profile.kubeconfig:
            # Thick pymultus: the daemon reads its token from the service-account
            # token file at each request, as it does in its pod (a projected
            # token), so a rotation needs no restart. Thin: the token is inline,
            # as pymultus-install and Multus's thin entrypoint write it.
            token_file = self._token_file(node) if self.profile.kubeconfig_token_file else ""
            self.write_kubeconfig(node.host_path(self.profile.kubeconfig), token_file=token_file)
        conf = self.meta_conf()
        if self.mode == "thick":
            # The thick-mode installer (its own module) writes the daemon's config
            # and the shim's (or lets the daemon write it) and starts the daemon.
            self.thick().install(self, node, conf)
        else:
            write_atomic(os.path.join(conf_dir, self.profile.conf_file), json.dumps(conf, indent=2))
        runtime = self.runtimes.get(node.name)
        if runtime is not None:  # what containerd runs first: tapped for its error codes
            runtime.install_tap([self.profile.binary_name])
        self._installed.append(node)

    def write_service_account(self, node: Node) -> None:
        """The DaemonSet pod's service-account files: token, the cluster CA, namespace.

        In the node's run directory (the same path inside the node and out),
        mounted in the node at /var/run/secrets/kubernetes.io/serviceaccount,
        where client-go's in-cluster config reads them."""
        directory = os.path.dirname(self._token_file(node))
        os.makedirs(directory, mode=0o755, exist_ok=True)
        write_private_text(self._token_file(node), self.token + "\n")
        with open(self.ca_file, encoding="utf-8") as f:
            ca = f.read()
        write_private_text(os.path.join(directory, "ca.crt"), ca)
        write_private_text(os.path.join(directory, "namespace"), "kube-system")
