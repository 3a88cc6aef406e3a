"""The documentation that depends on the domain, built from the operation table, the error
classes and the settings, so it is right for whatever domain this project has.

It is written by
`python -m search.interfaces.contract`;
`tests/test_contract.py` fails while any of it is stale. README.md and AGENTS.md are yours: only
their marked regions

    <!-- BEGIN generated: NAME -->  ...  <!-- END generated: NAME -->

are rewritten, so your own text around them survives (delete a region you do not want, and
it is not added back; a file with no region is written afresh unless it holds `<!-- generated:
off -->`). `docs/usage.md` is generated whole.
"""

from __future__ import annotations

import contextlib
import importlib
import re
from typing import Any

from pydantic_core import PydanticUndefined

from ..core.about import DESCRIPTION, NAME
from ..core.errors import DomainError
from ..core.settings import ENV_PREFIX, Settings
from ..operations import OPERATIONS
from . import examples as ex
from .agents import agents_regions

PACKAGE = "search"
CLI = ex.CLI
TIER, TIER_LEVEL = "advanced", 3
REGENERATE = f"python -m {PACKAGE}.interfaces.contract"
#: Codes only a client makes up; this server never sends them.
NOT_SENT = frozenset({"remote_error"})
#: A file holding this comment and no regions is left entirely to you.
OPT_OUT = "<!-- generated: off -->"
_REGION = re.compile(r"(<!-- BEGIN generated: (\w+) -->\n).*?(<!-- END generated: \2 -->)", re.DOTALL)


def error_classes() -> list[type[DomainError]]:
    """Every error this server can answer with: the core's and the domain's, sorted by exit code."""
    with contextlib.suppress(ImportError):  # a domain keeping its errors elsewhere lists them in the table
        importlib.import_module(f"{PACKAGE}.domain.errors")
    ours = (f"{PACKAGE}.core.errors", f"{PACKAGE}.domain")
    if any(op.long_running for op in OPERATIONS):  # their codes: not found, too many, interrupted, cancelled
        ours += (f"{PACKAGE}.core.longrun",)
    found = {cls for cls in DomainError.by_code.values() if cls.__module__.startswith(ours)}
    found.update(error for op in OPERATIONS for error in op.errors)
    return sorted((c for c in found if c.code not in NOT_SENT), key=lambda c: (c.exit_code, c.http_status, c.code))


def _meaning(cls: type[DomainError]) -> str:
    doc = (cls.__doc__ or "").strip()
    own_doc = doc and doc != (DomainError.__doc__ or "").strip()
    return doc.splitlines()[0].replace("``", "`") if own_doc else cls.title


def error_table() -> str:
    rows = ["| code | meaning | what to do | HTTP | CLI exit | retry? |", "| --- | --- | --- | --- | --- | --- |"]
    for cls in error_classes():
        retry = "yes, later" if cls.retryable else "no"
        fix = cls.hint.replace("|", "\\|")
        rows.append(f"| `{cls.code}` | {_meaning(cls)} | {fix} | {cls.http_status} | {cls.exit_code} | {retry} |")
    return "\n".join(rows)


def _default(field: Any) -> str:
    if field.default_factory is not None:
        return "computed (see meaning)"
    value = field.default
    if value is PydanticUndefined:
        return "required"
    if value is None:
        return "unset"
    if isinstance(value, list):
        return "`" + ",".join(map(str, value)) + "`" if value else "empty"
    return f"`{value}`"


def settings_table() -> str:
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        rows.append(f"| `{ENV_PREFIX}{name.upper()}` | {_default(field)} | {field.description or ''} |")
    return "\n".join(rows)


#: What the server turns away before any operation runs: (request, answer, the setting that decides).
REFUSALS = (
    ("a `Host` header that is not allowed", "refused", "allowed_hosts"),
    ("a browser request from another `Origin`", "refused", "allowed_origins"),
    ("a request body that is not `application/json`", "415", None),
    ("a body over the size limit", "413 `payload_too_large`", "max_body_bytes"),
    ("JSON nested deeper than the limit", "422 `validation_error`", "max_json_depth"),
    ("`serve` on a non-loopback address with no API token", "refuses to start", "allow_public_bind"),
)


def refusals() -> str:
    fields = Settings.model_fields
    rows = ["| request | answer | changed by |", "| --- | --- | --- |"]
    for what, answer, name in REFUSALS:
        if name is None:
            rows.append(f"| {what} | {answer} | - |")
        elif name in fields:
            described = fields[name].description or ""
            rows.append(f"| {what} | {answer} | `{ENV_PREFIX}{name.upper()}`: {described} |")
    return "\n".join(rows)


def interface_examples(*, as_json: bool) -> str:
    """Every successful example of the table, on each interface, in table order (so the CLI
    lines run one after another against an empty store)."""
    calls = [(op, raw) for op in OPERATIONS for raw in ex.successful(op)]
    parts = ["CLI (add `--url " + ex.BASE_URL + "` to call a running server):", "", "```bash"]
    parts += [ex.cli_line(op, raw, as_json=as_json) for op, raw in calls]
    parts += ["```", "", f"REST (with `{CLI} serve` running):", "", "```bash"]
    parts += [ex.curl_line(op, raw) for op, raw in calls]
    parts += ["```", "", "Python, in process and (same methods, typed) over REST:", "", "```python"]
    parts += [f"from {PACKAGE} import Service, get_settings", "", "service = Service.from_settings(get_settings())"]
    parts += [ex.python_call(op, raw, "service") for op, raw in calls[:3]]
    parts += ["", f"from {PACKAGE}.interfaces.client import Client", "", f'with Client("{ex.BASE_URL}") as client:']
    reads = [(op, raw) for op, raw in calls if op.read_only][:3] or calls[:1]
    parts += ["    " + ex.python_call(op, raw, "client") for op, raw in reads]
    parts += ["```"]
    parts += ["", f"MCP (`{CLI} mcp` over stdio, or `{ex.BASE_URL}/mcp`), one `tools/call` per operation:", ""]
    parts += ["```json"] + [ex.mcp_call(op, raw) for op, raw in calls] + ["```"]
    return "\n".join(parts)


def long_running_section() -> str:
    """How callers start, follow and cancel the table's long-running operations, on each interface."""
    names = [op for op in OPERATIONS if op.long_running]
    if not names:
        return ""
    listed = ", ".join(f"`{op.name}`" for op in names)
    first = names[0]
    ops = f"{ex.BASE_URL}{ex.API_PREFIX}/operations"
    lines = [
        "### Long-running operations",
        "",
        f"{listed} may run for a while. Each reports progress (a fraction and a message) and stops when",
        "cancelled; its state is kept in the server's store (a server stopped mid-way marks it `failed` with",
        "code `interrupted`, never leaves it running).",
        "",
        f"- **CLI**: `{CLI} {first.cli_name}` waits and shows progress (a bar on a terminal, one line per step",
        "  on stderr otherwise); Ctrl-C cancels it. With `--url`, `--no-wait` prints the operation id;",
        f"  `{CLI} operations get|wait|cancel <id>` and `{CLI} operations list` follow it.",
        f"- **REST**: `{first.method} {ex.API_PREFIX}{first.path}` answers `202 Accepted` with `Location:"
        f" {ex.API_PREFIX}/operations/<id>`;",
        f"  `GET {ops}/<id>` reads state, progress and the result or problem",
        "  (`?revision=N&wait_seconds=S` waits for the next change first),",
        f"  `POST {ops}/<id>:cancel` cancels, `GET {ops}` lists them (Google AIP-151).",
        f"- **Python client**: `client.{first.name}(...)` returns a handle: `.wait()`, `.progress`, `.cancel()`.",
    ]
    lines.append(
        "- **MCP**: the tool call returns the result when done; send a `progressToken` in `_meta` for"
        " `notifications/progress`. To cancel: over stdio, `notifications/cancelled`; over HTTP, close"
        " the call's response stream (the server is stateless, so a notification sent in another"
        " request cannot reach the call)."
    )
    return "\n".join(lines)


def operation_index() -> str:
    rows = ["| operation | CLI | REST | changes state | errors |", "| --- | --- | --- | --- | --- |"]
    for op in OPERATIONS:
        state = "no" if op.read_only else ("yes, destructive" if op.destructive else "yes")
        errors = ", ".join(f"`{e.code}`" for e in op.errors) or "-"
        summary = op.summary + (" (long-running)" if op.long_running else "")
        rows.append(
            f"| `{op.name}`: {summary} | `{CLI} {op.cli_name}` | `{op.method} {ex.API_PREFIX}{op.path}` "
            f"| {state} | {errors} |"
        )
    return "\n".join(rows)


def readme_regions() -> dict[str, str]:
    mcp = " and an MCP server" if TIER_LEVEL >= 2 else ""
    return {
        "overview": "\n".join(
            [
                f"A capability server rendered from chora-base at the **{TIER}** tier: one Python core",
                f"(`src/{PACKAGE}/domain/`) served as a Python API, a CLI, a REST API{mcp}, all generated",
                f"from one operation table (`src/{PACKAGE}/operations.py`).",
                "",
                "## Run it",
                "",
                "```bash",
                "python -m venv .venv && .venv/bin/pip install -e '.[dev]'",
                "source .venv/bin/activate   # or prefix the commands below with .venv/bin/",
                f"{CLI} serve            # REST on {ex.BASE_URL}" + (", MCP at /mcp" if TIER_LEVEL >= 2 else ""),
                "```",
                "",
                f"Every interface of one project shares one store: by default a per-user data folder named after "
                f"the project, whatever the current directory (`{ENV_PREFIX}DATA_DIR` moves it; see Settings).",
                "OpenAPI docs are served at `/docs`; `/health` answers liveness and `/ready` readiness.",
            ]
        ),
        "usage": "\n".join(
            [
                "## Use it",
                "",
                operation_index(),
                "",
                "Each example of the operation table, on every interface:",
                "",
                interface_examples(as_json=False),
                "",
                long_running_section(),
                "",
                "How an agent calls this server: [docs/usage.md](docs/usage.md)."
                + (" Every operation in detail: [docs/operations.md](docs/operations.md)." if TIER_LEVEL >= 2 else ""),
            ]
        ),
        "errors": "\n".join(
            [
                "## Errors",
                "",
                "Every error has a stable `code` and a `hint` (what to do instead; an error may carry a more",
                "specific one than the table's, e.g. naming the field to correct), the same on every interface:",
                "REST answers `application/problem+json` (RFC 9457) carrying both, the CLI prints",
                "`error[<code>]: <detail> (hint: <hint>)` on stderr",
                "(the problem object on stdout with `--json`) and exits with the error's exit code"
                + (", MCP returns an `is_error` result holding the problem object." if TIER_LEVEL >= 2 else "."),
                "",
                error_table(),
            ]
        ),
        "settings": "\n".join(
            [
                "## Settings",
                "",
                "Environment variables; lists are comma-separated.",
                "",
                settings_table(),
                "",
                "### What the server refuses by default",
                "",
                refusals(),
                "",
                "### Authentication",
                "",
                "Mutating operations over REST need `Authorization: Bearer <token>`; with no",
                f"`{ENV_PREFIX}API_TOKEN` set they are refused with `unauthorized`. The CLI in `--url` mode and",
                "the remote client send the same variable. REST reads stay open; metrics are at `/metrics`.",
                "MCP over HTTP (`/mcp`) needs the token on every request, `initialize` and `tools/list`",
                "included (an MCP client's config passes it as an `Authorization` header); over stdio",
                "(`mcp`) the local process needs none.",
            ]
        ),
        "develop": "\n".join(
            [
                "## Develop",
                "",
                f"Add an operation: a `Service` method in `src/{PACKAGE}/domain/service.py` and one `Operation(...)`",
                f"entry, with examples, in `src/{PACKAGE}/operations.py`; then run `{REGENERATE}`, which",
                "rewrites the generated parts of this README, AGENTS.md, `docs/` and the typed client"
                + (", and `openapi.json`" if TIER_LEVEL >= 2 else "")
                + ". The tests fail until you do.",
                "See [AGENTS.md](AGENTS.md) for where code goes, [UPGRADING.md](UPGRADING.md) after `copier update`.",
                "",
                "```bash",
                ".venv/bin/pytest && .venv/bin/ruff check . && .venv/bin/ruff format --check .",
                "```",
            ]
        ),
    }


def usage_page() -> str:
    reach = [f"- **CLI**: `{CLI} <command> ... --json` (JSON out; the problem object on failure)."]
    reach.append(f"- **REST**: `{ex.BASE_URL}{ex.API_PREFIX}/...`; the contract is at `/openapi.json`.")
    if TIER_LEVEL >= 2:
        reach.insert(0, f"- **MCP** (preferred): `{CLI} mcp` over stdio, or `{ex.BASE_URL}/mcp` (streamable HTTP).")
    return "\n".join(
        [
            f"# Calling {NAME}",
            "",
            DESCRIPTION,
            "",
            f"Generated from the operation table by `{REGENERATE}`; do not edit by hand.",
            "",
            "## How to reach it",
            "",
            *reach,
            "",
            "## Operations",
            "",
            operation_index(),
            "",
            "Read-only operations are safe to call at any time; call a destructive one only when asked to.",
            "",
            interface_examples(as_json=True),
            "",
            long_running_section(),
            "",
            "## Errors",
            "",
            "Branch on `code`, never on the message; follow the problem's `hint` to recover. Retry only",
            "errors marked retryable, and only calls that are safe to repeat; fix the input before retrying",
            "`validation_error`.",
            "",
            error_table(),
            "",
            "## Refused before any operation runs",
            "",
            refusals(),
            "",
        ]
    )


def refresh(text: str, regions: dict[str, str]) -> str:
    """Rewrite every marked region of `text` that `regions` names; the rest is left as it was."""

    def fill(match: re.Match[str]) -> str:
        body = regions.get(match.group(2))
        return match.group(0) if body is None else f"{match.group(1)}{body}\n{match.group(3)}"

    return _REGION.sub(fill, text)


def skeleton(regions: dict[str, str], title: str, intro: str) -> str:
    """A new file holding every region: what the generator writes when the file is missing."""
    note = f"<!-- Your own text goes outside the generated regions: `{REGENERATE}` rewrites only those. -->"
    parts = [f"# {title}", "", intro, "", note]
    for name, body in regions.items():
        parts += ["", f"<!-- BEGIN generated: {name} -->", body, f"<!-- END generated: {name} -->"]
    return "\n".join(parts) + "\n"


def expected(current: dict[str, str | None]) -> dict[str, str]:
    """What each generated file should hold, given what it holds now (None: missing)."""
    pages = {
        "README.md": (readme_regions(), NAME, DESCRIPTION),
        "AGENTS.md": (agents_regions(), f"Developing {NAME}", ""),
    }
    out = {}
    for path, (regions, title, intro) in pages.items():
        text = current.get(path)
        fresh = skeleton(regions, title, intro or "Notes for coding agents (and people) changing this project.")
        if text is None or "<!-- BEGIN generated: " not in text and OPT_OUT not in text:
            # Missing, or written by a template release from before the regions (when the file
            # was template text): written whole. Anything of yours in it is in `git diff`.
            out[path] = fresh
        else:
            out[path] = refresh(text, regions)
    out["docs/usage.md"] = usage_page()
    return out
