"""Starting one server (or etcd member) and gating on it: its environment, command line and
port, the start itself and the wait for ``/ready`` and ``up`` in the registry.

A mixin of ``Engine`` (engine.py), split off by concern; apply and the supervisor both start
servers through ``_bring_up``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from . import etcd
from . import processes as proc
from .stackfile import REGISTRY, LoadedStack
from .state import StackState
from .tracker import Tracker

HOST = "127.0.0.1"
#: starts on a port of our choosing before giving up when each one is taken before the server binds it
PORT_ATTEMPTS = 3
#: what a server rendered from the template (and uvicorn) logs when its port is taken
_BIND_FAILED = "already in use"


@dataclass
class Decision:
    server: str
    install: bool
    action: str  # start | restart | keep
    reason: str


class Startup:
    _spec: Any
    _url: Any
    _run_fingerprint: Any

    def _env(self, loaded: LoadedStack, state: StackState, name: str) -> dict[str, str]:
        if name in loaded.members:
            return {}
        spec = self._spec(loaded, name)
        rec = state.servers[name]
        prefix = rec.env_prefix or ""
        registry_token = state.secret("registry_token") if loaded.stack.registry else None
        env = {f"{prefix}{k.upper()}": _text(v) for k, v in spec.settings.items()}
        env[f"{prefix}HOST"] = HOST
        env[f"{prefix}PORT"] = str(rec.port)
        env[f"{prefix}DATA_DIR"] = str(state.data(name))
        env[f"{prefix}API_TOKEN"] = (registry_token if name == REGISTRY else state.secret(f"{name}.api_token")) or ""
        if loaded.stack.registry:
            env[f"{prefix}REGISTRY_URL"] = self._url(state, REGISTRY) or ""
            env[f"{prefix}REGISTRY_TOKEN"] = registry_token or ""
        if name == REGISTRY and loaded.members:
            env[f"{prefix}BACKEND"] = "etcd"
            env[f"{prefix}ETCD_ENDPOINTS"] = etcd.endpoints(loaded, state)
        deps = [state.servers[d].dist or d for d in loaded.depends.get(name, []) if d not in loaded.members]
        env[f"{prefix}DEPENDENCIES"] = ",".join(deps)
        return env

    def _bring_up(
        self,
        loaded: LoadedStack,
        state: StackState,
        decision: Decision,
        phase: str,
        started: list[str],
        tracker: Tracker | None = None,
    ) -> None:
        name = decision.server
        spec = self._spec(loaded, name)
        rec = state.servers[name]
        tracker = tracker or Tracker()
        if decision.action == "keep":
            self._gate(loaded, state, name, phase, spec.deadline_seconds, tracker)
            return
        running = proc.alive(rec.pid, rec.start_time)
        member = name in loaded.members
        fixed = rec.port if member else spec.port  # a member keeps its ports (see etcd.py)
        # a fixed port someone else holds is refused before the running server is touched
        if fixed is not None and not (running and fixed == rec.port) and not proc.port_free(fixed):
            raise proc.StepFailed(phase, name, f"port {fixed} is already in use by another process")
        if running:
            proc.stop(rec.pid or 0, rec.start_time)
        # A port chosen here can be taken before the server binds it (any process, or one of
        # this machine's outgoing connections, may get it from the same ephemeral range): the
        # server then exits at once, and a port of our choosing is chosen again.
        for attempt in range(PORT_ATTEMPTS):
            rec.port = self._port(fixed, rec.port if attempt == 0 else None, phase, name)
            rec.run_fingerprint = self._run_fingerprint(loaded, state, name, rec.install_fingerprint or "")
            rec.log_offset = proc.log_size(state.log(name))
            env = self._env(loaded, state, name) | {"PYTHONPYCACHEPREFIX": str(state.pycache)}
            argv = self.argv(loaded, state, name)
            tracker.note(f"starting {name}")
            rec.pid, rec.start_time = proc.start(argv, env, state.log(name), state.data(name))
            if name not in started:
                started.append(name)
            state.save()
            try:
                self._gate(loaded, state, name, phase, spec.deadline_seconds, tracker)
                return
            except proc.StepFailed as exc:
                lost_port = exc.reason == "the process exited" and any(_BIND_FAILED in line for line in exc.log_tail)
                if fixed is not None or not lost_port or attempt == PORT_ATTEMPTS - 1:
                    if lost_port:
                        exc.reason = f"port {rec.port} was taken before the server could bind it"
                    raise

    def argv(self, loaded: LoadedStack, state: StackState, name: str) -> list[str]:
        """The command line a server (or etcd member) runs with."""
        if name in loaded.members:
            return etcd.argv(loaded, state, name)
        return [str(state.venv(name) / "bin" / (state.servers[name].command or name)), "serve"]

    @staticmethod
    def _port(fixed: int | None, kept: int | None, phase: str, name: str) -> int:
        """The port to start on: the stack file's, else the one kept from the last run while it is
        still free, else a fresh free one. Checked by binding it, here, at apply time."""
        if fixed is not None:
            if not proc.port_free(fixed):
                raise proc.StepFailed(phase, name, f"port {fixed} is already in use by another process")
            return fixed
        if kept and proc.port_free(kept):
            return kept
        return proc.free_port()

    def _gate(
        self, loaded: LoadedStack, state: StackState, name: str, phase: str, deadline: float, tracker: Tracker
    ) -> None:
        rec = state.servers[name]
        url = self._url(state, name) or ""
        member = name in loaded.members
        registry = self._url(state, REGISTRY) if loaded.stack.registry and not member else None
        seen: dict[str, Any] = {"health": "unreachable", "registry": "-", "dead": False, "ready_at": None}
        began = time.perf_counter()

        def healthy() -> bool:
            tracker.check()  # a cancel stops the wait; apply then stops what it started
            if not proc.alive(rec.pid, rec.start_time):
                seen["dead"] = True
                return True
            if seen["ready_at"] is None:
                seen["health"] = etcd.health(url) if member else proc.ready(url)
                if seen["health"] != "ready":
                    return False
                seen["ready_at"] = time.perf_counter()
            seen["registry"] = proc.registry_status(registry, rec.dist, url)
            return registry is None or seen["registry"] == "up"

        ok = proc.wait_for(healthy, deadline, most=0.1)
        if seen["ready_at"] is not None:
            tracker.record(name, "start", seen["ready_at"] - began)
            if registry is not None:
                tracker.record(name, "register", time.perf_counter() - seen["ready_at"])
        if seen["dead"]:
            raise proc.StepFailed(phase, name, "the process exited", proc.tail(state.log(name), since=rec.log_offset))
        if not ok:
            reason = f"not ready within {deadline:g} s (/ready: {seen['health']}, registry: {seen['registry']})"
            raise proc.StepFailed(phase, name, reason, proc.tail(state.log(name), since=rec.log_offset))


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
