"""Registry records and the shapes the registry's operations return.

Every bound on a record lives here, so it is enforced identically on the CLI,
REST, MCP and Python interfaces (a value over a bound is a validation error
that names the field and the limit).
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr

from .rules import command_endpoint, http_endpoint, module_endpoint, safe_text

# -- bounds -----------------------------------------------------------------------------

MAX_TAGS = 32
MAX_DEPENDENCIES = 32
MAX_METADATA_KEYS = 32
MAX_METADATA_VALUE = 1024
MAX_METADATA_BYTES = 8192
MAX_ENDPOINT = 512


def _metadata_total(value: dict[str, str]) -> dict[str, str]:
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_METADATA_BYTES:
        raise ValueError(f"metadata is {size} bytes once encoded; the limit is {MAX_METADATA_BYTES} bytes")
    return value


def _json_object(value: object) -> object:
    """Accept a JSON object given as text (how the CLI passes structured options)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise ValueError('expected a JSON object, e.g. \'{"rest": "<base URL>"}\'') from None
    return value


def _text_list(value: object) -> object:
    """Accept a comma-separated string for a list (one CLI option carrying several values)."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _unique(value: list[str]) -> list[str]:
    return list(dict.fromkeys(value))


def _safe_keys(value: dict[str, str]) -> dict[str, str]:
    for key, item in value.items():
        safe_text(key)
        # values may hold prose, but never text that reorders or hides itself
        safe_text(item.replace("\n", "").replace("\t", ""))
    return value


ServiceName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=63,
        pattern=r"^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$",
        description="Service name: lower-case letters, digits, '.', '_' or '-' (1-63 chars).",
        examples=["notes-server"],
    ),
]
InstanceId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
        description="Instance id, unique within the service name (1-128 chars).",
        examples=["host1-8000"],
    ),
]
Version = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[0-9A-Za-z][0-9A-Za-z.+_~-]*$",
        description="Version: letters, digits, '.', '+', '_', '~' or '-' (1-64 chars).",
        examples=["1.2.0"],
    ),
]
Tag = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\s,]+$"), AfterValidator(safe_text)]
Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS), AfterValidator(_unique), BeforeValidator(_text_list)]
Dependencies = Annotated[
    list[ServiceName],
    Field(max_length=MAX_DEPENDENCIES),
    AfterValidator(_unique),
    BeforeValidator(_text_list),
]
MetadataKey = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(safe_text)]
MetadataValue = Annotated[str, Field(max_length=MAX_METADATA_VALUE)]
Metadata = Annotated[
    dict[MetadataKey, MetadataValue],
    Field(max_length=MAX_METADATA_KEYS),
    AfterValidator(_metadata_total),
    AfterValidator(_safe_keys),
    BeforeValidator(_json_object),
]
Reason = Annotated[str, Field(max_length=256), AfterValidator(safe_text)]
HttpEndpoint = Annotated[str, Field(min_length=1, max_length=MAX_ENDPOINT), AfterValidator(http_endpoint)]
CommandEndpoint = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(command_endpoint)]
ModuleEndpoint = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(module_endpoint)]
LeaseToken = Annotated[
    str,
    Field(
        min_length=16,
        max_length=128,
        pattern=r"^[A-Za-z0-9._~-]+$",
        description="The instance's lease token (register answers it); the operator token also works.",
        examples=["lease-notes-host1-0001"],
    ),
]
Limit = Annotated[int, Field(ge=1, le=1000, description="Most instances in one page (1-1000).")]
Cursor = Annotated[
    str,
    Field(
        min_length=1,
        max_length=512,
        pattern=r"^[A-Za-z0-9_=-]+$",
        description="Opaque: the next_cursor of the previous page.",
    ),
]

Status = Literal["up", "unknown", "down", "draining"]
"""Effective status: ``unknown`` is only ever set by the registry (missed heartbeats)."""
ReportedStatus = Literal["up", "down", "draining"]
"""What an instance may say about itself."""
InterfaceKind = Literal["cli", "rest", "mcp", "python"]


class Interfaces(BaseModel):
    """Where each interface of an instance can be reached (omit what it does not offer)."""

    model_config = ConfigDict(extra="forbid")

    cli: CommandEndpoint | None = Field(default=None, description="CLI command name.")
    rest: HttpEndpoint | None = Field(default=None, description="Base URL of the REST API (http or https).")
    mcp: HttpEndpoint | None = Field(default=None, description="URL of the MCP endpoint (http or https).")
    python: ModuleEndpoint | None = Field(default=None, description="Importable package name.")

    def kinds(self) -> list[str]:
        return [k for k in ("cli", "rest", "mcp", "python") if getattr(self, k)]


class Instance(BaseModel):
    """One registered instance of a service, as the registry knows it."""

    name: ServiceName
    instance_id: InstanceId
    version: Version
    interfaces: Interfaces
    tags: list[str] = Field(default_factory=list)
    dependencies: list[str] = Field(default_factory=list)
    metadata: dict[str, str] = Field(default_factory=dict)
    status: Status = Field(description="Effective status (unknown = heartbeats missed).")
    reported_status: ReportedStatus = Field(
        default="up", description="The status the instance last reported about itself."
    )
    status_reason: str | None = Field(default=None, description="Why the status is what it is.")
    registered_at: float = Field(description="Unix time of the first registration.")
    last_heartbeat: float = Field(description="Unix time of the last heartbeat seen.")
    status_changed_at: float = Field(description="Unix time of the last status transition.")
    revision: int = Field(description="Registry revision of the last change to this record.")
    # A digest of the lease token: stored with the record, never part of an answer.
    _lease_digest: str | None = PrivateAttr(default=None)


class Registration(Instance):
    """The registered record plus the lease token that proves ownership of it.

    Keep the token: heartbeat, status, update and deregister of this instance require it.
    """

    lease_token: str = Field(description="Send it with every later call about this instance.")


class InstanceList(BaseModel):
    """Instances matching a lookup, with the registry revision they reflect."""

    index: int = Field(description="Registry revision the answer reflects (use it to watch).")
    self_preservation: bool = Field(description="True while the registry defers removals after a mass expiry.")
    instances: list[Instance]


class InstancePage(InstanceList):
    """One page of a listing, in (name, instance id) order."""

    next_cursor: str | None = Field(description="Pass as cursor for the next page; null on the last page.")


class HeartbeatAck(BaseModel):
    """Acknowledgement of a heartbeat."""

    name: str
    instance_id: str
    status: Status
    ttl_seconds: float = Field(description="Silence longer than this marks the instance unknown.")
    heartbeat_seconds: float = Field(description="Suggested heartbeat interval.")
    self_preservation: bool


class Deregistered(BaseModel):
    """Result of a deregistration."""

    name: str
    instance_id: str
    index: int


EventType = Literal["registered", "updated", "status", "deregistered", "removed"]


class Event(BaseModel):
    """One change in the registry."""

    revision: int
    type: EventType
    name: str
    instance_id: str
    status: Status | None = Field(default=None, description="Status after the change.")
    instance: Instance | None = Field(default=None, description="The record after the change (absent once removed).")


class WatchResult(BaseModel):
    """Changes after the requested index (empty when the wait ran out)."""

    index: int = Field(description="Revision to pass as index in the next watch call.")
    self_preservation: bool
    events: list[Event]


InterfacesInput = Annotated[Interfaces, BeforeValidator(_json_object)]
"""Interfaces as a parameter: an object, or its JSON text (from the CLI)."""
