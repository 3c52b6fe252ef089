"""The daemon's /metrics: Prometheus exposition through ``prometheus_client``.

A private :class:`~prometheus_client.CollectorRegistry` per daemon (never the
library's global one, so tests and embedded daemons do not share counts)
holds the request counter and the two latency histograms; the process and
platform collectors add the standard ``process_*`` and ``python_info``
series. The daemon's live state (queue, readiness, caches) is read at
scrape time, from the values the server passes to :meth:`Metrics.render`.
The library does the escaping of label values and the text format; the
metric names and labels are the ones docs/thick-mode.md lists, kept stable.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

# Seconds: CNI ADDs run from a few ms (ptp) to seconds (DHCP, slow APIs).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST

# No ``*_created`` series: the daemon's start is pymultus_uptime_seconds, and
# the names scrapers already use stay the only ones.
disable_created_metrics()  # type: ignore[no-untyped-call]


class Metrics:
    """Everything /metrics reports. ``inflight``/``queued``/``rejected`` are the
    server's admission state (read and changed under its lock), exported as is."""

    def __init__(self) -> None:
        self.rejected = 0
        self.inflight = 0
        self.queued = 0
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "pymultus_cni_requests",
            "CNI requests handled, by command and result.",
            ["command", "result"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "pymultus_cni_request_duration_seconds",
            "Time to answer a CNI request.",
            ["command"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.delegate = Histogram(
            "pymultus_delegate_duration_seconds",
            "Time spent in delegate plugins.",
            ["command"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)

    def request_done(self, command: str, result: str, seconds: float) -> None:
        self.requests.labels(command, result).inc()
        self.latency.labels(command).observe(seconds)

    def delegate_done(self, command: str, seconds: float) -> None:
        self.delegate.labels(command).observe(seconds)

    def render(
        self,
        extra: Mapping[str, float] | None = None,
        cache: Mapping[tuple[str, str], int] | None = None,
    ) -> bytes:
        """The exposition text: the registry, the admission state, ``extra`` gauges
        (name -> value) and the cache lookups (``(kind, outcome) -> count``)."""
        return generate_latest(Scrape(self, dict(extra or {}), dict(cache or {})))


class Scrape:
    """One scrape: the registry's metrics and the values of this moment (a Collector)."""

    def __init__(
        self, metrics: Metrics, extra: dict[str, float], cache: dict[tuple[str, str], int]
    ) -> None:
        self.metrics = metrics
        self.extra = extra
        self.cache = cache

    def collect(self) -> Iterator[Metric]:
        yield from self.metrics.registry.collect()
        m = self.metrics
        yield CounterMetricFamily(
            "pymultus_requests_rejected", "Requests refused: queue full.", value=m.rejected
        )
        yield GaugeMetricFamily(
            "pymultus_inflight_requests", "CNI requests running now.", value=m.inflight
        )
        yield GaugeMetricFamily(
            "pymultus_queued_requests", "CNI requests waiting for a worker.", value=m.queued
        )
        lookups = CounterMetricFamily(
            "pymultus_cache_lookups",
            "Pod and NAD reads answered from the watch caches (hit) or the API (miss).",
            labels=["kind", "outcome"],
        )
        for (kind, outcome), n in sorted(self.cache.items()):
            lookups.add_metric([kind, outcome], n)
        yield lookups
        for name, value in sorted(self.extra.items()):
            yield GaugeMetricFamily(name, GAUGE_HELP.get(name, name), value=value)


GAUGE_HELP = {
    "pymultus_ready": "1 once the watch caches have listed and until SIGTERM.",
    "pymultus_uptime_seconds": "Seconds since the daemon started.",
    "pymultus_cached_pods": "Pods in the watch cache of this node.",
    "pymultus_cached_nads": "NetworkAttachmentDefinitions in the watch cache.",
    "pymultus_resident_memory_bytes": "Resident memory of the daemon (VmRSS).",
}
