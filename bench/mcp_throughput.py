"""MCP throughput: a generated tool call against a hand-written tool on the SDK's own server.

Two uvicorn servers (one worker each, loopback only) share one seeded SQLite store:
  generated    the Advanced render's `create_app()`, tool `get_note` at `/mcp` (the token check,
               request ids and the rest of the app's middleware included);
  hand-written the SDK's high-level `MCPServer` with one `def get_note(slug: str) -> Note` tool
               calling `Service.get_note`, stateless streamable HTTP with JSON responses, as an
               SDK user would write it.
The load generator is `wrk` (C, one thread) in its own process, sending the same `tools/call`
POST of the current MCP revision (2026-07-28: one self-contained request, no session) with
rotating slugs to both, in alternating rounds (ABBA) so drift in machine load hits both alike.
wrk's CPU share is printed beside each figure: far below one core, so the servers are measured,
not the client. Each round also records the server's CPU time per call (/proc/<pid>/stat),
which moves less than requests/s on a busy machine. Target: generated / hand-written >= 0.85.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
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
    advanced_project,
    child_env,
    print_table,
    run_timed,
    stop,
    write_results,
)

TARGET_RATIO = 0.85
TOKEN = "bench-token"
PROTOCOL = "2026-07-28"

HAND_WRITTEN = f'''
"""The SDK's own high-level server with one hand-written tool doing the same read."""

from mcp.server.mcpserver import MCPServer

from {PACKAGE}.core.settings import get_settings
from {PACKAGE}.domain.models import Note
from {PACKAGE}.domain.service import Service


def create_app():
    service = Service.from_settings(get_settings())
    mcp = MCPServer("hand-written")

    @mcp.tool()
    def get_note(slug: str) -> Note:
        """Fetch one note by its slug."""
        return service.get_note(slug=slug)

    return mcp.streamable_http_app(json_response=True, stateless_http=True)
'''

# wrk sends one POST per call, rotating over pre-built bodies; responses are counted by status.
WRK_SCRIPT = """
local bodies = {}
for i = 0, %(notes)d - 1 do
  bodies[#bodies + 1] = string.format(%(template)s, i)
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["Authorization"] = "Bearer %(token)s"
wrk.headers["MCP-Protocol-Version"] = "%(protocol)s"
wrk.headers["Mcp-Method"] = "tools/call"
wrk.headers["Mcp-Name"] = "get_note"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, bodies[(n %% #bodies) + 1])
end
"""


def call_body(slug: str) -> dict[str, Any]:
    meta = {
        "io.modelcontextprotocol/protocolVersion": PROTOCOL,
        "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "get_note", "arguments": {"slug": slug}, "_meta": meta},
    }


def wrk_script() -> str:
    template = json.dumps(call_body("note-%d")).replace("\\", "\\\\").replace('"', '\\"')
    return WRK_SCRIPT % {"notes": SEED_NOTES, "template": f'"{template}"', "token": TOKEN, "protocol": PROTOCOL}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def headers() -> dict[str, str]:
    return {
        "accept": "application/json, text/event-stream",
        "authorization": f"Bearer {TOKEN}",
        "mcp-protocol-version": PROTOCOL,
        "mcp-method": "tools/call",
        "mcp-name": "get_note",
    }


def check_call(url: str) -> None:
    """One real call before measuring: it must answer the note, not an error."""
    response = httpx.post(url, json=call_body("note-1"), headers=headers(), timeout=10)
    result = response.json().get("result", {})
    if response.status_code != 200 or result.get("isError") or result["structuredContent"]["slug"] != "note-1":
        raise SystemExit(f"{url} did not answer the call: {response.status_code} {response.text[:500]}")


@contextmanager
def server(python: Path, target: str, app_dir: Path, env: dict[str, str], log: Path) -> Iterator[tuple[str, int]]:
    """Run `uvicorn --factory target` on a free loopback port; yield its /mcp URL and pid."""
    port = free_port()
    argv = [str(python), "-m", "uvicorn", target, "--factory", "--app-dir", str(app_dir)]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--log-level", "warning"]
    with log.open("wb") as sink:
        proc = subprocess.Popen([*argv, "--no-access-log"], env=env, stdout=sink, stderr=sink)
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"{target} exited early:\n{log.read_text()}")
            try:
                check_call(url)
                break
            except (httpx.TransportError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{target} did not answer within 60 s:\n{log.read_text()}")
            time.sleep(0.2)
        yield url, proc.pid
    finally:
        stop(proc)


def drive(wrk: str, script: Path, url: str, pid: int, seconds: int, connections: int) -> dict[str, float]:
    argv = [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url]
    server_before = cpu_seconds(pid)
    wall, client_cpu, proc = run_timed(argv, os.environ.copy(), timeout=seconds + 60)
    server_cpu = cpu_seconds(pid) - server_before
    out = proc.stdout.decode()
    if proc.returncode != 0 or "Non-2xx" in out or "Socket errors" in out:
        raise SystemExit(f"wrk against {url} reported failures:\n{out}\n{proc.stderr.decode()}")
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]

    def latency_ms(label: str) -> float:
        value, unit = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": latency_ms("50%"),
        "p99_ms": latency_ms("99%"),
        "requests": total,
        "client_cpu_share": client_cpu / wall,
        "server_cpu_ms_per_call": server_cpu * 1000 / total,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6, help="measured rounds per server")
    parser.add_argument("--seconds", type=int, default=6, help="length of one round")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--project", type=Path, help="an installed Advanced render to use instead of a new one")
    opts = parser.parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")

    with tempfile.TemporaryDirectory(prefix="bench-mcp-") as tmp_name, ExitStack() as stack:
        tmp = Path(tmp_name)
        if opts.project:
            project, python = opts.project.resolve(), opts.project.resolve() / ".venv" / "bin" / "python"
        else:
            print("rendering and installing the Advanced tier ...", flush=True)
            project, python = advanced_project(tmp)
        env = child_env(**{DATA_ENV: str(tmp / "data"), f"{PACKAGE.upper()}_API_TOKEN": TOKEN})
        subprocess.run([str(python), "-c", SEED], env=env, check=True, timeout=120)
        (tmp / "hand_written.py").write_text(textwrap.dedent(HAND_WRITTEN))
        script = tmp / "call.lua"
        script.write_text(wrk_script())
        targets = {"generated": (f"{PACKAGE}.interfaces.rest:create_app", project / "src")}
        targets["hand-written"] = ("hand_written:create_app", tmp)
        servers = {
            name: stack.enter_context(server(python, target, app_dir, env, tmp / f"{name}.log"))
            for name, (target, app_dir) in targets.items()
        }
        for url, pid in servers.values():  # warm-up: connections, thread pool, page cache
            drive(wrk, script, url, pid, 2, opts.connections)
        rounds: list[dict[str, Any]] = []
        for i in range(opts.rounds):
            order = ["generated", "hand-written"] if i % 2 == 0 else ["hand-written", "generated"]
            for name in order:
                url, pid = servers[name]
                measured = drive(wrk, script, url, pid, opts.seconds, opts.connections)
                rounds.append({"round": i, "server": name, **measured})
                print(f"round {i} {name:12} {rounds[-1]['rps']:8.0f} calls/s", flush=True)

    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in rounds if r["server"] == name)

    names = ["generated", "hand-written"]
    ratio = med("generated", "rps") / med("hand-written", "rps")
    cpu_ratio = med("hand-written", "server_cpu_ms_per_call") / med("generated", "server_cpu_ms_per_call")
    print()
    print_table(
        ["server", "calls/s", "p50 ms", "p99 ms", "server CPU ms/call", "wrk CPU share"],
        [
            [
                n,
                f"{med(n, 'rps'):.0f}",
                f"{med(n, 'p50_ms'):.2f}",
                f"{med(n, 'p99_ms'):.2f}",
                f"{med(n, 'server_cpu_ms_per_call'):.3f}",
                f"{med(n, 'client_cpu_share'):.2f}",
            ]
            for n in names
        ],
    )
    print(f"\ngenerated / hand-written: {ratio:.2f}x calls/s, {cpu_ratio:.2f}x by server CPU per call", end=" ")
    print(f"(target >= {TARGET_RATIO})")
    write_results(
        "mcp_throughput",
        {
            "load_generator": f"wrk -t1 -c{opts.connections} -d{opts.seconds}s, own process",
            "protocol": PROTOCOL,
            "tool": "get_note",
            "rounds": opts.rounds,
            "seeded_notes": SEED_NOTES,
            "median": {
                n: {k: med(n, k) for k in ("rps", "p50_ms", "p99_ms", "server_cpu_ms_per_call", "client_cpu_share")}
                for n in names
            },
            "ratio": ratio,
            "cpu_capacity_ratio": cpu_ratio,
            "target_ratio": TARGET_RATIO,
            "target_met": ratio >= TARGET_RATIO,
            "rounds_detail": rounds,
        },
    )
    sys.exit(0)


if __name__ == "__main__":
    main()
