"""Domain models. These files are yours: the template creates them once and never rewrites them."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

Slug = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", min_length=1, max_length=64),
    Field(description="Lower-case words joined by hyphens, chosen by the caller"),
]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Body = Annotated[str, Field(max_length=10_000)]
Tag = Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{1,32}$")]
Tags = Annotated[list[Tag], Field(max_length=50, description="At most 50; repeats count once")]
Cursor = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128),
    Field(description="Opaque: the next_cursor of the previous page, passed back unchanged"),
]
Limit = Annotated[int, Field(ge=1, le=200, description="Notes per page (at most 200)")]
PauseMs = Annotated[int, Field(ge=0, le=10_000, description="Milliseconds to wait between notes (spares a busy store)")]
Version = Annotated[int, Field(ge=1, le=2**63 - 1, description="A note's version, as last read")]


class Note(BaseModel):
    slug: str
    title: str
    body: str = ""
    tags: list[str] = Field(default_factory=list)
    version: int = Field(description="Increases by one on every update")


class NoteList(BaseModel):
    """One page of notes. There is no total: counting would cost a scan of every note per page."""

    items: list[Note]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")


class NotesExport(BaseModel):
    """Notes written out as one Markdown document."""

    count: int = Field(description="How many notes the document holds")
    markdown: str
