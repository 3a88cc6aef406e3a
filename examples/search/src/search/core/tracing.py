"""OpenTelemetry traces: one span per operation call, W3C trace context in and out.

Servers call ``setup()`` when they start. The CLI calls it only when tracing is asked for
(``TRACEPARENT`` set, or an exporter configured), so ``--help`` and an ordinary command import
no OpenTelemetry at all. Until ``setup()`` has run, ``tracer`` is None and every helper here is a
no-op that costs one attribute check.

Exporters follow OpenTelemetry's own environment variables, with one difference: nothing is
exported unless asked for (the SDK's default would be OTLP to localhost).

- ``OTEL_TRACES_EXPORTER``: ``console`` (one JSON line per span on stderr), ``otlp``, ``none``,
  or a comma-separated list;
- unset, ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``..._TRACES_ENDPOINT``) alone turns OTLP on
  (OTLP over HTTP; install the project's ``otlp`` extra). Spans are batched in the server and
  encoded and posted by a helper process (``span_export.py``), off the requests' GIL;
- ``OTEL_SDK_DISABLED=true`` turns tracing off; ``OTEL_SERVICE_NAME`` and
  ``OTEL_RESOURCE_ATTRIBUTES`` name the service as usual.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import uuid
from collections.abc import Mapping, MutableMapping
from types import MappingProxyType
from typing import Any

from .about import NAME, VERSION

log = logging.getLogger(__name__)

TIER = "advanced"
#: The tracer once ``setup()`` has run; None means tracing is off.
tracer: Any = None
#: Whether spans are recorded: only when something takes them (an exporter, or a span
#: processor added with ``add_span_processor``). Otherwise each call gets a non-recording span
#: that carries ids only, for log lines and peers: a recorded SDK span costs several times more
#: and would be thrown away (see bench/tracing_overhead.py in chora-base).
recording = False
_SERVER_INTERFACES = frozenset({"rest"})  # MCP's SDK already opens the SERVER span of a call
_otel: Any = None  # the OpenTelemetry names the hot path uses, bound once by setup()


def _exporter_names() -> list[str]:
    names = os.environ.get("OTEL_TRACES_EXPORTER", "")
    if names.strip():
        return [n.strip().lower() for n in names.split(",") if n.strip().lower() not in ("", "none")]
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    return ["otlp"] if endpoint else []


def _disabled() -> bool:
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def wanted_by_cli() -> bool:
    """Whether a CLI command should trace: a parent was handed over or spans go somewhere."""
    return not _disabled() and (bool(os.environ.get("TRACEPARENT")) or bool(_exporter_names()))


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


def setup() -> None:
    """Install the SDK's tracer provider with the configured exporters (once per process).

    A provider that the embedding program (or a test) installed first is used as it is.
    """
    global tracer
    if tracer is not None or _disabled():
        return
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

    global recording
    provider = trace.get_tracer_provider()
    recording = isinstance(provider, TracerProvider)  # the embedding program's, with its exporters
    if not recording:
        resource = Resource.create({"service.name": NAME, "service.version": VERSION})
        provider = TracerProvider(resource=resource)
        for name in _exporter_names():
            if name == "console":
                # stderr: stdout belongs to CLI output and the MCP stdio transport
                exporter = ConsoleSpanExporter(out=sys.stderr, formatter=_one_line)
                provider.add_span_processor(SimpleSpanProcessor(exporter))
                recording = True
            elif name == "otlp":
                if not _otlp_installed():
                    log.warning("OTLP export asked for but not installed: install this project's [otlp] extra")
                    continue
                # Encoding and posting happen in a helper process (see span_export.py).
                from .span_export import ProcessExporter

                provider.add_span_processor(BatchSpanProcessor(ProcessExporter(), **_batching()))
                recording = True
            else:
                log.warning("unknown OTEL_TRACES_EXPORTER %r ignored (known: console, otlp, none)", name)
        trace.set_tracer_provider(provider)
    _bind()
    tracer = provider.get_tracer(__package__ or NAME, VERSION)


def add_span_processor(processor: Any) -> None:
    """Send this process's spans to ``processor`` too (tests, programs embedding the server)."""
    global recording
    setup()
    from opentelemetry import trace

    trace.get_tracer_provider().add_span_processor(processor)  # type: ignore[attr-defined]
    recording = True


class _Names:
    """OpenTelemetry's names, imported once instead of on every call."""

    def __init__(self) -> None:
        from opentelemetry import context, trace
        from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        # Only traceparent/tracestate are handed in, so the W3C propagator is asked directly
        # rather than through the configured composite (whose baggage part would find nothing).
        self.attach, self.detach, self.extract = context.attach, context.detach, TraceContextTextMapPropagator().extract
        self.current_span, self.in_context = trace.get_current_span, trace.set_span_in_context
        self.SpanContext, self.NonRecordingSpan = trace.SpanContext, trace.NonRecordingSpan
        self.SpanKind, self.StatusCode = trace.SpanKind, trace.StatusCode
        self.sampled = trace.TraceFlags(trace.TraceFlags.SAMPLED)
        self.ids = RandomIdGenerator()


def _bind() -> None:
    global _otel
    if _otel is None:
        _otel = _Names()


#: (operation, interface) -> the span kind and attributes of its calls, built once: the SDK copies
#: the attributes into each span, so one read-only mapping serves every call.
_SHAPES: dict[tuple[str, str], tuple[Any, Mapping[str, str]]] = {}


def _shape(operation: str, interface: str) -> tuple[Any, Mapping[str, str]]:
    kind = _otel.SpanKind.SERVER if interface in _SERVER_INTERFACES else _otel.SpanKind.INTERNAL
    attributes = {"capability.operation": operation, "capability.interface": interface, "capability.tier": TIER}
    _SHAPES[(operation, interface)] = shape = (kind, MappingProxyType(attributes))
    return shape


def begin(operation: str, interface: str) -> tuple[Any, object]:
    """Open the span of one operation call and make it current; ``end`` closes it.

    Recorded, it is a child of the current span (a caller's context attached from a header,
    ``_meta`` or ``TRACEPARENT``). Not recorded, it is a bare span context in the same trace
    (or a new one), enough for log lines and for the ``traceparent`` sent to peers.
    """
    otel = _otel
    if recording:
        shape = _SHAPES.get((operation, interface)) or _shape(operation, interface)
        # Exceptions are the caller's to describe: a DomainError is an expected outcome with a code.
        span = tracer.start_span(
            operation, kind=shape[0], attributes=shape[1], record_exception=False, set_status_on_exception=False
        )
    else:
        parent = otel.current_span().get_span_context()
        if parent.is_valid:
            ids = otel.SpanContext(
                parent.trace_id, otel.ids.generate_span_id(), False, parent.trace_flags, parent.trace_state
            )
        else:
            ids = otel.SpanContext(otel.ids.generate_trace_id(), otel.ids.generate_span_id(), False, otel.sampled)
        span = otel.NonRecordingSpan(ids)
    return span, otel.attach(otel.in_context(span))


def end(span: Any, token: object) -> None:
    _otel.detach(token)
    span.end()


def failed(span: Any, code: str) -> None:
    """Mark a span failed with the operation's stable error code."""
    span.set_attribute("error.type", code)
    span.set_status(_otel.StatusCode.ERROR, code)


def attach_parent(traceparent: str | None, tracestate: str | None = None) -> object | None:
    """Make a received W3C trace context the parent of what follows; a token for ``detach``.

    None (nothing attached) when tracing is off or the header is missing or malformed: the
    call then starts a trace of its own.
    """
    if tracer is None or not traceparent:
        return None
    carrier = {"traceparent": traceparent}
    if tracestate:
        carrier["tracestate"] = tracestate
    ctx = _otel.extract(carrier)
    if not _otel.current_span(ctx).get_span_context().is_valid:
        return None
    return _otel.attach(ctx)


def detach(token: object | None) -> None:
    if token is not None:
        _otel.detach(token)


def attach_cli_parent() -> object | None:
    """The CLI's parent: ``TRACEPARENT`` (and ``TRACESTATE``) from the environment."""
    return attach_parent(os.environ.get("TRACEPARENT"), os.environ.get("TRACESTATE"))


def current_ids() -> tuple[str | None, str | None]:
    """(trace id, span id) of the current span in hex, or (None, None)."""
    if tracer is None and "opentelemetry.trace" not in sys.modules:
        return None, None
    from opentelemetry import trace

    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None, None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


def outgoing(headers: MutableMapping[str, str]) -> None:
    """Stamp a request to a peer: ``traceparent``/``tracestate`` of the current span and the
    request id (the one being served, else a fresh one so the peer's log lines can be matched).

    OpenTelemetry is consulted only when it is loaded (here or by the embedding program).
    """
    from .logs import request_id

    headers["X-Request-ID"] = request_id.get() or uuid.uuid4().hex
    if tracer is not None or "opentelemetry.trace" in sys.modules:
        from opentelemetry.propagate import inject

        inject(headers)
