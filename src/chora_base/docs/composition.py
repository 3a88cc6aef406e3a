"""The ``composition`` part of the docs generator: the worked example's commands, run for real
against ``examples/notes`` and ``examples/search`` (``chora_base.docs.worked_example``), with
what they printed written under ``saps/_generated/composition/``.

Values that change from run to run (ports, operation and saga ids, event ids, times) are
replaced by fixed placeholders, so ``--check`` compares what matters: the shapes, states,
codes and counts.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

from chora_base.docs.worked_example import API_TOKEN, EXAMPLES, World, install, wait_for

Files = dict[str, str]

_VOLATILE = (
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:PORT"),
    (re.compile(r"publish-([a-z0-9-]+?)-[0-9a-f]{12}\b"), r"publish-\1-SAGAID"),
    (re.compile(r'"(id|instance_id|lease_token)": "[^"]+"'), r'"\1": "ID"'),
    (re.compile(r'"(created_at|updated_at|registered_at|last_heartbeat|expires_at)": "[^"]+"'), r'"\1": "TIME"'),
    (re.compile(r'"revision": \d+'), '"revision": N'),
    (re.compile(r"/operations/[0-9a-zA-Z_-]{8,}"), "/operations/ID"),
)


def _steady(text: str) -> str:
    for pattern, replacement in _VOLATILE:
        text = pattern.sub(replacement, text)
    return text


def _block(command: str, output: str, lang: str = "json") -> str:
    return f"```console\n$ {command}\n```\n\n```{lang}\n{_steady(output).rstrip()}\n```\n"


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=False)


def _cli(world: World, server: str, *args: str) -> str:
    argv = [str(world.bin / server), *args, "--url", world.url(server), "--json"]
    env = {**os.environ, server.upper() + "_API_TOKEN": API_TOKEN}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False, env=env)
    return done.stdout or done.stderr


def _checker(project: Path) -> str:
    done = subprocess.run(
        ["chora-base", "check", str(project), "--select", "CP", "--format", "markdown"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done.stdout.replace(str(EXAMPLES.parent) + "/", "")


def part_composition(work: Path) -> Files:
    files: Files = {}
    for name in ("notes", "search"):
        files[f"composition/check-{name}.md"] = _checker(EXAMPLES / name)
    world = World(work, install(work))
    try:
        world.start()
        files.update(_run(world))
    finally:
        world.close()
    return files


def _run(world: World) -> Files:
    files: Files = {}
    (notes,) = world.registered("notes")
    record = {k: notes[k] for k in ("name", "status", "dependencies") if k in notes}
    files["composition/registration.md"] = _block(
        "curl -s 'http://127.0.0.1:PORT/v1/instances?name=notes'   # the registry; one record, abridged", _json(record)
    )

    publish = (
        "publish-note",
        "--slug",
        "weekly",
        "--title",
        "Weekly review",
        "--body",
        "what went well",
        "--tags",
        "work",
    )
    files["composition/publish.md"] = _block(
        "notes " + " ".join(_quote(a) for a in publish) + " --json", _cli(world, "notes", *publish)
    )
    wait_for(lambda: world.stats()["events_handled"] >= 1, 60, "search to hear note.published")
    files["composition/search.md"] = (
        _block("search search-notes --q 'went well' --json", _cli(world, "search", "search-notes", "--q", "went well"))
        + "\n"
        + _block("search index-stats --json", _cli(world, "search", "index-stats"))
    )

    refused = world.wait_operation(world.start_publish("bang", "!!"))
    files["composition/compensated.md"] = _block(
        'curl -s -X POST .../v1/notes:publish -d \'{"slug": "bang", "title": "!!"}\'   # then GET /v1/operations/ID',
        # Not its message: how far the saga got before the first look varies from run to run.
        _json({k: refused[k] for k in ("operation", "state", "done", "problem")}),
    )

    world.procs["search"].kill9()
    op_id = world.start_publish("outage", "Written during an outage")
    waiting = wait_for(lambda: "waiting for search" in (op := world.operation(op_id))["message"] and op, 60, "the wait")
    world.procs["search"].start()
    done = world.wait_operation(op_id)
    entry = world.call("search", "GET", "/index/outage").json()
    files["composition/outage.md"] = (
        "While search is down (killed with -9), `GET /v1/operations/ID`:\n\n"
        + _block("curl -s http://127.0.0.1:PORT/v1/operations/ID", _json(_op(waiting)))
        + "\nAfter search is started again:\n\n"
        + _block("curl -s http://127.0.0.1:PORT/v1/operations/ID", _json(_op(done)))
        + "\nThe index request was applied once (`applied`), whatever number of attempts reached search:\n\n"
        + _block("curl -s http://127.0.0.1:PORT/v1/index/outage   # on search", _json(entry))
    )

    before = world.stats()
    world.procs["search"].stop()
    for slug in ("weekly", "outage"):
        world.call("notes", "DELETE", f"/notes/{slug}")
    world.procs["search"].start()
    wait_for(lambda: world.stats()["events_handled"] >= before["events_handled"] + 2, 60, "search to catch up")
    files["composition/catch-up.md"] = (
        "Search stopped; notes deletes both published notes (two `note.deleted` facts); search started again:\n\n"
        + _block("search index-stats --json", _cli(world, "search", "index-stats"))
    )
    return files


def _op(op: dict[str, Any]) -> dict[str, Any]:
    return {k: op[k] for k in ("operation", "state", "done", "progress", "message", "result")}


def _quote(arg: str) -> str:
    return f"'{arg}'" if " " in arg else arg
