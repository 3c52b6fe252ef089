"""The local cluster's one Kubernetes client: the official ``kubernetes`` package.

The simulated kubelets, the scheduler and the cluster code talk to the
embedded API server the way any client does: over https, with the CA and
bearer token of the kubeconfig the cluster writes for kubectl
(``kubernetes.config.load_kube_config``), through one
``kubernetes.client.ApiClient`` whose urllib3 pool is sized to every thread
that may call at once (kubelet workers, watches, heartbeats, retries), so no
worker waits for another's connection and no lock is held across a retry or
a sleep. The harness never uses ``pymultus.kube``: it judges pymultus, so it
must not share pymultus's code to talk to the API it checks.

Where the typed APIs fit, they are used: the Lease renewal goes through
``CoordinationV1Api`` (a merge patch, a body the model passes unchanged).
Everything else goes through ``ApiClient.call_api`` with JSON dicts in and
out, for measured reasons (docs/architecture.md): ``CoreV1Api``'s module
imports every core model, over 0.4 s of CPU and 22 MiB per process, more
than the rest of the library; a typed call costs about 1 ms of CPU more than a raw
one (pydantic validation of every argument), too much for the pod watch,
reads and status patches; and a typed *create* validates its dict into the
model and writes it back with ``datetime.isoformat()``
(``...T21:00:00+00:00``, a MicroTime's microseconds dropped) where client-go
writes ``...Z`` and ``.000000Z``. Every ``ApiException`` and every refused
answer becomes an :class:`APIError` here, once.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

T = TypeVar("T")
TIMEOUT = 10.0  # seconds for one request (connect + answer)
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"  # what a kubelet sends
# Threads of one kubelet that may hold a connection besides its workers: the
# pod watch, the heartbeat, a back-off retry timer and the recorder's caller.
PER_NODE_EXTRA = 4
SHARED = 4  # the scheduler's watch and binder, the cluster's own calls, a spare


class APIError(RuntimeError):
    """A request the API server refused: its HTTP status, reason and message."""

    def __init__(self, status: int, message: str, reason: str = "") -> None:
        super().__init__(f"{status} {reason}: {message}".strip())
        self.status = status
        self.reason = reason
        self.message = message


def api_error(status: int, body: bytes | str | None) -> APIError:
    """The error of a refused request from its status and (Status object) body."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    try:
        payload = json.loads(text) if text else {}
    except ValueError:
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    return APIError(status, str(payload.get("message", text[:200])), str(payload.get("reason", "")))


def _mapped(fn: Callable[..., T]) -> Callable[..., T]:
    """Run a typed call; its ApiException becomes an APIError."""

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except ApiException as exc:
            raise api_error(int(exc.status or 0), exc.body) from None

    return call


def pool_size(nodes: int, workers: int) -> int:
    """Connections one cluster's client may need at once (urllib3 ``maxsize``)."""
    return nodes * (workers + PER_NODE_EXTRA) + SHARED


def pod_path(namespace: str, name: str | None = None) -> str:
    base = f"/api/v1/namespaces/{namespace}/pods"
    return f"{base}/{name}" if name else base


class ClusterClient:
    """JSON calls by path and a few typed calls, over one pooled ApiClient."""

    def __init__(self, api_client: k8s.ApiClient, timeout: float = TIMEOUT) -> None:
        self.api_client = api_client
        self.timeout = timeout
        self.coordination = k8s.CoordinationV1Api(api_client)

    @classmethod
    def from_kubeconfig(cls, path: str, pool: int, temp_dir: str | None = None) -> ClusterClient:
        """A client of the cluster a kubeconfig names (its server, CA, token).

        ``temp_dir``: where the library writes the CA of ``certificate-authority-data``
        (the cluster's run directory, so it goes with the cluster)."""
        configuration = k8s.Configuration()
        k8s_config.load_kube_config(
            config_file=path,
            client_configuration=configuration,
            persist_config=False,
            temp_file_path=temp_dir,
        )  # type: ignore[no-untyped-call]
        # load_kube_config's hook re-applies the kubeconfig's credentials before
        # every request (for expiring exec/auth-provider tokens): ~0.2 ms of CPU
        # each (the configuration rebuilt, os.environ scanned for proxies), and
        # it puts the old token back over a rotated :attr:`token` (measured).
        # The cluster's token is static until rotated here.
        configuration.refresh_api_key_hook = None
        return cls(k8s.ApiClient(_pooled(configuration, pool)))

    @classmethod
    def for_server(cls, server: str, token: str | None = None, pool: int = SHARED) -> ClusterClient:
        """A client of a plain-http server (the tests' bare API server)."""
        configuration = k8s.Configuration(host=server)
        client = cls(k8s.ApiClient(_pooled(configuration, pool)))
        if token:
            client.token = token
        return client

    @property
    def token(self) -> str:
        value = self.api_client.configuration.get_api_key_with_prefix(
            "BearerToken", alias="authorization"
        )
        return (value or "").removeprefix("Bearer ")

    @token.setter
    def token(self, token: str) -> None:
        """A rotated token: every thread's next request carries it."""
        configuration = self.api_client.configuration
        configuration.api_key = {"authorization": f"Bearer {token}"}
        configuration.api_key_prefix = {}

    def close(self) -> None:
        self.api_client.close()  # type: ignore[no-untyped-call]

    # ---------------------------------------------------------- raw JSON calls
    def _send(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float | tuple[float, float] | None = None,
    ) -> urllib3.BaseHTTPResponse:
        headers = {"Accept": "application/json", **self.api_client.default_headers}
        if body is not None:
            headers["Content-Type"] = content_type
        self.api_client.update_params_for_auth(headers, None, ["BearerToken"], path, method, body)
        response = self.api_client.call_api(
            method,
            self.api_client.configuration.host + path,
            header_params=headers,
            body=body,
            _request_timeout=timeout or self.timeout,
        )
        raw: urllib3.BaseHTTPResponse = response.response
        return raw

    def request(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> dict[str, Any]:
        """One request; the answer's JSON (an APIError for a status >= 400)."""
        response = self._send(method, path, body, content_type)
        data = response.data
        if response.status >= 400:
            raise api_error(response.status, data)
        payload: dict[str, Any] = json.loads(data) if data else {}
        return payload

    def get(self, path: str) -> dict[str, Any] | None:
        """The object at ``path``, or None when there is none (404)."""
        try:
            return self.request("GET", path)
        except APIError as exc:
            if exc.status == 404:
                return None
            raise

    def merge_patch(self, path: str, patch: dict[str, Any]) -> dict[str, Any] | None:
        """A JSON merge patch (RFC 7386); None when the object is gone."""
        try:
            return self.request("PATCH", path, patch, MERGE_PATCH)
        except APIError as exc:
            if exc.status == 404:
                return None
            raise

    def delete(self, path: str, grace_seconds: int | None = None) -> None:
        """Delete; an object already gone is not an error."""
        if grace_seconds is not None:
            sep = "&" if "?" in path else "?"
            path = f"{path}{sep}gracePeriodSeconds={grace_seconds}"
        try:
            self.request("DELETE", path)
        except APIError as exc:
            if exc.status != 404:
                raise

    def watch(
        self, path: str, resource_version: str, timeout_seconds: int = 30
    ) -> Iterator[dict[str, Any]]:
        """Yield watch events (``{"type", "object"}``) until the server ends the stream."""
        sep = "&" if "?" in path else "?"
        query = (
            f"{path}{sep}watch=1&resourceVersion={resource_version}"
            f"&timeoutSeconds={timeout_seconds}"
        )
        response = self._send("GET", query, timeout=(self.timeout, timeout_seconds + self.timeout))
        if response.status >= 400:
            raise api_error(response.status, response.data)
        finished = False
        try:
            for line in response:
                line = line.strip()
                if line:
                    yield json.loads(line)
            finished = True
        finally:
            if not finished:  # left early: the rest of the stream is unread
                response.close()
            response.release_conn()

    # ------------------------------------------------------- the kubelet's calls
    def create_node(self, node: dict[str, Any]) -> None:
        """Register a Node (its conditions carry timestamps: JSON, see above)."""
        self.request("POST", "/api/v1/nodes", node)

    def read_node(self, name: str) -> dict[str, Any]:
        return self.request("GET", f"/api/v1/nodes/{name}")

    def patch_node_status(self, name: str, patch: dict[str, Any]) -> None:
        self.request("PATCH", f"/api/v1/nodes/{name}/status", patch, STRATEGIC_PATCH)

    def create_namespace(self, name: str) -> None:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        self.request("POST", "/api/v1/namespaces", body)

    def create_event(self, namespace: str, event: dict[str, Any]) -> str:
        """A new core/v1 Event (timestamps as the recorder writes them); its name."""
        made = self.request("POST", f"/api/v1/namespaces/{namespace}/events", event)
        return str(made["metadata"]["name"])

    def patch_event(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        self.request("PATCH", f"/api/v1/namespaces/{namespace}/events/{name}", patch, MERGE_PATCH)

    @_mapped
    def renew_lease(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        """The typed Lease API: a merge patch passes through it unchanged."""
        _body(
            self.coordination.patch_namespaced_lease(
                name, namespace, patch, _content_type=MERGE_PATCH, _preload_content=False
            )
        )

    def create_lease(self, namespace: str, lease: dict[str, Any]) -> None:
        """A new Lease (JSON: the model would truncate the MicroTime ``renewTime``)."""
        path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        self.request("POST", path, lease)

    def bind_pod(self, namespace: str, name: str, node: str) -> None:
        """``pods/binding`` (what kube-scheduler posts)."""
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name, "namespace": namespace},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        }
        self.request("POST", f"{pod_path(namespace, name)}/binding", binding)


def _body(response: Any) -> bytes:
    """The whole body of an undecoded typed answer (``_preload_content=False``).

    Read it even when unused: an unread answer keeps its connection out of the
    pool, and the next request pays a new connection and TLS handshake."""
    data: bytes = response.data
    return data


def _pooled(configuration: k8s.Configuration, pool: int) -> k8s.Configuration:
    """Pool size and retries: a connection per calling thread; a refused or
    reset connection tried once more (no back-off: callers keep their own)."""
    configuration.connection_pool_maxsize = pool
    configuration.retries = urllib3.Retry(
        total=1, connect=1, read=1, redirect=0, status=0, allowed_methods=None
    )
    return configuration
