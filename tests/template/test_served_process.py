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


def _refusals(base: str, port: int) -> None:
    """What the guard refuses on a server started as users start it (bound to loopback)."""
    auth = {"Authorization": "Bearer s3cret"}
    evil_host = httpx.get(base + "/v1/notes", headers={"Host": "evil.example"})
    assert evil_host.status_code == 400 and evil_host.json()["code"] == "host_not_allowed"
    assert httpx.get(f"http://localhost:{port}/v1/notes").status_code == 200  # loopback names, any port
    mcp_host = httpx.post(base + "/mcp", json={}, headers={"Host": "evil.example"})
    assert mcp_host.status_code == 400 and mcp_host.json()["error"]["data"]["code"] == "host_not_allowed"
    # A web page's cross-site form post: text/plain needs no CORS preflight, so the browser sends it.
    cross = httpx.post(
        base + "/v1/notes",
        content=b'{"slug": "csrf", "title": "X"}',
        headers={**auth, "Content-Type": "text/plain", "Origin": "http://evil.example"},
    )
    assert cross.status_code == 403 and cross.json()["code"] == "origin_not_allowed"
    plain = httpx.post(
        base + "/v1/notes", content=b'{"slug": "plain", "title": "X"}', headers={**auth, "Content-Type": "text/plain"}
    )
    assert plain.status_code == 415 and plain.json()["code"] == "unsupported_media_type"
    wrong = httpx.put(base + "/v1/notes", headers=auth)
    assert wrong.status_code == 405 and "POST" in wrong.headers["allow"]
    # A chunked body larger than the limit is answered 413 while the client is still sending.
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            b"POST /v1/notes HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer s3cret\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"a" * 8192
        for _ in range(10):  # 80 KiB, over the 64 KiB default, with no final chunk
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        answer = b""
        while b"payload_too_large" not in answer and (part := sock.recv(65536)):
            answer += part
    assert answer.startswith(b"HTTP/1.1 413") and b"payload_too_large" in answer
    assert httpx.get(base + "/v1/notes").json()["items"] == []  # nothing above was stored


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
        head = httpx.head(base + "/health")
        assert head.status_code == 200 and head.content == b""
        note = {"slug": "a", "title": "A"}
        refused = httpx.post(base + "/v1/notes", json=note)
        assert refused.status_code == 401 and refused.json()["code"] == "unauthorized"
        assert refused.headers["www-authenticate"].startswith("Bearer")
        _refusals(base, port)
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
