"""Render a Report as a terminal table, JSON, Markdown (CI job summary) or HTML."""

from __future__ import annotations

import html
import json
from typing import Literal

from chora_base.checker.catalog import SAP_BY_SLUG, TIERS
from chora_base.checker.runner import CheckResult, Report

Format = Literal["table", "json", "markdown", "html"]
_MARK = {"pass": "✅", "fail": "❌", "skip": "⏭️", "ignored": "🔕", "not-run": "·"}


def verdict(report: Report) -> str:
    achieved = report.achieved_tier or "none"
    head = f"Target tier {report.target_tier}: {'MET' if report.ok else 'NOT MET'} (highest tier met: {achieved})"
    if report.next_tier:
        missing = [r.id for r in report.failing(report.next_tier)]
        if missing:
            head += f". Missing for {report.next_tier}: {', '.join(missing)}"
        else:
            head += f". All {report.next_tier} checks pass too"
    return head + "."


def _relevant(report: Report) -> list[CheckResult]:
    """Checks up to the next tier; higher tiers would only be noise."""
    limit = TIERS.index(report.next_tier or report.target_tier)
    return [r for r in report.results if TIERS.index(r.tier) <= limit]


def render(report: Report, fmt: Format) -> str:
    if fmt == "json":
        return json.dumps(report.as_dict(), indent=2)
    if fmt == "markdown":
        return to_markdown(report)
    if fmt == "html":
        return to_html(report)
    return to_text(report)


def to_markdown(report: Report) -> str:
    lines = [f"## chora-base check: `{report.path.name}`", "", f"**{verdict(report)}**", ""]
    lines += [f"> {note}" for note in report.notes]
    for sap_slug in dict.fromkeys(r.family for r in _relevant(report)):
        lines += [
            "",
            f"### SAP {SAP_BY_SLUG[sap_slug].name}",
            "",
            "| | Check | Tier | Title | Details |",
            "|---|---|---|---|---|",
        ]
        for r in (r for r in _relevant(report) if r.family == sap_slug):
            detail = r.message.replace("\n", "<br>").replace("|", "\\|")
            lines.append(f"| {_MARK[r.status]} | [{r.id}]({r.url}) | {r.tier} | {r.title} | {detail} |")
    return "\n".join(lines) + "\n"


def to_html(report: Report) -> str:
    rows = []
    for r in _relevant(report):
        rows.append(
            f'<tr class="{r.status}"><td>{_MARK[r.status]}</td>'
            f'<td><a href="{html.escape(r.url)}">{r.id}</a></td><td>{r.tier}</td>'
            f"<td>{html.escape(SAP_BY_SLUG[r.family].name)}</td><td>{html.escape(r.title)}</td>"
            f"<td><pre>{html.escape(r.message)}</pre></td></tr>"
        )
    return (
        '<section class="chora-base-check">\n'
        f"<h2>chora-base check: {html.escape(report.path.name)}</h2>\n"
        f"<p><strong>{html.escape(verdict(report))}</strong></p>\n"
        + "".join(f"<p>{html.escape(n)}</p>\n" for n in report.notes)
        + "<table>\n<thead><tr><th></th><th>Check</th><th>Tier</th><th>SAP</th><th>Title</th>"
        "<th>Details</th></tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>\n"
        "</section>\n"
    )


def to_text(report: Report) -> str:
    """Plain-text rendering (used when rich output is not wanted, e.g. in tests)."""
    lines = [f"chora-base check: {report.path}"]
    for r in _relevant(report):
        lines.append(f"{_MARK[r.status]} {r.id} [{r.tier}] {r.title}")
        for msg_line in r.message.splitlines():
            lines.append(f"      {msg_line}")
    lines += [*report.notes, verdict(report)]
    return "\n".join(lines) + "\n"


def print_table(report: Report) -> None:
    """The terminal view: one rich table per SAP, fix-it messages under failures."""
    from rich.console import Console
    from rich.markdown import Markdown
    from rich.table import Table

    console = Console()
    console.print(f"[bold]chora-base check[/bold] {report.path}")
    for sap_slug in dict.fromkeys(r.family for r in _relevant(report)):
        table = Table(title=f"SAP {SAP_BY_SLUG[sap_slug].name}", title_justify="left", show_lines=False, expand=True)
        table.add_column("", width=2)
        table.add_column("Check", no_wrap=True)
        table.add_column("Tier", no_wrap=True)
        table.add_column("Title / how to fix", ratio=1)
        for r in (r for r in _relevant(report) if r.family == sap_slug):
            body: object = r.title.replace("`", "")  # as Markdown renders it below
            if r.message:
                body = Markdown(f"{r.title}\n\n{r.message}")
            table.add_row(_MARK[r.status], f"[link={r.url}]{r.id}[/link]", r.tier, body)
        console.print(table)
    for note in report.notes:
        console.print(f"[yellow]{note}[/yellow]")
    style = "green" if report.ok else "red"
    console.print(f"[bold {style}]{verdict(report)}[/bold {style}]")
