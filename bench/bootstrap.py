"""Bootstrap speed: the registry and five rendered servers from nothing to all `up`.

Measured in one run, on one machine:

- cold apply: empty state folder, packages already in uv's cache (the run before warms it);
- the baseline: the sum of the servers' own start-up times, each `<cli> serve` started alone
  from its installed environment and timed to its first 200 on `/ready`;
- warm apply after `down` (start only, nothing to install), converged re-apply, and reset.

Figures are printed as ratios against the baseline and written to bench/results/bootstrap.json.
"""

from __future__ import annotations

import json
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

    venv = world.data_dir / "stacks" / "bench" / "venvs" / name
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        env = {**world.env(), f"{prefix}PORT": str(port), f"{prefix}DATA_DIR": data, f"{prefix}API_TOKEN": "t"}
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


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-bootstrap-") as tmp:
        world = build_world(Path(tmp), SERVERS)
        world.write_stack("stack.yaml", stack_text(world, name="bench").replace("name: demo", "name: bench"))
        # warm uv's cache with one throw-away apply, so "cold" measures the orchestrator, not downloads
        timed(world, "apply")
        timed(world, "reset")

        cold, _ = timed(world, "apply")
        converged, again = timed(world, "apply")
        assert again["changed"] is False
        state = json.loads((world.data_dir / "stacks" / "bench" / "state.json").read_text())["servers"]
        timed(world, "down")
        own = {name: own_start_up(world, name, rec["command"], rec["env_prefix"]) for name, rec in state.items()}
        baseline = sum(own.values())
        warm, _ = timed(world, "apply")
        reset, _ = timed(world, "reset")

    rows = [
        ("sum of the servers' own start-ups (baseline)", f"{baseline:.2f}", "1.00"),
        ("cold apply: install + start 6, all up", f"{cold:.2f}", f"{cold / baseline:.2f}"),
        ("apply after down: start 6, all up", f"{warm:.2f}", f"{warm / baseline:.2f}"),
        ("converged re-apply", f"{converged:.2f}", f"{converged / baseline:.2f}"),
        ("reset", f"{reset:.2f}", f"{reset / baseline:.2f}"),
    ]
    print_table(("measure", "seconds", "x baseline"), rows)
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
            "targets": {"cold_apply": 15, "converged_apply": 2, "reset": 3},
        },
    )


if __name__ == "__main__":
    main()
