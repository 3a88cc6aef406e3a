"""A memory read that tells whether anyone committed to a SQLite store in WAL mode.

The registry asks "did another process write?" before every lookup. ``PRAGMA data_version``
answers it, but it is a statement with a read transaction and file locks: about a sixth of a
lookup's cost under load. Every commit to a WAL database rewrites the wal-index header at the
start of its ``-shm`` file (frame count, change counter, salts; see "WAL-mode File Format" at
sqlite.org), which every connection of every process maps to coordinate, so SQLite cannot
change that layout without breaking older versions sharing a database. While those bytes stay
as they were when the statement last answered "unchanged", the statement can be skipped.
No library exposes this, hence the few lines by hand.
"""

from __future__ import annotations

import mmap
from pathlib import Path

#: Both copies of the wal-index header (48 bytes each): a commit rewrites both.
HEADER_BYTES = 96


class CommitWatch:
    """The wal-index header of one store, and the header last seen with nothing changed."""

    def __init__(self, store: Path) -> None:
        self._map = _map_header(Path(f"{store}-shm"))
        self._quiet = b""

    def header(self) -> bytes:
        """The header now (empty when the store could not be mapped: then nothing is skipped)."""
        return self._map[:HEADER_BYTES] if self._map is not None else b""

    def unchanged(self) -> bool:
        """True when nobody has committed since ``settled`` was last told the header."""
        return self._map is not None and self._map[:HEADER_BYTES] == self._quiet

    def settled(self, header: bytes) -> None:
        """Remember ``header``, read before a check that found nothing new."""
        self._quiet = header

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None


def _map_header(shm: Path) -> mmap.mmap | None:
    # Mapped read-only, never written. SQLite truncates this file only when no connection holds
    # it, and the repository's own connection holds it until close (which unmaps first).
    try:
        with shm.open("rb") as file:
            return mmap.mmap(file.fileno(), HEADER_BYTES, access=mmap.ACCESS_READ)
    except (OSError, ValueError):  # no -shm file (another VFS or platform), or too short
        return None
