"""Every view of a report by format name: terminal table, Markdown, JSON (text), PNG plots and HTML (files)."""

from __future__ import annotations

import io
import re
from pathlib import Path

from edgekit.errors import InputError, InvalidChoiceError

FORMATS = ("table", "md", "json", "png", "html")
SUFFIXES = {"table": ".txt", "md": ".md", "json": ".json", "png": ".png", "html": ".html"}
FILE_ONLY = ("png", "html")  # binary or page-sized: always written to a file
TERMINAL_WIDTH = 160  # for a table written to a file or a pipe
# How a view edgekit wrote begins (json views are reports): what --force may replace. Markdown and the table
# start with the report's title; HTML and PNG carry a generator mark (views/html.py, views/plots.py).
HTML_MARK = '<meta name="generator" content="edgekit">'
PNG_MARK = b"tEXtSoftware\x00edgekit"
_TITLE = re.compile(r"(# )?edgekit (bench|claim) report\b")
_HEAD_BYTES = 4096


def is_view_file(path: Path) -> bool:
    """Whether `path` is a view edgekit rendered (any format), told from its first few KB."""
    from edgekit.measure.result import is_report_file

    try:
        with open(path, "rb") as handle:
            head = handle.read(_HEAD_BYTES)
    except OSError:
        return False
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG_MARK in head
    text = head.decode("utf-8", errors="replace")
    return bool(_TITLE.match(text)) or HTML_MARK in text or is_report_file(path)


def view_path(*, report_path: Path | None, fmt: str, out: Path | None, force: bool = False) -> Path | None:
    """Where a view goes: `out` when given; png and html default to the report's path with their suffix;
    None means stdout. Never the report itself; an existing file only with force and when edgekit wrote it
    (a view or a report)."""
    from edgekit.build.atomic import check_output_file

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
    # Even with force: the view is made from the report, and replacing it would lose the raw samples.
    if report_path is not None and out.exists() and report_path.exists() and out.resolve() == report_path.resolve():
        raise InputError(f"the {fmt} view would overwrite the report {str(report_path)!r} itself; "
                         "choose another --out")
    return check_output_file(out, force=force, ours=is_view_file, what="view")


def render_text(report: dict, *, fmt: str, width: int = TERMINAL_WIDTH) -> str:
    """The text views: the terminal table (plain), Markdown or JSON."""
    if fmt == "md":
        from edgekit.views.text import render_markdown

        return render_markdown(report)
    if fmt == "json":
        from edgekit.measure.result import to_json

        return to_json(report) + "\n"
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
