"""The Markdown, plain-text and terminal (rich) views of a report's tables."""

from __future__ import annotations

from edgekit.views.tables import (
    TEXT_COLUMNS,
    Table,
    as_text,
    claim_summary,
    machine_facts,
    notices,
    report_tables,
    report_title,
    settings_facts,
)

# The terminal view leaves these out of the latency table to stay narrow; Markdown and HTML keep them.
TERMINAL_HIDDEN = {"n", "p99 ms", "min ms"}


def _markdown_cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def markdown_table(table: Table) -> str:
    lines = ["| " + " | ".join(_markdown_cell(h) for h in table.headers) + " |",
             "|" + "|".join("---" if h in TEXT_COLUMNS else "--:" for h in table.headers) + "|"]
    lines += ["| " + " | ".join(_markdown_cell(cell) for cell in row) + " |" for row in table.rows]
    return "\n".join(lines)


def plain_table(table: Table, *, indent: str = "") -> str:
    """Aligned columns for a terminal or a log: words left, numbers right."""
    rows = [table.headers, *table.rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(table.headers))]
    left = [i == 0 or h in TEXT_COLUMNS for i, h in enumerate(table.headers)]
    lines = [indent + "  ".join(cell.ljust(w) if is_left else cell.rjust(w)
                                for cell, w, is_left in zip(row, widths, left)).rstrip() for row in rows]
    return "\n".join(lines)


def render_markdown(report: dict) -> str:
    parts = [f"# {report_title(report)}", f"Created {as_text(report.get('created'))}."]
    for heading, facts in (("Machine", machine_facts(report)), ("Settings", settings_facts(report))):
        parts.append(f"## {heading}\n\n" + "\n".join(f"- **{label}**: {value}" for label, value in facts))
    parts += [f"> **Warning:** {line}" for line in notices(report)]
    summary = claim_summary(report)
    if summary:
        parts.append(f"## Claim\n\n{summary}")
    for table in report_tables(report):
        level = "###" if table.key.startswith("claim-") else "##"
        block = f"{level} {table.title}\n\n{markdown_table(table)}"
        parts.append(block + (f"\n\n{table.note}" if table.note else ""))
    return "\n\n".join(parts) + "\n"


def render_table(report: dict):
    """A compact rich renderable of the report: header lines, warnings, then the tables."""
    from rich import box
    from rich.console import Group
    from rich.table import Table as RichTable
    from rich.text import Text

    items = [Text(f"{report_title(report)}, created {as_text(report.get('created'))}", style="bold"),
             Text(" · ".join(f"{label} {value}" for label, value in machine_facts(report)
                             if label != "packages"), style="dim"),  # versions: in md/html/json
             Text(" · ".join(f"{label} {value}" for label, value in settings_facts(report)), style="dim")]
    items += [Text(f"warning: {line}", style="yellow") for line in notices(report)]
    summary = claim_summary(report)
    if summary:
        items.append(Text(summary, style="bold"))
    for table in report_tables(report):
        keep = [i for i, h in enumerate(table.headers) if table.key != "latency" or h not in TERMINAL_HIDDEN]
        view = RichTable(title=table.title, title_justify="left", box=box.SIMPLE_HEAD, caption=table.note or None,
                         caption_justify="left")
        for i in keep:
            text = table.headers[i] in TEXT_COLUMNS or i == 0
            view.add_column(table.headers[i], justify="left" if text else "right", no_wrap=True,
                            overflow="fold")
        for row in table.rows:
            view.add_row(*(row[i] for i in keep))
        items.append(view)
    return Group(*items)


def print_table(report: dict, console=None) -> None:
    import sys

    from rich.console import Console

    # A pipe or file gets a wide table rather than rich's 80-column default.
    (console or Console(width=None if sys.stdout.isatty() else 160)).print(render_table(report))
