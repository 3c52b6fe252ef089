"""The harness's own small Kubernetes API client: CRUD, status patches, watches.

Used by the simulated kubelet and by the runner. It talks plain HTTP/JSON to
whatever server a kubeconfig names, so the same code drives the embedded API
locally and (through the kubeconfig of a real cluster) kind or k3s.
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.parse
from collections.abc import Iterator
from typing import Any


class APIError(RuntimeError):
    def __init__(self, code: int, message: str, reason: str = "") -> None:
        super().__init__(f"{code} {reason}: {message}".strip())
        self.code = code
        self.reason = reason
        self.message = message


class KubeHTTP:
    """A thread-safe client: one connection per thread, JSON in and out."""

    def __init__(self, server: str, token: str | None = None, timeout: float = 10.0) -> None:
        url = urllib.parse.urlsplit(server)
        if url.scheme != "http":
            raise ValueError(f"only http:// servers are supported by this client, not {server}")
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or 80
        self.token = token
        self.timeout = timeout
        self._local = threading.local()

    def _headers(self, content_type: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "pymultus-harness"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    def _conn(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def request(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        for attempt in (1, 2):
            conn = self._conn()
            try:
                conn.request(
                    method, path, body=data, headers=self._headers(content_type if data else None)
                )
                resp = conn.getresponse()
                raw = resp.read()
                break
            except (ConnectionError, http.client.HTTPException, OSError):
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise
        payload: dict[str, Any] = json.loads(raw) if raw else {}
        if resp.status >= 400:
            raise APIError(
                resp.status, str(payload.get("message", raw[:200])), str(payload.get("reason", ""))
            )
        return payload

    def get(self, path: str) -> dict[str, Any] | None:
        try:
            return self.request("GET", path)
        except APIError as exc:
            if exc.code == 404:
                return None
            raise

    def merge_patch(self, path: str, patch: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return self.request("PATCH", path, patch, "application/merge-patch+json")
        except APIError as exc:
            if exc.code == 404:
                return None
            raise

    def delete(self, path: str, grace_seconds: int | None = None) -> None:
        if grace_seconds is not None:
            sep = "&" if "?" in path else "?"
            path = f"{path}{sep}gracePeriodSeconds={grace_seconds}"
        try:
            self.request("DELETE", path)
        except APIError as exc:
            if exc.code != 404:
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
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout_seconds + 10)
        try:
            conn.request("GET", query, headers=self._headers())
            resp = conn.getresponse()
            if resp.status >= 400:
                raw = resp.read()
                payload = json.loads(raw) if raw else {}
                raise APIError(
                    resp.status, str(payload.get("message", "")), str(payload.get("reason", ""))
                )
            while True:
                line = resp.readline()
                if not line:
                    return
                line = line.strip()
                if line:
                    yield json.loads(line)
        finally:
            conn.close()


def pod_path(namespace: str, name: str | None = None) -> str:
    base = f"/api/v1/namespaces/{namespace}/pods"
    return f"{base}/{name}" if name else base
