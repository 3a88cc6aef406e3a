"""The MCP gateway: what a call through it costs, and whether a hung backend slows its listing.

Measured in one run, on one machine, with five servers rendered from the template, the
registry example and the gateway example, each its own process on loopback:

- added latency: the same `tools/call get_note` sent to a server's `/mcp` directly (the
  baseline) and through the gateway (`<server>_get_note`), one call at a time, in interleaved
  blocks; p50 and p99 of each, and the difference;
- `tools/list` through the gateway, p99 with no backend hung (the baseline) and with one of
  the five stopped with SIGSTOP (it accepts connections and answers nothing); in both phases
  calls to that server arrive from other threads (about 200/s), so only the hang differs.

The load generator is a separate process (the world's Python, speaking raw JSON-RPC over one
keep-alive httpx connection); its CPU share of a core is printed beside each figure. Example
exchanges from the same run are kept for the interface-design SAP's gateway page.
Targets: added p50 <= 2 ms, added p99 <= 10 ms; hung `tools/list` p99 <= 1.1x none hung.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench._common import percentile, print_table, write_results  # noqa: E402
from tests.gateway.harness import BACKEND_TOKEN, GATEWAY_TOKEN, World, start_world  # noqa: E402

SERVERS = ("alpha", "beta", "gamma", "delta", "epsilon")

# Runs in the world's environment (it has the gateway installed, whose wire module builds the
# same envelope the gateway sends to its backends).
LOADGEN = r"""
import json, os, sys, time, resource
import httpx
from gateway.domain.wire import envelope

plan = json.loads(sys.argv[1])
out = {}
cpu = {}  # label -> {process: CPU seconds it spent during that label's blocks}


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


with httpx.Client(timeout=30) as http:
    def once(target, method, params):
        body, headers = envelope(method, params)
        headers["authorization"] = "Bearer " + target["token"]
        started = time.perf_counter()
        response = http.post(target["url"], json=body, headers=headers)
        elapsed = time.perf_counter() - started
        message = response.json()
        assert "result" in message, message
        return elapsed, message["result"]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for block in plan["blocks"]:
        samples = out.setdefault(block["label"], [])
        before = {name: cpu_seconds(pid) for name, pid in plan.get("pids", {}).items()}
        for _ in range(block["count"]):
            elapsed, result = once(block["target"], block["method"], block["params"])
            if block["method"] == "tools/call":
                assert not result.get("isError"), result
            samples.append(elapsed)
        spent = cpu.setdefault(block["label"], {})
        for name, pid in plan.get("pids", {}).items():
            spent[name] = spent.get(name, 0.0) + cpu_seconds(pid) - before[name]
    out["_cpu_ms_per_call"] = {
        label: {name: round(1000 * seconds / len(out[label]), 3) for name, seconds in spent.items()}
        for label, spent in cpu.items()
    }
    out["_cpu_share"] = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
print(json.dumps(out))
"""


def envelope(method: str, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The JSON-RPC body and headers of one request of the current MCP revision (no session)."""
    from mcp.shared.inbound import MCP_METHOD_HEADER, MCP_NAME_HEADER, MCP_PROTOCOL_VERSION_HEADER
    from mcp_types import CLIENT_CAPABILITIES_META_KEY, PROTOCOL_VERSION_META_KEY
    from mcp_types.version import LATEST_MODERN_VERSION

    meta = {PROTOCOL_VERSION_META_KEY: LATEST_MODERN_VERSION, CLIENT_CAPABILITIES_META_KEY: {}}
    headers = {
        MCP_PROTOCOL_VERSION_HEADER: LATEST_MODERN_VERSION,
        MCP_METHOD_HEADER: method,
        "accept": "application/json, text/event-stream",
    }
    if method == "tools/call":
        headers[MCP_NAME_HEADER] = params["name"]
    return {"jsonrpc": "2.0", "id": 1, "method": method, "params": {**params, "_meta": meta}}, headers


def loadgen(world: World, blocks: list[dict[str, Any]], pids: dict[str, int] | None = None) -> dict[str, Any]:
    """Run ``blocks`` from a separate process; ``pids`` names processes whose CPU time per call
    (user + system, from /proc) is reported for each block label."""
    proc = subprocess.run(
        [str(world.bin / "python"), "-c", LOADGEN, json.dumps({"blocks": blocks, "pids": pids or {}})],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    if proc.returncode != 0:
        raise SystemExit(f"load generator failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout)


def ms(value: float) -> float:
    return round(value * 1000, 3)


def capture(world: World, alpha_port: int) -> dict[str, Any]:
    """Example exchanges through the gateway, for the SAP page (raw JSON-RPC results)."""
    import httpx

    def send(method: str, params: dict[str, Any]) -> dict[str, Any]:
        body, headers = envelope(method, params)
        headers["authorization"] = f"Bearer {GATEWAY_TOKEN}"
        return httpx.post(world.mcp_url, json=body, headers=headers, timeout=30).json()

    listing = send("tools/list", {})["result"]["tools"]
    one = next(t for t in listing if t["name"] == "alpha_get_note")
    return {
        "tool_names": sorted(t["name"] for t in listing),
        "tool": {k: one[k] for k in ("name", "description", "annotations", "_meta") if k in one},
        "call": send("tools/call", {"name": "alpha_get_note", "arguments": {"slug": "bench"}})["result"],
        "domain_error": send("tools/call", {"name": "alpha_get_note", "arguments": {"slug": "missing"}})["result"],
        "health": world.health(),
    }


def membership(world: World, root: Path, rounds: int, ttl: float = 2.0) -> dict[str, list[float]]:
    """How long after a registration its tools are listed, and after the last heartbeat they are
    gone: a second registry (short TTL) and gateway; each round registers a new name for a
    running server's MCP endpoint, heartbeats, then stops heartbeating as a killed server would."""
    import httpx

    from tests.registry.harness import AUTH, Proc, Registry, example_python, free_port, registry_env, wait_for

    registry = Registry(example_python(), root, registry_env(root / "reg2", free_port(), ttl=ttl), name="registry2")
    port = free_port()
    env = {**world.gateway.env, "GATEWAY_PORT": str(port), "GATEWAY_REGISTRY_URL": registry.url}  # type: ignore[union-attr]
    env["GATEWAY_DATA_DIR"] = str(root / "gateway2-data")
    gateway = Proc([str(world.bin / "gateway"), "serve"], env, root / "gateway2.log")
    found: dict[str, list[float]] = {"listed_after_register_s": [], "gone_after_last_heartbeat_s": []}
    try:
        wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200, 60)
        backend = f"http://127.0.0.1:{world.servers['alpha'][0][1]}/mcp"
        with httpx.Client(timeout=10) as http:

            def names() -> set[str]:
                body, headers = envelope("tools/list", {})
                headers["authorization"] = f"Bearer {GATEWAY_TOKEN}"
                answer = http.post(f"http://127.0.0.1:{port}/mcp", json=body, headers=headers).json()
                return {t["name"] for t in answer["result"]["tools"]}

            for n in range(rounds):
                name, started = f"probe{n}", time.perf_counter()
                record = {"name": name, "instance_id": "p1", "version": "1.0.0", "interfaces": {"mcp": backend}}
                lease = http.post(registry.url + "/v1/instances", headers=AUTH, json=record).json()["lease_token"]
                beat = registry.url + f"/v1/instances/{name}/p1/heartbeat"
                while f"{name}_get_note" not in names():
                    http.put(beat, headers=AUTH, json={"lease_token": lease})
                    time.sleep(0.01)
                found["listed_after_register_s"].append(time.perf_counter() - started)
                http.put(beat, headers=AUTH, json={"lease_token": lease}).raise_for_status()
                last = time.perf_counter()
                while f"{name}_get_note" in names():
                    time.sleep(0.01)
                found["gone_after_last_heartbeat_s"].append(time.perf_counter() - last)
    finally:
        gateway.terminate()
        registry.proc.terminate()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per path (direct, gateway)")
    parser.add_argument("--lists", type=int, default=1000, help="tools/list per phase (none hung, one hung)")
    parser.add_argument("--block", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5, help="register / stop heartbeating rounds (TTL 2 s)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp:
        # A long TTL: the stopped backend must stay a member while its listing is measured.
        world = start_world(Path(tmp), SERVERS, SERVERS, ttl=60.0, GATEWAY_CALL_TIMEOUT_SECONDS="1")
        try:
            from tests.registry.harness import wait_for

            wait_for(
                lambda: sum(s["tool_count"] > 0 and s["name"] in SERVERS for s in world.health()["servers"]) == 5, 60
            )
            alpha_port = world.servers["alpha"][0][1]
            direct = {"url": f"http://127.0.0.1:{alpha_port}/mcp", "token": BACKEND_TOKEN}
            gateway = {"url": world.mcp_url, "token": GATEWAY_TOKEN}
            import httpx

            httpx.post(
                f"http://127.0.0.1:{alpha_port}/v1/notes",
                json={"slug": "bench", "title": "Bench"},
                headers={"Authorization": f"Bearer {BACKEND_TOKEN}"},
                timeout=10,
            ).raise_for_status()
            examples = capture(world, alpha_port)

            def call(target: dict[str, str], name: str, label: str, count: int) -> dict[str, Any]:
                params = {"name": name, "arguments": {"slug": "bench"}}
                return {"label": label, "target": target, "method": "tools/call", "params": params, "count": count}

            warm = [call(direct, "get_note", "warm", 100), call(gateway, "alpha_get_note", "warm", 100)]
            blocks = []
            for _ in range(max(1, args.calls // args.block)):
                blocks += [
                    call(direct, "get_note", "direct", args.block),
                    call(gateway, "alpha_get_note", "gateway", args.block),
                ]
            alpha_proc, gateway_proc = world.servers["alpha"][0][0].popen, world.gateway.popen  # type: ignore[union-attr]
            assert alpha_proc is not None and gateway_proc is not None
            calls = loadgen(world, warm + blocks, {"backend": alpha_proc.pid, "gateway": gateway_proc.pid})

            listing = {"label": "list", "target": gateway, "method": "tools/list", "params": {}, "count": args.lists}
            hung_proc = world.servers["epsilon"][0][0]
            assert hung_proc.popen is not None
            stop = threading.Event()
            answers: list[str] = []

            def hammer() -> None:  # calls to epsilon keep arriving in both phases: only the hang differs
                body_target = {"name": "epsilon_list_notes", "arguments": {}}
                with httpx.Client(timeout=30) as http:
                    while not stop.wait(0.02):  # about 50 calls/s per thread, whatever the answer
                        body, headers = envelope("tools/call", body_target)
                        headers["authorization"] = f"Bearer {GATEWAY_TOKEN}"
                        result = http.post(world.mcp_url, json=body, headers=headers).json()["result"]
                        answers.append(result["structuredContent"]["code"] if result.get("isError") else "ok")

            threads = [threading.Thread(target=hammer, daemon=True) for _ in range(4)]
            for thread in threads:
                thread.start()
            try:
                none_hung = loadgen(world, [{**listing, "count": 50}, listing])
                before = len(answers)
                hung_proc.popen.send_signal(signal.SIGSTOP)
                time.sleep(1.5)  # the hung calls are in flight and the breaker has seen them
                one_hung = loadgen(world, [listing])
            finally:
                stop.set()
                hung_proc.popen.send_signal(signal.SIGCONT)
                for thread in threads:
                    thread.join(timeout=10)
            unavailable = answers[before:]
            joined = membership(world, Path(tmp), args.rounds)
        finally:
            world.stop()

    d, g = calls["direct"], calls["gateway"]
    added_p50 = percentile(g, 50) - percentile(d, 50)
    added_p99 = percentile(g, 99) - percentile(d, 99)
    l0, l1 = none_hung["list"], one_hung["list"]
    ratio = percentile(l1, 99) / percentile(l0, 99)
    print_table(
        ["path", "calls", "p50 ms", "p99 ms", "loadgen CPU share"],
        [
            [
                "direct to the server (baseline)",
                len(d),
                ms(percentile(d, 50)),
                ms(percentile(d, 99)),
                round(calls["_cpu_share"], 2),
            ],
            ["through the gateway", len(g), ms(percentile(g, 50)), ms(percentile(g, 99)), ""],
            [
                "tools/list, none hung (baseline)",
                len(l0),
                ms(percentile(l0, 50)),
                ms(percentile(l0, 99)),
                round(none_hung["_cpu_share"], 2),
            ],
            [
                "tools/list, one of five hung",
                len(l1),
                ms(percentile(l1, 50)),
                ms(percentile(l1, 99)),
                round(one_hung["_cpu_share"], 2),
            ],
        ],
    )
    spent = calls["_cpu_ms_per_call"]
    print(
        f"\nCPU per call: the backend {spent['direct']['backend']} ms called directly, "
        f"{spent['gateway']['backend']} ms through the gateway; the gateway {spent['gateway']['gateway']} ms"
    )
    listed, gone = joined["listed_after_register_s"], joined["gone_after_last_heartbeat_s"]
    verdict = {
        "listed_after_register_max_s": round(max(listed), 3),
        "gone_after_last_heartbeat_max_s": round(max(gone), 3),
        "gone_within_ttl_plus_1s": max(gone) <= 2.0 + 1.0,
        "cpu_ms_per_call": {label: spent[label] for label in ("direct", "gateway")},
        "added_p50_ms": ms(added_p50),
        "added_p99_ms": ms(added_p99),
        "list_p99_hung_ratio": round(ratio, 3),
        "added_p50_ok": added_p50 <= 0.002,
        "added_p99_ok": added_p99 <= 0.010,
        "list_hung_ok": ratio <= 1.1,
        "hung_calls_answered": {code: unavailable.count(code) for code in set(unavailable)},
        "calls_to_epsilon_before_the_hang": {code: answers[:before].count(code) for code in set(answers[:before])},
    }
    print(
        f"\nadded p50 {verdict['added_p50_ms']} ms (target <= 2), added p99 {verdict['added_p99_ms']} ms (<= 10); "
        f"tools/list p99 one hung / none hung = {verdict['list_p99_hung_ratio']}x (<= 1.1); "
        f"calls to the hung server meanwhile: {verdict['hung_calls_answered']}\n"
        f"membership (registry TTL 2 s, {len(gone)} rounds): listed <= {verdict['listed_after_register_max_s']} s "
        f"after registering; gone <= {verdict['gone_after_last_heartbeat_max_s']} s after the last heartbeat "
        f"(target <= TTL + 1 s = 3 s)"
    )
    write_results(
        "gateway",
        {
            "verdict": verdict,
            "samples_ms": {
                "direct": [ms(v) for v in d],
                "gateway": [ms(v) for v in g],
                "list_none_hung": [ms(v) for v in l0],
                "list_one_hung": [ms(v) for v in l1],
            },
            "membership_s": joined,
            "loadgen_cpu_share": {
                "calls": calls["_cpu_share"],
                "list_none_hung": none_hung["_cpu_share"],
                "list_one_hung": one_hung["_cpu_share"],
            },
            "examples": examples,
        },
    )


if __name__ == "__main__":
    main()
