"""Every view of a report by format name: terminal table, Markdown, JSON (text), PNG plots and HTML (files)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from edgekit.errors import InputError, InvalidChoiceError

FORMATS = ("table", "md", "json", "png", "html")
SUFFIXES = {"table": ".txt", "md": ".md", "json": ".json", "png": ".png", "html": ".html"}
FILE_ONLY = ("png", "html")  # binary or page-sized: always written to a file
TERMINAL_WIDTH = 160  # for a table written to a file or a pipe


def view_path(*, report_path: Path | None, fmt: str, out: Path | None) -> Path | None:
    """Where a view goes: `out` when given; png and html default to the report's path with their suffix;
    None means stdout. Never the report itself."""
    if fmt not in FORMATS:
        raise InvalidChoiceError("report format", fmt, FORMATS)
    if out is None and fmt in FILE_ONLY:
        if report_path is None:
            raise InputError(f"a {fmt} view is a file: give out=PATH")
        out = report_path.with_suffix(SUFFIXES[fmt])
    if out is None:
        return None
    if out.is_dir():
        raise InputError(f"--out {str(out)!r} is a directory; give a file path such as "
                         f"{str(out / ('report' + SUFFIXES[fmt]))!r}")
    if report_path is not None and out.exists() and report_path.exists() and out.resolve() == report_path.resolve():
        raise InputError(f"the {fmt} view would overwrite the report {str(report_path)!r} itself; "
                         "choose another --out")
    return out


def render_text(report: dict, *, fmt: str, width: int = TERMINAL_WIDTH) -> str:
    """The text views: the terminal table (plain), Markdown or JSON."""
    if fmt == "md":
        from edgekit.views.text import render_markdown

        return render_markdown(report)
    if fmt == "json":
        return json.dumps(report, indent=1) + "\n"
    if fmt == "table":
        from rich.console import Console

        from edgekit.views.text import print_table

        console = Console(file=io.StringIO(), width=width, color_system=None, record=True)
        print_table(report, console)
        return console.export_text()
    raise InvalidChoiceError("text format", fmt, ("table", "md", "json"))


def write_view(report: dict, *, fmt: str, out: Path) -> list[Path]:
    """Render the report in fmt and write it to out atomically; returns the paths written."""
    from edgekit.build.atomic import write_file_atomic

    if fmt == "png":
        from edgekit.views.plots import render_png

        return render_png(report, out)
    if fmt == "html":
        from edgekit.views.html import render_html

        return [write_file_atomic(out, render_html(report))]
    return [write_file_atomic(out, render_text(report, fmt=fmt))]
