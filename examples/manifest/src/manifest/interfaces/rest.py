"""The REST API, generated from the operation table: `create_app()` returns a FastAPI app.

Every route validates its input through the operation's own input model (not FastAPI's
per-parameter validation), so a bad value gets exactly the same error here as on the CLI and
over MCP. Errors are RFC 9457 problem+json documents carrying a stable `code`.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..core import logs
from ..core.about import DESCRIPTION, NAME, VERSION
from ..core.errors import (
    DomainError,
    InternalError,
    PayloadTooLarge,
    Unauthorized,
    Unavailable,
    UnknownOperation,
    ValidationFailed,
    validation_failed,
)
from ..core.observe import dispatch, observers
from ..core.operation import Operation, is_list
from ..core.settings import Settings, get_settings
from ..domain.service import Service
from ..operations import OPERATIONS
from .auth import require_token

PROBLEM_TYPE = "urn:manifest:error"
API_PREFIX = "/v1"
THREAD_LIMIT = 200


def problem_response(error: DomainError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        error.to_problem(PROBLEM_TYPE),
        status_code=error.http_status,
        media_type="application/problem+json",
        headers=headers,
    )


async def _read_input(op: Operation, request: Request, max_bytes: int) -> dict[str, Any]:
    """Gather path, query and body values into one dict for the operation's input model."""
    raw: dict[str, Any] = {}
    if op.has_body:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise PayloadTooLarge(f"Request body is larger than {max_bytes} bytes")
        body = await request.body()
        if len(body) > max_bytes:
            raise PayloadTooLarge(f"Request body is larger than {max_bytes} bytes")
        if body:
            try:
                data = json.loads(body)
            except ValueError as exc:
                raise validation_failed(
                    [{"loc": ["body"], "msg": f"Malformed JSON: {exc}", "type": "json_invalid"}]
                ) from None
            if not isinstance(data, dict):
                raise validation_failed([{"loc": ["body"], "msg": "Expected a JSON object", "type": "model_type"}])
            raw.update(data)
    else:
        fields = op.input_model.model_fields
        for key in request.query_params:
            values = request.query_params.getlist(key)
            raw[key] = values if key in fields and is_list(fields[key].annotation) else values[-1]
    raw.update(request.path_params)
    return raw


def _endpoint(op: Operation) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        state = request.app.state
        if op.mutating:
            require_token(state.settings, request.headers.get("authorization"))
        raw = await _read_input(op, request, state.settings.max_body_bytes)
        result = await dispatch(op, state.service, raw, "rest")
        return Response(result.model_dump_json(), status_code=op.status_code, media_type="application/json")

    endpoint.__name__ = op.name
    return endpoint


def _problem_ref(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _route_docs(op: Operation, components: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI for a route whose input is read by hand: parameters and body from the model."""
    schema = op.input_model.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(schema.pop("$defs", {}))
    props: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    params = [{"name": n, "in": "path", "required": True, "schema": props[n]} for n in op.path_params]
    rest = {n: s for n, s in props.items() if n not in op.path_params}
    extra: dict[str, Any] = {}
    if op.has_body:
        body = {
            "type": "object",
            "title": schema.get("title"),
            "properties": rest,
            "required": sorted(required & rest.keys()),
            "additionalProperties": False,
        }
        extra["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    else:
        params += [{"name": n, "in": "query", "required": n in required, "schema": s} for n, s in rest.items()]
    extra["parameters"] = params
    return extra


def _problem_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "title": "Problem",
        "required": ["type", "title", "status", "code"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "code": {"type": "string"},
            "retryable": {"type": "boolean"},
            "errors": {"type": "array", "items": {"type": "object"}},
        },
    }


class RequestIdMiddleware:
    """Accept `X-Request-ID` or make one; echo it back and expose it to log lines."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = given if given and len(given) <= 128 and given.isprintable() else uuid.uuid4().hex
        token = logs.request_id.set(rid)

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            logs.request_id.reset(token)


def _add_error_handlers(app: FastAPI) -> None:
    """Every error leaves as problem+json with a stable code; nothing else reaches a caller."""

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> JSONResponse:
        return problem_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        error = (
            UnknownOperation(f"No operation at {request.method} {request.url.path}")
            if exc.status_code in (404, 405)
            else DomainError(str(exc.detail))
        )
        return JSONResponse(
            error.to_problem(PROBLEM_TYPE) | {"status": exc.status_code},
            status_code=exc.status_code,
            media_type="application/problem+json",
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Never leak a traceback: the log has it, the caller gets a stable code.
        logging.getLogger(__name__).exception("unhandled error")
        return problem_response(InternalError("The server hit an unexpected error; see its logs."))


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    logs.configure(settings.log_level)
    service = Service.from_settings(settings)
    from ..core import metrics

    if metrics.record not in observers:
        observers.append(metrics.record)
    from .mcp import create_mcp_server, http_session_manager

    mcp_sessions = http_session_manager(create_mcp_server(service, settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from ..core.registration import registration

        # Long-running operations (e.g. long polls) each hold a worker thread; allow plenty.
        anyio.to_thread.current_default_thread_limiter().total_tokens = THREAD_LIMIT
        if hasattr(service, "start"):
            service.start()
        try:
            async with registration(settings, OPERATIONS) as manifest, mcp_sessions.run():
                app.state.manifest = manifest
                yield
        finally:
            if hasattr(service, "close"):
                service.close()

    app = FastAPI(
        title=NAME, version=VERSION, description=DESCRIPTION, lifespan=lifespan, docs_url="/docs", redoc_url=None
    )
    app.state.settings = settings
    app.state.service = service

    components: dict[str, Any] = {"Problem": _problem_schema()}
    for op in OPERATIONS:
        errors = {*op.errors, ValidationFailed}
        if op.mutating:
            errors.add(Unauthorized)
        responses: dict[int | str, dict[str, Any]] = {
            err.http_status: _problem_ref(err.title) for err in sorted(errors, key=lambda e: e.http_status)
        }
        app.add_api_route(
            API_PREFIX + op.path,
            _endpoint(op),
            methods=[op.method],
            status_code=op.status_code,
            response_model=op.output_model,
            summary=op.summary,
            description=op.description,
            operation_id=op.name,
            responses=responses,
            openapi_extra=_route_docs(op, components),
            tags=["operations"],
        )

    @app.get("/health", tags=["service"])
    def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/ready", tags=["service"])
    def ready() -> dict[str, str]:
        """Readiness: settings loaded and the data folder is writable."""
        data_dir = settings.data_dir
        if not (data_dir.is_dir() and os.access(data_dir, os.W_OK)):
            raise Unavailable(f"Data folder {data_dir} is not writable")
        return {"status": "ready"}

    @app.get("/metrics", tags=["service"], include_in_schema=False)
    def metrics() -> Response:
        from ..core import metrics as prom

        return Response(prom.render(), media_type="text/plain; version=0.0.4")

    from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
    from starlette.routing import Route

    app.router.routes.append(Route("/mcp", StreamableHTTPASGIApp(mcp_sessions), methods=["GET", "POST", "DELETE"]))
    app.add_middleware(RequestIdMiddleware)

    _add_error_handlers(app)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schema.setdefault("components", {}).setdefault("schemas", {}).update(components)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
