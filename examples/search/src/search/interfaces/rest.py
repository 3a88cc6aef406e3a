"""The REST API, generated from the operation table: `create_app()` returns a FastAPI app.

Every route validates its input through the operation's own input model (not FastAPI's
per-parameter validation), so a bad value gets exactly the same error here as on the CLI and
over MCP. Errors are RFC 9457 problem+json documents carrying a stable `code`. The checks every
request passes first (Host, Origin, content type, body size, request id) are in `guard.py`.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette import routing
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..core import logs, tracing
from ..core.about import DESCRIPTION, NAME, VERSION
from ..core.errors import (
    DomainError,
    InternalError,
    MethodNotAllowed,
    StoreUnavailable,
    Unauthorized,
    Unavailable,
    UnknownOperation,
    ValidationFailed,
)
from ..core.observe import observers
from ..core.operation import check_table
from ..core.operation_status import OperationStatus
from ..core.runner import open_runner
from ..core.settings import Settings, get_settings
from ..domain.service import Service
from ..operations import OPERATIONS
from . import openapi_docs
from .auth import require_token
from .guard import Guard, default_hosts, encode_problem, public_origins
from .operations_api import add_operation_routes
from .routes import OperationEndpoint, RouteTable, refuse_shadowed_routes

PROBLEM_TYPE = "urn:search:error"
API_PREFIX = "/v1"
THREAD_LIMIT = 200
log = logging.getLogger(__name__)


def problem_response(error: DomainError, status: int | None = None, headers: dict[str, str] | None = None) -> Response:
    """An error as problem+json; it carries the request id so a report can be matched to the log."""
    body, base = encode_problem(error, PROBLEM_TYPE, logs.request_id.get())
    if status is not None:  # a framework error (404, 405) reported under its own status
        problem = json.loads(body) | {"status": status}
        body = json.dumps(problem).encode()
    response = Response(body, status_code=status or error.http_status, headers=headers)
    response.raw_headers = [h for h in response.raw_headers if h[0] != b"content-type"] + base
    return response


def _allowed_methods(request: Request) -> str:
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match != routing.Match.NONE and getattr(route, "methods", None):
            methods |= route.methods
    return ", ".join(sorted(methods))


class CapabilityApp(FastAPI):
    """A FastAPI app whose every HTTP request passes the guard first.

    The guard calls operation routes and /mcp directly and hands everything else (health,
    docs, 404s and 405s) to FastAPI's own stack.
    """

    guard: Guard

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await self.guard(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def _add_error_handlers(app: FastAPI) -> None:
    """Every error leaves as problem+json with a stable code; nothing else reaches a caller."""

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        return problem_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = None
        if exc.status_code == 404:
            error: DomainError = UnknownOperation(f"No operation at {request.method} {request.url.path}")
        elif exc.status_code == 405:
            allowed = _allowed_methods(request)
            error = MethodNotAllowed(f"{request.method} is not served at {request.url.path}; use {allowed}")
            headers = {"Allow": allowed}
        else:
            error = DomainError(str(exc.detail))
        return problem_response(error, status=exc.status_code, headers=headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        # FastAPI answers here, then re-raises to the guard, which logs the traceback once.
        return problem_response(InternalError("The server hit an unexpected error; see its logs."))


def _doc_routes(components: dict[str, Any]) -> list[APIRoute]:
    """FastAPI routes shaped like the operations, used only to write the OpenAPI document."""
    docs = []
    for op in OPERATIONS:
        errors = {*op.errors, ValidationFailed}
        if op.mutating:
            errors.add(Unauthorized)
        docs.append(
            APIRoute(
                API_PREFIX + op.path,
                _undocumented,
                methods=[op.method],
                # A long-running operation answers its operation resource (see operations_api.py).
                status_code=202 if op.long_running else op.status_code,
                response_model=OperationStatus if op.long_running else op.output_model,
                summary=op.summary,
                description=op.description,
                operation_id=op.name,
                responses=openapi_docs.responses(errors),
                openapi_extra=openapi_docs.route_docs(op, components),
                tags=["operations"],
            )
        )
    return docs


async def _undocumented() -> None:
    """Stands in for an operation endpoint in the OpenAPI document; never called."""


async def _check_readiness(service: Any, deadline: float) -> Any:
    """The service's own `readiness()` (e.g. a store ping), run off the loop under a deadline."""
    check = getattr(service, "readiness", None)
    if check is None:
        return None
    try:
        with anyio.fail_after(deadline):
            return await anyio.to_thread.run_sync(check, abandon_on_cancel=True)
    except TimeoutError:
        raise StoreUnavailable(f"The readiness check did not answer within {deadline} s") from None
    except DomainError as exc:
        if exc.http_status == 503:
            raise
        raise Unavailable(exc.detail) from None
    except Exception:
        log.exception("readiness check failed")
        raise Unavailable("The readiness check failed; see the server's logs") from None


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    logs.configure(settings.log_level)
    tracing.setup()
    check_table(OPERATIONS)
    refuse_shadowed_routes(OPERATIONS)
    service = Service.from_settings(settings)
    runner = open_runner(settings)  # long-running operations, shared by REST and MCP
    from ..core import metrics

    if metrics.record not in observers:
        observers.append(metrics.record)
    from .mcp import create_mcp_server
    from .mcp_http import McpHttpApp, http_session_manager

    mcp_server = create_mcp_server(service, settings, runner)
    mcp_sessions = http_session_manager(mcp_server, settings)
    mcp_streams = http_session_manager(mcp_server, settings, stream=True)  # calls that ask for progress

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from ..core.registration import registration
        from ..core.runtime import running  # sagas, outbox relay, event consumers (when declared)

        # Long-running operations (e.g. long polls) each hold a worker thread; allow plenty.
        anyio.to_thread.current_default_thread_limiter().total_tokens = THREAD_LIMIT
        if hasattr(service, "start"):
            service.start()
        try:
            async with (
                running(settings),
                registration(settings, OPERATIONS) as manifest,
                mcp_sessions.run(),
                mcp_streams.run(),
            ):
                app.state.manifest = manifest
                yield
        finally:
            if hasattr(service, "close"):
                service.close()

    app = CapabilityApp(
        title=NAME, version=VERSION, description=DESCRIPTION, lifespan=lifespan, docs_url="/docs", redoc_url=None
    )
    app.state.settings = settings
    app.state.service = service

    # Operation routes are raw ASGI apps (see routes.py), also on the router for HEAD and 405s.
    endpoints: list[tuple[str, str, Any]] = []
    for op in OPERATIONS:
        endpoint = OperationEndpoint(
            op,
            service,
            max_json_depth=settings.max_json_depth,
            problem_type=PROBLEM_TYPE,
            authorize=functools.partial(require_token, settings),
            runner=runner,
            api_prefix=API_PREFIX,
        )
        endpoints.append((op.method, API_PREFIX + op.path, endpoint))
        app.router.routes.append(routing.Route(API_PREFIX + op.path, endpoint, methods=[op.method], name=op.name))

    add_operation_routes(app, runner, API_PREFIX, functools.partial(require_token, settings))

    @app.get("/health", tags=["service"])
    async def health() -> dict[str, str]:
        """Liveness: the process answers. Never waits on a worker thread or the store."""
        return {"status": "ok"}

    @app.get("/ready", tags=["service"])
    async def ready() -> dict[str, Any]:
        """Readiness: the data folder is writable and the service's own check (if any) passes."""
        data_dir = settings.data_dir
        if not (data_dir.is_dir() and os.access(data_dir, os.W_OK)):
            raise Unavailable(f"Data folder {data_dir} is not writable")
        details = await _check_readiness(service, settings.store_timeout_seconds)
        return {"status": "ready", **(details if isinstance(details, dict) else {})}

    # HEAD for load balancers and uptime probes; outside the schema so each path keeps one GET.
    app.add_api_route("/health", health, methods=["HEAD"], include_in_schema=False)
    app.add_api_route("/ready", ready, methods=["HEAD"], include_in_schema=False)

    @app.get("/metrics", tags=["service"], include_in_schema=False)
    def metrics() -> Response:
        from ..core import metrics as prom

        return Response(prom.render(), media_type="text/plain; version=0.0.4")

    from starlette.routing import Route

    # The guard hands /mcp straight to the MCP app, as it does operation routes: FastAPI's
    # middleware and router would cost more per call than the guard's checks. The router keeps
    # the route for HEAD, 405 answers and in-process callers.
    mcp_app = McpHttpApp(mcp_sessions, settings, mcp_streams)
    endpoints[:0] = [(method, "/mcp", mcp_app) for method in ("POST", "GET", "DELETE")]
    app.router.routes.insert(0, Route("/mcp", mcp_app, methods=["GET", "POST", "DELETE"]))

    hosts = settings.allowed_hosts or default_hosts(settings.host, settings.public_url)
    fallback = functools.partial(FastAPI.__call__, app)
    app.guard = Guard(
        fallback,
        allowed_hosts=hosts,
        allowed_origins=public_origins(settings.allowed_origins, settings.public_url),
        max_body_bytes=settings.max_body_bytes,
        echo_request_id=True,
        problem_type=PROBLEM_TYPE,
        routes=RouteTable(endpoints),
        jsonrpc_path="/mcp",
    )

    _add_error_handlers(app)

    def openapi() -> dict[str, Any]:
        # Built on first use: describing every operation's model costs start-up time otherwise.
        if app.openapi_schema is None:
            components: dict[str, Any] = {"Problem": openapi_docs.problem_schema()}
            routes = [*_doc_routes(components), *app.routes]
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=routes)
            schema.setdefault("components", {}).setdefault("schemas", {}).update(components)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
