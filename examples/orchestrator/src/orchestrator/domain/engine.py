"""Plan, apply, status, down, reset and logs of one stack: Phases 2 and 3 of the bootstrap.

apply installs what changed (each server into its own uv environment), then starts the
registry and gates on it (``/ready`` and its own record ``up``), then the servers level by
level in dependency order (a level's servers in parallel), each gated on ``/ready`` and on
being ``up`` in the registry before its deadline. A failure stops what this run started, in
reverse order, and leaves everything else as it was.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from . import etcd, layer
from . import processes as proc
from .errors import ApplyFailed
from .lifecycle import Lifecycle
from .models import (
    ApplyReport,
    Plan,
    RegistrySpec,
    ServerSpec,
    Step,
)
from .stackfile import REGISTRY, LoadedStack, levels
from .startup import HOST, Decision, Startup
from .state import ServerRecord, StackState, as_json
from .tracker import Tracker

#: uv installs run at once: mostly linking from its cache, so a few overlap well on two cores
INSTALLS_AT_ONCE = 3


class Engine(Startup, Lifecycle):
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)  # /ready checks that it is writable

    def state(self, loaded: LoadedStack) -> StackState:
        return StackState.open(self.data_dir / "stacks" / loaded.stack.name)

    # -- what apply would do -------------------------------------------------------------------

    def _spec(self, loaded: LoadedStack, name: str) -> RegistrySpec | ServerSpec | etcd.MemberSpec:
        if name in loaded.members:
            return etcd.spec(loaded)
        return loaded.stack.registry if name == REGISTRY else loaded.stack.servers[name]  # type: ignore[return-value]

    def _order(self, loaded: LoadedStack) -> list[list[str]]:
        registry = ([loaded.members] if loaded.members else []) + ([[REGISTRY]] if loaded.stack.registry else [])
        return registry + levels({n: loaded.depends.get(n, []) for n in loaded.stack.servers})

    @staticmethod
    def _phase(loaded: LoadedStack, name: str) -> str:
        return "registry" if name == REGISTRY or name in loaded.members else "servers"

    def _url(self, state: StackState, name: str) -> str | None:
        rec = state.servers.get(name)
        return f"http://{HOST}:{rec.port}" if rec else None

    def _run_fingerprint(self, loaded: LoadedStack, state: StackState, name: str, install_fp: str) -> str | None:
        """What the running process was started with; None while a port is still to be chosen."""
        spec = self._spec(loaded, name)
        rec = state.servers.get(name)
        port = spec.port or (rec.port if rec else None)
        deps = loaded.depends.get(name, [])
        dep_ports = [state.servers[d].port if d in state.servers else None for d in deps]
        registry = state.servers.get(REGISTRY)
        if port is None or None in dep_ports:
            return None
        if name in loaded.members:  # a member runs with the whole cluster's peer URLs
            if any(m not in state.servers for m in loaded.members):
                return None
            deps, dep_ports = [etcd.cluster(loaded, state)], []
        material = as_json([install_fp, spec.settings, port, deps, dep_ports, registry.port if registry else None])
        return hashlib.sha256(material.encode()).hexdigest()[:16]

    def decide(self, loaded: LoadedStack, state: StackState) -> tuple[list[Decision], list[str]]:
        """What apply will do for each server in start order, and the recorded servers to stop."""
        decisions: list[Decision] = []
        for level in self._order(loaded):
            for name in level:
                spec = self._spec(loaded, name)
                rec = state.servers.get(name)
                install_fp = proc.source_fingerprint(spec.source, loaded.base)
                venv_ok = layer.intact(state.venv(name))
                install = name not in loaded.members and (
                    rec is None or rec.install_fingerprint != install_fp or not venv_ok
                )
                running = rec is not None and proc.alive(rec.pid, rec.start_time)
                run_fp = self._run_fingerprint(loaded, state, name, install_fp)
                if not running:
                    action, reason = "start", "not running"
                elif install:
                    action, reason = "restart", "its source changed"
                elif run_fp is None or rec is None or run_fp != rec.run_fingerprint:
                    action, reason = "restart", "its settings, port or dependencies changed"
                else:
                    action, reason = "keep", "running and unchanged"
                decisions.append(Decision(name, install, action, reason))
        gone = [n for n, r in state.servers.items() if n not in loaded.names and proc.alive(r.pid, r.start_time)]
        return decisions, gone

    def plan(self, loaded: LoadedStack) -> Plan:
        state = self.state(loaded)
        decisions, gone = self.decide(loaded, state)
        steps = self._steps(loaded, decisions, gone)
        return Plan(stack=loaded.stack.name, steps=steps, converged=all(s.action == "keep" for s in steps))

    @staticmethod
    def _steps(loaded: LoadedStack, decisions: list[Decision], gone: list[str]) -> list[Step]:
        steps: list[Step] = []
        for d in decisions:
            phase = Engine._phase(loaded, d.server)
            if d.install:
                steps.append(Step(server=d.server, phase=phase, action="install", reason="not installed or changed"))
            steps.append(Step(server=d.server, phase=phase, action=d.action, reason=d.reason))  # type: ignore[arg-type]
        steps += [Step(server=n, phase="servers", action="stop", reason="no longer in the stack") for n in gone]
        return steps

    # -- apply ---------------------------------------------------------------------------------

    def apply(self, loaded: LoadedStack, tracker: Tracker | None = None) -> ApplyReport:
        state = self.state(loaded)
        with state.locked():
            return self._apply(loaded, state, tracker or Tracker())

    def _apply(self, loaded: LoadedStack, state: StackState, tracker: Tracker) -> ApplyReport:
        decisions, gone = self.decide(loaded, state)
        steps = self._steps(loaded, decisions, gone)
        tracker.total = len(steps) + len(gone)
        tracker.check()
        state.stack_text, state.base = loaded.text, str(loaded.base)
        for rec in state.servers.values():
            rec.failed, rec.restarts = False, 0  # an apply gives crashed servers a fresh start
        for name in gone:
            rec = state.servers[name]
            proc.stop(rec.pid or 0, rec.start_time)
            rec.pid = rec.start_time = None
            tracker.step(f"stopped {name} (no longer in the stack)")
        for d in decisions:  # every record exists before the workers start (no dict grows under them)
            state.servers.setdefault(d.server, ServerRecord(port=0))
        state.save()
        started: list[str] = []
        try:
            etcd.prepare(loaded, state)
            self._pipeline(loaded, state, decisions, started, tracker)
        except proc.StepFailed as exc:
            self._stop_started(state, started)
            detail = (
                f"phase {exc.phase}, server {exc.server!r}: {exc.reason}."
                f" Stopped what this run started: {', '.join(reversed(started)) or 'nothing'}."
            )
            detail += " Last log lines:" + ("\n" + "\n".join(exc.log_tail) if exc.log_tail else " (none)")
            raise ApplyFailed(
                detail,
                errors=[{"loc": [exc.phase, exc.server], "msg": exc.reason, "type": "apply_failed"}],
            ) from None
        except BaseException:
            self._stop_started(state, started)
            raise
        steps = self._steps(loaded, decisions, gone)  # again: a kept server may have been restarted
        changed = any(s.action != "keep" for s in steps)
        if changed:
            counts = {a: sum(1 for s in steps if s.action == a) for a in ("install", "start", "restart", "stop")}
            message = "applied: " + ", ".join(f"{n} {a}" for a, n in counts.items() if n)
        else:
            message = "converged: nothing started or stopped"
        return ApplyReport(
            stack=loaded.stack.name,
            steps=steps,
            changed=changed,
            message=message,
            timings=tracker.timings,
        )

    def _prerequisites(self, loaded: LoadedStack, name: str) -> list[str]:
        registry = [REGISTRY] if loaded.stack.registry and self._phase(loaded, name) == "servers" else []
        return registry + loaded.depends.get(name, [])

    def _pipeline(
        self, loaded: LoadedStack, state: StackState, decisions: list[Decision], started: list[str], tracker: Tracker
    ) -> None:
        """Each server in its own worker: install (a few at a time), wait until its registry and
        dependencies are up, start, gate. A server starts the moment what it needs is up, so
        installs overlap with the registry's start and independent servers never wait on each
        other's level. The first failure (or a cancel) stops every worker still waiting."""
        up = {d.server: threading.Event() for d in decisions}
        failed = threading.Event()
        errors: list[BaseException] = []
        installs = threading.Semaphore(INSTALLS_AT_ONCE)
        shared = self._shared(loaded, state, decisions, tracker)

        def work(d: Decision) -> None:
            phase = self._phase(loaded, d.server)
            try:
                if d.install:
                    with tracker.part(d.server, "install"):
                        if not self._install_one(loaded, state, d, shared, installs, failed, tracker):
                            return
                    tracker.step(f"installed {d.server}")
                with tracker.part(d.server, "wait"):
                    for dep in self._prerequisites(loaded, d.server):
                        up[dep].wait()
                if failed.is_set():
                    return
                tracker.check()
                rec = state.servers[d.server]
                if d.action == "keep" and rec.run_fingerprint != self._run_fingerprint(
                    loaded, state, d.server, rec.install_fingerprint or ""
                ):  # a dependency came back on another address in this run
                    d.action, d.reason = "restart", "a dependency moved to another address"
                self._bring_up(loaded, state, d, phase, started, tracker)
                tracker.step(f"{d.server} up ({d.action})")
                up[d.server].set()
            except BaseException as exc:  # noqa: BLE001 - handed to the caller below
                errors.append(exc)
                failed.set()
                for event in up.values():  # release every waiting worker: they see `failed`
                    event.set()

        workers = [threading.Thread(target=work, args=(d,), name=f"apply-{d.server}") for d in decisions]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        if errors:
            raise errors[0]

    def _stop_started(self, state: StackState, started: list[str]) -> None:
        for name in reversed(started):
            rec = state.servers[name]
            proc.stop(rec.pid or 0, rec.start_time)
            rec.pid = rec.start_time = None
            state.save()

    def _shared(
        self, loaded: LoadedStack, state: StackState, decisions: list[Decision], tracker: Tracker
    ) -> layer.SharedLayer | None:
        """Start building the shared environment when a local server is to be installed; it is
        built from every local server of the stack (not only those installed now), so it keeps
        serving the ones already running."""
        wanted: list[str] = []
        members: set[str] = set()
        for name in loaded.names:
            if name in loaded.members:
                continue
            reqs = layer.requirements(self._spec(loaded, name).source, loaded.base)
            if reqs is not None:
                wanted += reqs
                members.add(name)
        if not any(d.install and d.server in members for d in decisions):
            return None
        shared = layer.SharedLayer(state.venv(layer.NAME), members)
        threading.Thread(target=shared.build, args=(wanted, tracker), name="apply-shared", daemon=True).start()
        return shared

    def _install_one(
        self,
        loaded: LoadedStack,
        state: StackState,
        d: Decision,
        shared: layer.SharedLayer | None,
        installs: threading.Semaphore,
        failed: threading.Event,
        tracker: Tracker,
    ) -> bool:
        """Install one server, holding one of the install slots only while uv works (not while
        it waits for the shared environment). False when another worker failed meanwhile."""
        spec = self._spec(loaded, d.server)
        rec = state.servers[d.server]
        venv = state.venv(d.server)
        layered = shared is not None and d.server in shared.members
        with installs:
            if failed.is_set():
                return False
            tracker.check()
            if proc.alive(rec.pid, rec.start_time):  # its source changed: stop it before rebuilding
                proc.stop(rec.pid or 0, rec.start_time)
                rec.pid = rec.start_time = None
            if layered:
                proc.install_own(d.server, spec.source, loaded.base, venv, shared.venv)  # type: ignore[union-attr]
            else:
                found = proc.install(d.server, spec.source, loaded.base, venv)
        if layered:
            if shared.ready():  # type: ignore[union-attr]
                found = proc.describe(d.server, venv)
            else:
                with installs:
                    found = proc.complete(d.server, spec.source, loaded.base, venv)
        rec.dist, rec.command, rec.env_prefix = found["dist"], found["command"], found["env_prefix"]
        rec.install_fingerprint = proc.source_fingerprint(spec.source, loaded.base)
        state.save()
        return True
