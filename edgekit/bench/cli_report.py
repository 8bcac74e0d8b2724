"""`edgekit report`: re-render a saved report as a terminal table, Markdown, JSON, PNG plots or an HTML page.

`view_path` and `write_view` do the work; the click command only parses and calls them.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import click

from edgekit.errors import InputError, InvalidChoiceError

FORMATS = ("table", "md", "json", "png", "html")
SUFFIXES = {"table": ".txt", "md": ".md", "json": ".json", "png": ".png", "html": ".html"}
FILE_ONLY = ("png", "html")  # binary or page-sized: always written to a file
TERMINAL_WIDTH = 160  # for a table written to a file or a pipe


def view_path(*, report_path: Path, fmt: str, out: Path | None) -> Path | None:
    """Where a view goes: --out when given; png and html default to the report's path with their suffix;
    None means stdout. Never the report itself."""
    if fmt not in FORMATS:
        raise InvalidChoiceError("report format", fmt, FORMATS)
    target = out if out is not None else report_path.with_suffix(SUFFIXES[fmt]) if fmt in FILE_ONLY else None
    if target is None:
        return None
    if target.is_dir():
        raise InputError(f"--out {str(target)!r} is a directory; give a file path such as "
                         f"{str(target / ('report' + SUFFIXES[fmt]))!r}")
    if target.exists() and report_path.exists() and target.resolve() == report_path.resolve():
        raise InputError(f"the {fmt} view would overwrite the report {str(report_path)!r} itself; "
                         "choose another --out")
    return target


def render_text(report: dict, *, fmt: str, width: int = TERMINAL_WIDTH) -> str:
    """The text views: the terminal table (plain), Markdown or JSON."""
    if fmt == "md":
        from edgekit.bench.render import render_markdown

        return render_markdown(report)
    if fmt == "json":
        return json.dumps(report, indent=1) + "\n"
    if fmt == "table":
        from rich.console import Console

        from edgekit.bench.render import print_table

        console = Console(file=io.StringIO(), width=width, color_system=None, record=True)
        print_table(report, console)
        return console.export_text()
    raise InvalidChoiceError("text format", fmt, ("table", "md", "json"))


def write_view(report: dict, *, fmt: str, out: Path) -> list[Path]:
    """Render the report in fmt and write it to out atomically; returns the paths written."""
    if fmt == "png":
        from edgekit.bench.plots import render_png

        return render_png(report, out)
    from edgekit.atomic import write_file_atomic as write_atomic

    if fmt == "html":
        from edgekit.bench.html import render_html

        return [write_atomic(out, render_html(report))]
    return [write_atomic(out, render_text(report, fmt=fmt))]


@click.command("report")
@click.argument("report_path", metavar="REPORT.json", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="table prints to the terminal; md and json print to stdout unless --out; png and html write "
                   "a file (default: beside the report, with their suffix).")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="The file to write the view to.")
def report(report_path: Path, fmt: str, out: Path | None) -> None:
    """Render a saved bench or claim report."""
    from edgekit.bench.report import load_report

    loaded = load_report(report_path)
    target = view_path(report_path=report_path, fmt=fmt, out=out)
    if target is None and fmt == "table" and sys.stdout.isatty():
        from edgekit.bench.render import print_table

        print_table(loaded)  # colour, at the terminal's width
    elif target is None:
        click.echo(render_text(loaded, fmt=fmt), nl=False)
    else:
        for path in write_view(loaded, fmt=fmt, out=target):
            click.echo(f"wrote {path}")
