"""``pymultus-install``: the DaemonSet entrypoint (thin or thick).

    pymultus-install --mode thin \\
        --cni-conf-dir /host/etc/cni/net.d --host-conf-dir /etc/cni/net.d \\
        --cni-bin-dir /host/opt/cni/bin --host-bin-dir /opt/cni/bin --copy-runtime

Once: copy the binaries (:mod:`pymultus.install.layout`). Then, every
``--interval`` seconds until SIGTERM: wait for the master config (the first
one that is not ours) and the readiness indicator, (re)write
``00-pymultus.conf``/``.conflist`` when what it would contain changed, and
(re)write the kubeconfig when the service-account token changed (rotation).
On SIGTERM it removes its config, so an uninstalled pymultus never blocks
pods (the reference leaves it behind), and exits 0.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from pymultus.install.generate import (
    OWN_PREFIX,
    InstallOptions,
    generate,
    kubeconfig_text,
    pick_master,
    plugin_config,
)
from pymultus.state import write_atomic

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def log(message: str) -> None:
    sys.stderr.write(f"pymultus-install: {message}\n")
    sys.stderr.flush()


def host_to_container(path: str, host_dir: str, container_dir: str) -> str:
    """A host path under ``host_dir`` as this container sees it."""
    rel = os.path.relpath(path, host_dir)
    return os.path.join(container_dir, rel) if not rel.startswith("..") else path


class Installer:
    def __init__(
        self,
        options: InstallOptions,
        conf_dir: str,
        token_file: str = f"{SA_DIR}/token",
        ca_file: str = f"{SA_DIR}/ca.crt",
        server: str = "",
        daemon_config_source: str = "",
    ) -> None:
        self.options = options
        self.conf_dir = conf_dir  # as this process sees the node's conf dir
        self.token_file = token_file
        self.ca_file = ca_file
        self.server = server
        self.daemon_config_source = daemon_config_source
        self.written = ""  # the file name of our config, once written

    def path(self, host_path: str) -> str:
        return host_to_container(host_path, self.options.conf_dir, self.conf_dir)

    def own_files(self) -> list[str]:
        try:
            names = os.listdir(self.conf_dir)
        except OSError:
            return []
        return sorted(n for n in names if n.startswith(OWN_PREFIX + "."))

    def readiness_ok(self) -> bool:
        indicator = self.options.readiness_indicator_file
        return not indicator or os.path.exists(indicator)

    def sync(self) -> str:
        """One pass; returns what happened (for logs and tests)."""
        events: list[str] = []
        if self.sync_kubeconfig():
            events.append("kubeconfig written")
        if not self.readiness_ok():
            if self.remove_config():
                events.append("readiness indicator missing: config removed")
            return "; ".join(events) or "waiting for the readiness indicator"
        try:
            names = os.listdir(self.conf_dir)
        except OSError as exc:
            return f"cannot list {self.conf_dir}: {exc.strerror}"
        master = pick_master(names)
        if master is None:
            return "; ".join(events) or "waiting for a master config"
        try:
            with open(os.path.join(self.conf_dir, master), "rb") as f:
                master_conf = json.loads(f.read())
        except (OSError, ValueError) as exc:
            return f"master config {master} unreadable ({exc}); retrying"
        if not isinstance(master_conf, dict):
            return f"master config {master} is not a JSON object; retrying"
        if self.options.mode == "thick" and self.sync_daemon_config(master):
            events.append("daemon config written")
        filename, content = generate(master, master_conf, self.options)
        data = (json.dumps(content, indent=2) + "\n").encode()
        target = os.path.join(self.conf_dir, filename)
        if read_bytes(target) != data:
            write_atomic(target, data, 0o644)
            events.append(f"{filename} written for master {master}")
        for stale in self.own_files():
            if stale != filename:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(self.conf_dir, stale))
                events.append(f"{stale} removed")
        self.written = filename
        return "; ".join(events) or "up to date"

    def sync_kubeconfig(self) -> bool:
        token = (read_bytes(self.token_file) or b"").decode().strip()
        if not token or not self.server:
            return False
        ca = read_bytes(self.ca_file) or b""
        text = kubeconfig_text(self.server, base64.b64encode(ca).decode() if ca else "", token)
        path = self.path(self.options.kubeconfig)
        if read_bytes(path) == text.encode():
            return False
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        write_atomic(path, text.encode(), 0o600)
        return True

    def sync_daemon_config(self, master: str) -> bool:
        """Thick mode: the daemon's config = its options (``--daemon-config``) + the master.

        No ``kubeconfig``: the daemon runs in its pod and uses the projected
        service-account token, re-read on every request, so rotation needs
        nothing; the host-side DEL fallback works from the delegate cache.
        """
        base: dict[str, Any] = {}
        if self.daemon_config_source:
            data = read_bytes(self.daemon_config_source)
            try:
                loaded = json.loads(data) if data is not None else None
            except ValueError:
                loaded = None
            if not isinstance(loaded, dict):
                log(f"--daemon-config {self.daemon_config_source} unreadable; using defaults")
            else:
                base = loaded
        master_path = f"{self.options.conf_dir.rstrip('/')}/{master}"
        conf = {**base, **plugin_config(master_path, self.options)}
        conf.pop("kubeconfig", None)
        conf.setdefault("socketDir", self.options.socket_dir)
        text = (json.dumps(conf, indent=2) + "\n").encode()
        path = self.path(self.options.daemon_config)
        if read_bytes(path) == text:
            return False
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        write_atomic(path, text, 0o600)
        return True

    def remove_config(self) -> bool:
        removed = False
        for name in self.own_files():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.conf_dir, name))
                removed = True
        return removed


def read_bytes(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def api_server(env: Mapping[str, str]) -> str:
    host, port = env.get("KUBERNETES_SERVICE_HOST", ""), env.get("KUBERNETES_SERVICE_PORT", "")
    if not host:
        return ""
    if ":" in host:
        host = f"[{host}]"
    return f"https://{host}:{port or '443'}"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pymultus-install", description=__doc__.split("\n")[0])
    p.add_argument("--mode", choices=("thin", "thick"), default="thin")
    p.add_argument("--cni-conf-dir", default="/host/etc/cni/net.d", help="conf dir, here")
    p.add_argument("--host-conf-dir", default="/etc/cni/net.d", help="conf dir, on the host")
    p.add_argument("--cni-bin-dir", default="/host/opt/cni/bin", help="bin dir, here")
    p.add_argument("--host-bin-dir", default="/opt/cni/bin", help="bin dir, on the host")
    p.add_argument("--skip-binaries", action="store_true", help="do not copy binaries")
    p.add_argument("--copy-runtime", action="store_true", help="copy the interpreter too")
    p.add_argument("--python", default="", help="interpreter on the host (no --copy-runtime)")
    p.add_argument("--cni-dir", default="/var/lib/cni/pymultus")
    p.add_argument("--multus-conf-dir", default="/etc/cni/multus/net.d")
    p.add_argument("--readiness-indicator-file", default="")
    p.add_argument("--socket-dir", default="/run/pymultus", help="thick: daemon socket dir")
    p.add_argument("--daemon-config", default="", help="thick: the daemon's own options (JSON)")
    p.add_argument("--token-file", default=f"{SA_DIR}/token")
    p.add_argument("--ca-file", default=f"{SA_DIR}/ca.crt")
    p.add_argument("--server", default="", help="API server URL (default: in-cluster env)")
    p.add_argument("--log-level", default="")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between checks")
    p.add_argument("--once", action="store_true", help="one pass, then exit")
    return p


def options_from(args: argparse.Namespace) -> InstallOptions:
    host_conf = args.host_conf_dir.rstrip("/")
    return InstallOptions(
        mode=args.mode,
        conf_dir=host_conf,
        bin_dir=args.host_bin_dir,
        cni_dir=args.cni_dir,
        multus_conf_dir=args.multus_conf_dir,
        kubeconfig=f"{host_conf}/pymultus.d/pymultus.kubeconfig",
        readiness_indicator_file=args.readiness_indicator_file,
        socket_dir=args.socket_dir,
        daemon_config=f"{host_conf}/pymultus.d/daemon-config.json",
        log_level=args.log_level,
    )


def main(argv: Sequence[str] | None = None, stop: threading.Event | None = None) -> int:
    args = parser().parse_args(argv)
    options = options_from(args)
    if not args.skip_binaries:
        from pymultus.install.layout import install_binaries

        written = install_binaries(
            args.cni_bin_dir, args.host_bin_dir, args.python, copy=args.copy_runtime
        )
        log(f"installed {', '.join(written)} in {args.host_bin_dir}")
    installer = Installer(
        options,
        args.cni_conf_dir,
        token_file=args.token_file,
        ca_file=args.ca_file,
        server=args.server or api_server(os.environ),
        daemon_config_source=args.daemon_config,
    )
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():

        def on_signal(signum: int, frame: Any) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    last = ""
    while True:
        what = installer.sync()
        if what != last and what != "up to date":
            log(what)
        last = what
        if args.once:
            return 0
        if stop.wait(args.interval):
            break
    if installer.remove_config():
        log("stopping: config removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
