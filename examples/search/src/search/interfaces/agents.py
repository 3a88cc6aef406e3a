"""The generated regions of AGENTS.md: how a coding agent develops this project.

How an agent *calls* the server is not here: that is `docs/usage.md` and the MCP server's
own instructions, both built from the operation table.
"""

from __future__ import annotations

from ..operations import OPERATIONS

PACKAGE = "search"
REGENERATE = f"python -m {PACKAGE}.interfaces.contract"
TIER_LEVEL = 3


def agents_regions() -> dict[str, str]:
    src = f"src/{PACKAGE}"
    generated = ["README.md and AGENTS.md (their marked regions)", "`docs/usage.md`"]
    if TIER_LEVEL >= 2:
        generated += ["`docs/operations.md`", "`openapi.json`"]
    generated.append(f"`{src}/interfaces/client.py` (the typed remote client)")
    operations = "\n".join(
        f"- `{op.name}`: {op.summary}" + (" Long-running." if op.long_running else "") for op in OPERATIONS
    )
    return {
        "layout": "\n".join(
            [
                "## Where code goes",
                "",
                f"- **Yours** (created once by the template, never rewritten): `{src}/domain/` (models, errors,",
                f"  service, repository), `{src}/operations.py` (the operation table), `tests/test_domain.py`,",
                "  and the text outside the generated regions of README.md and AGENTS.md.",
                f"- **Generated** from your table, errors and settings by `{REGENERATE}`: "
                + ", ".join(generated)
                + ". Never edit them by hand; regenerate.",
                f"- **Template plumbing**, never edited here: `{src}/core/`, the rest of `{src}/interfaces/`,",
                "  the other tests, `pyproject.toml` and CI. `copier update` keeps them current (see UPGRADING.md).",
                "",
                "## Change the domain",
                "",
                "1. Add or change a `Service` method (type-annotated parameters; the return type is a pydantic model).",
                "2. Add one `Operation(...)` to the table with its HTTP method, path, errors and examples that succeed",
                "   and that fail; the parity tests replay the examples on every interface.",
                f"3. New error: a `DomainError` subclass in `{src}/domain/errors.py` with `code`, `http_status`,",
                "   `exit_code`, `retryable` and `hint` (what the caller should do instead); list it in the",
                "   operation's `errors`.",
                "4. A stored model gaining an optional field needs nothing more; any other change to what is",
                f"   stored is a new entry at the end of `MIGRATIONS` in `{src}/domain/repository.py`.",
                "5. Work that can outlast a request: mark the entry `long_running=True` and give the method",
                "   `progress: Progress` and `cancel: Cancellation` keyword parameters (`core/longrun.py`): report",
                "   after each step, check for cancellation between steps. Every interface then starts, follows",
                "   and cancels it (REST 202 + `/operations/{id}`, CLI progress bar, MCP progress notifications).",
                f"6. Run `{REGENERATE}`, then the checks below.",
                "",
                "## Commands",
                "",
                "```bash",
                "python -m venv .venv && .venv/bin/pip install -e '.[dev]'   # once, and after copier update",
                f".venv/bin/python -m {PACKAGE}.interfaces.contract              # after changing the table",
                ".venv/bin/pytest && .venv/bin/ruff check . && .venv/bin/ruff format --check .",
                "```",
            ]
        ),
        "operations": "\n".join(
            [
                "## The operations today",
                "",
                operations,
                "",
                "How to call them on each interface, and the error codes: [docs/usage.md](docs/usage.md).",
            ]
        ),
    }
