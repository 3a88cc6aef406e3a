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

import os
import re
import sys
import threading
import uuid
from collections.abc import Mapping, MutableMapping
from contextvars import ContextVar, Token
from types import MappingProxyType
from typing import Any

from . import trace_export
from .about import NAME, VERSION
from .trace_export import wanted_by_cli as wanted_by_cli  # the CLI asks before importing OpenTelemetry

TIER = "advanced"
#: The tracer once ``setup()`` has run; None means tracing is off.
tracer: Any = None
#: Whether spans are recorded: only when something takes them (an exporter, or a span
#: processor added with ``add_span_processor``). Otherwise each call gets ids only, for log
#: lines and peers: a recorded span costs several times more and would be thrown away (see
#: bench/tracing_overhead.py in chora-base).
recording = False
_SERVER_INTERFACES = frozenset({"rest"})  # MCP's SDK already opens the SERVER span of a call
_otel: Any = None  # the OpenTelemetry names the hot path uses, bound once by setup()
#: Starts recorded spans that are built once at the end of the call (``call_span.py``); None
#: when the provider has a processor that needs the SDK's own span.
_recorder: Any = None


def setup() -> None:
    """Install the SDK's tracer provider with the configured exporters (once per process).

    A provider that the embedding program (or a test) installed first is used as it is.
    """
    global tracer, recording
    if tracer is not None or trace_export.disabled():
        return
    provider, recording = trace_export.provider()
    _bind()
    tracer = provider.get_tracer(__package__ or NAME, VERSION)
    _rebind_recorder()


def _rebind_recorder() -> None:
    """Choose how recorded spans are made, after the provider's processors changed."""
    global _recorder
    if not recording:
        _recorder = None
        return
    from opentelemetry import trace

    from .call_span import Recorder

    _recorder = Recorder.for_provider(trace.get_tracer_provider(), tracer)


def add_span_processor(processor: Any) -> None:
    """Send this process's spans to ``processor`` too (tests, programs embedding the server)."""
    global recording
    setup()
    from opentelemetry import trace

    trace.get_tracer_provider().add_span_processor(processor)  # type: ignore[attr-defined]
    recording = True
    _rebind_recorder()


class _Names:
    """OpenTelemetry's names, imported once instead of on every call."""

    def __init__(self) -> None:
        from opentelemetry import context, trace
        from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        # Only traceparent/tracestate are handed in, so the W3C propagator is asked directly
        # rather than through the configured composite (whose baggage part would find nothing).
        self.attach, self.detach, self.extract = context.attach, context.detach, TraceContextTextMapPropagator().extract
        self.get_current = context.get_current
        self.current_span, self.in_context = trace.get_current_span, trace.set_span_in_context
        self.SpanContext, self.NonRecordingSpan = trace.SpanContext, trace.NonRecordingSpan
        self.TraceFlags, self.TraceState = trace.TraceFlags, trace.TraceState
        self.SpanKind, self.StatusCode = trace.SpanKind, trace.StatusCode
        self.INVALID = trace.INVALID_SPAN_CONTEXT
        self.ids = RandomIdGenerator()


def _bind() -> None:
    global _otel, _UNRECORDED, _TAKEN
    if _otel is None:
        _otel = _Names()
        _UNRECORDED = _otel.NonRecordingSpan(_otel.INVALID)
        _TAKEN = (_UNRECORDED, None)


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
    ``_meta`` or ``TRACEPARENT``). Not recorded, the call only gets ids in the same trace (or a
    new one), enough for log lines and for the ``traceparent`` sent to peers.
    """
    call = _ids.get()
    if not recording:
        if call is not None and call.received:  # a received context: the first call takes it over
            try:
                call.received.pop()  # atomic: of two calls begun at once in two threads, one wins
                return _TAKEN
            except IndexError:
                pass
        return _UNRECORDED, _ids.set(_CallIds(call, None, _otel.get_current() if call is None else None))
    otel = _otel
    parent = otel.current_span().get_span_context()
    current = True  # whether the parent is the current span (else the sampler must be told it)
    if not parent.is_valid and call is not None:
        # A caller's context received in headers, or the ids of an unrecorded call around this one
        # (processors were added since it began).
        ids = call.parent() if call.received else call.get()
        if ids is not None:
            parent = otel.SpanContext(ids[0], ids[1], True, otel.TraceFlags(ids[2]), _state(ids[3]))
            current = False
    shape = _SHAPES.get((operation, interface)) or _shape(operation, interface)
    if _recorder is not None:
        span = _recorder.start(operation, shape[0], shape[1], parent, current)
    else:
        context = None if current else otel.in_context(otel.NonRecordingSpan(parent))
        # Exceptions are the caller's to describe: a DomainError is an expected outcome with a code.
        span = tracer.start_span(
            operation,
            context=context,
            kind=shape[0],
            attributes=shape[1],
            record_exception=False,
            set_status_on_exception=False,
        )
    return span, otel.attach(otel.in_context(span))


def end(span: Any, token: Any) -> None:
    if span is _UNRECORDED:
        if token is not None:  # None: the call took the received context's holder (see begin)
            _ids.reset(token)
        return
    _otel.detach(token)
    span.end()


def failed(span: Any, code: str) -> None:
    """Mark a span failed with the operation's stable error code."""
    span.set_attribute("error.type", code)
    span.set_status(_otel.StatusCode.ERROR, code)


# While nothing records, a call's ids are kept in one context variable of this module rather
# than in an OpenTelemetry span made current (``current_ids`` and ``outgoing`` look here first),
# and they are worked out only when something reads them: a log line, a call to a peer. Most
# calls are never asked, and parsing the caller's header and drawing ids for every call cost a
# REST read more than all the rest of tracing (bench/tracing_overhead.py in chora-base).
# A received context (``attach_parent``) is a holder too, which the first call under it takes
# over as its own: one context variable set per request, not two.
# Ids: (trace id, span id, trace flags, tracestate header).
_Ids = tuple[int, int, int, "str | None"]


class _CallIds:
    """The ids of one unrecorded call, from what was known when it began; or a caller's received
    context that no call has taken over yet (``received`` is then not empty)."""

    __slots__ = ("_context", "_ids", "_incoming", "_outer", "received")

    def __init__(self, outer: _CallIds | None, incoming: tuple[str, str | None] | None, context: Any) -> None:
        self._outer = outer  # the call this one runs inside, if any
        self._incoming = incoming  # the caller's W3C headers, if any
        self._context = context  # the OpenTelemetry context the call began in
        self._ids: _Ids | None = None
        # emptied by the call that takes a received context over (see begin)
        self.received = [True] if incoming is not None else []

    def parent(self) -> _Ids | None:
        """The caller's ids from a received holder (None if its headers are not W3C)."""
        return None if self._incoming is None else _parse(*self._incoming)

    def get(self) -> _Ids:
        if self._ids is None:
            with _WORKING_OUT:  # two threads of one call reading at once must see the same ids
                if self._ids is None:
                    self._ids = self._work_out()
        return self._ids

    def _work_out(self) -> _Ids:
        if self._outer is not None:
            parent: _Ids | None = self._outer.get()  # a call inside a call: same trace
        elif self._incoming is not None:
            parent = _parse(*self._incoming)  # None when not W3C: a trace of its own
        else:
            ctx = _otel.current_span(self._context).get_span_context()  # e.g. the MCP SDK's span
            state = ctx.trace_state.to_header() if ctx.trace_state else None
            parent = (ctx.trace_id, ctx.span_id, int(ctx.trace_flags), state) if ctx.is_valid else None
        if parent is None:
            return _otel.ids.generate_trace_id(), _otel.ids.generate_span_id(), 1, None
        return parent[0], _otel.ids.generate_span_id(), parent[2], parent[3]


_WORKING_OUT = threading.RLock()  # re-entered by a call inside a call, which asks the outer one
_ids: ContextVar[_CallIds | None] = ContextVar("call_trace_ids", default=None)
#: What every unrecorded call's ``begin`` returns as its span: the API's span that records nothing.
_UNRECORDED: Any = None
_TAKEN: tuple[Any, None] = (None, None)  # begin's answer when a call took a received context over


def _state(header: str | None) -> Any:
    return _otel.TraceState.from_header([header]) if header else None


#: The usual ``traceparent``: version 00, lower-case hex, ids not all zeros (checked after).
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


def _parse(traceparent: str, tracestate: str | None) -> _Ids | None:
    """The caller's ids from W3C headers, or None when they are not valid.

    The propagator's ``extract`` builds a whole context through a generic carrier getter
    (half of what tracing cost a request that sent a ``traceparent``); the usual header is read
    here with the same checks, and anything else (a ``tracestate`` to validate, another
    version) goes to the official propagator.
    """
    match = _TRACEPARENT.fullmatch(traceparent) if not tracestate else None
    if match is None:
        carrier = {"traceparent": traceparent}
        if tracestate:
            carrier["tracestate"] = tracestate
        ctx = _otel.current_span(_otel.extract(carrier)).get_span_context()
        if not ctx.is_valid:
            return None
        return ctx.trace_id, ctx.span_id, int(ctx.trace_flags), ctx.trace_state.to_header() or None
    trace_id, span_id = int(match[1], 16), int(match[2], 16)
    if not trace_id or not span_id:
        return None
    return trace_id, span_id, int(match[3], 16), None


def attach_parent(traceparent: str | None, tracestate: str | None = None) -> Token[Any] | None:
    """Make a received W3C trace context the parent of what follows; a token for ``detach``.

    None (nothing attached) when tracing is off or the header is missing. A malformed header is
    found when the call's span begins: the call then starts a trace of its own.
    """
    if tracer is None or not traceparent:
        return None
    # Read (and checked) by the next ``begin``: an OpenTelemetry context attached here would be
    # built, made current and dropped again for that one reader.
    return _ids.set(_CallIds(None, (traceparent, tracestate), None))


def detach(token: Token[Any] | None) -> None:
    """Undo ``attach_parent``."""
    if token is not None:
        _ids.reset(token)


def attach_cli_parent() -> Token[Any] | None:
    """The CLI's parent: ``TRACEPARENT`` (and ``TRACESTATE``) from the environment."""
    return attach_parent(os.environ.get("TRACEPARENT"), os.environ.get("TRACESTATE"))


def current_ids() -> tuple[str | None, str | None]:
    """(trace id, span id) of the current span in hex, or (None, None)."""
    if tracer is None and "opentelemetry.trace" not in sys.modules:
        return None, None
    call = _ids.get()
    if call is not None and not call.received:
        ids = call.get()
        return format(ids[0], "032x"), format(ids[1], "016x")
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

        inject(headers)  # the configured propagators: baggage too, if the program uses it
        call = _ids.get()
        if call is not None and not call.received:  # an unrecorded call: its ids, not a span's
            ids = call.get()
            headers["traceparent"] = f"00-{ids[0]:032x}-{ids[1]:016x}-{ids[2]:02x}"
            if ids[3]:
                headers["tracestate"] = ids[3]
            elif "tracestate" in headers:
                del headers["tracestate"]
