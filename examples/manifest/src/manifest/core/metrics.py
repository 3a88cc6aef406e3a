"""Prometheus metrics: calls and latency per operation, interface and outcome."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

REGISTRY = CollectorRegistry()
CALLS = Counter("operation_calls", "Operation calls", ["operation", "interface", "outcome"], registry=REGISTRY)
LATENCY = Histogram(
    "operation_duration_seconds",
    "Operation latency",
    ["operation", "interface"],
    registry=REGISTRY,
)


def record(operation: str, interface: str, outcome: str, seconds: float) -> None:
    CALLS.labels(operation, interface, outcome).inc()
    LATENCY.labels(operation, interface).observe(seconds)


def render() -> bytes:
    return generate_latest(REGISTRY)
