"""What `--help` lists, cached so that listing commands imports neither pydantic nor the domain.

The operations' names and summaries, the built-in commands' one-line help and the exit codes of
every error are kept in a small file beside the package's bytecode, rebuilt whenever a source
file of the package changes. Running a command always loads the real operation table.
"""

from __future__ import annotations

import contextlib
import marshal
import os
from pathlib import Path
from typing import Any

from ..core.errors import DomainError

PACKAGE_DIR = Path(__file__).resolve().parents[1]
INDEX_FILE = PACKAGE_DIR / "__pycache__" / "cli-index.marshal"

_INDEX: dict[str, Any] = {}
_OWN = __name__.rsplit(".", 2)[0] + "."  # "<package>."


def index() -> dict[str, Any]:
    """Commands and exit codes of the table, without importing the domain if possible.

    Listing commands is the common case (`--help`), and importing pydantic and the domain costs
    more than the whole start-up budget, so names, summaries and the error codes are cached
    next to the bytecode. Any change to a source file of the package rebuilds the cache;
    running a command always loads the real operation table.
    """
    if _INDEX:  # help asks twice (commands, then exit codes)
        return _INDEX
    stamp = _source_stamp()
    # marshal, not json: the cache lives beside the bytecode of this very interpreter, and the
    # json module's import alone is a few percent of `--help`.
    with contextlib.suppress(OSError, ValueError, EOFError, KeyError, TypeError):
        cached = marshal.loads(INDEX_FILE.read_bytes())
        if cached["stamp"] == stamp:
            _INDEX.update({key: cached[key] for key in ("commands", "builtins", "exit_codes")})
            return _INDEX
    from ..core import longrun  # noqa: F401  (its errors reach every project through `operations`)
    from ..operations import OPERATIONS
    from .cli_builtins import commands

    fresh = {
        "commands": {op.cli_name: op.summary for op in OPERATIONS},
        # The first paragraph of each help text, whole: one line per command, as operations get.
        "builtins": {name: " ".join((cmd.help or "").split("\n\n")[0].split()) for name, cmd in commands().items()},
        # The package's own errors only: a class a test (or an embedding program) defines is no
        # error of this CLI, and would stay in the cache after that process left.
        "exit_codes": sorted(
            (cls.exit_code, code) for code, cls in DomainError.by_code.items() if cls.__module__.startswith(_OWN)
        ),
    }
    with contextlib.suppress(OSError):  # a read-only install simply goes without the cache
        INDEX_FILE.parent.mkdir(exist_ok=True)
        partial = INDEX_FILE.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(marshal.dumps({"stamp": stamp, **fresh}))
        partial.replace(INDEX_FILE)
    _INDEX.update(fresh)
    return _INDEX


def _source_stamp() -> list[tuple[str, int]]:
    """(path, mtime) of every source file of the package: any edit, addition or removal shows."""
    found: list[tuple[str, int]] = []
    folders = [str(PACKAGE_DIR)]
    while folders:  # os.scandir, not Path.rglob: a third of the cost, paid by every `--help`
        with os.scandir(folders.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != "__pycache__":
                        folders.append(entry.path)
                elif entry.name.endswith(".py"):
                    found.append((entry.path, entry.stat().st_mtime_ns))
    return sorted(found)


def operation_index() -> dict[str, str]:
    """CLI name -> one-line summary of every operation (see `index`)."""
    return index()["commands"]
