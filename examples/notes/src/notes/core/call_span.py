"""The recorded span of one operation call, built once when the call ends.

Why this exists (and is written here): the SDK's mutable ``Span`` is made for spans that many
threads may touch while they are open: a lock, attribute validation on every write, every
processor's ``on_start`` and ``_on_ending``. It costs about ten times a bare span context per
call (bench/tracing_overhead.py in chora-base prints both on the machine it runs on). An
operation's span is opened and closed by one call and shared with nobody, so here the call runs
under ``CallSpan``, which only holds what the call writes (status, error code, events), and at
the end one ``ReadableSpan`` of the SDK is built and given to the provider's processors'
``on_end``, the same object the SDK's own span would hand them. No OpenTelemetry package offers
a span recorded at its end, so only that is done here; everything else stays the SDK's: its
sampler decides (the default one's answer, which depends on the parent alone, is read off the
parent directly), its id generator numbers, its resource and instrumentation scope label, its
processors (batch or simple) and exporters send.

Processors that do something in ``on_start`` or ``_on_ending`` (an embedding program's own)
would miss those calls, so ``Recorder.for_provider`` returns None when one is installed, and
the SDK's own span is used instead.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import ConcurrentMultiSpanProcessor, Event, ReadableSpan, SynchronousMultiSpanProcessor
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanProcessor
from opentelemetry.sdk.trace.sampling import DEFAULT_ON
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util.types import Attributes, AttributeValue

#: Processors whose ``on_start`` and ``_on_ending`` do nothing: only they may skip them.
_QUIET_CLASSES = (SpanProcessor, SimpleSpanProcessor, BatchSpanProcessor)
_QUIET_STARTS = frozenset(c.on_start for c in _QUIET_CLASSES)
_QUIET_ENDINGS = frozenset(getattr(c, "_on_ending", None) for c in _QUIET_CLASSES)
_UNSET = Status(StatusCode.UNSET)
_SAMPLED = TraceFlags.SAMPLED
_RANDOM = getattr(TraceFlags, "RANDOM_TRACE_ID", 0)  # W3C trace context level 2 (newer SDKs)


def _quiet(processor: Any) -> bool:
    if isinstance(processor, (SynchronousMultiSpanProcessor, ConcurrentMultiSpanProcessor)):
        return all(_quiet(p) for p in processor._span_processors)
    cls = type(processor)
    return cls.on_start in _QUIET_STARTS and getattr(cls, "_on_ending", None) in _QUIET_ENDINGS


class CallSpan(trace.Span):
    """A call's span while it runs: its ids for the context, and what the call records."""

    __slots__ = ("_attributes", "_ctx", "_events", "_kind", "_name", "_parent", "_recorder", "_start", "_status")

    def __init__(
        self,
        recorder: Recorder,
        ctx: SpanContext,
        parent: SpanContext | None,
        name: str,
        kind: SpanKind,
        attributes: Mapping[str, AttributeValue],
    ) -> None:
        self._recorder, self._ctx, self._parent, self._name, self._kind = recorder, ctx, parent, name, kind
        self._attributes: Any = attributes  # the sampler's read-only mapping until something is added
        self._start = time.time_ns()
        self._status = _UNSET
        self._events: list[Event] | None = None

    def get_span_context(self) -> SpanContext:
        return self._ctx

    def is_recording(self) -> bool:
        return self._start is not None

    def _writable(self) -> Any:
        if not isinstance(self._attributes, BoundedAttributes):
            limits = self._recorder.limits
            self._attributes = BoundedAttributes(
                limits.max_span_attributes,
                self._attributes,
                immutable=False,
                max_value_len=limits.max_span_attribute_length,
            )
        return self._attributes

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        if self._start is not None:
            self._writable()[key] = value

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        if self._start is not None:
            writable = self._writable()
            for key, value in attributes.items():
                writable[key] = value

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        if self._start is None:
            return
        if isinstance(status, Status):
            self._status = status
        else:
            self._status = Status(status, description)

    def add_event(self, name: str, attributes: Attributes = None, timestamp: int | None = None) -> None:
        if self._start is None:
            return
        if self._events is None:
            self._events = []
        self._events.append(Event(name, attributes, timestamp))

    def add_link(self, context: SpanContext, attributes: Attributes = None) -> None:
        pass  # links are given when a span starts; an operation's span has none

    def update_name(self, name: str) -> None:
        self._name = name

    def record_exception(
        self,
        exception: BaseException,
        attributes: Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        fields = {"exception.type": type(exception).__name__, "exception.message": str(exception)}
        self.add_event("exception", {**fields, **dict(attributes or {})}, timestamp)

    def end(self, end_time: int | None = None) -> None:
        start = self._start
        if start is None:
            return  # ended already
        self._start = None
        recorder = self._recorder
        recorder.processor.on_end(
            ReadableSpan(
                name=self._name,
                context=self._ctx,
                parent=self._parent,
                resource=recorder.tracer.resource,
                attributes=self._attributes,
                events=self._events or (),
                kind=self._kind,
                status=self._status,
                start_time=start,
                end_time=end_time or time.time_ns(),
                instrumentation_scope=recorder.scope,
            )
        )


class Recorder:
    """Starts ``CallSpan``s with a provider's own sampler, id generator and processors."""

    def __init__(self, provider: SdkTracerProvider, tracer: SdkTracer) -> None:
        self.tracer = tracer
        self.sampler = tracer.sampler
        self.default_sampler = tracer.sampler is DEFAULT_ON  # the SDK's own instance, as configured
        self.ids = tracer.id_generator
        self.processor = provider._active_span_processor
        self.limits = provider._span_limits
        self.scope = tracer._instrumentation_scope

    @classmethod
    def for_provider(cls, provider: Any, tracer: Any) -> Recorder | None:
        """A recorder, or None where the SDK's own span must be used (see the module's note)."""
        if not isinstance(provider, SdkTracerProvider) or not isinstance(tracer, SdkTracer):
            return None
        try:  # the SDK's internals read here; another SDK version without them gets its own span
            enabled = tracer._is_enabled() if hasattr(tracer, "_is_enabled") else True
            if not enabled or not _quiet(provider._active_span_processor):
                return None
            return cls(provider, tracer)
        except AttributeError:
            return None

    def start(
        self,
        name: str,
        kind: SpanKind,
        attributes: Mapping[str, AttributeValue],
        parent: SpanContext,
        current: bool = True,
    ) -> trace.Span:
        """The span of a call under ``parent`` (invalid: a new trace); ``current``: whether
        ``parent`` is the current span's context (else the sampler is handed a context holding it)."""
        ids = self.ids
        if parent.is_valid:
            trace_id = parent.trace_id
            random = getattr(parent.trace_flags, "random_trace_id", False)
            parent_ctx: SpanContext | None = parent
        else:
            trace_id = ids.generate_trace_id()
            random = bool(_RANDOM) and ids.is_trace_id_random()
            parent_ctx = None
        if self.default_sampler:
            # What the SDK's default sampler (parent-based, always on) answers, worked out from the
            # parent without the context it would read the parent from (building that context and
            # asking cost a third of a recorded call): sampled unless the parent was not, the
            # parent's tracestate, the attributes as given.
            sampled = recorded = parent_ctx is None or parent.trace_flags.sampled
            state = parent.trace_state if parent_ctx is not None else None
        else:
            context = None if current else trace.set_span_in_context(trace.NonRecordingSpan(parent))
            links: Sequence[Link] = ()
            decision = self.sampler.should_sample(context, trace_id, name, kind, attributes, links)
            sampled, recorded = decision.decision.is_sampled(), decision.decision.is_recording()
            state, attributes = decision.trace_state, decision.attributes
        flags = _SAMPLED if sampled else 0
        if random:
            flags |= _RANDOM
        ctx = SpanContext(trace_id, ids.generate_span_id(), False, TraceFlags(flags), state)
        if not recorded:
            return trace.NonRecordingSpan(ctx)
        return CallSpan(self, ctx, parent_ctx, name, kind, attributes)
