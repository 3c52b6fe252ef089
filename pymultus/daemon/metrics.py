"""Prometheus text exposition of the daemon's counters and histograms.

Written by hand (the text format is a few lines, https://prometheus.io/docs/
instrumenting/exposition_formats/) so the daemon needs no client library.
"""

from __future__ import annotations

import threading

# Seconds: CNI ADDs run from a few ms (ptp) to seconds (DHCP, slow APIs).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Histogram:
    def __init__(self, buckets: tuple[float, ...] = BUCKETS) -> None:
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.total = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.total += 1
        self.sum += value
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1

    def lines(self, name: str, labels: str) -> list[str]:
        sep = "," if labels else ""
        out = [
            f'{name}_bucket{{{labels}{sep}le="{bound:g}"}} {count}'
            for bound, count in zip(self.buckets, self.counts, strict=True)
        ]
        out.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {self.total}')
        out.append(f"{name}_sum{{{labels}}} {self.sum:.6f}")
        out.append(f"{name}_count{{{labels}}} {self.total}")
        return out


class Metrics:
    """Everything /metrics reports; thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: dict[tuple[str, str], int] = {}
        self.latency: dict[str, Histogram] = {}
        self.delegate: dict[str, Histogram] = {}
        self.rejected = 0
        self.inflight = 0
        self.queued = 0

    def request_done(self, command: str, result: str, seconds: float) -> None:
        with self.lock:
            key = (command, result)
            self.requests[key] = self.requests.get(key, 0) + 1
            self.latency.setdefault(command, Histogram()).observe(seconds)

    def delegate_done(self, command: str, seconds: float) -> None:
        with self.lock:
            self.delegate.setdefault(command, Histogram()).observe(seconds)

    def render(
        self, extra: dict[str, float] | None = None, cache: dict[tuple[str, str], int] | None = None
    ) -> str:
        with self.lock:
            out = [
                "# HELP pymultus_cni_requests_total CNI requests handled, by command and result.",
                "# TYPE pymultus_cni_requests_total counter",
            ]
            for (command, result), n in sorted(self.requests.items()):
                out.append(
                    f'pymultus_cni_requests_total{{command="{command}",result="{result}"}} {n}'
                )
            out += [
                "# HELP pymultus_cni_request_duration_seconds Time to answer a CNI request.",
                "# TYPE pymultus_cni_request_duration_seconds histogram",
            ]
            for command, hist in sorted(self.latency.items()):
                out += hist.lines("pymultus_cni_request_duration_seconds", f'command="{command}"')
            out += [
                "# HELP pymultus_delegate_duration_seconds Time spent in delegate plugins.",
                "# TYPE pymultus_delegate_duration_seconds histogram",
            ]
            for command, hist in sorted(self.delegate.items()):
                out += hist.lines("pymultus_delegate_duration_seconds", f'command="{command}"')
            out += [
                "# HELP pymultus_requests_rejected_total Requests refused: queue full.",
                "# TYPE pymultus_requests_rejected_total counter",
                f"pymultus_requests_rejected_total {self.rejected}",
                "# TYPE pymultus_inflight_requests gauge",
                f"pymultus_inflight_requests {self.inflight}",
                "# TYPE pymultus_queued_requests gauge",
                f"pymultus_queued_requests {self.queued}",
            ]
        if cache:
            out.append("# TYPE pymultus_cache_lookups_total counter")
            for (kind, outcome), n in sorted(cache.items()):
                out.append(f'pymultus_cache_lookups_total{{kind="{kind}",outcome="{outcome}"}} {n}')
        for name, value in sorted((extra or {}).items()):
            out.append(f"# TYPE {name} gauge")
            out.append(f"{name} {value:g}")
        return "\n".join(out) + "\n"
