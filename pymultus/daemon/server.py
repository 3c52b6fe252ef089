"""The node daemon: HTTP on a unix socket, running the engine for the shim.

Endpoints (one socket, dir 0700, socket 0600: only root on the node talks
to it):

- ``POST /cni``: one CNI call forwarded by the shim (framing in
  :mod:`pymultus.daemon.wire`); ADD, DEL, CHECK, STATUS, GC, VERSION.
- ``GET /healthz``: the process answers.
- ``GET /readyz``: 200 once the watch caches are synced and until SIGTERM.
- ``GET /metrics``: Prometheus text (:mod:`pymultus.daemon.metrics`).

Memory stays bounded under bursts (the reference daemon is known for being
OOM-killed by them): at most ``maxConcurrent`` calls run, at most
``maxQueue`` wait, and anything beyond is answered at once with 503 and CNI
code 11 (try again later), which the shim retries within its bound.
Operations on one container are serialised (a DEL never overtakes its ADD).
The HTTP layer (:mod:`pymultus.daemon.httpserver`) bounds connections,
threads, request sizes and read times, and admits a call before reading its
body.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pymultus.cni.errors import (
    INTERNAL,
    INVALID_ENV,
    TRY_AGAIN_LATER,
    CNIError,
)
from pymultus.cni.invoke import ProcessExecutor
from pymultus.cni.nesting import DELEGATE_MARKER
from pymultus.cni.request import CNIRequest, parse_config_bytes
from pymultus.cni.seams import Executor
from pymultus.cni.version import check_supported, version_result
from pymultus.daemon.cache import CachedKube, CacheStats, WatchCache
from pymultus.daemon.eventwriter import EventWriter
from pymultus.daemon.httpserver import Limits, Reply, UnixHTTPServer
from pymultus.daemon.metrics import CONTENT_TYPE, Metrics
from pymultus.daemon.overlay import DaemonOptions, overlay_config
from pymultus.daemon.wire import FramingError, decode_request
from pymultus.engine import Engine, run_command
from pymultus.log import Logger
from pymultus.model.config import MultusConfig, parse_config
from pymultus.seams import KubeAPI
from pymultus.state import DelegateCache

FALLBACK_VERSION = "1.0.0"
#: How long a DEL waits for the pod's earlier events to be posted (then it answers anyway,
#: and they are still posted): short, as a DEL must not stall on an API that is down.
EVENTS_BEFORE_DEL_WAIT = 1.0
NAD_PATH = "/apis/k8s.cni.cncf.io/v1/network-attachment-definitions"
PODS_PATH = "/api/v1/pods"


class TimedExecutor:
    """An executor that reports each delegate's run time to the metrics."""

    def __init__(self, inner: Executor, metrics: Metrics) -> None:
        self.inner = inner
        self.metrics = metrics

    def __call__(
        self, plugin_type: str, command: str, conf: dict[str, Any], request: CNIRequest
    ) -> dict[str, Any]:
        start = time.monotonic()
        try:
            return self.inner(plugin_type, command, conf, request)
        finally:
            self.metrics.delegate_done(command, time.monotonic() - start)


class Busy(Exception):
    """The queue is full, or the daemon is draining: answer 503 at once."""


class Daemon:
    """One node's daemon. ``start()`` listens; ``stop()`` drains and removes the socket."""

    def __init__(
        self,
        options: DaemonOptions,
        multus_conf: Mapping[str, Any],
        kube: Any = None,
        env: Mapping[str, str] | None = None,
        log: Logger | None = None,
        executor_factory: Callable[[list[str], Mapping[str, str], float], Executor] | None = None,
    ) -> None:
        self.options = options
        self.multus_conf = dict(multus_conf)
        self.kube: KubeAPI | None = kube
        self.env = dict(os.environ if env is None else env)
        self.log = log or Logger(str(multus_conf.get("logLevel", "")), "", True)
        self.executor_factory = executor_factory or (
            lambda dirs, env, timeout: ProcessExecutor(
                dirs, base_env=env, timeout=timeout, extra_env={DELEGATE_MARKER: "pymultus"}
            )
        )
        self.metrics = Metrics()
        self.cache_stats = CacheStats()
        self.caches: list[WatchCache] = []
        self.pods: WatchCache | None = None
        self.nads: WatchCache | None = None
        self.lock = threading.Lock()
        self.slots = threading.Semaphore(options.max_concurrent)
        self.container_locks: dict[str, list[Any]] = {}  # id -> [lock, users]
        self.idle = threading.Condition(self.lock)
        self.draining = False
        self.started = time.monotonic()
        self.server: UnixHTTPServer | None = None
        # Events are posted after the answer, from one thread (issue 16).
        create = getattr(kube, "create_event", None)
        self.events = EventWriter(create, self.log.error) if create is not None else None
        # maxConcurrent calls run and maxQueue wait: one worker thread each.
        self.limits = Limits(workers=options.max_concurrent + options.max_queue)

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        watcher: Any = self.kube
        if watcher is not None and hasattr(watcher, "watch"):
            self.nads = WatchCache(watcher, NAD_PATH, on_error=self.log.error)
            self.caches.append(self.nads)
            if self.options.node_name:
                self.pods = WatchCache(
                    watcher,
                    PODS_PATH,
                    {"fieldSelector": f"spec.nodeName={self.options.node_name}"},
                    on_error=self.log.error,
                )
                self.caches.append(self.pods)
            for cache in self.caches:
                cache.start()
        if self.events is not None:
            self.events.start()
        prepare_socket_path(self.options.socket_path)
        self.server = UnixHTTPServer(
            self.options.socket_path, self, self.limits, on_error=self.log.error
        )
        self.server.start()
        self.log.verbose(f"daemon listening on {self.options.socket_path}")

    def ready(self) -> bool:
        return not self.draining and all(c.synced.is_set() for c in self.caches)

    def stop(self) -> None:
        """SIGTERM: refuse new calls, let the running ones finish (bounded), close."""
        deadline = time.monotonic() + self.options.drain_timeout
        with self.lock:
            self.draining = True
            while self.metrics.inflight or self.metrics.queued:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.log.error("drain timeout: exiting with calls still running")
                    break
                self.idle.wait(remaining)
        if self.server is not None:
            self.server.stop()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.options.socket_path)
        if self.events is not None:
            # What the finished calls queued is posted before the daemon exits.
            self.events.stop(max(deadline - time.monotonic(), 1.0))
        for cache in self.caches:
            cache.stop()

    # ------------------------------------------------------------ admission
    @contextlib.contextmanager
    def admitted(self, container_id: str) -> Iterator[None]:
        """Bounded concurrency with a bounded queue; one call per container at a time."""
        with self.lock:
            if self.draining:
                raise Busy("the daemon is shutting down")
            if self.metrics.inflight + self.metrics.queued >= (
                self.options.max_concurrent + self.options.max_queue
            ):
                self.metrics.rejected += 1
                raise Busy(
                    f"{self.metrics.inflight} calls running and {self.metrics.queued} queued "
                    f"(maxConcurrent {self.options.max_concurrent}, "
                    f"maxQueue {self.options.max_queue})"
                )
            self.metrics.queued += 1
            entry = self.container_locks.setdefault(container_id, [threading.Lock(), 0])
            entry[1] += 1
        running = False
        try:
            with entry[0], self.slots:
                with self.lock:
                    self.metrics.queued -= 1
                    self.metrics.inflight += 1
                running = True
                yield
        finally:
            with self.lock:
                if running:
                    self.metrics.inflight -= 1
                else:
                    self.metrics.queued -= 1
                entry[1] -= 1
                if entry[1] == 0:
                    self.container_locks.pop(container_id, None)
                self.idle.notify_all()

    # ------------------------------------------------------------ CNI calls
    def handle_cni(self, body: bytes) -> tuple[int, bytes]:
        """One framed CNI call -> (HTTP status, what the shim prints)."""
        start = time.monotonic()
        command, version = "UNKNOWN", FALLBACK_VERSION
        try:
            try:
                env, stdin = decode_request(body)
            except FramingError as exc:
                raise CNIError(INVALID_ENV, f"malformed request from the shim: {exc}") from exc
            command = env.get("CNI_COMMAND", "") or "UNKNOWN"
            request = CNIRequest.from_env(env)
            if request.command == "VERSION":
                raw = stdin or b"{}"
                conf = parse_config_bytes(raw)
                out = version_result(str(conf.get("cniVersion") or FALLBACK_VERSION))
            else:
                conf = parse_config_bytes(stdin)
                version = str(conf.get("cniVersion") or FALLBACK_VERSION)
                with self.admitted(request.container_id or request.command):
                    out = self.run(request, conf)
        except Busy as exc:
            self.metrics.request_done(command, "busy", time.monotonic() - start)
            err = CNIError(TRY_AGAIN_LATER, f"pymultus daemon busy: {exc}", "retry later")
            return 503, err.to_json(version).encode()
        except CNIError as exc:
            self.metrics.request_done(command, "error", time.monotonic() - start)
            return 400, exc.to_json(version).encode()
        except Exception as exc:  # a bug: still answer in protocol, keep serving
            import traceback

            self.log.error(traceback.format_exc())
            self.metrics.request_done(command, "error", time.monotonic() - start)
            err = CNIError(
                INTERNAL, f"internal error in pymultus daemon: {type(exc).__name__}: {exc}"
            )
            return 500, err.to_json(version).encode()
        self.metrics.request_done(command, "success", time.monotonic() - start)
        return 200, (json.dumps(out).encode() + b"\n") if out else b""

    def run(self, request: CNIRequest, conf: dict[str, Any]) -> dict[str, Any]:
        check_supported(str(conf.get("cniVersion", "")))
        cfg = parse_config(overlay_config(conf, self.multus_conf))
        engine = self.engine(cfg, request.path, request.arg("K8S_POD_UID") or "")
        try:
            return run_command(engine, request, conf)
        finally:
            engine.log.close()
            if request.command == "DEL":
                self.events_posted_before_answer(request)

    def events_posted_before_answer(self, request: CNIRequest) -> None:
        """A DEL leaves no work behind: it answers once the pod's events are posted (bounded).

        Waited for after the delegates' DEL, not before: an ADD's events are
        posted while the DEL runs, so the wait is normally zero.
        """
        namespace = request.arg("K8S_POD_NAMESPACE") or ""
        name = request.arg("K8S_POD_NAME") or ""
        if self.events is None or not name:
            return
        if not self.events.wait_for(namespace, name, EVENTS_BEFORE_DEL_WAIT):
            self.log.error(
                f"DEL of {namespace}/{name}: its events are still not posted after "
                f"{EVENTS_BEFORE_DEL_WAIT:.0f}s; answering anyway"
            )

    def engine(self, cfg: MultusConfig, path: tuple[str, ...], pod_uid: str) -> Engine:
        kube: KubeAPI | None = None
        if self.kube is not None:
            kube = CachedKube(
                self.kube, self.pods, self.nads, self.cache_stats, pod_uid, self.events
            )
        return Engine(
            cfg=cfg,
            execute=TimedExecutor(
                self.executor_factory([cfg.bin_dir, *path], self.env, cfg.delegate_timeout),
                self.metrics,
            ),
            cache=DelegateCache(cfg.cni_dir),
            kube=kube,
            log=Logger(cfg.log_level, cfg.log_file, cfg.log_to_stderr),
        )

    def handle_delegate(self, body: bytes) -> tuple[int, bytes]:
        """``POST /delegate``: hot-plug (:mod:`pymultus.daemon.hotplug`)."""
        from pymultus.daemon.hotplug import find_sandbox, hotplug, parse_body

        start = time.monotonic()
        try:
            op = parse_body(body)
            base = {"cniVersion": "1.0.0", "name": "pymultus-cni-network"}
            cfg = parse_config(overlay_config(base, self.multus_conf))
            engine = self.engine(cfg, (), "")
            try:
                entry = find_sandbox(engine, op["podNamespace"], op["podName"])
                with self.admitted(str(entry["containerID"])):
                    out = hotplug(engine, op)
            finally:
                engine.log.close()
        except Busy as exc:
            self.metrics.request_done("DELEGATE", "busy", time.monotonic() - start)
            return 503, CNIError(TRY_AGAIN_LATER, f"daemon busy: {exc}").to_json("1.0.0").encode()
        except CNIError as exc:
            self.metrics.request_done("DELEGATE", "error", time.monotonic() - start)
            return 400, exc.to_json("1.0.0").encode()
        self.metrics.request_done("DELEGATE", "success", time.monotonic() - start)
        return 200, json.dumps(out).encode() + b"\n"

    # ------------------------------------------------------------ HTTP (httpserver.App)
    def get(self, path: str) -> Reply:
        """``GET``: answered on the server's loop, so keep it cheap."""
        if path == "/healthz":
            return 200, b"ok\n", "text/plain"
        if path == "/readyz":
            ready = self.ready()
            return (200 if ready else 503), (b"ok\n" if ready else b"not ready\n"), "text/plain"
        if path == "/metrics":
            return 200, self.metrics_text(), CONTENT_TYPE
        return 404, b"not found: /cni, /healthz, /readyz, /metrics\n", "text/plain"

    def replied(self) -> None:
        """A reply went out (called on the HTTP loop): the events queued so far may go."""
        if self.events is not None:
            self.events.release()

    def post_paths(self) -> tuple[str, ...]:
        return ("/cni", "/delegate")

    def refuse(self) -> str | None:
        """Refuse a call before its body is read: draining, or no room in the queue."""
        with self.lock:
            if self.draining:
                return "the daemon is shutting down"
            if self.metrics.inflight + self.metrics.queued >= (
                self.options.max_concurrent + self.options.max_queue
            ):
                self.metrics.rejected += 1
                return (
                    f"{self.metrics.inflight} calls running and {self.metrics.queued} queued "
                    f"(maxConcurrent {self.options.max_concurrent}, "
                    f"maxQueue {self.options.max_queue})"
                )
        return None

    def busy_reply(self, why: str) -> Reply:
        err = CNIError(TRY_AGAIN_LATER, f"pymultus daemon busy: {why}", "retry later")
        return 503, err.to_json(FALLBACK_VERSION).encode(), "application/json"

    def post(self, path: str, body: bytes) -> Reply:
        """``POST /cni`` or ``/delegate``: runs on a worker thread."""
        handle = self.handle_cni if path == "/cni" else self.handle_delegate
        status, out = handle(body)
        return status, out, "application/json"

    # ------------------------------------------------------------ other endpoints
    def metrics_text(self) -> bytes:
        extra = {
            "pymultus_ready": 1.0 if self.ready() else 0.0,
            "pymultus_uptime_seconds": round(time.monotonic() - self.started, 3),
            "pymultus_cached_pods": float(len(self.pods)) if self.pods else 0.0,
            "pymultus_cached_nads": float(len(self.nads)) if self.nads else 0.0,
        }
        rss = rss_bytes()
        if rss:
            extra["pymultus_resident_memory_bytes"] = float(rss)
        with self.cache_stats.lock:
            cache = dict(self.cache_stats.counts)
        return self.metrics.render(extra, cache)


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def prepare_socket_path(path: str) -> None:
    """Create the socket's directory 0700; remove a stale socket, refuse a live one."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)
    if not os.path.exists(path):
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)  # nobody listens: left by a daemon that died
        return
    finally:
        probe.close()
    raise CNIError(
        INVALID_ENV,
        f"another pymultus daemon is listening on {path}",
        "stop it first, or give this one another socketDir",
    )
