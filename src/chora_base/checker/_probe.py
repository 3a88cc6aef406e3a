"""Behaviour probe, executed with the *project's* interpreter.

Usage: ``python _probe.py CONFIG_JSON OUTPUT_JSON``. It imports the project, reads its
operation table, errors, CLI, REST app and MCP server, and writes one JSON document.

Only the standard library is imported at module level: the project's environment is
all we can rely on, and it may lack anything (even FastAPI, on a broken project). Every
section is wrapped so that one failure is reported, never fatal. Nothing is printed to
stdout: a project that prints at import time must not corrupt our output.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import json
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Any

HEAVY_MODULES = ("fastapi", "mcp", "starlette", "uvicorn")
TIMEOUT = 20.0
_VERSION_PREFIX = re.compile(r"^/v\d+(?=/)")


def _err(exc: BaseException) -> str:
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" (at {last[0].filename}:{last[0].lineno})" if last else ""
    return f"{type(exc).__name__}: {exc}{where}"


def route_matches(op_method: str, op_path: str, method: str, path: str) -> bool:
    """A route serves an operation when methods agree and paths agree up to a /vN prefix."""
    if op_method.upper() != method.upper():
        return False
    return path == op_path or _VERSION_PREFIX.sub("", path) == op_path


# --------------------------------------------------------------------------- CLI start-up


_STARTUP_CODE = """
import importlib, json, sys
from {module} import {func} as _main


def _domain_command():
    # A read-only operation that needs no input can run against an empty store.
    for op in importlib.import_module({package!r}).OPERATIONS:
        fields = getattr(op.input_model, "model_fields", {{}})
        if op.read_only and not any(f.is_required() for f in fields.values()):
            return [op.name.replace("_", "-"), "--json"]
    return None


runs = []
for args in (["--help"], "domain"):
    if args == "domain":
        args = _domain_command()
        if args is None:
            break
    sys.argv = [{cli!r}] + args
    code = 0
    try:
        _main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    # Modules loaded so far: the first run is a cold start, later runs add what they need.
    runs.append({{"args": args, "exit_code": code,
                  "imported": sorted(m for m in {heavy!r} if m in sys.modules)}})
with open({out!r}, "w") as f:
    json.dump(runs, f)
"""


def start_cli(cfg: dict[str, Any], tmp: str) -> dict[str, Any]:
    """Start the CLI entry point in a fresh interpreter; finished by finish_cli().

    One process runs ``--help`` and then a domain command, recording loaded modules after
    each: half the start-up cost of two processes, on a machine that may have two cores.
    """
    entry = cfg.get("cli_entry") or ""
    module, _, func = entry.partition(":")
    out = os.path.join(tmp, "cli-modules.json")
    code = _STARTUP_CODE.format(
        out=out,
        heavy=HEAVY_MODULES,
        cli=cfg.get("cli_name") or "cli",
        package=cfg["package"],
        module=module,
        func=func or "main",
    )
    # -X importtime names the importer of each module, so the report can say *why*
    # FastAPI got loaded, not just that it did.
    proc = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-c", code],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=os.environ.copy(),
        cwd=tmp,
    )
    return {"proc": proc, "out": out, "started": time.perf_counter()}


def _import_chain(stderr: str, module: str) -> list[str]:
    """From -X importtime output, the chain of importers of ``module`` (outermost first)."""
    rows: list[tuple[int, str]] = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        name_part = line.rsplit("|", 1)[1]
        stripped = name_part.lstrip(" ")
        if stripped.startswith("imported package"):
            continue
        rows.append((len(name_part) - len(stripped), stripped.strip()))
    for i, (depth, name) in enumerate(rows):
        if name == module:
            chain, current = [name], depth
            for d, n in rows[i + 1 :]:
                if d < current:
                    chain.append(n)
                    current = d
            return list(reversed(chain))
    return []


def finish_cli(run: dict[str, Any]) -> list[dict[str, Any]]:
    proc: subprocess.Popen[str] = run["proc"]
    try:
        _, stderr = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, stderr = proc.communicate()
        return [{"ok": False, "args": ["--help"], "error": f"timed out after {TIMEOUT:.0f} s"}]
    try:
        with open(run["out"]) as f:
            results: list[dict[str, Any]] = json.load(f)
    except (OSError, ValueError):
        tail = [ln for ln in stderr.splitlines() if not ln.startswith("import time:")][-8:]
        return [{"ok": False, "args": ["--help"], "error": "the CLI did not start: " + " | ".join(tail)}]
    for result in results:
        result.update(ok=True, chains={m: _import_chain(stderr, m) for m in result["imported"]})
    return results


# --------------------------------------------------------------------------- ASGI driver


class _Asgi:
    """Just enough of an ASGI server to run the lifespan and a few requests in-process.

    Written here instead of using TestClient so that the probe needs nothing the
    project may not have (httpx is optional for an Essential project).
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self._lifespan_in: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._lifespan_out: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[Any] | None = None
        self.lifespan_error: str | None = None

    async def start(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": self.state}

        async def run() -> None:
            try:
                await self.app(scope, self._lifespan_in.get, self._lifespan_out.put)
            except BaseException as exc:  # an app without lifespan support raises here
                await self._lifespan_out.put({"type": "lifespan.unsupported", "error": _err(exc)})

        self._task = asyncio.create_task(run())
        await self._lifespan_in.put({"type": "lifespan.startup"})
        msg = await asyncio.wait_for(self._lifespan_out.get(), TIMEOUT)
        if msg["type"] == "lifespan.startup.failed":
            self.lifespan_error = msg.get("message") or "lifespan startup failed"
            raise RuntimeError(f"application startup failed: {self.lifespan_error}")

    async def stop(self) -> None:
        if self._task is None or self._task.done():
            return
        await self._lifespan_in.put({"type": "lifespan.shutdown"})
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._lifespan_out.get(), TIMEOUT)
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(self._task, TIMEOUT)

    async def request(
        self, method: str, path: str, *, body: bytes = b"", headers: dict[str, str] | None = None, query: str = ""
    ) -> dict[str, Any]:
        # A loopback name: the app's guard serves only those unless ALLOWED_HOSTS says otherwise.
        hdrs = {"host": "localhost", **{k.lower(): v for k, v in (headers or {}).items()}}
        if body:
            hdrs.setdefault("content-type", "application/json")
            hdrs["content-length"] = str(len(body))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method.upper(),
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(k.encode(), v.encode()) for k, v in hdrs.items()],
            "client": ("127.0.0.1", 50000),
            "server": ("localhost", 80),
            "state": dict(self.state),
        }
        done = asyncio.Event()
        body_sent = False
        response: dict[str, Any] = {"status": None, "headers": {}, "body": b""}

        async def receive() -> dict[str, Any]:
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(msg: dict[str, Any]) -> None:
            if msg["type"] == "http.response.start":
                response["status"] = msg["status"]
                response["headers"] = {k.decode().lower(): v.decode() for k, v in msg.get("headers", [])}
            elif msg["type"] == "http.response.body":
                response["body"] += msg.get("body", b"")
                if not msg.get("more_body"):
                    done.set()

        await asyncio.wait_for(self.app(scope, receive, send), TIMEOUT)
        done.set()
        text = response["body"].decode("utf-8", "replace")
        parsed: Any = None
        with contextlib.suppress(ValueError):
            parsed = json.loads(text) if text else None
        return {
            "status": response["status"],
            "content_type": response["headers"].get("content-type", ""),
            "headers": response["headers"],
            "json": parsed,
            "text": text[:500],
        }


# --------------------------------------------------------------------------- sections


def probe_package(cfg: dict[str, Any], out: dict[str, Any]) -> Any:
    pkg_name = cfg["package"]
    section: dict[str, Any] = {"ok": False}
    out["import"] = section
    try:
        pkg = importlib.import_module(pkg_name)
    except BaseException as exc:
        section["error"] = _err(exc)
        return None
    section["has"] = {n: hasattr(pkg, n) for n in ("Service", "DomainError", "OPERATIONS")}
    section["ok"] = True
    return pkg


def _example_args(op: Any) -> dict[str, Any] | None:
    for ex in getattr(op, "examples", ()) or ():
        if getattr(ex, "error", None):
            continue
        args = getattr(ex, "args", None)
        if args is None:
            args = getattr(ex, "arguments", None)
        if args is None and isinstance(getattr(ex, "__dict__", None), dict):
            args = next((v for v in vars(ex).values() if isinstance(v, dict)), None)
        if isinstance(args, dict):
            return args
    return None


def probe_operations(pkg: Any, out: dict[str, Any]) -> list[Any]:
    section: dict[str, Any] = {"ok": False, "items": []}
    out["operations"] = section
    try:
        ops = list(pkg.OPERATIONS)
    except BaseException as exc:
        section["error"] = _err(exc)
        return []
    for op in ops:
        try:
            model = getattr(op, "input_model", None)
            fields = getattr(model, "model_fields", {}) or {}
            required = [n for n, f in fields.items() if f.is_required()]
            section["items"].append(
                {
                    "name": str(op.name),
                    "method": str(op.method).upper(),
                    "path": str(op.path),
                    "read_only": bool(getattr(op, "read_only", False)),
                    "destructive": bool(getattr(op, "destructive", False)),
                    "long_running": bool(getattr(op, "long_running", False)),
                    "errors": [f"{e.__module__}.{e.__qualname__}" for e in getattr(op, "errors", ())],
                    "required_inputs": required,
                    "example": _example_args(op),
                }
            )
        except BaseException as exc:
            section.setdefault("item_errors", []).append(f"{op!r}: {_err(exc)}")
    section["ok"] = True
    return ops


def _import_all(pkg_name: str, errors: list[str]) -> None:
    """Import every module of the package so that every DomainError subclass is defined."""
    pkg = sys.modules[pkg_name]
    for info in pkgutil.walk_packages(getattr(pkg, "__path__", []), prefix=f"{pkg_name}."):
        if info.name.rsplit(".", 1)[-1] == "__main__":
            continue
        try:
            importlib.import_module(info.name)
        except BaseException as exc:
            errors.append(f"{info.name}: {_err(exc)}")


def probe_errors(pkg: Any, ops: list[Any], out: dict[str, Any]) -> None:
    section: dict[str, Any] = {"ok": False, "classes": [], "import_errors": []}
    out["errors"] = section
    base = getattr(pkg, "DomainError", None)
    if not isinstance(base, type):
        section["error"] = f"{pkg.__name__}.DomainError is missing"
        return
    _import_all(pkg.__name__, section["import_errors"])
    seen: list[type] = []
    stack = list(base.__subclasses__())
    while stack:
        cls = stack.pop()
        if cls not in seen:
            seen.append(cls)
            stack.extend(cls.__subclasses__())
    for cls in sorted(seen, key=lambda c: (c.__module__, c.__qualname__)):
        # Where each attribute is defined: an error that only inherits DomainError's own
        # values has not been mapped by anyone.
        below_base = [c for c in cls.__mro__ if c is not base and issubclass(c, base)]

        def origin(attr: str, below: list[type] = below_base) -> bool:
            return any(attr in vars(c) for c in below)

        section["classes"].append(
            {
                "name": f"{cls.__module__}.{cls.__qualname__}",
                "code": getattr(cls, "code", None),
                "own_code": "code" in vars(cls),
                "http_status": getattr(cls, "http_status", None),
                "exit_code": getattr(cls, "exit_code", None),
                "mapped": {a: origin(a) for a in ("code", "http_status", "exit_code")},
            }
        )
    not_domain = []
    for op in ops:
        for e in getattr(op, "errors", ()) or ():
            if not (isinstance(e, type) and issubclass(e, base)):
                not_domain.append({"operation": str(getattr(op, "name", op)), "error": repr(e)})
    section["not_domain"] = not_domain
    section["ok"] = True


def probe_cli(cfg: dict[str, Any], out: dict[str, Any]) -> None:
    section: dict[str, Any] = {"ok": False}
    out["cli"] = section
    module_name = (cfg.get("cli_entry") or "").partition(":")[0]
    try:
        import typer
        import typer.main

        module = importlib.import_module(module_name)
        apps = [v for v in vars(module).values() if isinstance(v, typer.Typer)]
        if not apps:
            section["error"] = f"no typer.Typer instance found in {module_name}"
            return
        command = typer.main.get_command(apps[0])
        names: list[str] = []
        json_missing: list[str] = []
        # The click protocol (list_commands/get_command), so groups that build commands lazily count.
        ctx = command.make_context(command.name or "cli", [], resilient_parsing=True)
        listed = command.list_commands(ctx) if hasattr(command, "list_commands") else []
        for name in sorted(listed):
            cmd = command.get_command(ctx, name)
            names.append(name)
            opts = {o for p in getattr(cmd, "params", []) for o in getattr(p, "opts", [])}
            if "--json" not in opts:
                json_missing.append(name)
        section.update(ok=True, commands=names, without_json=json_missing)
    except BaseException as exc:
        section["error"] = _err(exc)


def probe_rest(cfg: dict[str, Any], ops: list[dict[str, Any]], out: dict[str, Any]) -> None:
    section: dict[str, Any] = {"ok": False}
    out["rest"] = section
    pkg = cfg["package"]
    try:
        rest = importlib.import_module(f"{pkg}.interfaces.rest")
        app = rest.create_app()
    except BaseException as exc:
        section["error"] = _err(exc)
        return
    routes = []
    for route in getattr(app, "routes", []):
        path = getattr(route, "path", "")
        methods = sorted(getattr(route, "methods", None) or [])
        kind = "route" if methods else "mount"
        routes.append(
            {
                "path": path,
                "methods": methods,
                "name": getattr(route, "name", None),
                "kind": kind,
                "include_in_schema": getattr(route, "include_in_schema", True),
            }
        )
    section.update(ok=True, routes=routes)
    probe_openapi(cfg, app, out)
    try:
        out["http"] = asyncio.run(_http_checks(app, ops, routes))
    except BaseException as exc:
        out["http"] = {"error": _err(exc)}


def _diff(a: Any, b: Any, path: str, found: list[str], limit: int = 12) -> None:
    if len(found) >= limit:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            # "paths > /notes/{slug} > get" reads better than a JSON pointer full of slashes.
            where = f"{path} > {key}" if path else str(key)
            if key not in a:
                found.append(f"{where}: in the app, not in the committed file")
            elif key not in b:
                found.append(f"{where}: in the committed file, not in the app")
            else:
                _diff(a[key], b[key], where, found, limit)
    elif a != b:
        found.append(f"{path or '(document)'}: committed {json.dumps(a)[:60]} != app {json.dumps(b)[:60]}")


def probe_openapi(cfg: dict[str, Any], app: Any, out: dict[str, Any]) -> None:
    section: dict[str, Any] = {"ok": False}
    out["openapi"] = section
    committed_path = os.path.join(cfg["root"], "openapi.json")
    try:
        generated = json.loads(json.dumps(app.openapi()))  # normalise tuples etc.
    except BaseException as exc:
        section["error"] = f"create_app().openapi() failed: {_err(exc)}"
        return
    if not os.path.isfile(committed_path):
        section.update(ok=True, committed=False)
        return
    try:
        with open(committed_path, encoding="utf-8") as f:
            committed = json.load(f)
    except (OSError, ValueError) as exc:
        section["error"] = f"openapi.json is not valid JSON: {exc}"
        return
    differences: list[str] = []
    _diff(committed, generated, "", differences)
    section.update(ok=True, committed=True, matches=not differences, differences=differences)


def _fill_path(path: str, args: dict[str, Any]) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: str(args.get(m[1], "probe")), path)


async def _http_checks(app: Any, ops: list[dict[str, Any]], routes: list[dict[str, Any]]) -> dict[str, Any]:
    client = _Asgi(app)
    result: dict[str, Any] = {}
    try:
        await client.start()
    except BaseException as exc:
        return {"error": f"lifespan startup failed: {_err(exc)}"}
    try:
        result["health"] = await client.request("GET", "/health")
        result["ready"] = await client.request("GET", "/ready")
        result["unknown"] = await client.request("GET", "/__chora_check_no_such_route__")
        result["request_id"] = await client.request(
            "GET", "/health", headers={"X-Request-ID": "chora-check-request-id"}
        )
        result["metrics"] = await client.request("GET", "/metrics")
        # Long-running operations' resource (ID012): an unknown id must be a 404 problem.
        resource = next((r["path"] for r in routes if re.search(r"/operations/\{\w+\}$", r["path"])), None)
        if resource is not None:
            result["unknown_operation_id"] = await client.request("GET", _fill_path(resource, {}))
        auth = []
        for op in ops:
            if op["read_only"]:
                continue
            route = next(
                (r for r in routes if any(route_matches(op["method"], op["path"], m, r["path"]) for m in r["methods"])),
                None,
            )
            if route is None:
                continue
            args = dict(op.get("example") or {})
            path = _fill_path(route["path"], args)
            for name in re.findall(r"\{(\w+)", route["path"]):
                args.pop(name, None)
            body = json.dumps(args).encode() if op["method"] in ("POST", "PUT", "PATCH") else b""
            resp = await client.request(op["method"], path, body=body)
            code = resp["json"].get("code") if isinstance(resp["json"], dict) else None
            auth.append(
                {"operation": op["name"], "method": op["method"], "path": path, "status": resp["status"], "code": code}
            )
        result["auth"] = auth
    except BaseException as exc:
        result["error"] = _err(exc)
    finally:
        await client.stop()
    return result


def _factory_args(factory: Any, cfg: dict[str, Any]) -> dict[str, Any]:
    """Arguments for a factory like ``create_mcp_server(service, settings)``, by name.

    The contract allows either a no-argument factory or one taking the service and the
    settings; both are built the way the project builds them itself.
    """
    params = inspect.signature(factory).parameters
    wanted = [
        n
        for n, p in params.items()
        if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    args: dict[str, Any] = {}
    settings: Any = None
    if "settings" in wanted or "service" in wanted:
        mod = importlib.import_module(f"{cfg['package']}.core.settings")
        getter = getattr(mod, "get_settings", None)
        settings = getter() if callable(getter) else mod.Settings()
    if "settings" in wanted:
        args["settings"] = settings
    if "service" in wanted:
        service_cls = importlib.import_module(cfg["package"]).Service
        from_settings = getattr(service_cls, "from_settings", None)
        args["service"] = from_settings(settings) if callable(from_settings) else service_cls()
    return args


def probe_mcp(cfg: dict[str, Any], out: dict[str, Any]) -> None:
    section: dict[str, Any] = {"ok": False}
    out["mcp"] = section
    module_name = f"{cfg['package']}.interfaces.mcp"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        section["error"] = f"{module_name} is missing" if exc.name == module_name else _err(exc)
        section["missing"] = exc.name == module_name
        return
    except BaseException as exc:
        section["error"] = _err(exc)
        return
    try:
        server = module.create_mcp_server(**_factory_args(module.create_mcp_server, cfg))
        from mcp import Client  # the real client: tools are listed over the protocol

        async def list_tools() -> list[Any]:
            async with Client(server) as client:
                return list((await client.list_tools()).tools)

        tools = asyncio.run(asyncio.wait_for(list_tools(), TIMEOUT))
        section["tools"] = []
        for tool in tools:
            ann = getattr(tool, "annotations", None)
            section["tools"].append(
                {
                    "name": tool.name,
                    "read_only": getattr(ann, "read_only_hint", None) if ann else None,
                    "destructive": getattr(ann, "destructive_hint", None) if ann else None,
                    "has_output_schema": getattr(tool, "output_schema", None) is not None,
                }
            )
        section["ok"] = True
    except BaseException as exc:
        section["error"] = _err(exc)


def probe_client(cfg: dict[str, Any], names: list[str], out: dict[str, Any]) -> None:
    section: dict[str, Any] = {"ok": False}
    out["client"] = section
    module_name = f"{cfg['package']}.interfaces.client"
    try:
        module = importlib.import_module(module_name)
        cls = module.Client
        methods = {n for n, v in inspect.getmembers(cls) if callable(v) and not n.startswith("_")}
        try:
            # Methods may be generated per instance (__getattr__ over the table). The port
            # is never contacted: constructing a client does not connect.
            client = cls("http://127.0.0.1:9")
        except BaseException:
            client = None
        if client is not None:
            methods |= {n for n in names if callable(getattr(client, n, None))}
            with contextlib.suppress(BaseException):
                client.close()
        section["methods"] = sorted(methods)
        section["ok"] = True
    except ModuleNotFoundError as exc:
        section["error"] = f"{module_name} is missing" if exc.name == module_name else _err(exc)
    except BaseException as exc:
        section["error"] = _err(exc)


# --------------------------------------------------------------------------- main


def run(cfg: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    out: dict[str, Any] = {"python": sys.version.split()[0], "executable": sys.executable}
    pkg_name = cfg.get("package")
    if not pkg_name:
        out["fatal"] = "no package found (no .copier-answers.yml package_name, no console script)"
        return out
    tmp = tempfile.mkdtemp(prefix="chora-check-")
    # Isolate the project from its real data and peers: a check must never touch the
    # owner's store or announce itself to a live registry.
    prefix = f"{pkg_name.upper()}_"
    for key in [k for k in os.environ if k.startswith(prefix)]:
        del os.environ[key]
    os.environ[f"{prefix}DATA_DIR"] = os.path.join(tmp, "data")
    os.environ[f"{prefix}API_TOKEN"] = "chora-check-token"
    src = cfg.get("src")
    if src and os.path.isdir(src):
        # The working tree is what is being checked, even when the environment holds an
        # installed copy of the package; the CLI subprocesses inherit the same path.
        sys.path.insert(0, src)
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH", "")) if p)

    timings: dict[str, float] = {}
    out["timings"] = timings

    def timed(name: str, func: Any, *args: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return func(*args)
        finally:
            timings[name] = round(time.perf_counter() - t0, 3)

    # Started first so that the CLI runs while this process imports the web stack.
    cli_run = start_cli(cfg, tmp) if cfg.get("cli_entry") else None
    pkg = timed("import", probe_package, cfg, out)
    if pkg is not None:
        ops = probe_operations(pkg, out)
        op_items = out["operations"]["items"]
        timed("errors", probe_errors, pkg, ops, out)
        timed("cli", probe_cli, cfg, out)
        timed("rest", probe_rest, cfg, op_items, out)
        timed("mcp", probe_mcp, cfg, out)
        timed("client", probe_client, cfg, [op["name"] for op in op_items], out)
    out["startup"] = timed("startup", lambda: finish_cli(cli_run) if cli_run else [])
    out["seconds"] = round(time.perf_counter() - started, 3)
    shutil.rmtree(tmp, ignore_errors=True)
    return out


def main(argv: list[str]) -> int:
    cfg = json.loads(argv[1])
    real_stdout = sys.stdout
    sys.stdout = sys.stderr  # anything the project prints goes to stderr
    try:
        result = run(cfg)
    except BaseException as exc:  # the probe itself must always produce a document
        result = {"fatal": _err(exc)}
    finally:
        sys.stdout = real_stdout
    with open(argv[2], "w", encoding="utf-8") as f:
        json.dump(result, f, default=repr)
    return 0


if __name__ == "__main__":
    # os._exit: skip interpreter teardown, where a project's leftover threads could hang us.
    code = main(sys.argv)
    sys.stderr.flush()
    os._exit(code)
