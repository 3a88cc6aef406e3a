"""Prometheus metrics: calls and latency per operation, interface and outcome."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

REGISTRY = CollectorRegistry()
CALLS = Counter("operation_calls", "Operation calls", ["operation", "interface", "outcome"], registry=REGISTRY)
LATENCY = Histogram(
    "operation_duration_seconds",
    "Operation latency",
    ["operation", "interface"],
    registry=REGISTRY,
)


_children: dict[tuple[str, str, str], tuple[Any, Any]] = {}


def record(operation: str, interface: str, outcome: str, seconds: float) -> None:
    # `labels()` takes a lock and builds a key on every call; the children are kept here
    # instead, so a call costs two increments (outcomes are a small, fixed set of codes).
    key = (operation, interface, outcome)
    children = _children.get(key)
    if children is None:
        children = _children[key] = (CALLS.labels(*key), LATENCY.labels(operation, interface))
    children[0].inc()
    children[1].observe(seconds)


def render() -> bytes:
    return generate_latest(REGISTRY)
