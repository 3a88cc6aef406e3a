"""What the search index takes and answers."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

Slug = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", min_length=1, max_length=64),
    Field(description="The note's slug on the notes server"),
]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Body = Annotated[str, Field(max_length=10_000)]
Tag = Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{1,32}$")]
Version = Annotated[int, Field(ge=1, le=2**63 - 1, description="The note's version on the notes server")]
Key = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200),
    Field(description="Idempotency key of the request: a request seen before is not applied again"),
]
Query = Annotated[
    str, StringConstraints(min_length=1, max_length=200), Field(description="Words, all of which must match")
]
Limit = Annotated[int, Field(ge=1, le=200, description="Hits at most")]


class Entry(BaseModel):
    """One indexed note."""

    slug: str
    title: str
    tags: list[str] = Field(default_factory=list)
    version: int
    applied: int = Field(description="How many keyed index requests changed this entry (a repeat of a key does not)")


class Hit(BaseModel):
    slug: str
    title: str


class Hits(BaseModel):
    """The notes holding every word of the query, in slug order."""

    query: list[str] = Field(description="The words searched for, as the index reads them")
    items: list[Hit]


class Removed(BaseModel):
    slug: str


class IndexStats(BaseModel):
    """What the index holds and what it has handled."""

    entries: int
    keyed_requests: int = Field(description="Index requests applied, one per idempotency key")
    events_handled: int = Field(description="Events from the notes server handled (each once, by the inbox)")
