"""Health and registry probes of the servers a stack runs, over loopback HTTP."""

from __future__ import annotations

import threading

_LOCAL = threading.local()


def get(url: str, timeout: float = 1.0) -> tuple[int, bytes]:
    """GET a loopback URL; (status, body). Raises OSError when nothing answers.

    The standard library's client, one kept-alive connection per thread and address: health
    polls run while servers start, so they must cost little CPU, and importing httpx (with
    its command-line module) would cost a converged apply more than all its checks."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    key = parts.netloc
    conns: dict[str, http.client.HTTPConnection] = _LOCAL.__dict__.setdefault("conns", {})
    for attempt in range(2):  # a kept-alive connection the server closed is retried once, afresh
        conn = conns.get(key)
        if conn is None:
            conn = conns[key] = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        fresh = conn.sock is None
        try:
            conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
            response = conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            conns.pop(key, None)
            if fresh or attempt == 1:
                raise OSError(str(exc)) from exc
    raise OSError("unreachable")


def ready(url: str, timeout: float = 1.0) -> str:
    try:
        status, _ = get(f"{url}/ready", timeout)
    except OSError:
        return "unreachable"
    return "ready" if status == 200 else "not_ready"


def registry_status(registry_url: str | None, dist: str | None, url: str, timeout: float = 1.0) -> str:
    """The status the registry holds for the process serving ``url``, or '-'."""
    if not registry_url or not dist:
        return "-"
    import json

    try:
        status, body = get(f"{registry_url}/v1/services/{dist}", timeout)
        instances = json.loads(body).get("instances", []) if status == 200 else []
    except (OSError, ValueError):
        return "-"
    # A process killed without deregistering leaves its record behind (at the same address
    # when its successor kept the port): the latest registration at this address is ours.
    here = [i for i in instances if str(i.get("interfaces", {}).get("rest", "")).rstrip("/") == url]
    if not here:
        return "-"
    return str(max(here, key=lambda i: float(i.get("registered_at") or 0)).get("status", "-"))
