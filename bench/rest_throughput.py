"""REST throughput measured from outside: wrk against a generated route and a bare FastAPI route.

Two uvicorn servers (one worker each, uvloop + httptools, loopback only, same venv) share one
seeded SQLite store:
  generated  the Advanced render's `create_app()`: `GET /v1/notes/{slug}` and `POST /v1/notes`
             (bearer token, request ids, metrics, problem+json: everything a user gets);
  bare       a hand-written FastAPI app doing the same store work: an `async def` read with a
             pydantic response model, and a `def` write with a pydantic body model (FastAPI's own
             advice for blocking calls: a write may wait on the store's lock, so it runs in the
             thread pool), both calling the same domain service; for reference also an
             `async def` write run on the event loop, which is faster while nothing waits
             and stalls every other request when the store's lock is held.
wrk (another process, one thread) drives each server in interleaved rounds within one run, so
drift in machine load hits both alike. Printed per scenario: requests/s, p50/p99 latency, the
ratio generated/bare, the server's CPU per request and wrk's CPU share of a core (if wrk were
saturated the figures would measure wrk, not the servers).

Targets: read >= 0.85x bare requests/s with p50 <= 1.2x bare; write >= 0.85x bare.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
from _common import (
    DATA_ENV,
    PACKAGE,
    SEED,
    SEED_NOTES,
    add_wrk_options,
    advanced_project,
    child_env,
    print_table,
    require_wrk,
    stop,
    write_results,
)

TARGETS = {"read_rps": 0.85, "read_p50": 1.2, "write_rps": 0.85}
TOKEN = "bench-token"

BARE_APP = f'''
"""A bare FastAPI app doing the generated routes' store work, nothing else."""

from fastapi import FastAPI
from pydantic import BaseModel

from {PACKAGE}.core.settings import get_settings
from {PACKAGE}.domain.models import Note
from {PACKAGE}.domain.service import Service


class NewNote(BaseModel):
    slug: str
    title: str
    body: str = ""
    tags: list[str] = []


def create_app() -> FastAPI:
    service = Service.from_settings(get_settings())
    app = FastAPI()

    @app.get("/notes/{{slug}}")
    async def get_note(slug: str) -> Note:
        return service.get_note(slug=slug)

    @app.post("/notes", status_code=201)
    def create_note(note: NewNote) -> Note:
        return service.create_note(slug=note.slug, title=note.title, body=note.body, tags=note.tags)

    @app.post("/notes-on-loop", status_code=201)
    async def create_note_on_loop(note: NewNote) -> Note:
        # Shown for reference only: a write that waits for the store's lock stalls every request.
        return service.create_note(slug=note.slug, title=note.title, body=note.body, tags=note.tags)

    return app
'''

# wrk scripts: reads cycle through the seeded slugs; writes create notes with unique slugs. The
# `done` hook prints one JSON line, so nothing depends on wrk's human-readable report.
WRK_SCRIPT = """
local mode, path, prefix, token = "read", "/", "w", nil
local counter = 0

function init(args)
  mode, path, prefix, token = args[1], args[2], args[3], args[4]
end

function request()
  counter = counter + 1
  local headers = {}
  if token ~= nil and token ~= "" then headers["Authorization"] = "Bearer " .. token end
  if mode == "read" then
    return wrk.format("GET", path .. "note-" .. (counter % SEED), headers)
  end
  headers["Content-Type"] = "application/json"
  local body = '{"slug": "' .. prefix .. '-' .. counter .. '", "title": "Bench", "body": "lorem ipsum"}'
  return wrk.format("POST", path, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "status_errors": %d, '
      .. '"socket_errors": %d, "p50_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
""".replace("SEED", str(SEED_NOTES))

SCENARIOS = {
    "read": {"generated": "/v1/notes/", "bare": "/notes/"},
    "write": {"generated": "/v1/notes", "bare": "/notes", "bare-on-loop": "/notes-on-loop"},
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def server(
    python: Path, target: str, app_dir: Path, env: dict[str, str], probe: str, log: Path
) -> Iterator[tuple[str, int]]:
    """Run `uvicorn --factory target` (uvloop, httptools) on a free loopback port; yield URL and pid."""
    port = free_port()
    argv = [str(python), "-m", "uvicorn", target, "--factory", "--app-dir", str(app_dir)]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--loop", "uvloop", "--http", "httptools"]
    argv += ["--log-level", "warning", "--no-access-log"]
    with log.open("wb") as sink:
        proc = subprocess.Popen(argv, env=env, stdout=sink, stderr=sink)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"{target} exited early:\n{log.read_text()}")
            try:
                if httpx.get(base + probe, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{target} did not answer within 60 s:\n{log.read_text()}")
            time.sleep(0.2)
        yield base, proc.pid
    finally:
        stop(proc)


def run_wrk(wrk: str, script: Path, base: str, pid: int, args: list[str], opts: argparse.Namespace) -> dict[str, float]:
    """One wrk run; wrk's own CPU comes from the kernel's accounting of the waited-for child."""
    argv = [wrk, f"-t{opts.threads}", f"-c{opts.connections}", f"-d{opts.duration}s", "--timeout", "10s"]
    argv += ["-s", str(script), base, "--"]
    before, server_before = resource.getrusage(resource.RUSAGE_CHILDREN), cpu_seconds(pid)
    started = time.perf_counter()
    proc = subprocess.run([*argv, *args], capture_output=True, text=True, timeout=opts.duration + 60, check=False)
    wall = time.perf_counter() - started
    after, server_cpu = resource.getrusage(resource.RUSAGE_CHILDREN), cpu_seconds(pid) - server_before
    line = next((x for x in proc.stdout.splitlines() if x.startswith("WRK_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    data = json.loads(line.removeprefix("WRK_JSON "))
    if data["status_errors"] or data["socket_errors"] > data["requests"] // 1000:
        raise SystemExit(f"wrk saw failed requests against {base} {args}: {data}")
    seconds = data["duration_us"] / 1e6
    wrk_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "rps": data["requests"] / seconds,
        "p50_ms": data["p50_us"] / 1000,
        "p99_ms": data["p99_us"] / 1000,
        "requests": data["requests"],
        "socket_errors": data["socket_errors"],
        "wrk_cpu_share": wrk_cpu / wall,
        "server_cpu_share": server_cpu / seconds,
        "server_cpu_us_per_request": server_cpu * 1e6 / data["requests"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_wrk_options(parser, "measured rounds per app and scenario")
    opts = parser.parse_args()
    wrk = require_wrk()

    with tempfile.TemporaryDirectory(prefix="bench-rest-") as tmp_name, ExitStack() as stack:
        tmp = Path(tmp_name)
        print("rendering and installing the Advanced tier ...", flush=True)
        project, python = advanced_project(tmp, opts.vcs_ref or None)
        env = child_env(**{DATA_ENV: str(tmp / "data"), f"{PACKAGE.upper()}_API_TOKEN": TOKEN})
        subprocess.run([str(python), "-c", SEED], env=env, check=True, timeout=120)
        (tmp / "bare_app.py").write_text(textwrap.dedent(BARE_APP))
        script = tmp / "bench.lua"
        script.write_text(WRK_SCRIPT)
        servers = {
            "generated": stack.enter_context(
                server(python, f"{PACKAGE}.interfaces.rest:create_app", project / "src", env, "/health", tmp / "g.log")
            ),
            "bare": stack.enter_context(
                server(python, "bare_app:create_app", tmp, env, "/notes/note-0", tmp / "b.log")
            ),
        }
        warm = argparse.Namespace(**{**vars(opts), "duration": 2})
        for scenario, routes in SCENARIOS.items():  # warm-up: connections, threads, page cache
            for app, route in routes.items():
                base, pid = servers["bare" if app.startswith("bare") else app]
                run_wrk(wrk, script, base, pid, [scenario, route, f"warm-{app}", TOKEN], warm)
        rounds: list[dict[str, Any]] = []
        for i in range(opts.rounds):
            for scenario, routes in SCENARIOS.items():
                apps = list(routes)
                for app in apps if i % 2 == 0 else apps[::-1]:
                    base, pid = servers["bare" if app.startswith("bare") else app]
                    args = [scenario, routes[app], f"r{i}-{app}", TOKEN]
                    result = run_wrk(wrk, script, base, pid, args, opts)
                    rounds.append({"round": i, "scenario": scenario, "app": app, **result})
                    print(
                        f"round {i} {scenario:5} {app:9} {result['rps']:7.0f} req/s  p50 {result['p50_ms']:6.2f} ms"
                        f"  p99 {result['p99_ms']:6.2f} ms  server {result['server_cpu_us_per_request']:5.0f} us"
                        f" CPU/req  wrk CPU {result['wrk_cpu_share']:.0%}",
                        flush=True,
                    )

    def median(scenario: str, app: str, key: str) -> float:
        return statistics.median(r[key] for r in rounds if r["scenario"] == scenario and r["app"] == app)

    keys = ("rps", "p50_ms", "p99_ms", "server_cpu_us_per_request", "wrk_cpu_share")
    medians = {s: {a: {k: median(s, a, k) for k in keys} for a in apps} for s, apps in SCENARIOS.items()}
    ratios = {
        "read_rps": medians["read"]["generated"]["rps"] / medians["read"]["bare"]["rps"],
        "read_p50": medians["read"]["generated"]["p50_ms"] / medians["read"]["bare"]["p50_ms"],
        "write_rps": medians["write"]["generated"]["rps"] / medians["write"]["bare"]["rps"],
        "write_rps_vs_on_loop": medians["write"]["generated"]["rps"] / medians["write"]["bare-on-loop"]["rps"],
        # CPU per request moves far less than requests/s on a shared machine: bare / generated.
        "read_cpu_capacity": medians["read"]["bare"]["server_cpu_us_per_request"]
        / medians["read"]["generated"]["server_cpu_us_per_request"],
        "write_cpu_capacity": medians["write"]["bare"]["server_cpu_us_per_request"]
        / medians["write"]["generated"]["server_cpu_us_per_request"],
    }
    met = {
        "read_rps": ratios["read_rps"] >= TARGETS["read_rps"],
        "read_p50": ratios["read_p50"] <= TARGETS["read_p50"],
        "write_rps": ratios["write_rps"] >= TARGETS["write_rps"],
    }
    print(
        f"\nwrk -t{opts.threads} -c{opts.connections} -d{opts.duration}s, {opts.rounds} interleaved rounds,"
        " one uvicorn worker per app (uvloop, httptools); medians"
    )
    rows = []
    for s, apps in SCENARIOS.items():
        for a in apps:
            m = medians[s][a]
            rows.append(
                [
                    f"{s} {a}",
                    SCENARIOS[s][a] + ("{slug}" if s == "read" else ""),
                    f"{m['rps']:.0f}",
                    f"{m['p50_ms']:.2f}",
                    f"{m['p99_ms']:.2f}",
                    f"{m['server_cpu_us_per_request']:.0f}",
                    f"{m['wrk_cpu_share']:.0%}",
                ]
            )
    print_table(["scenario", "route", "req/s", "p50 ms", "p99 ms", "server CPU us/req", "wrk CPU"], rows)
    for key, value in ratios.items():
        if key not in TARGETS:
            print(f"ratio generated/bare {key}: {value:.3f} (for reference; no target)")
            continue
        sign = "<=" if key == "read_p50" else ">="
        print(
            f"ratio generated/bare {key}: {value:.3f} (target {sign} {TARGETS[key]}): {'MET' if met[key] else 'MISSED'}"
        )
    write_results(
        "rest_throughput",
        {
            "load_generator": f"wrk -t{opts.threads} -c{opts.connections} -d{opts.duration}s (separate process)",
            "server": "uvicorn, 1 worker, uvloop + httptools",
            "rounds": opts.rounds,
            "seeded_notes": SEED_NOTES,
            "routes": SCENARIOS,
            "medians": medians,
            "ratios": ratios,
            "targets": TARGETS,
            "targets_met": met,
            "rounds_detail": rounds,
        },
    )


if __name__ == "__main__":
    sys.exit(main())
