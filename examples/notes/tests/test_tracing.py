"""Traces cross interfaces and servers: W3C trace context in, one span per operation, context out.

Spans are read back from an in-memory exporter added to the process's tracer provider (servers
started here run in this process) or, for subprocesses, from the console exporter's JSON lines
on stderr. Template-owned: upgrade with `copier update`.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx
import pytest
from drivers import CLI_PROGRAM, running_server
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from notes import OPERATIONS
from notes.core import logs, observe, tracing
from notes.core.manifest_client import ManifestClient
from notes.core.settings import ENV_PREFIX, Settings
from notes.interfaces.client import Client

#: A read-only call that succeeds on an empty store, whatever the domain.
OP = next(op for op in OPERATIONS if op.read_only and not op.path_params)
ARGS = dict(next(ex for ex in OP.examples if ex.error is None).input)
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
#: A read-only call the operation itself refuses (a domain error, not a refusal at the door).
FAILING_OP, FAILING = next(
    (op, ex) for op in OPERATIONS if op.read_only for ex in op.examples if ex.error not in (None, "validation_error")
)
FAILING_ARGS = dict(FAILING.input)
API_PREFIX = "/v1"
TOKEN: str | None = "test-token"
AUTH = {"Authorization": "Bearer test-token"}


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Every span ended in this process while the test runs."""
    exporter = InMemorySpanExporter()
    processor = SimpleSpanProcessor(exporter)
    tracing.add_span_processor(processor)  # from now on spans are recorded, not only numbered
    assert isinstance(trace.get_tracer_provider(), TracerProvider)
    yield exporter
    processor.shutdown()  # the provider keeps it, but it exports nothing more


def _url(op: Any, args: dict[str, Any]) -> str:
    path = op.path
    for name in op.path_params:
        path = path.replace("{" + name + "}", str(args[name]))
    return API_PREFIX + path


def _query(op: Any, args: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in args.items() if k not in op.path_params}


def _hex(value: int, width: int) -> str:
    return format(value, f"0{width}x")


def _operation_spans(exporter: InMemorySpanExporter, interface: str) -> list[ReadableSpan]:
    return [
        s
        for s in exporter.get_finished_spans()
        if s.attributes and s.attributes.get("capability.interface") == interface
    ]


def test_a_client_call_through_rest_into_a_second_server_is_one_trace(
    settings: Settings, tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    """Caller -> server A's operation -> (typed client) -> server B's operation, one trace.

    Both servers are this render served twice on two ports. The test-only hook that makes A
    call B is an observer (the extension point metrics use): it runs inside A's operation span.
    """
    other = Settings(data_dir=tmp_path / "b", api_token="test-token")
    relayed: list[Any] = []
    with running_server(settings) as url_a, running_server(other) as url_b:

        def relay(operation: str, interface: str, outcome: str, seconds: float) -> None:
            if interface == "rest" and not relayed and logs.request_id.get() == "relay-1":
                relayed.append(None)  # before the call: B runs this observer too
                with Client(url_b, token=TOKEN) as client_b:
                    relayed.append(client_b.call(OP.name, ARGS))

        observe.observers.append(relay)
        try:
            root_token = logs.request_id.set("relay-1")
            with tracing.tracer.start_as_current_span("caller") as root, Client(url_a, token=TOKEN) as client_a:
                client_a.call(OP.name, ARGS)
            logs.request_id.reset(root_token)
        finally:
            observe.observers.remove(relay)
    assert len(relayed) == 2, "server A did not call server B"
    trace_id = root.get_span_context().trace_id
    ours = [s for s in _operation_spans(spans, "rest") if s.context.trace_id == trace_id]
    assert [s.name for s in ours] == [OP.name, OP.name]  # B ends first: A waits for it
    in_b, in_a = ours
    assert in_a.parent is not None and in_a.parent.span_id == root.get_span_context().span_id
    assert in_b.parent is not None and in_b.parent.span_id == in_a.context.span_id
    assert in_a.attributes is not None and in_a.attributes["capability.tier"] == "advanced"


def test_rest_failure_marks_the_span_and_log_lines_carry_both_ids(server_url: str, spans: InMemorySpanExporter) -> None:
    lines: list[dict[str, Any]] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(logs.JsonFormatter().format(record)))

    logger = logging.getLogger("notes.operations")
    handler, level = Capture(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        headers = {"traceparent": TRACEPARENT, "X-Request-ID": "req-42", **AUTH}
        ok = httpx.get(f"{server_url}{API_PREFIX}{OP.path}", params=ARGS, headers=headers, timeout=10)
        bad = httpx.get(
            f"{server_url}{_url(FAILING_OP, FAILING_ARGS)}",
            params=_query(FAILING_OP, FAILING_ARGS),
            headers=headers,
            timeout=10,
        )
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert ok.status_code == 200, ok.text
    finished = [s for s in _operation_spans(spans, "rest") if _hex(s.context.trace_id, 32) == TRACE_ID]
    assert len(finished) == 2 and all(
        s.parent is not None and _hex(s.parent.span_id, 16) == PARENT_ID for s in finished
    )
    assert bad.status_code >= 400 and bad.json()["code"] == FAILING.error
    failed = finished[1]
    assert failed.name == FAILING_OP.name and failed.status.status_code == trace.StatusCode.ERROR
    assert failed.attributes is not None and failed.attributes["error.type"] == FAILING.error
    ours = [line for line in lines if line.get("trace_id") == TRACE_ID]
    assert ours and all(line["request_id"] == "req-42" and line["span_id"] for line in ours)


def _ids_in_a_call(traceparent: str, tracestate: str | None = None) -> tuple[Any, Any, dict[str, str]]:
    """(trace id, span id) seen by log lines inside a call, and the headers it sends a peer."""
    token = tracing.attach_parent(traceparent, tracestate)
    try:
        with observe.recorded(OP, "python"):
            headers: dict[str, str] = {}
            tracing.outgoing(headers)
            trace_id, span_id = tracing.current_ids()
    finally:
        tracing.detach(token)
    return trace_id, span_id, headers


def test_an_unrecorded_call_carries_the_callers_trace_to_log_lines_and_peers(monkeypatch: pytest.MonkeyPatch) -> None:
    tracing.setup()
    monkeypatch.setattr(tracing, "recording", False)  # nothing records: what a server does by default
    trace_id, span_id, headers = _ids_in_a_call(TRACEPARENT)
    assert trace_id == TRACE_ID and span_id not in (None, PARENT_ID)
    assert headers["traceparent"] == f"00-{TRACE_ID}-{span_id}-01" and "tracestate" not in headers
    assert tracing.current_ids() == (None, None)  # the ids end with the call

    token = tracing.attach_parent(TRACEPARENT)
    try:
        with observe.recorded(OP, "python"):
            outer = tracing.current_ids()
            with observe.recorded(OP, "python"):  # a call inside a call stays in the trace
                inner = tracing.current_ids()
    finally:
        tracing.detach(token)
    assert outer[0] == inner[0] == TRACE_ID and inner[1] != outer[1]

    # two calls begun in threads under one received context: one takes it over, one nests; each
    # has ids of its own in the caller's trace
    token = tracing.attach_parent(TRACEPARENT)
    seen: list[tuple[Any, Any]] = []

    def one_call() -> None:
        with observe.recorded(OP, "python"):
            seen.append(tracing.current_ids())

    try:
        threads = [threading.Thread(target=contextvars.copy_context().run, args=(one_call,)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        tracing.detach(token)
    assert [ids[0] for ids in seen] == [TRACE_ID, TRACE_ID] and len({ids[1] for ids in seen}) == 2

    # tracestate is checked by the official propagator and passed on
    trace_id, _, headers = _ids_in_a_call(TRACEPARENT, "vendor=abc")
    assert trace_id == TRACE_ID and headers["tracestate"] == "vendor=abc"
    # not W3C (ids all zeros, upper-case hex, garbage): the call starts a trace of its own
    for bad in (f"00-{'0' * 32}-{PARENT_ID}-01", f"00-{TRACE_ID.upper()}-{PARENT_ID}-01", "garbage"):
        trace_id, span_id, headers = _ids_in_a_call(bad)
        assert trace_id not in (None, TRACE_ID, TRACE_ID.upper(), "0" * 32) and span_id, bad
        assert headers["traceparent"].split("-")[1] == trace_id


def test_recorded_spans_follow_the_providers_sampler_and_processors() -> None:
    from opentelemetry.sdk.trace.export import SpanProcessor
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    from notes.core.call_span import Recorder

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    recorder = Recorder.for_provider(provider, provider.get_tracer("scope-name"))
    assert recorder is not None
    sampled = trace.SpanContext(int(TRACE_ID, 16), int(PARENT_ID, 16), True, trace.TraceFlags(1))
    span = recorder.start("op", trace.SpanKind.SERVER, {"a": "b"}, sampled, current=False)
    span.set_attribute("error.type", "boom")
    span.set_status(trace.StatusCode.ERROR, "boom")
    span.end()
    span.end()  # a second end records nothing more
    [done] = exporter.get_finished_spans()
    assert done.context.trace_id == sampled.trace_id and done.context.span_id != sampled.span_id
    assert done.parent is not None and done.parent.span_id == sampled.span_id
    assert done.kind == trace.SpanKind.SERVER and dict(done.attributes or {}) == {"a": "b", "error.type": "boom"}
    assert done.status.status_code == trace.StatusCode.ERROR and done.status.description == "boom"
    assert done.resource is provider.resource and done.instrumentation_scope is not None
    assert done.instrumentation_scope.name == "scope-name"
    assert done.start_time is not None and done.end_time is not None and done.start_time <= done.end_time

    # the SDK's default sampler follows the caller's decision: an unsampled caller, no span
    unsampled = trace.SpanContext(int(TRACE_ID, 16), int(PARENT_ID, 16), True, trace.TraceFlags(0))
    span = recorder.start("op", trace.SpanKind.SERVER, {}, unsampled, current=False)
    assert not span.is_recording() and span.get_span_context().trace_id == unsampled.trace_id
    span.end()
    off = TracerProvider(sampler=ALWAYS_OFF)
    off.add_span_processor(SimpleSpanProcessor(exporter))
    off_recorder = Recorder.for_provider(off, off.get_tracer("scope-name"))
    assert off_recorder is not None
    span = off_recorder.start("op", trace.SpanKind.INTERNAL, {}, trace.INVALID_SPAN_CONTEXT)
    assert not span.is_recording() and span.get_span_context().is_valid
    span.end()
    assert len(exporter.get_finished_spans()) == 1

    class Starting(SpanProcessor):
        def on_start(self, span: Any, parent_context: Any = None) -> None:
            pass

    starting = TracerProvider()
    starting.add_span_processor(Starting())  # it needs the SDK's own span: no light one
    assert Recorder.for_provider(starting, starting.get_tracer("scope-name")) is None


@pytest.mark.parametrize(
    ("flags", "state", "current"),
    [
        (None, None, False),  # no parent
        (1, None, False),  # a caller that sampled
        (0, None, False),  # a caller that did not
        (1, "vendor=abc", False),
        (0, "v=1", False),
        (1, None, True),  # the current span (a call inside a call)
    ],
)
def test_the_default_samplers_answer_is_the_sdks(flags: int | None, state: str | None, current: bool) -> None:
    # The recorder reads the SDK's default sampler's answer off the parent (call_span.py): it must
    # be what an equal sampler, asked the SDK's way, answers. flags None: no parent (a new trace).
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON, DEFAULT_ON, ParentBased

    from notes.core.call_span import Recorder

    if flags is None:
        parent = trace.INVALID_SPAN_CONTEXT
    else:
        trace_state = trace.TraceState.from_header([state]) if state else None
        ids = (int(TRACE_ID, 16), int(PARENT_ID, 16))
        parent = trace.SpanContext(*ids, not current, trace.TraceFlags(flags), trace_state)
    answers = []
    for sampler in (DEFAULT_ON, ParentBased(ALWAYS_ON)):  # the second is asked the SDK's way
        provider = TracerProvider(sampler=sampler)
        provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
        recorder = Recorder.for_provider(provider, provider.get_tracer("scope-name"))
        assert recorder is not None and recorder.default_sampler is (sampler is DEFAULT_ON)
        token = otel_context.attach(trace.set_span_in_context(trace.NonRecordingSpan(parent))) if current else None
        try:
            span = recorder.start("op", trace.SpanKind.SERVER, MappingProxyType({"a": "b"}), parent, current)
        finally:
            if token is not None:
                otel_context.detach(token)
        ctx = span.get_span_context()
        attributes = dict(getattr(span, "_attributes", None) or {})
        answers.append((span.is_recording(), int(ctx.trace_flags), ctx.trace_state.to_header(), attributes))
        assert ctx.is_valid and (flags is None or ctx.trace_id == parent.trace_id)
    assert answers[0] == answers[1]


def test_the_manifest_client_sends_the_request_id_and_traceparent(spans: InMemorySpanExporter) -> None:
    seen: list[httpx.Headers] = []

    def registry(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return httpx.Response(200, json={"heartbeat_seconds": 60})

    record = {"name": "svc", "instance_id": "one"}
    client = ManifestClient("http://registry.test", None, lambda: record, transport=httpx.MockTransport(registry))

    async def boot() -> int:
        with tracing.tracer.start_as_current_span("boot") as root:
            await client.start()
            await asyncio.wait_for(client.registered.wait(), 30)
            await client.stop()
        return root.get_span_context().trace_id

    trace_id = asyncio.run(boot())
    assert len(seen) >= 2 and all(headers.get("x-request-id") for headers in seen)
    assert all(headers["traceparent"].split("-")[1] == _hex(trace_id, 32) for headers in seen)


def test_cli_joins_the_trace_given_in_traceparent(settings: Settings) -> None:
    env = {
        **os.environ,
        f"{ENV_PREFIX}DATA_DIR": str(settings.data_dir),
        "TRACEPARENT": TRACEPARENT,
        "OTEL_TRACES_EXPORTER": "console",
    }
    from notes.interfaces.cli_params import example_argv

    proc = subprocess.run([CLI_PROGRAM, *example_argv(OP, ARGS)], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    exported = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    span = next(s for s in exported if s.get("name") == OP.name)
    assert span["context"]["trace_id"] == f"0x{TRACE_ID}" and span["parent_id"] == f"0x{PARENT_ID}"
    assert span["attributes"]["capability.interface"] == "cli"
    json.loads(proc.stdout)  # the command's own output is untouched by the exporter


def test_mcp_over_http_reads_the_trace_context_from_meta(server_url: str, spans: InMemorySpanExporter) -> None:
    import anyio
    import httpx2  # the MCP SDK's HTTP client
    from mcp import Client as McpClient
    from mcp.client.streamable_http import streamable_http_client

    async def call() -> int:
        transport = streamable_http_client(
            f"{server_url}/mcp", http_client=httpx2.AsyncClient(headers=AUTH, timeout=30)
        )
        with tracing.tracer.start_as_current_span("agent") as root:
            async with McpClient(transport) as client:
                result = await client.call_tool(OP.name, ARGS)  # the SDK puts traceparent in _meta
            assert not result.is_error, result
        return root.get_span_context().trace_id

    trace_id = anyio.run(call)
    ours = [s for s in _operation_spans(spans, "mcp") if s.context.trace_id == trace_id]
    assert [s.name for s in ours] == [OP.name]


def test_mcp_over_stdio_reads_the_trace_context_from_meta(
    settings: Settings, tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    import anyio
    from mcp import Client as McpClient
    from mcp import StdioServerParameters
    from mcp.client.stdio import stdio_client

    env = {**os.environ, f"{ENV_PREFIX}DATA_DIR": str(settings.data_dir), "OTEL_TRACES_EXPORTER": "console"}
    params = StdioServerParameters(command=CLI_PROGRAM, args=["mcp"], env=env)
    err = tmp_path / "stderr.log"

    async def call() -> int:
        with err.open("w") as errlog, tracing.tracer.start_as_current_span("agent") as root:
            async with McpClient(stdio_client(params, errlog=errlog)) as client:
                result = await client.call_tool(OP.name, ARGS)  # the SDK puts traceparent in _meta
                assert not result.is_error, result
        return root.get_span_context().trace_id

    trace_id = anyio.run(call)
    exported = [json.loads(line) for line in err.read_text().splitlines() if line.startswith('{"name"')]
    span = next(s for s in exported if s["name"] == OP.name)
    assert span["context"]["trace_id"] == f"0x{_hex(trace_id, 32)}"
    assert span["attributes"]["capability.interface"] == "mcp"
