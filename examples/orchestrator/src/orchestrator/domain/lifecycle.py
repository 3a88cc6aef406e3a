"""The rest of a stack's life after apply: status, logs, down, reset and export.

A mixin of ``Engine`` (engine.py), split off by concern; it uses the engine's helpers
(``state``, ``_order``, ``_url``, ``_env``).
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

from . import etcd
from . import processes as proc
from .errors import ServerNotInStack
from .models import DownReport, ExportReport, LogLines, ResetReport, ServerStatus, StackStatus, StackTokens
from .stackfile import REGISTRY, LoadedStack
from .state import ServerRecord, StackState


class Lifecycle:
    data_dir: Path
    state: Any
    _order: Any
    _url: Any
    _env: Any
    argv: Any

    def tokens(self, loaded: LoadedStack) -> StackTokens:
        state = self.state(loaded)
        servers = {
            name: token
            for name in loaded.stack.servers
            if name not in loaded.members and (token := state.secret(f"{name}.api_token", create=False))
        }
        return StackTokens(
            stack=loaded.stack.name, registry_token=state.secret("registry_token", create=False), servers=servers
        )

    def status(self, loaded: LoadedStack) -> StackStatus:
        state = self.state(loaded)
        registry = self._url(state, REGISTRY) if loaded.stack.registry else None
        rows: list[ServerStatus] = []
        for level in self._order(loaded):
            for name in level:
                rec = state.servers.get(name)
                running = rec is not None and proc.alive(rec.pid, rec.start_time)
                url = self._url(state, name)
                member = name in loaded.members
                health = (etcd.health(url) if member else proc.ready(url)) if running and url else "-"
                listed = running and rec and url and not member
                rows.append(
                    ServerStatus(
                        server=name,
                        phase="registry" if name == REGISTRY or member else "servers",
                        process="running" if running else _stopped(rec),
                        restarts=rec.restarts if rec else 0,
                        pid=rec.pid if running and rec else None,
                        url=url,
                        health=health,  # type: ignore[arg-type]
                        registry=proc.registry_status(registry, rec.dist, url) if listed else "-",  # type: ignore[union-attr,arg-type]
                    )
                )
        header = ("server", "phase", "process", "pid", "health", "registry", "url")
        cells = [header] + [
            (r.server, r.phase, r.process, str(r.pid or "-"), r.health, r.registry, r.url or "-") for r in rows
        ]
        widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
        table = "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells)
        return StackStatus(
            stack=loaded.stack.name,
            registry_url=registry,
            servers=rows,
            table=table,
        )

    def _stop_all(self, loaded: LoadedStack, state: StackState) -> list[str]:
        """Stop every recorded process: dependents before what they depend on, the registry
        last (so the others can deregister from it). The servers of one level stop together:
        each one's graceful shutdown is mostly waiting, and they do not need each other."""
        members = loaded.members
        levels = [[n for n in level if n != REGISTRY and n not in members] for level in self._order(loaded)]
        known = {n for level in levels for n in level} | {REGISTRY, *members}
        # etcd goes after the registry, which keeps its records there
        groups = [[n for n in state.servers if n not in known], *reversed(levels), [REGISTRY], members]
        stopped: list[str] = []
        for group in groups:
            running = [
                n for n in group if (rec := state.servers.get(n)) and rec.pid and proc.alive(rec.pid, rec.start_time)
            ]
            threads = [
                threading.Thread(target=proc.stop, args=(state.servers[n].pid, state.servers[n].start_time))
                for n in running
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            stopped += running
            for name in group:
                if (rec := state.servers.get(name)) is not None:
                    rec.pid = rec.start_time = None
            state.save()
        return stopped

    def down(self, loaded: LoadedStack) -> DownReport:
        state = self.state(loaded)
        with state.locked():
            stopped = self._stop_all(loaded, state)
        message = f"stopped {len(stopped)} server(s)" if stopped else "nothing was running"
        return DownReport(stack=loaded.stack.name, stopped=stopped, message=message)

    def reset(self, loaded: LoadedStack) -> ResetReport:
        state = self.state(loaded)
        existed = state.root.exists()
        with state.locked():
            stopped = self._stop_all(loaded, state)
            inside = [p for p in state.root.iterdir() if p.name != "lock"] if existed else []
            removed = sorted(str(p.relative_to(self.data_dir)) for p in inside)
        _remove(state.root)
        if existed:
            removed.append(str(state.root.relative_to(self.data_dir)))
        stacks = state.root.parent
        if stacks.exists() and not any(stacks.iterdir()):
            stacks.rmdir()
        message = (
            f"stopped {len(stopped)} server(s), removed {len(removed)} path(s)" if existed else "nothing to remove"
        )
        return ResetReport(stack=loaded.stack.name, stopped=stopped, removed=removed, message=message)

    def export_systemd(self, loaded: LoadedStack) -> ExportReport:
        from .export import systemd_units

        state = self.state(loaded)
        out = state.root / "export" / "systemd"
        order = [n for level in self._order(loaded) for n in level]
        envs = {n: self._env(loaded, state, n) for n in order if n in state.servers}
        argvs = {n: self.argv(loaded, state, n) for n in order if n in state.servers}
        files = systemd_units(loaded, state, order, envs, argvs, out)
        folder = str(out.relative_to(self.data_dir))
        return ExportReport(stack=loaded.stack.name, target="systemd", folder=folder, files=[p.name for p in files])

    def export_kubernetes(self, loaded: LoadedStack) -> ExportReport:
        from .kubernetes import manifests

        state = self.state(loaded)
        out = state.root / "export" / "kubernetes"
        files = manifests(loaded, state, [n for level in self._order(loaded) for n in level], out)
        folder = str(out.relative_to(self.data_dir))
        return ExportReport(stack=loaded.stack.name, target="kubernetes", folder=folder, files=[p.name for p in files])

    def logs(self, loaded: LoadedStack, server: str, lines: int) -> LogLines:
        if server not in loaded.names:
            raise ServerNotInStack(f"No server {server!r} in stack {loaded.stack.name!r}")
        return LogLines(stack=loaded.stack.name, server=server, lines=proc.tail(self.state(loaded).log(server), lines))


def _remove(root: Path) -> None:
    """Remove the stack's folder, its large subfolders (one environment per server, the
    bytecode) each in a thread of its own: removing is one unlink per file, kernel work that
    runs on every core at once."""
    if not root.exists():
        return
    big = [p for sub in ("venvs", "data", "pycache") if (root / sub).is_dir() for p in _fan_out(root / sub)]
    threads = [threading.Thread(target=shutil.rmtree, args=(p,), kwargs={"ignore_errors": True}) for p in big]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    shutil.rmtree(root, ignore_errors=True)


def _fan_out(folder: Path, enough: int = 16, depth: int = 16) -> list[Path]:
    """Subfolders of ``folder`` to remove at once, going down until there are ``enough`` (the
    bytecode tree starts with a long single-child chain: its path prefix). Files and links met
    on the way are left to the final removal of the whole folder."""
    found = [folder]
    for _ in range(depth):
        if len(found) >= enough:
            break
        below = [c for f in found for c in f.iterdir() if c.is_dir() and not c.is_symlink()]
        if not below:
            break
        found = below
    return found


def _stopped(rec: ServerRecord | None) -> str:
    if rec is None:
        return "absent"
    return "failed" if rec.failed else "stopped"
