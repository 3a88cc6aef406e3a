"""Prometheus figures of the registry, read at scrape time (nothing on the hot path)."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import Any

_target: list[Any] = [None]


def expose_metrics(service: Any) -> None:
    """Report this service's figures on the process's Prometheus registry (once per process)."""
    first = _target[0] is None
    _target[0] = weakref.ref(service)
    if not first:
        return
    try:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
    except ImportError:  # metrics are optional for the domain
        return

    class _Collector:
        def collect(self) -> Iterator[Any]:
            ref = _target[0]
            svc = ref() if ref else None
            if svc is None:
                return
            by_status = GaugeMetricFamily("manifest_instances", "Registered instances by status", labels=["status"])
            for status, count in svc.counts().items():
                by_status.add_metric([status], count)
            yield by_status
            yield CounterMetricFamily("manifest_heartbeats", "Heartbeats received", value=svc.heartbeats_total)
            yield GaugeMetricFamily(
                "manifest_heartbeats_per_second",
                "Heartbeats per second over the last sweep interval",
                value=svc.heartbeat_rate,
            )
            yield GaugeMetricFamily(
                "manifest_self_preservation",
                "1 while removals are deferred after a mass expiry",
                value=1.0 if svc.self_preservation else 0.0,
            )
            yield CounterMetricFamily("manifest_removed", "Instances removed after the grace", value=svc.removed_total)
            yield GaugeMetricFamily("manifest_revision", "Registry revision", value=svc.revision)
            yield GaugeMetricFamily("manifest_long_polls", "Watches waiting now", value=svc.long_polls)

    try:
        from ..core.metrics import REGISTRY
    except ImportError:  # tiers without /metrics
        from prometheus_client import REGISTRY
    REGISTRY.register(_Collector())
