"""REST throughput: a generated operation route against a bare FastAPI route, same run.

Two uvicorn servers (one worker each, loopback only) share one seeded SQLite store:
  generated  `<pkg>.interfaces.rest:create_app`, route `GET /v1/notes/{slug}` (Advanced tier);
  bare       a one-route FastAPI app, `GET /notes/{slug}` -> `Service.get_note(slug=slug)`,
             the domain service built once at start-up, as `create_app()` does.
One httpx load generator drives both with the same concurrency, request count and slugs, in
alternating rounds (ABBA) so drift in machine load hits both alike. Target: ratio >= 0.85.

Besides requests/s, each round records the server's own CPU time per request (from
/proc/<pid>/stat): on a shared, busy machine that figure moves far less than wall-clock rates,
and 1 / (CPU per request) is what one worker could serve with a core to itself.
"""

from __future__ import annotations

import argparse
import asyncio
import os
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
from _common import DATA_ENV, PACKAGE, advanced_project, child_env, print_table, write_results

TARGET_RATIO = 0.85
SEED_NOTES = 100
ROUND_TIMEOUT_S = 120.0

SEED = f"""
from {PACKAGE}.core.settings import get_settings
from {PACKAGE}.domain.service import Service

service = Service.from_settings(get_settings())
for i in range({SEED_NOTES}):
    service.create_note(slug=f"note-{{i}}", title=f"Note {{i}}", body="lorem ipsum " * 20,
                        tags=["bench", f"t{{i % 5}}"])
"""

BARE_APP = f'''
"""A bare FastAPI app: one route calling the domain service directly."""

from fastapi import FastAPI

from {PACKAGE}.core.settings import get_settings
from {PACKAGE}.domain.models import Note
from {PACKAGE}.domain.service import Service


def create_app() -> FastAPI:
    service = Service.from_settings(get_settings())
    app = FastAPI()

    @app.get("/notes/{{slug}}")
    def get_note(slug: str) -> Note:
        return service.get_note(slug=slug)

    return app
'''


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
    """Run `uvicorn --factory target` on a free loopback port; yield its base URL and pid."""
    port = free_port()
    argv = [
        str(python),
        "-m",
        "uvicorn",
        target,
        "--factory",
        "--app-dir",
        str(app_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
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
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def drive(base: str, route: str, requests: int, concurrency: int, pid: int) -> dict[str, float]:
    """Send `requests` GETs over `concurrency` keep-alive connections; return rate and CPU."""
    slugs = [f"note-{i % SEED_NOTES}" for i in range(requests)]
    failures = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def worker(part: list[str]) -> None:
            nonlocal failures
            for slug in part:
                response = await client.get(route.format(slug=slug))
                if response.status_code != 200:
                    failures += 1

        parts = [slugs[i::concurrency] for i in range(concurrency)]
        server_cpu, cpu, started = cpu_seconds(pid), time.process_time(), time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(worker(p) for p in parts)), ROUND_TIMEOUT_S)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        server_cpu = cpu_seconds(pid) - server_cpu
    if failures:
        raise SystemExit(f"{failures} of {requests} requests to {base}{route} failed")
    return {
        "rps": requests / wall,
        "wall_s": wall,
        "client_cpu_share": cpu / wall,
        "server_cpu_ms_per_request": server_cpu * 1000 / requests,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6, help="measured rounds per app")
    parser.add_argument("--requests", type=int, default=1500, help="requests per round")
    parser.add_argument("--concurrency", type=int, default=8)
    opts = parser.parse_args()
    routes = {"generated": "/v1/notes/{slug}", "bare": "/notes/{slug}"}

    with tempfile.TemporaryDirectory(prefix="bench-rest-") as tmp_name, ExitStack() as stack:
        tmp = Path(tmp_name)
        print("rendering and installing the Advanced tier ...", flush=True)
        project, python = advanced_project(tmp)
        env = child_env(**{DATA_ENV: str(tmp / "data")})
        subprocess.run([str(python), "-c", SEED], env=env, check=True, timeout=120)
        (tmp / "bare_app.py").write_text(textwrap.dedent(BARE_APP))

        servers = {
            "generated": stack.enter_context(
                server(
                    python,
                    f"{PACKAGE}.interfaces.rest:create_app",
                    project / "src",
                    env,
                    "/health",
                    tmp / "generated.log",
                )
            ),
            "bare": stack.enter_context(
                server(python, "bare_app:create_app", tmp, env, "/notes/note-0", tmp / "bare.log")
            ),
        }
        for name in routes:  # warm-up: connections, thread pool, SQLite page cache
            asyncio.run(drive(servers[name][0], routes[name], opts.requests // 4, opts.concurrency, servers[name][1]))
        rounds: list[dict[str, Any]] = []
        for i in range(opts.rounds):
            order = ["generated", "bare"] if i % 2 == 0 else ["bare", "generated"]
            for name in order:
                base, pid = servers[name]
                result = asyncio.run(drive(base, routes[name], opts.requests, opts.concurrency, pid))
                rounds.append({"round": i, "app": name, **result})
                print(
                    f"round {i} {name:9} {result['rps']:7.0f} req/s, server "
                    f"{result['server_cpu_ms_per_request']:.2f} ms CPU/request, client CPU "
                    f"{result['client_cpu_share']:.0%} of wall",
                    flush=True,
                )

    def median_of(name: str, key: str) -> float:
        return statistics.median(r[key] for r in rounds if r["app"] == name)

    rps = {name: median_of(name, "rps") for name in routes}
    cpu = {name: median_of(name, "server_cpu_ms_per_request") for name in routes}
    ratio = rps["generated"] / rps["bare"]
    cpu_ratio = cpu["bare"] / cpu["generated"]
    per_round = [
        g["rps"] / b["rps"]
        for g, b in zip(
            (r for r in rounds if r["app"] == "generated"), (r for r in rounds if r["app"] == "bare"), strict=True
        )
    ]
    print(
        f"\nGET one note: {opts.rounds} rounds x {opts.requests} requests per app, "
        f"concurrency {opts.concurrency}, one uvicorn worker each (medians)"
    )
    print_table(
        ["app", "route", "req/s", "server CPU ms/req", "1-core capacity req/s"],
        [[name, routes[name], f"{rps[name]:.0f}", f"{cpu[name]:.2f}", f"{1000 / cpu[name]:.0f}"] for name in routes],
    )
    met = ratio >= TARGET_RATIO
    print(
        f"ratio generated/bare, req/s: {ratio:.3f} (per round {min(per_round):.3f}.."
        f"{max(per_round):.3f}); target >= {TARGET_RATIO}: {'MET' if met else 'MISSED'}"
    )
    print(f"ratio generated/bare, CPU capacity (bare CPU/req / generated CPU/req): {cpu_ratio:.3f}")
    write_results(
        "rest_throughput",
        {
            "load_generator": f"httpx {httpx.__version__} AsyncClient, in-process asyncio",
            "rounds": opts.rounds,
            "requests_per_round": opts.requests,
            "concurrency": opts.concurrency,
            "seeded_notes": SEED_NOTES,
            "routes": routes,
            "median_rps": rps,
            "ratio": ratio,
            "per_round_ratio": per_round,
            "median_server_cpu_ms_per_request": cpu,
            "cpu_capacity_ratio": cpu_ratio,
            "target_ratio": TARGET_RATIO,
            "target_met": met,
            "rounds_detail": rounds,
        },
    )


if __name__ == "__main__":
    sys.exit(main())
