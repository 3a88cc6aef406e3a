"""OTLP export as a user turns it on: the rendered server run as a process with
OTEL_EXPORTER_OTLP_ENDPOINT set, its spans posted to an OTLP/HTTP receiver on loopback.

The spans are encoded and posted by a helper process (core/span_export.py), so this checks the
whole hop: what arrives is OTLP protobuf with the caller's trace id and parent, the operation's
attributes and the service's resource; a helper killed with -9 is started again; and when the
server itself is killed with -9, the helper leaves too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
TOKEN = "s3cret"

# Runs in the render's venv, which has opentelemetry-proto with the OTLP exporter: posts in,
# one JSON line per span out (protobuf's own JSON mapping, ids in hex).
DECODE = """
import base64, json, sys
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
for path in sys.argv[1:]:
    request = ExportTraceServiceRequest.FromString(open(path, "rb").read())
    for rs in MessageToDict(request)["resourceSpans"]:
        resource = {a["key"]: a["value"].get("stringValue") for a in rs["resource"]["attributes"]}
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                hexid = lambda v: base64.b64decode(v).hex() if v else None
                attributes = {a["key"]: a["value"].get("stringValue") for a in span.get("attributes", [])}
                print(json.dumps({"name": span["name"], "trace_id": hexid(span["traceId"]),
                                  "parent": hexid(span.get("parentSpanId")), "kind": span["kind"],
                                  "attributes": attributes, "status": span.get("status", {}),
                                  "service": resource.get("service.name")}))
"""


class Receiver:
    """An OTLP/HTTP receiver stand-in: keeps each POST body to /v1/traces."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.arrived = threading.Condition()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.path == "/v1/traces":
                    with owner.arrived:
                        owner.bodies.append(body)
                        owner.arrived.notify_all()
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 30) -> None:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.bodies) >= count, timeout), "no OTLP post arrived"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.http.shutdown()


def _spans(python: Path, bodies: list[bytes], tmp: Path) -> list[dict[str, object]]:
    paths = []
    for i, body in enumerate(bodies):
        path = tmp / f"post-{i}.bin"
        path.write_bytes(body)
        paths.append(str(path))
    out = subprocess.run([str(python), "-c", DECODE, *paths], capture_output=True, text=True, check=True, timeout=60)
    return [json.loads(line) for line in out.stdout.splitlines()]


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"  # exited, waiting for its (new) parent to reap it


def _wait(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


# The CLI with OTLP asked for while the otlp extra is absent: ``sys.modules[name] = None`` is
# Python's own way to make a package unimportable, as if it were not installed.
WITHOUT_EXTRA = """
import sys
sys.modules["opentelemetry.exporter"] = None
sys.argv = ["notes-server", "list-notes", "--json"]
from notes_server.interfaces.cli import main
main()
"""


def test_otlp_asked_for_without_the_extra_warns_and_runs(
    rendered_project: Callable[[str], Path], receiver: Receiver, tmp_path: Path
) -> None:
    python = rendered_project("advanced") / ".venv" / "bin" / "python"
    env = {**os.environ, "NOTES_SERVER_DATA_DIR": str(tmp_path / "data"), "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url}
    run = subprocess.run([str(python), "-c", WITHOUT_EXTRA], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {"items": [], "next_cursor": None}
    assert "install this project's [otlp] extra" in run.stderr and "Traceback" not in run.stderr
    assert receiver.bodies == []


def test_spans_reach_an_otlp_receiver_through_the_export_helper(
    rendered_project: Callable[[str], Path], receiver: Receiver, tmp_path: Path
) -> None:
    project = rendered_project("advanced")
    python = project / ".venv" / "bin" / "python"
    # The otlp extra adds packages only; the shared render stays as other tests expect it.
    subprocess.run(["uv", "pip", "install", "-q", "-p", str(python), "-e", f"{project}[otlp]"], check=True, timeout=600)
    port = _free_port()
    env = {
        **os.environ,
        "NOTES_SERVER_DATA_DIR": str(tmp_path / "data"),
        "NOTES_SERVER_API_TOKEN": TOKEN,
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    proc = subprocess.Popen(
        [str(project / ".venv/bin/notes-server"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {TOKEN}", "traceparent": f"00-{TRACE_ID}-{PARENT}-01"}
    try:
        _wait(lambda: _answers(base, proc), "the server did not start")
        created = httpx.post(base + "/v1/notes", json={"slug": "a", "title": "A"}, headers=headers)
        assert created.status_code == 201, created.text
        missing = httpx.get(base + "/v1/notes/nope", headers=headers)
        assert missing.status_code == 404
        receiver.wait_for(1)
        helpers = _children(proc.pid)
        assert len(helpers) == 1, helpers

        # A helper killed -9 is replaced on the next batch; nothing of the server breaks.
        os.kill(helpers[0], signal.SIGKILL)
        _wait(lambda: _gone(helpers[0]), "the killed helper did not exit")
        posts = len(receiver.bodies)
        assert httpx.get(base + "/v1/notes/a", headers=headers).status_code == 200
        # The first batch after the kill may be lost with the helper; later ones arrive.
        _wait(lambda: _ping(base, headers) and len(receiver.bodies) > posts, "no post after the helper died")
        replacement = _children(proc.pid)
        assert len(replacement) == 1 and replacement != helpers

        # The server killed -9: the helper sees its input close and leaves.
        proc.kill()
        proc.wait(timeout=30)
        _wait(lambda: _gone(replacement[0]), "the helper outlived the server")
    finally:
        if proc.poll() is None:
            proc.kill()
        _, err = proc.communicate(timeout=30)
    assert b"Traceback" not in err, err.decode()

    spans = _spans(python, receiver.bodies, tmp_path)
    by_name: dict[object, dict[str, object]] = {}
    for span in spans:  # in order of arrival: the first get_note is the missing note, later ones found it
        by_name.setdefault(span["name"], span)
    created_span, missing_span = by_name["create_note"], by_name["get_note"]
    for span in (created_span, missing_span):
        assert span["trace_id"] == TRACE_ID and span["parent"] == PARENT
        assert span["kind"] == "SPAN_KIND_SERVER" and span["service"] == "notes-server"
        assert span["attributes"]["capability.interface"] == "rest"
        assert span["attributes"]["capability.tier"] == "advanced"
    assert created_span["attributes"]["capability.operation"] == "create_note"
    assert missing_span["attributes"]["error.type"] == "note_not_found"
    assert missing_span["status"] == {"code": "STATUS_CODE_ERROR", "message": "note_not_found"}


def _answers(base: str, proc: subprocess.Popen[bytes]) -> bool:
    assert proc.poll() is None, "the server exited"
    try:
        return httpx.get(base + "/health").status_code == 200
    except httpx.TransportError:
        return False


def _ping(base: str, headers: dict[str, str]) -> bool:
    return httpx.get(base + "/v1/notes/a", headers=headers).status_code == 200


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
