"""A peer call's overhead: `Peers.call(peer, "get_note", ...)` against a bare httpx GET of the
same route on the same server, in the same run.

The registry example and one rendered Advanced server (which registers with it) run in their
own processes; the load generator is a third process (the render's own python) that makes
sequential calls over keep-alive connections, bare and peer calls alternating one by one.
Its CPU share is printed beside each figure: the peer directory's own work (registry cache,
contract validation, breaker, retry wrapper, headers) is client-side CPU, so the share says
how much of a call's time the caller spends.

Target: peer call median <= 1.3x the bare call.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import DATA_ENV, SEED, advanced_project, child_env, print_table, stop, write_results

from tests.registry.harness import TOKEN, Registry, example_python, free_port, registry_env, wait_for

GENERATOR = """
import json, os, resource, sys, time
import httpx
from notes_server.core.peers import Peers

url, registry, rounds, calls = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
peers = Peers(["notes-server"], registry)
bare = httpx.Client()
route = url + "/v1/notes/note-1"

def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

def once(kind):
    t = time.perf_counter()
    if kind == "bare":
        response = bare.get(route)
        assert response.status_code == 200
        response.json()
    else:
        peers.call("notes-server", "get_note", {"slug": "note-1"})
    return time.perf_counter() - t

def run():
    # bare and peer calls alternate one by one (in both orders), so a change in the machine's
    # load falls on both alike instead of on whichever kind a round happened to run
    times = {"bare": [], "peer": []}
    wall0, cpu0 = time.perf_counter(), cpu()
    for i in range(calls):
        for kind in (("bare", "peer") if i % 2 == 0 else ("peer", "bare")):
            times[kind].append(once(kind))
    wall = time.perf_counter() - wall0
    return {"times": times, "cpu_share": (cpu() - cpu0) / wall}

run()  # warm-up: connections, contract fetch, registry cache
out = [run() for _ in range(rounds)]
print(json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=6, help="rounds (each yields a CPU share)")
    parser.add_argument("--calls", type=int, default=500, help="calls of each kind per round")
    parser.add_argument("--vcs-ref", default="HEAD", help="template commit to render; '' for the working tree")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        project, python = advanced_project(work, vcs_ref=args.vcs_ref or None)
        data_dir = work / "data"
        env = child_env(**{DATA_ENV: str(data_dir)})
        subprocess.run([str(python), "-c", SEED], env=env, check=True)
        registry = Registry(example_python(), work, registry_env(work / "registry", free_port(), ttl=30.0))
        port = free_port()
        server_env = child_env(
            **{
                DATA_ENV: str(data_dir),
                "NOTES_SERVER_PORT": str(port),
                "NOTES_SERVER_LOG_LEVEL": "WARNING",
                "NOTES_SERVER_API_TOKEN": "bench-token",
                "NOTES_SERVER_REGISTRY_URL": registry.url,
                "NOTES_SERVER_REGISTRY_TOKEN": TOKEN,
            }
        )
        server = subprocess.Popen(
            [str(project / ".venv" / "bin" / "notes-server"), "serve"],
            env=server_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for(lambda: registry.statuses("notes-server"), 30)
            generator = subprocess.run(
                [str(python), "-c", GENERATOR, url, registry.url, str(args.rounds), str(args.calls)],
                env=child_env(),
                capture_output=True,
                text=True,
                check=True,
            )
        finally:
            stop(server)
            registry.proc.terminate()
    rounds = json.loads(generator.stdout)
    by_kind: dict[str, list[float]] = {"bare": [], "peer": []}
    for r in rounds:
        for kind in by_kind:
            by_kind[kind] += r["times"][kind]
    share = statistics.median(r["cpu_share"] for r in rounds)
    median = {k: statistics.median(v) * 1e6 for k, v in by_kind.items()}
    p90 = {k: sorted(v)[int(len(v) * 0.9)] * 1e6 for k, v in by_kind.items()}
    ratio = median["peer"] / median["bare"]
    load = round(os.getloadavg()[0], 2)
    print_table(
        ["call", "median us", "p90 us", "ratio vs bare"],
        [[k, f"{median[k]:.0f}", f"{p90[k]:.0f}", f"{median[k] / median['bare']:.2f}"] for k in ("bare", "peer")],
    )
    print(f"load generator CPU share (one core, median of rounds): {share:.2f}")
    verdict = "MET" if ratio <= 1.3 else "NOT MET"
    print(f"\npeer call / bare httpx call: {ratio:.2f}x (target <= 1.3x): {verdict}; load average {load}")
    write_results(
        "peer_call",
        {
            "target": "peer call median <= 1.3x bare httpx call",
            "ratio": round(ratio, 3),
            "met": ratio <= 1.3,
            "median_us": {k: round(v, 1) for k, v in median.items()},
            "p90_us": {k: round(v, 1) for k, v in p90.items()},
            "generator_cpu_share": round(share, 3),
            "rounds": args.rounds,
            "calls_per_round": args.calls,
        },
    )
    sys.exit(0)


if __name__ == "__main__":
    main()
