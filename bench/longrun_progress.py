"""How fast a long-running operation's progress reaches its watchers.

The server (a rendered Advanced project, `serve` in its own process) has its handlers' progress
reports stamped as they are made: the server is started through a tiny wrapper that wraps
``Progress.report`` to print ``REPORT <message> <time>``. Watchers, each in its own process,
stamp each report as it reaches them:

- the CLI following a server (`export-notes --url`, not a terminal: one line per step on stderr,
  read here as it is written),
- the CLI running the operation itself (no `--url`; the line is written in the handler's process),
- an MCP client over streamable HTTP passing a progressToken (SSE answer, notifications/progress).

Delay = watcher's stamp - the report's stamp (one machine, one clock). Baseline in the same run:
the round trip of a plain `GET /health` from a client process. Target: median and p90 delay
<= 200 ms for the remote CLI and MCP.

    python bench/longrun_progress.py [--notes N] [--pause-ms MS] [--runs N] [--vcs-ref REF]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CLI, DATA_ENV, PACKAGE, advanced_project, child_env, print_table, stop, summary, write_results

TOKEN = "bench-token"
TARGET_MS = 200.0

#: Runs `serve` (or the CLI) with every progress report printed, stamped, on stdout or stderr.
STAMPED = f"""
import sys, time
from {PACKAGE}.core import longrun

report = longrun.Progress.report
stream = sys.stdout if sys.argv[1] == "serve" else sys.stderr

def stamped(self, fraction, message=""):
    print(f"REPORT {{message}} {{time.time()!r}}", file=stream, flush=True)
    report(self, fraction, message)

longrun.Progress.report = stamped
from {PACKAGE}.interfaces.cli import main
main()
"""

MCP_WATCHER = f"""
import asyncio, sys, time
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

async def main() -> None:
    async def progress(value, total, message):
        print(f"SEEN {{message}} {{time.time()!r}}", flush=True)

    http = httpx2.AsyncClient(headers={{"Authorization": "Bearer {TOKEN}"}}, timeout=60)
    async with Client(streamable_http_client(sys.argv[1] + "/mcp", http_client=http)) as client:
        result = await client.call_tool("export_notes", {{"pause_ms": int(sys.argv[2])}}, progress_callback=progress)
        assert not result.is_error, result

asyncio.run(main())
"""

ROUND_TRIP = """
import sys, time, httpx
with httpx.Client(base_url=sys.argv[1]) as http:
    http.get("/health")
    for _ in range(int(sys.argv[2])):
        started = time.perf_counter()
        http.get("/health")
        print(f"RTT {time.perf_counter() - started!r}", flush=True)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`serve` with stamped reports; collects REPORT lines from its stdout."""

    def __init__(self, python: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.reports: list[tuple[str, float]] = []
        self.proc = subprocess.Popen(
            [str(python), "-c", STAMPED, "serve", "--port", str(self.port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stderr is not None and self.proc.stdout is not None
        while "serving on" not in (line := self.proc.stderr.readline()):
            if not line:
                raise SystemExit("the server stopped before serving")
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()  # keep the pipe drained

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("REPORT "):
                message, stamp = line[7:].rsplit(" ", 1)
                self.reports.append((message, float(stamp)))


Sightings = list[tuple[str, float]]


def watch(argv: list[str], env: dict[str, str], stream: str, marker: str) -> tuple[Sightings, Sightings]:
    """Run a watcher; return the lines it stamped itself (``marker``) and the CLI progress lines,
    each stamped here as it arrives."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pipe = proc.stderr if stream == "stderr" else proc.stdout
    other = proc.stdout if stream == "stderr" else proc.stderr
    assert pipe is not None and other is not None
    drained = threading.Thread(target=other.read, daemon=True)
    drained.start()
    marked: Sightings = []
    lines: Sightings = []
    for line in pipe:
        now = time.time()
        if line.startswith(marker):
            message, stamp = line[len(marker) :].rstrip("\n").rsplit(" ", 1)
            marked.append((message, float(stamp)))
        elif "% " in line:  # the CLI's own progress line: "export_notes: 50% exported note-0001"
            lines.append((line.split("% ", 1)[1].strip(), now))
    proc.wait(timeout=120)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:3]} failed with exit {proc.returncode}")
    return marked, lines


def delays(reports: list[tuple[str, float]], seen: list[tuple[str, float]]) -> list[float]:
    """Milliseconds from each report to its first sighting, matched by message."""
    made = {message: stamp for message, stamp in reports}
    first: dict[str, float] = {}
    for message, stamp in seen:
        first.setdefault(message, stamp)
    return [(first[m] - made[m]) * 1000 for m in made if m in first and m]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notes", type=int, default=20, help="notes exported per run (one report each)")
    parser.add_argument("--pause-ms", type=int, default=50, help="pause between two notes in the handler")
    parser.add_argument("--runs", type=int, default=3, help="runs per watcher")
    parser.add_argument("--vcs-ref", default="HEAD", help="template commit to render; '' for the working tree")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        _, python = advanced_project(workdir, vcs_ref=args.vcs_ref or None)
        venv_bin = str(python.parent)
        env = child_env(**{DATA_ENV: str(workdir / "data"), f"{PACKAGE.upper()}_API_TOKEN": TOKEN})
        env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
        seed = f"""
from {PACKAGE}.core.settings import get_settings
from {PACKAGE}.domain.service import Service
service = Service.from_settings(get_settings())
for i in range({args.notes}):
    service.create_note(slug=f"note-{{i:04d}}", title=f"Note {{i}}")
"""
        subprocess.run([str(python), "-c", seed], env=env, check=True)
        server = Server(python, env)
        results: dict[str, list[float]] = {"cli --url": [], "cli in-process": [], "mcp (http, sse)": []}
        cpu_before = os.times()
        try:
            rtt_proc = subprocess.run(
                [str(python), "-c", ROUND_TRIP, server.url, "200"], env=env, capture_output=True, text=True, check=True
            )
            rtt = [float(line.split()[1]) * 1000 for line in rtt_proc.stdout.splitlines() if line.startswith("RTT ")]
            pause = str(args.pause_ms)
            for _ in range(args.runs):
                start = len(server.reports)
                remote = [str(python.parent / CLI), "export-notes", "--pause-ms", pause, "--url", server.url, "--json"]
                _, lines = watch(remote, env, "stderr", "REPORT ")
                results["cli --url"] += delays(server.reports[start:], lines)

                here = [str(python), "-c", STAMPED, "export-notes", "--pause-ms", pause, "--json"]
                reports, lines = watch(here, env, "stderr", "REPORT ")
                results["cli in-process"] += delays(reports, lines)

                start = len(server.reports)
                seen, _ = watch([str(python), "-c", MCP_WATCHER, server.url, pause], env, "stdout", "SEEN ")
                results["mcp (http, sse)"] += delays(server.reports[start:], seen)
        finally:
            stop(server.proc)
        cpu_after = os.times()

    base = summary(rtt)
    rows = [["GET /health round trip (baseline)", f"{base['median']:.2f}", f"{base['p90']:.2f}", "1.00", base["n"]]]
    figures: dict[str, Any] = {"baseline_round_trip_ms": base}
    for name, values in results.items():
        if not values:
            raise SystemExit(f"no progress reached the {name} watcher")
        stats = summary(values)
        figures[name] = {**stats, "ratio_to_round_trip": stats["median"] / base["median"], "samples": values}
        ratio = stats["median"] / base["median"]
        rows.append([name, f"{stats['median']:.2f}", f"{stats['p90']:.2f}", f"{ratio:.2f}", stats["n"]])
    print(f"\nprogress delay, ms (target <= {TARGET_MS:.0f} ms); load average {os.getloadavg()[0]:.2f}")
    print_table(["watcher", "median", "p90", "x round trip", "n"], rows)
    bench_cpu = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
    print(f"this script's own CPU while measuring: {bench_cpu:.2f} s")
    ok = all(figures[name]["p90"] <= TARGET_MS for name in ("cli --url", "mcp (http, sse)"))
    print("target met" if ok else "target NOT met")
    write_results(
        "longrun_progress",
        {
            "notes": args.notes,
            "pause_ms": args.pause_ms,
            "runs": args.runs,
            "target_ms": TARGET_MS,
            "target_met": ok,
            "figures": figures,
        },
    )


if __name__ == "__main__":
    main()
