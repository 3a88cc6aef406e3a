"""Registry speed, side by side with etcd's own HTTP gateway in the same run.

Starts one etcd member and the registry (SQLite backend) on loopback, then measures:

- lookups (GET /v1/services/{name}) paced at 500 requests/s   -- target p99 <= 10 ms
- heartbeats (PUT .../heartbeat) paced at 1,000/s              -- target p99 <= 10 ms
- registrations, as fast as 8 concurrent clients go            -- target >= 200/s
- a re-registration storm of 10,000 instances after a restart  -- target <= 60 s, no errors

Next to each, the nearest etcd operation through its v3 JSON gateway (range, lease
keepalive, put, put storm). Latency counts from each request's scheduled start, so a
stalled server shows up in the percentiles. Figures go to stdout and bench/results/registry.json.

Run: python bench/registry/bench_registry.py [--seconds 5] [--storm 10000]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.registry.harness import (  # noqa: E402
    AS_OPERATOR,
    AUTH,
    Etcd,
    Registry,
    example_python,
    free_port,
    registry_env,
)

RESULTS = ROOT / "bench" / "results" / "registry.json"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class Conn:
    """A keep-alive HTTP/1.1 connection: a light load generator leaves the CPU to the server."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        host, port = url.split("//", 1)[1].split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)
        self.headers = {"Content-Type": "application/json", **headers}

    def ok(self, method: str, path: str, body: object = None) -> bool:
        data = None if body is None else json.dumps(body)
        try:
            self.conn.request(method, path, body=data, headers=self.headers)
            response = self.conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            return False
        return 200 <= response.status < 300

    def close(self) -> None:
        self.conn.close()


def paced(
    rate: float, seconds: float, call: Callable[[Conn, int], bool], url: str, headers: dict[str, str], threads: int = 16
) -> dict[str, float]:
    """Issue ``rate`` calls per second for ``seconds``; latency from each call's slot."""
    total = int(rate * seconds)
    start = time.perf_counter() + 0.2
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = iter(range(total))

    def worker() -> None:
        nonlocal errors
        client = Conn(url, headers)
        local: list[float] = []
        bad = 0
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            slot = start + i / rate
            delay = slot - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            ok = call(client, i)
            local.append(time.perf_counter() - slot)
            bad += 0 if ok else 1
        client.close()
        with lock:
            latencies.extend(local)
            errors += bad

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - start
    return _summary(latencies, errors, total / elapsed)


def burst(
    count: int, call: Callable[[Conn, int], bool], url: str, headers: dict[str, str], threads: int = 8
) -> dict[str, float]:
    """Run ``count`` calls as fast as ``threads`` clients can; report throughput."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = iter(range(count))

    def worker() -> None:
        nonlocal errors
        client = Conn(url, headers)
        local: list[float] = []
        bad = 0
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            t0 = time.perf_counter()
            ok = call(client, i)
            local.append(time.perf_counter() - t0)
            bad += 0 if ok else 1
        client.close()
        with lock:
            latencies.extend(local)
            errors += bad

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(threads):
            pool.submit(worker)
    elapsed = time.perf_counter() - started
    out = _summary(latencies, errors, count / elapsed)
    out["seconds"] = round(elapsed, 2)
    return out


def _summary(latencies: list[float], errors: int, rate: float) -> dict[str, float]:
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 2)

    return {
        "count": len(ordered),
        "errors": errors,
        "rate_per_s": round(rate, 1),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 2) if ordered else 0.0,
    }


def record(name: str, i: int) -> dict:
    return {
        "name": name,
        "instance_id": f"i{i}",
        "version": "1.0.0",
        "interfaces": {
            "rest": f"http://10.0.{i // 250}.{i % 250}:8000",
            "mcp": f"http://10.0.{i // 250}.{i % 250}:8000/mcp",
        },
        "tags": ["bench"],
        "metadata": {"zone": "a"},
        # each instance brings its own lease, as a real one keeps it: re-registering after the
        # registry restarts must carry it (without it the registry refuses: lease_mismatch)
        "lease_token": f"bench-lease-{name}-{i:06d}",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--storm", type=int, default=10_000)
    args = parser.parse_args()
    python = example_python()
    work = Path(tempfile.mkdtemp(prefix="registry-bench-"))
    etcd = Etcd(work)
    etcd_url = etcd.url(etcd.names[0])
    port = free_port()
    env = registry_env(work / "data", port, ttl=15, grace=60, extra={"MANIFEST_LOG_LEVEL": "WARNING"})
    reg = Registry(python, work, env)
    base = reg.url + "/v1"
    results: dict[str, dict] = {}
    try:
        # a registry with 200 instances in it, plus a service with one instance to look up
        R, E, NOAUTH = reg.url, etcd_url, {}
        burst(200, lambda c, i: c.ok("POST", "/v1/instances", record("fleet", i)), R, AUTH)
        burst(1, lambda c, i: c.ok("POST", "/v1/instances", record("billing", i)), R, AUTH)
        lease = int(httpx.post(E + "/v3/lease/grant", json={"TTL": "600"}).json()["ID"])
        httpx.post(
            E + "/v3/kv/put", json={"key": _b64("/bench/billing/i0"), "value": _b64(json.dumps(record("billing", 0)))}
        )

        results["lookup"] = {
            "registry": paced(500, args.seconds, lambda c, i: c.ok("GET", "/v1/services/billing"), R, NOAUTH),
            "etcd": paced(
                500,
                args.seconds,
                lambda c, i: c.ok(
                    "POST", "/v3/kv/range", {"key": _b64("/bench/billing/"), "range_end": _b64("/bench/billing0")}
                ),
                E,
                NOAUTH,
            ),
            "target": "p99 <= 10 ms at 500/s",
        }
        results["heartbeat"] = {
            "registry": paced(
                1000,
                args.seconds,
                lambda c, i: c.ok("PUT", f"/v1/instances/fleet/i{i % 200}/heartbeat", AS_OPERATOR),
                R,
                AUTH,
            ),
            "etcd": paced(
                1000, args.seconds, lambda c, i: c.ok("POST", "/v3/lease/keepalive", {"ID": str(lease)}), E, NOAUTH
            ),
            "target": ">= 1000/s sustained, p99 <= 10 ms",
        }
        results["register"] = {
            "registry": burst(2000, lambda c, i: c.ok("POST", "/v1/instances", record("new", i)), R, AUTH),
            "etcd": burst(
                2000,
                lambda c, i: c.ok(
                    "POST", "/v3/kv/put", {"key": _b64(f"/bench/new/i{i}"), "value": _b64(json.dumps(record("new", i)))}
                ),
                E,
                NOAUTH,
            ),
            "target": ">= 200/s",
        }
        # storm: 10,000 instances registered, registry killed and restarted, all come back
        burst(args.storm, lambda c, i: c.ok("POST", "/v1/instances", record("storm", i)), R, AUTH, threads=16)
        reg.proc.kill9()
        reg.restart()
        results["reregistration_storm"] = {
            "registry": burst(
                args.storm, lambda c, i: c.ok("POST", "/v1/instances", record("storm", i)), R, AUTH, threads=32
            ),
            "etcd": burst(
                args.storm,
                lambda c, i: c.ok(
                    "POST",
                    "/v3/kv/put",
                    {"key": _b64(f"/bench/storm/i{i}"), "value": _b64(json.dumps(record("storm", i)))},
                ),
                E,
                NOAUTH,
                threads=32,
            ),
            "target": f"{args.storm} re-registrations in <= 60 s, no errors",
        }
        listed = httpx.get(base + "/instances", params={"name": "storm"}, timeout=30).json()
        results["reregistration_storm"]["registry"]["instances_after"] = len(listed["instances"])
    finally:
        reg.proc.kill9()
        etcd.stop()

    verdicts = {
        "lookup": results["lookup"]["registry"]["p99_ms"] <= 10,
        "heartbeat": results["heartbeat"]["registry"]["p99_ms"] <= 10
        and results["heartbeat"]["registry"]["rate_per_s"] >= 1000 * 0.97,
        "register": results["register"]["registry"]["rate_per_s"] >= 200,
        "reregistration_storm": results["reregistration_storm"]["registry"]["seconds"] <= 60
        and results["reregistration_storm"]["registry"]["errors"] == 0,
    }
    print(f"{'operation':<22}{'backend':<10}{'rate/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}  target")
    for op, row in results.items():
        for side in ("registry", "etcd"):
            r = row[side]
            extra = f" ({r['seconds']} s)" if "seconds" in r else ""
            mark = ("MET" if verdicts[op] else "MISSED") if side == "registry" else ""
            print(
                f"{op:<22}{side:<10}{r['rate_per_s']:>9}{r['p50_ms']:>9}{r['p99_ms']:>9}"
                f"{r['errors']:>8}  {row['target'] if side == 'registry' else ''}{extra} {mark}"
            )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"results": results, "targets_met": verdicts}, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
