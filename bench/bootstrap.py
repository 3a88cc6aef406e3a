"""Bootstrap speed: the registry and five rendered servers from nothing to all `up`.

Measured in one run, on one machine:

- cold apply: empty state folder, packages already in uv's cache (the run before warms it);
- the baseline: the sum of the servers' own start-up times, each `<cli> serve` started alone
  from its installed environment and timed to its first 200 on `/ready`;
- warm apply after `down` (start only, nothing to install), converged re-apply, and reset;
- crash recovery: while `orchestrator serve` supervises, a server killed with SIGKILL, timed from
  its exit to a new process answering `/ready` and `up` in the registry.

Every figure is printed with the 1-minute load average at the time it was taken, and the cold
and warm applies with their breakdown: apply's own report of how long each server spent in each
part (the shared environment, its own environment, waiting for what it needs, start to /ready,
/ready to `up` in the registry).

Figures are printed as ratios against the baseline and written to bench/results/bootstrap.json.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench._common import print_table, write_results  # noqa: E402
from tests.bootstrap.harness import World, build_world, stack_text  # noqa: E402

SERVERS = ("alpha", "beta", "gamma", "delta", "epsilon")


PARTS = ("shared environment", "install", "wait", "start", "register")


def breakdown(report: dict, own: dict[str, float]) -> list[tuple]:
    """One row per server: seconds per part of apply, and its own start-up alone for comparison."""
    parts: dict[str, dict[str, float]] = {}
    for t in report["timings"]:
        parts.setdefault(t["server"], {})[t["part"]] = t["seconds"]
    rows = []
    for server, by in parts.items():
        cells = [f"{by[p]:.2f}" if p in by else "" for p in PARTS]
        rows.append((server, *cells, f"{own[server]:.2f}" if server in own else ""))
    return rows


def timed(world: World, *args: str) -> tuple[float, dict]:
    start = time.perf_counter()
    code, data = world.run(*args, "--stack-file", "stack.yaml")
    elapsed = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"{args[0]} failed: {data}")
    return elapsed, data


def own_start_up(world: World, name: str, command: str, prefix: str) -> float:
    """`<cli> serve` alone, from its installed environment, to its first ready answer."""
    import httpx

    from tests.bootstrap.harness import wait_for
    from tests.registry.harness import free_port

    stack = world.data_dir / "stacks" / "bench"
    venv = stack / "venvs" / name
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        env = {**world.env(), f"{prefix}PORT": str(port), f"{prefix}DATA_DIR": data, f"{prefix}API_TOKEN": "t"}
        # as the orchestrator starts it: bytecode cached under the stack's folder
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(stack / "pycache")
        start = time.perf_counter()
        proc = subprocess.Popen(
            [str(venv / "bin" / command), "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

        def ready() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        try:
            wait_for(ready, 60, every=0.01)
            return time.perf_counter() - start
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def crash_recovery(world: World, victim: str) -> float:
    """Seconds from a SIGKILLed server's exit to its successor ready and `up` in the registry."""
    import httpx

    from tests.bootstrap.harness import listening, wait_for
    from tests.registry.harness import free_port

    port = free_port()
    env = {**world.env(), "ORCHESTRATOR_PORT": str(port), "ORCHESTRATOR_API_TOKEN": "bench-token"}
    serve = subprocess.Popen(
        [str(world.cli), "serve"], env=env, cwd=world.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for(lambda: listening(port), 120)
        state = world.state("bench")
        old, registry = state[victim]["pid"], f"http://127.0.0.1:{state['registry']['port']}"
        client = httpx.Client(timeout=1)

        def back_up() -> bool:
            rec = world.state("bench").get(victim, {})
            if rec.get("pid") in (None, old):
                return False
            url = f"http://127.0.0.1:{rec['port']}"
            try:
                if client.get(f"{url}/ready").status_code != 200:
                    return False
                found = client.get(f"{registry}/v1/services/{victim}").json().get("instances", [])
            except (httpx.HTTPError, ValueError):
                return False
            return any(i["interfaces"]["rest"] == url and i["status"] == "up" for i in found)

        os.kill(old, signal.SIGKILL)
        exited = time.perf_counter()  # SIGKILL ends it at once; the supervisor sees it on its next look
        wait_for(back_up, 120, every=0.02)
        return time.perf_counter() - exited
    finally:
        serve.terminate()
        serve.wait(timeout=30)


def main() -> None:
    load: dict[str, float] = {}

    def mark(key: str) -> None:
        load[key] = round(os.getloadavg()[0], 2)

    with tempfile.TemporaryDirectory(prefix="bench-bootstrap-") as tmp:
        world = build_world(Path(tmp), SERVERS)
        world.write_stack("stack.yaml", stack_text(world, name="bench"))
        # warm uv's cache with one throw-away apply, so "cold" measures the orchestrator, not downloads
        timed(world, "apply")
        timed(world, "reset")

        mark("cold")
        cold, cold_report = timed(world, "apply")
        mark("converged")
        converged, again = timed(world, "apply")
        assert again["changed"] is False
        mark("crash")
        crash = crash_recovery(world, "gamma")
        state = json.loads((world.data_dir / "stacks" / "bench" / "state.json").read_text())["servers"]
        timed(world, "down")
        mark("baseline")
        own = {name: own_start_up(world, name, rec["command"], rec["env_prefix"]) for name, rec in state.items()}
        baseline = sum(own.values())
        mark("warm")
        warm, warm_report = timed(world, "apply")
        mark("reset")
        reset, _ = timed(world, "reset")

    rows = [
        ("sum of the servers' own start-ups (baseline)", f"{baseline:.2f}", "1.00", "", load["baseline"]),
        ("cold apply: install + start 6, all up", f"{cold:.2f}", f"{cold / baseline:.2f}", "15", load["cold"]),
        ("apply after down: start 6, all up", f"{warm:.2f}", f"{warm / baseline:.2f}", "", load["warm"]),
        ("converged re-apply", f"{converged:.2f}", f"{converged / baseline:.2f}", "2", load["converged"]),
        ("reset", f"{reset:.2f}", f"{reset / baseline:.2f}", "3", load["reset"]),
        ("crashed server back up (from its exit)", f"{crash:.2f}", f"{crash / baseline:.2f}", "3", load["crash"]),
    ]
    print_table(("measure", "seconds", "x baseline", "target s", "load 1m"), rows)
    for label, report in (("cold apply", cold_report), ("apply after down", warm_report)):
        print(f"\n{label}: where the time went, server by server (apply's own timings, seconds)")
        print_table(("server", *PARTS, "own start-up"), breakdown(report, own))
    write_results(
        "bootstrap",
        {
            "servers": len(SERVERS) + 1,
            "own_start_up_seconds": {k: round(v, 3) for k, v in own.items()},
            "baseline_seconds": round(baseline, 3),
            "cold_apply_seconds": round(cold, 3),
            "warm_apply_seconds": round(warm, 3),
            "converged_apply_seconds": round(converged, 3),
            "reset_seconds": round(reset, 3),
            "crash_recovery_seconds": round(crash, 3),
            "cold_apply_timings": cold_report["timings"],
            "warm_apply_timings": warm_report["timings"],
            "loadavg_1m_at": load,
            "targets": {"cold_apply": 15, "converged_apply": 2, "reset": 3, "crash_recovery": 3},
        },
    )


if __name__ == "__main__":
    main()
