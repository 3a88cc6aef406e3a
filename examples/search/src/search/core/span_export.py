"""OTLP export from a helper process, so that encoding spans never competes with requests.

Why this exists (and is written here): the official OTLP exporter encodes each span in Python
(tens of microseconds) on a thread of the server's own process, where it holds the GIL that
the requests need; with a span per request that doubled a REST read's CPU cost
(bench/tracing_overhead.py in chora-base). No OpenTelemetry package moves the encoding out of
the process, so this module adds only that hop and nothing else of a tracer:

- in the server, the SDK's ``BatchSpanProcessor`` queues and batches spans as usual and hands
  each batch to ``ProcessExporter``, which copies the spans' fields into plain tuples and writes
  them (``marshal``: data only, no code) to a helper process's stdin;
- the helper (this file run by the same interpreter, ``-I`` so that nothing beside it is
  imported by mistake) rebuilds the SDK's ``ReadableSpan``s
  and gives them to the official ``OTLPSpanExporter``, which reads the usual
  ``OTEL_EXPORTER_OTLP_*`` variables, then answers with the exporter's result, so ``export()``
  reports what really happened and the processor's bounded queue takes the back-pressure.

The helper leaves when its stdin closes (the server stopped, even by ``kill -9``); a helper
that died is started again on the next batch.
"""

from __future__ import annotations

import logging
import marshal
import os
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import IO, Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

log = logging.getLogger(__name__)

_HEADER = struct.Struct("!I")  # length of the marshalled batch that follows
_OK, _FAILED = b"\x00", b"\x01"


def _context(ctx: Any) -> tuple[Any, ...] | None:
    if ctx is None:
        return None
    # A SpanContext is a tuple (trace id, span id, remote, flags, state, valid) by its type:
    # unpacked at once, instead of five property calls (half of this thread's time per span).
    trace_id, span_id, remote, flags, state = ctx[:5]
    return trace_id, span_id, remote, int(flags), list(state.items()) if state else None


def flatten(spans: Sequence[ReadableSpan]) -> tuple[list[Any], list[Any], list[Any]]:
    """(resources, scopes, spans) as plain data; each span names its resource and scope by index.

    This runs in the server (on the batch processor's thread), so it reads each field once and
    builds nothing it does not send.
    """
    resources: dict[int, int] = {}
    scopes: dict[int, int] = {}
    resource_rows: list[Any] = []
    scope_rows: list[Any] = []
    rows: list[Any] = []
    append = rows.append
    for span in spans:
        resource, scope = span.resource, span.instrumentation_scope
        r = resources.get(id(resource))
        if r is None:
            r = resources[id(resource)] = len(resource_rows)
            resource_rows.append((dict(resource.attributes), resource.schema_url))
        s = scopes.get(id(scope))
        if s is None:
            s = scopes[id(scope)] = len(scope_rows)
            scope_rows.append(
                None if scope is None else (scope.name, scope.version, scope.schema_url, dict(scope.attributes or {}))
            )
        status, events, links = span.status, span.events, span.links
        append(
            (
                span.name,
                _context(span.context),
                _context(span.parent),
                span.kind.value,
                span.start_time,
                span.end_time,
                status.status_code.value,
                status.description,
                dict(span.attributes),
                [(e.name, e.timestamp, dict(e.attributes or {})) for e in events] if events else None,
                [(_context(k.context), dict(k.attributes or {})) for k in links] if links else None,
                r,
                s,
            )
        )
    return resource_rows, scope_rows, rows


class ProcessExporter(SpanExporter):
    """Hands batches to the helper process and returns the official exporter's result."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._pid = 0

    def _helper(self) -> subprocess.Popen[bytes]:
        proc = self._proc
        if proc is not None and self._pid == os.getpid():
            if proc.poll() is None:
                return proc
            log.warning("the span export process exited (%s); starting it again", proc.returncode)
        elif proc is not None:  # a forked child: the parent's helper is the parent's to end
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    pipe.close()
        # stderr is the server's own, so the exporter's warnings (collector unreachable) show.
        self._proc = subprocess.Popen(
            [sys.executable, "-I", __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True
        )
        self._pid = os.getpid()
        return self._proc

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        payload = marshal.dumps(flatten(spans))
        with self._lock:
            try:
                proc = self._helper()
                assert proc.stdin is not None and proc.stdout is not None
                proc.stdin.write(_HEADER.pack(len(payload)) + payload)
                proc.stdin.flush()
                answer = proc.stdout.read(1)
            except OSError:
                answer = b""
            if answer == _OK:
                return SpanExportResult.SUCCESS
            if not answer and self._proc is not None:
                self._proc.kill()  # a broken helper: the next batch starts a fresh one
            return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
            if proc is None or self._pid != os.getpid():
                return
            assert proc.stdin is not None
            try:
                proc.stdin.close()  # end of input: the helper shuts its exporter down and leaves
                proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True  # every export() waits for the helper's answer: nothing is held here


def _read(stream: IO[bytes], size: int) -> bytes | None:
    data = stream.read(size)
    return data if len(data) == size else None


def _serve() -> None:
    """The helper: read batches from stdin, export them, answer one byte per batch."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import Event
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

    def context(row: Any) -> SpanContext | None:
        if row is None:
            return None
        trace_id, span_id, remote, flags, state = row
        return SpanContext(trace_id, span_id, remote, TraceFlags(flags), TraceState(state) if state else None)

    # The server's Ctrl-C reaches its whole process group; the helper leaves on end of input.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    exporter = OTLPSpanExporter()
    # Answers go to a private copy of stdout; anything printed by mistake goes to stderr.
    stdin, stdout = sys.stdin.buffer, os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    while (header := _read(stdin, _HEADER.size)) is not None:
        payload = _read(stdin, _HEADER.unpack(header)[0])
        if payload is None:
            break
        resource_rows, scope_rows, rows = marshal.loads(payload)
        resources = [Resource(attributes, schema_url) for attributes, schema_url in resource_rows]
        scopes = [None if row is None else InstrumentationScope(*row) for row in scope_rows]
        spans = [
            ReadableSpan(
                name=name,
                context=context(ctx),
                parent=context(parent),
                resource=resources[r],
                attributes=attributes,
                events=[Event(n, a, t) for n, t, a in events or ()],
                links=[Link(context(c), a) for c, a in links or ()],  # type: ignore[arg-type]
                kind=SpanKind(kind),
                status=Status(StatusCode(code), description),
                start_time=start,
                end_time=end,
                instrumentation_scope=scopes[s],
            )
            for name, ctx, parent, kind, start, end, code, description, attributes, events, links, r, s in rows
        ]
        result = exporter.export(spans)
        try:
            stdout.write(_OK if result is SpanExportResult.SUCCESS else _FAILED)
        except OSError:  # the server is gone (killed mid-batch): nobody is waiting for more
            break
    exporter.shutdown()


if __name__ == "__main__":
    _serve()
