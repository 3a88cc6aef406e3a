"""The store: one data folder per project whatever the current directory, and schema
migrations that run once, in order, on every store. Template-owned."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from notes.core.settings import ENV_PREFIX
from notes.core.store import connect, migrate, schema_version

PACKAGE = "notes"


def _data_dir_seen_from(cwd: Path, env: dict[str, str]) -> str:
    code = f"from {PACKAGE}.core.settings import Settings; print(Settings().data_dir)"
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, check=True, timeout=60
    )
    return proc.stdout.strip()


def test_data_folder_is_the_same_from_any_directory(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env.update(HOME=str(tmp_path / "home"), XDG_DATA_HOME=str(tmp_path / "xdg"))
    (tmp_path / "a" / "b").mkdir(parents=True)
    seen = {_data_dir_seen_from(cwd, env) for cwd in (tmp_path, tmp_path / "a" / "b")}
    assert len(seen) == 1
    (folder,) = seen
    assert Path(folder).is_absolute() and not Path(folder).is_relative_to(tmp_path / "a")

    moved = _data_dir_seen_from(tmp_path / "a", {**env, f"{ENV_PREFIX}DATA_DIR": str(tmp_path / "elsewhere")})
    assert moved == str(tmp_path / "elsewhere")


MIGRATIONS = (
    "CREATE TABLE items (name TEXT PRIMARY KEY, size INTEGER NOT NULL)",
    "ALTER TABLE items ADD COLUMN colour TEXT NOT NULL DEFAULT 'plain'; CREATE INDEX items_colour ON items (colour)",
)


def test_migrations_run_once_in_order_on_an_existing_store(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    conn = connect(path)
    assert migrate(conn, MIGRATIONS[:1]) == 1
    conn.execute("INSERT INTO items VALUES ('kept', 3)")
    conn.close()

    def rename(conn: sqlite3.Connection) -> None:  # a step SQL alone cannot express
        conn.execute("UPDATE items SET name = upper(name)")

    steps = (*MIGRATIONS, rename)
    conn = connect(path)
    assert migrate(conn, steps) == 3
    assert migrate(conn, steps) == 3  # nothing left to run: the rename ran once
    assert [tuple(r) for r in conn.execute("SELECT name, size, colour FROM items")] == [("KEPT", 3, "plain")]
    assert schema_version(conn) == 3


def test_a_failing_migration_changes_nothing(tmp_path: Path) -> None:
    conn = connect(tmp_path / "store.db")
    migrate(conn, MIGRATIONS[:1])
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, (MIGRATIONS[0], "ALTER TABLE items ADD COLUMN extra TEXT; ALTER TABLE nowhere ADD x INT"))
    assert schema_version(conn) == 1
    assert "extra" not in {row[1] for row in conn.execute("PRAGMA table_info(items)")}


def test_a_store_from_newer_code_is_refused(tmp_path: Path) -> None:
    conn = connect(tmp_path / "store.db")
    migrate(conn, MIGRATIONS)
    with pytest.raises(RuntimeError, match="newer than this code"):
        migrate(conn, MIGRATIONS[:1])
