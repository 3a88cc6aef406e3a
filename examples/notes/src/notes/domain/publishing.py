"""Publishing a note: one saga over this server and the search server (core/saga.py).

    draft    store the note as a draft here            undo: delete the draft
    index    index it on ``search`` through the peers  undo: un-index it (already gone = undone)
    publish  mark it published; ``note.published`` goes to the outbox in the same transaction

Each step is idempotent for its saga, so a step that DBOS runs again after a crash of this
process changes nothing twice: the draft and the publication are keyed by the saga id, and the
index call carries the step's idempotency key, which the search server records.

When the search server cannot be reached, the index step waits for it (``PUBLISH_WAIT_SECONDS``)
rather than failing at once: a publish outlives a restart of search and completes when it is
back, and the publish operation's progress message says what it waits for (``reporting``). A
refusal from search (``nothing_to_index``), or search away for longer than the wait, fails the
step, and the draft is deleted again.

The server launches the saga runtime at start-up (``core/runtime.py``, because this module
declares ``PUBLISH`` when the service imports it), which resumes a publish that a crash of
notes interrupted; its steps find the service of their store through ``serve``.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..core.errors import DomainError
from ..core.saga import Gone, Saga, Step, StepContext
from .models import Note

if TYPE_CHECKING:
    from ..core.longrun import Progress
    from .service import Service

#: The peer this saga calls (declared in pyproject.toml: `[tool.chora-base] dependencies`).
SEARCH = "search"
#: How long the index step waits for an unreachable search server before giving up.
PUBLISH_WAIT_SECONDS = float(os.environ.get("NOTES_PUBLISH_WAIT_SECONDS", "120"))
RETRY_PAUSE_SECONDS = 0.5

_lock = threading.Lock()
# The service of each store (its path is in the saga input). A saga resumed after a crash runs
# its steps in the restarted server, whose ``Service.from_settings`` registered its service here
# before the server's lifespan launched the saga runtime.
_services: dict[str, Service] = {}
# The progress of the publish operation following each saga, by saga id (absent for a saga
# resumed after a crash: the operation that followed it died with the process).
_progress: dict[str, Progress] = {}


def serve(store: str, service: Service) -> None:
    """Make ``service`` the one the steps of sagas started on ``store`` use."""
    with _lock:
        _services[store] = service


def _service(ctx: StepContext) -> Service:
    with _lock:
        return _services[ctx.input["store"]]


@contextlib.contextmanager
def reporting(saga_id: str, progress: Progress) -> Iterator[None]:
    """While the operation follows saga ``saga_id``, a step may tell its progress what it waits on
    (``core/saga_operation.follow`` only sees the saga's checkpoints: step done or not)."""
    with _lock:
        _progress[saga_id] = progress
    try:
        yield
    finally:
        with _lock:
            _progress.pop(saga_id, None)


def _tell(ctx: StepContext, message: str) -> None:
    with _lock:
        progress = _progress.get(ctx.saga_id)
    if progress is not None:  # same fraction as follow shows for this step: the steps before it
        position = [step.name for step in PUBLISH.steps].index(ctx.step)
        progress.report(position / len(PUBLISH.steps), f"{ctx.step}: {message}")


class SearchAway(Exception):
    """The index step waited PUBLISH_WAIT_SECONDS for search: the saga gives up and compensates.

    Not a ``DomainError``: no caller ever receives it; the saga records its code in the failed
    step, and ``publish_note`` answers ``saga_failed`` naming it. Not ``retryable``: the
    step already waited."""

    code = "search_unavailable"


def _note(ctx: StepContext) -> Note:
    return Note.model_validate({**ctx.input["note"], "version": 1})


def draft(ctx: StepContext) -> dict[str, Any]:
    from .errors import NoteAlreadyExists

    note = _note(ctx)
    if not _service(ctx).repository.add_draft(note, ctx.saga_id):
        raise NoteAlreadyExists(f"A note with slug {note.slug!r} already exists")
    return {"slug": note.slug}


def drop_draft(ctx: StepContext, _result: Any) -> None:
    if not _service(ctx).repository.drop_draft(ctx.input["note"]["slug"], ctx.saga_id):
        raise Gone("the draft is already gone")


def index(ctx: StepContext) -> dict[str, Any]:
    peers = _service(ctx).peers
    if peers.registry_url is None:  # standalone (development): no registry, so no search to index on
        return {"indexed": False}
    note = ctx.input["note"]
    arguments = {**note, "version": 1, "key": ctx.idempotency_key}
    deadline = time.monotonic() + PUBLISH_WAIT_SECONDS
    while True:
        try:
            peers.call(SEARCH, "index_note", arguments, idempotency_key=ctx.idempotency_key)
            return {"indexed": True}
        except DomainError as exc:
            if not exc.retryable:
                raise  # a refusal: the saga compensates
            if time.monotonic() >= deadline:
                raise SearchAway(f"search did not answer for {PUBLISH_WAIT_SECONDS:.0f} s: {exc}") from None
            # Told on every retry, not once: follow() reports the saga's checkpoints as it sees them,
            # and one report of its, landing after ours, would otherwise hide the wait for good.
            _tell(ctx, f"waiting for search ({exc.code})")
            time.sleep(RETRY_PAUSE_SECONDS)


def unindex(ctx: StepContext, result: Any) -> None:
    if result.get("indexed"):  # an error ending in `not_found` counts as undone (core/saga.py)
        _service(ctx).peers.call(SEARCH, "unindex_note", {"slug": ctx.input["note"]["slug"]})


def publish(ctx: StepContext) -> dict[str, Any]:
    note = _service(ctx).repository.mark_published(ctx.input["note"]["slug"], ctx.saga_id)
    if note is None:
        raise Gone("the draft disappeared before it was published")
    return {"version": note.version}


PUBLISH = Saga(
    "publish-note", [Step("draft", draft, drop_draft), Step("index", index, unindex), Step("publish", publish)]
)
