"""The stack file's schema and the results the operations return.

These files are the owner's: the template creates them once and never rewrites them.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Name = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$", max_length=48),
    Field(description="Lower-case words joined by hyphens"),
]
Port = Annotated[int, Field(ge=1, le=65535)]
SettingValue = str | int | float | bool
#: Settings the orchestrator sets itself for every server: the file may not set them.
RESERVED_SETTINGS = frozenset(
    {
        "host",
        "port",
        "data_dir",
        "api_token",
        "registry_url",
        "registry_token",
        "public_url",
        "dependencies",
        "backend",
        "etcd_endpoints",
    }
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EtcdSpec(_Strict):
    """The registry's etcd cluster, started by the orchestrator before the registry (Phase 2)."""

    members: Literal[1, 3] = Field(default=1, description="1, or 3 to survive the loss of one member")
    binary: str = Field(default="etcd", min_length=1, description="The etcd program: a name on PATH or a path")
    image: str | None = Field(default=None, max_length=512, description="Container image for the Kubernetes export")
    deadline_seconds: float = Field(default=30.0, gt=0, le=3600)


class RegistrySpec(_Strict):
    """Phase 2: the manifest registry every server registers with."""

    source: str = Field(min_length=1, description="A local path, a git URL (git+...) or a package requirement")
    backend: Literal["sqlite", "etcd"] = "sqlite"
    etcd: EtcdSpec | None = Field(default=None, description="With backend etcd: its members (default one)")
    image: str | None = Field(default=None, max_length=512, description="Container image for the Kubernetes export")
    port: Port | None = Field(default=None, description="Fixed port; unset: a free one, kept across applies")
    settings: dict[str, SettingValue] = {}
    deadline_seconds: float = Field(default=60.0, gt=0, le=3600)


class ServerSpec(_Strict):
    """Phase 3: one capability server."""

    source: str = Field(min_length=1, description="A local path, a git URL (git+...) or a package requirement")
    port: Port | None = None
    settings: dict[str, SettingValue] = Field(
        default={}, description="The server's settings by name (log_level: DEBUG), passed as its environment"
    )
    image: str | None = Field(
        default=None, max_length=512, description="Container image for the Kubernetes export (default <dist>:latest)"
    )
    depends_on: list[Name] | None = Field(
        default=None, description="Servers of this stack that must be up first; unset: what the server declares"
    )
    deadline_seconds: float = Field(default=60.0, gt=0, le=3600)


class Stack(_Strict):
    name: Name
    registry: RegistrySpec | None = None
    servers: dict[Name, ServerSpec] = {}


# -- results ---------------------------------------------------------------------------------------

Action = Literal["install", "start", "restart", "adopt", "keep", "stop", "remove"]


class Step(BaseModel):
    server: str
    phase: Literal["registry", "servers"]
    action: Action
    reason: str


class Plan(BaseModel):
    stack: str
    steps: list[Step]
    converged: bool = Field(description="True when apply would start and stop nothing")


class Timing(BaseModel):
    """How long one part of apply took, for one server (or ``-`` for the shared environment)."""

    server: str
    part: Literal["install", "shared environment", "wait", "start", "register"] = Field(
        description="install: its environment; wait: for what it needs to be up; start: to /ready; register: to up"
    )
    seconds: float


class ApplyReport(BaseModel):
    stack: str
    steps: list[Step]
    changed: bool
    message: str
    timings: list[Timing] = Field(default=[], description="Where the time went, part by part, in the order they ended")


class ServerStatus(BaseModel):
    server: str
    phase: Literal["registry", "servers"]
    process: Literal["running", "stopped", "failed", "absent"]
    restarts: int = Field(default=0, description="Restarts by the supervisor since the last apply")
    pid: int | None
    url: str | None
    health: Literal["ready", "not_ready", "unreachable", "-"]
    registry: str = Field(description="The instance's status in the registry, or '-'")


class StackStatus(BaseModel):
    stack: str
    registry_url: str | None
    servers: list[ServerStatus]
    table: str


class StackTokens(BaseModel):
    """The stack's secrets: what a client needs to call its registry and its servers."""

    stack: str
    registry_token: str | None = Field(description="The registry's API token; null before the first apply")
    servers: dict[str, str] = Field(description="Each server's API token, by server name (those generated so far)")


class DownReport(BaseModel):
    stack: str
    stopped: list[str]
    message: str


class ResetReport(BaseModel):
    stack: str
    stopped: list[str]
    removed: list[str] = Field(description="Paths removed, relative to the orchestrator's data folder")
    message: str


class LogLines(BaseModel):
    stack: str
    server: str
    lines: list[str]


class ExportReport(BaseModel):
    stack: str
    target: Literal["systemd", "kubernetes"]
    folder: str = Field(description="Where the files are, relative to the orchestrator's data folder")
    files: list[str]
