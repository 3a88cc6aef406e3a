"""The rendered server as a user runs it: `<cli> serve` as a process, spoken to over HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_advanced_server_process(rendered_project: Callable[[str], Path], tmp_path: Path) -> None:
    project = rendered_project("advanced")
    port = _free_port()
    env = {
        **os.environ,
        "NOTES_SERVER_DATA_DIR": str(tmp_path / "data"),
        "NOTES_SERVER_API_TOKEN": "s3cret",
        "NOTES_SERVER_LOG_LEVEL": "DEBUG",
    }
    proc = subprocess.Popen(
        [str(project / ".venv/bin/notes-server"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        assert httpx.get(base + "/ready").json() == {"status": "ready"}
        note = {"slug": "a", "title": "A"}
        refused = httpx.post(base + "/v1/notes", json=note)
        assert refused.status_code == 401 and refused.json()["code"] == "unauthorized"
        created = httpx.post(base + "/v1/notes", json=note, headers={"Authorization": "Bearer s3cret"})
        assert created.status_code == 201, created.text
        rid = httpx.get(base + "/v1/notes/a", headers={"X-Request-ID": "trace-123"})
        assert rid.headers["x-request-id"] == "trace-123" and rid.json()["version"] == 1
        metrics = httpx.get(base + "/metrics").text
        assert 'operation_calls_total{interface="rest",operation="create_note",outcome="ok"} 1.0' in metrics
        # The CLI as a thin client of the running server, and the same note in the local store.
        cli = subprocess.run(
            [str(project / ".venv/bin/notes-server"), "get-note", "a", "--json", "--url", base],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert cli.returncode == 0 and '"slug": "a"' in cli.stdout, cli.stderr
        local = subprocess.run(
            [str(project / ".venv/bin/notes-server"), "list-notes", "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert '"slug": "a"' in local.stdout and '"next_cursor": null' in local.stdout
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "Traceback" not in err
    # Structured log lines carry the caller's request ID.
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(line.get("request_id") == "trace-123" and line.get("operation") == "get_note" for line in lines)
