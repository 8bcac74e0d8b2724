"""One self-contained HTML page of a report: inline CSS, the plots as base64 PNG data URIs, no external URL.

Stable hooks for tests and scripts: table#artefacts, table#latency, table#accuracy, table.claim (one per
runtime, id claim-<runtime>), img.plot (one per plot group), and on <body> data-plots-expected; once the
page has loaded, an inline script sets data-plots-loaded to the number of plot images that decoded.
"""

from __future__ import annotations

import base64
from html import escape

from edgekit.views.formats import HTML_MARK
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

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 78rem;
       padding: 0 1rem; color: #1d1f21; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: .5rem 0; }
dl.facts dt { font-weight: 600; } dl.facts dd { margin: 0; }
.warning { background: #fff4d6; border-left: 4px solid #e0a400; padding: .5rem .8rem; margin: .5rem 0; }
.claim-summary { background: #eef4ff; border-left: 4px solid #3b6fd6; padding: .5rem .8rem; }
table { border-collapse: collapse; margin: .6rem 0; font-variant-numeric: tabular-nums; }
th, td { padding: .25rem .6rem; border-bottom: 1px solid #ddd; text-align: right; white-space: nowrap; }
th { background: #f4f5f7; } th.text, td.text { text-align: left; }
caption { caption-side: bottom; text-align: left; color: #666; font-size: .85rem; padding-top: .3rem; }
figure { margin: 1rem 0; } img.plot { max-width: 100%; height: auto; border: 1px solid #e3e3e3; }
figcaption { color: #555; font-size: .9rem; }
"""

# Counts the plot images that really decoded, once everything has loaded.
LOADED_SCRIPT = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.querySelectorAll("img.plot"));
  var decoded = images.filter(function (img) { return img.complete && img.naturalWidth > 0; });
  document.body.setAttribute("data-plots-loaded", String(decoded.length));
});
"""


def html_table(table: Table) -> str:
    def cell(tag: str, header: str, value: str) -> str:
        align = ' class="text"' if header in TEXT_COLUMNS or header == table.headers[0] else ""
        return f"<{tag}{align}>{escape(value)}</{tag}>"

    classes = "report claim" if table.key.startswith("claim-") else "report"
    head = "".join(cell("th", h, h) for h in table.headers)
    body = "".join("<tr>" + "".join(cell("td", h, v) for h, v in zip(table.headers, row)) + "</tr>\n"
                   for row in table.rows)
    caption = f"<caption>{escape(table.note)}</caption>" if table.note else ""
    return (f'<table id="{escape(table.key)}" class="{classes}">{caption}<thead><tr>{head}</tr></thead>\n'
            f"<tbody>\n{body}</tbody></table>")


def _facts(section_id: str, heading: str, facts: list[tuple[str, str]]) -> str:
    items = "".join(f"<dt>{escape(label)}</dt><dd>{escape(value)}</dd>" for label, value in facts)
    return f'<section id="{section_id}"><h2>{heading}</h2><dl class="facts">{items}</dl></section>'


def render_html(report: dict) -> str:
    """The whole page as a string. Plots need matplotlib (MissingDependencyError otherwise)."""
    from edgekit.views.plots import plot_images

    images = plot_images(report)
    title = report_title(report)
    parts = [f"<h1>{escape(title)}</h1>", f'<p class="created">Created {escape(as_text(report.get("created")))}</p>',
             _facts("machine", "Machine", machine_facts(report)),
             _facts("settings", "Settings", settings_facts(report))]
    parts += [f'<p class="warning">{escape(line)}</p>' for line in notices(report)]
    summary = claim_summary(report)
    if summary:
        parts.append(f'<h2 id="claim">Claim</h2><p class="claim-summary">{escape(summary)}</p>')
    for table in report_tables(report):
        level = "h3" if table.key.startswith("claim-") else "h2"
        parts.append(f"<section><{level}>{escape(table.title)}</{level}>{html_table(table)}</section>")
    parts.append('<section id="plots"><h2>Plots</h2>')
    for image in images:
        data = base64.b64encode(image.png).decode("ascii")
        parts.append(f'<figure><img class="plot" id="plot-{image.key}" alt="{escape(image.caption)}" '
                     f'src="data:image/png;base64,{data}"><figcaption>{escape(image.caption)}</figcaption></figure>')
    parts.append("</section>")
    body = "\n".join(parts)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n{HTML_MARK}\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(title)}, {escape(as_text(report.get('created')))}</title>\n<style>{STYLE}</style>\n"
            f'</head>\n<body data-plots-expected="{len(images)}">\n{body}\n<script>{LOADED_SCRIPT}</script>\n'
            f"</body>\n</html>\n")
