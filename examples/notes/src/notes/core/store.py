"""SQLite connections tuned for several processes sharing one file, the project's data folder,
and schema migrations.

WAL lets readers run beside one writer; ``busy_timeout`` makes a second writer wait instead of
failing; ``BEGIN IMMEDIATE`` takes the write lock up front so read-modify-write cycles cannot
interleave between processes.

Migrations: a store records how many of its repository's ``MIGRATIONS`` it has run (SQLite's
``user_version``) and runs the rest, in order, once, when it is opened. A migration is an SQL
script (one or more statements) or a function taking the connection. Append new ones at the end; never edit or reorder
one that has shipped, since stores out there have already run it. A model gaining an optional
field needs none when the repository reads rows by column name and lets the model fill in
defaults; renaming, retyping or adding a stored column does.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from .about import NAME

Migration = str | Callable[[sqlite3.Connection], None]


def default_data_dir() -> Path:
    """The project's one data folder, the same whatever the current directory: the per-user
    data folder named after the project (``~/.local/share/<name>`` on Linux, under
    ``~/Library/Application Support`` on macOS, ``%LOCALAPPDATA%`` on Windows)."""
    from platformdirs import user_data_path  # only when no data folder is set

    return user_data_path(NAME, appauthor=False)


def connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection, write: bool = False) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:  # SQLite may already have rolled back (e.g. on an I/O error)
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _statements(script: str) -> Iterator[str]:
    """The statements of an SQL script (a `;` inside a string or a trigger body does not split)."""
    current = ""
    for part in script.split(";"):
        current += part + ";"
        if sqlite3.complete_statement(current):
            if current.strip(" \t\n;"):
                yield current
            current = ""
    if current.strip(" \t\n;"):
        yield current


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration]) -> int:
    """Run the migrations this store has not run yet, each in its own transaction; return the
    store's version afterwards. Several processes may open a store at once: the write lock makes
    one of them migrate and the others find the work done."""
    if schema_version(conn) == len(migrations):
        # The usual case, read without the write lock: a CLI command run beside a busy server
        # does not queue behind its writes just to learn that there is nothing to migrate.
        return len(migrations)
    while True:
        with transaction(conn, write=True):
            done = schema_version(conn)
            if done > len(migrations):
                raise RuntimeError(
                    f"The store is at schema version {done}, newer than this code ({len(migrations)}): "
                    "run the release that wrote it, or restore a backup."
                )
            if done == len(migrations):
                return done
            step = migrations[done]
            if isinstance(step, str):
                for statement in _statements(step):
                    conn.execute(statement)  # not executescript: it would commit half-way
            else:
                step(conn)
            conn.execute(f"PRAGMA user_version = {done + 1}")
