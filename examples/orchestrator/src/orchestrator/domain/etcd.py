"""The registry's etcd cluster (``backend: etcd``): one or three members on loopback, started in
Phase 2 before the registry, which is given their client URLs.

Each member is a record of the stack like a server (``etcd-0`` ...), so status, down, reset,
supervision and export treat it as one. A member keeps its client and peer ports for the
life of its data folder: the cluster remembers its members by their peer URLs, so a member
that came back on another port would not rejoin it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from typing import Any

from . import processes as proc
from .models import EtcdSpec
from .stackfile import LoadedStack
from .state import ServerRecord, StackState

HOST = "127.0.0.1"


@dataclass(frozen=True)
class MemberSpec:
    """What the engine asks of any server's spec, for an etcd member."""

    source: str
    deadline_seconds: float
    port: int | None = None
    settings: dict[str, Any] = field(default_factory=dict)


def spec(loaded: LoadedStack) -> MemberSpec:
    registry = loaded.stack.registry
    etcd = (registry.etcd if registry else None) or EtcdSpec()
    return MemberSpec(source=f"etcd:{etcd.binary}", deadline_seconds=etcd.deadline_seconds)


def prepare(loaded: LoadedStack, state: StackState) -> None:
    """Find the etcd program and give every member its two ports, before any of them starts
    (each member is told the whole cluster's peer URLs)."""
    members = loaded.members
    if not members:
        return
    binary = spec(loaded).source.removeprefix("etcd:")
    found = shutil.which(binary)
    if not found:
        raise proc.StepFailed("registry", members[0], f"etcd program {binary!r} not found (apt-get install etcd)")
    for name in members:
        rec = state.servers.setdefault(name, ServerRecord(port=0))
        rec.command, rec.dist = found, None
        rec.install_fingerprint = proc.source_fingerprint(spec(loaded).source, loaded.base)
        if not rec.port:
            rec.port = proc.free_port()
        if not rec.peer_port:
            rec.peer_port = proc.free_port()
    state.save()


def cluster(loaded: LoadedStack, state: StackState) -> str:
    return ",".join(f"{n}=http://{HOST}:{state.servers[n].peer_port}" for n in loaded.members)


def endpoints(loaded: LoadedStack, state: StackState) -> str:
    return ",".join(f"http://{HOST}:{state.servers[n].port}" for n in loaded.members if n in state.servers)


def argv(loaded: LoadedStack, state: StackState, name: str) -> list[str]:
    rec = state.servers[name]
    client, peer = f"http://{HOST}:{rec.port}", f"http://{HOST}:{rec.peer_port}"
    return [
        rec.command or "etcd",
        *("--name", name, "--data-dir", str(state.data(name) / "member-data")),
        *("--listen-client-urls", client, "--advertise-client-urls", client),
        *("--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer),
        *("--initial-cluster", cluster(loaded, state), "--initial-cluster-state", "new"),
        *("--initial-cluster-token", f"{loaded.stack.name}-registry"),
        # loopback round trips are sub-millisecond: elect a new leader within a second or so
        *("--heartbeat-interval", "100", "--election-timeout", "1000"),
    ]


def health(url: str, timeout: float = 1.0) -> str:
    """etcd's own health answer: ready once the member serves and the cluster has a leader."""
    import json

    try:
        status, body = proc.get(f"{url}/health", timeout)
        ok = status == 200 and json.loads(body).get("health") == "true"
    except (OSError, ValueError):
        return "unreachable"
    return "ready" if ok else "not_ready"
