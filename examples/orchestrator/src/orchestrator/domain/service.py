"""The service: every operation of the orchestrator, as plain Python.

A stack is given either as the path of its stack file (``stack_file``, relative source paths
start from the file's folder) or as the file's text (``stack_text``, relative paths start from
the orchestrator's working folder). What the orchestrator records about each stack lives under
``<data_dir>/stacks/<name>/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field

from ..core.longrun import NEVER, NO_PROGRESS, Cancellation, Progress
from .engine import Engine
from .errors import StackInvalid
from .models import ApplyReport, DownReport, ExportReport, LogLines, Plan, ResetReport, StackStatus, StackTokens
from .stackfile import LoadedStack, load, parse
from .supervisor import Supervisor
from .tracker import Tracker

if TYPE_CHECKING:
    from ..core.settings import Settings

StackFile = Annotated[str | None, Field(max_length=4096, description="Path of the stack file (YAML)")]
StackText = Annotated[str | None, Field(max_length=262_144, description="The stack file's text, instead of a path")]
ServerName = Annotated[str, Field(min_length=1, max_length=48, description="A server of the stack, or `registry`")]


class Service:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.supervisor: Supervisor | None = None

    def start(self) -> None:
        """While the orchestrator serves, it supervises the servers its stacks started."""
        self.supervisor = Supervisor(self.engine)
        self.supervisor.start()

    def close(self) -> None:
        if self.supervisor is not None:
            self.supervisor.stop()

    @classmethod
    def from_settings(cls, settings: Settings) -> Service:
        return cls(Engine(settings.data_dir))

    @staticmethod
    def _stack(stack_file: str | None, stack_text: str | None) -> LoadedStack:
        if (stack_file is None) == (stack_text is None):
            raise StackInvalid("Give exactly one of stack_file (a path) or stack_text (the YAML itself)")
        if stack_file is not None:
            return load(Path(stack_file))
        return parse(stack_text or "", Path.cwd(), "stack text")

    def plan(self, stack_file: StackFile = None, stack_text: StackText = None) -> Plan:
        """Show what apply would do, server by server, without changing anything."""
        return self.engine.plan(self._stack(stack_file, stack_text))

    def apply(
        self,
        stack_file: StackFile = None,
        stack_text: StackText = None,
        *,
        progress: Progress = NO_PROGRESS,
        cancel: Cancellation = NEVER,
    ) -> ApplyReport:
        """Bring the stack up: install what changed, start the registry, then the servers in
        dependency order, each gated on /ready and on being up in the registry. A failure stops
        what this run started and reports the phase, the server, the reason and its last log lines.
        Long-running: reports progress server by server; a cancel stops what this run started."""
        loaded = self._stack(stack_file, stack_text)
        report = self.engine.apply(loaded, Tracker(progress, cancel))
        progress.report(1.0, report.message)
        return report

    def status(self, stack_file: StackFile = None, stack_text: StackText = None) -> StackStatus:
        """Each server's phase, process, health and registry status."""
        return self.engine.status(self._stack(stack_file, stack_text))

    def tokens(self, stack_file: StackFile = None, stack_text: StackText = None) -> StackTokens:
        """The API tokens of the stack's registry and servers. Secrets: over REST and MCP this
        needs the orchestrator's own API token (the operation is not marked read-only for that)."""
        return self.engine.tokens(self._stack(stack_file, stack_text))

    def down(self, stack_file: StackFile = None, stack_text: StackText = None) -> DownReport:
        """Stop every server of the stack in reverse dependency order (SIGTERM: each deregisters)."""
        return self.engine.down(self._stack(stack_file, stack_text))

    def reset(self, stack_file: StackFile = None, stack_text: StackText = None) -> ResetReport:
        """Stop the stack and remove everything recorded as created for it: environments, data,
        logs and tokens. Reports what it removed."""
        return self.engine.reset(self._stack(stack_file, stack_text))

    def logs(
        self,
        server: ServerName,
        stack_file: StackFile = None,
        stack_text: StackText = None,
        lines: Annotated[int, Field(ge=1, le=10_000)] = 50,
    ) -> LogLines:
        """The last lines of one server's log."""
        return self.engine.logs(self._stack(stack_file, stack_text), server, lines)

    def export(
        self,
        stack_file: StackFile = None,
        stack_text: StackText = None,
        format: Literal["systemd", "kubernetes"] = "systemd",
    ) -> ExportReport:
        """Write the applied stack (into its state folder) as systemd units or as Kubernetes
        Deployments and Services: same commands, environment (tokens in 0600 files or a Secret),
        dependency order, /ready gates and restarts on failure."""
        loaded = self._stack(stack_file, stack_text)
        if format == "kubernetes":
            return self.engine.export_kubernetes(loaded)
        return self.engine.export_systemd(loaded)
