"""Which exporters a process asked for, and the SDK tracer provider that sends spans to them.

Exporters follow OpenTelemetry's own environment variables (see ``tracing.py``); nothing here
imports OpenTelemetry until ``provider()`` is called, so the CLI can ask ``wanted_by_cli()``
at start-up for free.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from typing import Any

from .about import NAME, VERSION

log = logging.getLogger(__name__.rsplit(".", 1)[0] + ".tracing")


def exporter_names() -> list[str]:
    names = os.environ.get("OTEL_TRACES_EXPORTER", "")
    if names.strip():
        return [n.strip().lower() for n in names.split(",") if n.strip().lower() not in ("", "none")]
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    return ["otlp"] if endpoint else []


def disabled() -> bool:
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def wanted_by_cli() -> bool:
    """Whether a CLI command should trace: a parent was handed over or spans go somewhere."""
    return not disabled() and (bool(os.environ.get("TRACEPARENT")) or bool(exporter_names()))


#: The batch processor's settings unless OpenTelemetry's OTEL_BSP_* variables say otherwise.
#: Large batches, posted at least every second: the per-batch work (a pipe write to the export
#: helper, an HTTP post there) is paid once per 2,048 spans; the queue holds about two seconds
#: of a busy server's spans before the oldest are dropped (memory stays bounded).
_BATCHING = {
    "max_queue_size": ("OTEL_BSP_MAX_QUEUE_SIZE", 8192),
    "max_export_batch_size": ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 2048),
    "schedule_delay_millis": ("OTEL_BSP_SCHEDULE_DELAY", 1000),
}


def _batching() -> dict[str, int]:
    return {arg: default for arg, (variable, default) in _BATCHING.items() if not os.environ.get(variable)}


def _otlp_installed() -> bool:
    """Whether the ``otlp`` extra is there, found without importing it (the helper does)."""
    try:
        return importlib.util.find_spec("opentelemetry.exporter.otlp.proto.http") is not None
    except ImportError:  # a parent package missing altogether
        return False


def _one_line(span: Any) -> str:
    return span.to_json(indent=None) + "\n"


def provider() -> tuple[Any, bool]:
    """The process's tracer provider and whether it records.

    A provider that the embedding program (or a test) installed first is used as it is (it
    records); otherwise an SDK provider with the configured exporters is made and installed.
    """
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

    installed = trace.get_tracer_provider()
    if isinstance(installed, TracerProvider):  # the embedding program's, with its exporters
        return installed, True
    recording = False
    made = TracerProvider(resource=Resource.create({"service.name": NAME, "service.version": VERSION}))
    for name in exporter_names():
        if name == "console":
            # stderr: stdout belongs to CLI output and the MCP stdio transport
            made.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stderr, formatter=_one_line)))
            recording = True
        elif name == "otlp":
            if not _otlp_installed():
                log.warning("OTLP export asked for but not installed: install this project's [otlp] extra")
                continue
            # Encoding and posting happen in a helper process (see span_export.py).
            from .span_export import ProcessExporter

            made.add_span_processor(BatchSpanProcessor(ProcessExporter(), **_batching()))
            recording = True
        else:
            log.warning("unknown OTEL_TRACES_EXPORTER %r ignored (known: console, otlp, none)", name)
    trace.set_tracer_provider(made)
    return made, recording
