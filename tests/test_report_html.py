"""The HTML report: one self-contained page, checked as markup and opened in headless Chromium.

The browser test needs Chromium: `make browser` installs Debian's package where it runs as root. Elsewhere
(no root, no browser) that one test is skipped and says why; the markup checks always run.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest
from test_report_render import bench_report, claim_report, png_size

from edgekit.views.html import render_html
from edgekit.measure.result import save_report

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--hide-scrollbars"]


class Page(HTMLParser):
    """Every start tag with its attributes, and the number of body rows of each table (by id)."""

    def __init__(self, markup: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict]] = []
        self.rows: dict[str, int] = {}
        self._table: str | None = None
        self._in_body = False
        self.feed(markup)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.elements.append((tag, attrs))
        if tag == "table":
            self._table = attrs.get("id")
            self.rows[self._table] = 0
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body and self._table is not None:
            self.rows[self._table] += 1

    def handle_endtag(self, tag):
        if tag == "tbody":
            self._in_body = False
        elif tag == "table":
            self._table = None

    def find(self, tag: str, cls: str | None = None) -> list[dict]:
        return [a for t, a in self.elements if t == tag and (cls is None or cls in (a.get("class") or "").split())]

    def body(self) -> dict:
        return self.find("body")[0]


def chromium(args: list[str], tmp_path, *, timeout: float = 60) -> subprocess.CompletedProcess:
    binary = shutil.which("chromium")
    if binary is None:
        pytest.skip("Chromium is not installed and could not be (`make browser` installs Debian's chromium only "
                    "as root): the page was checked as markup, not opened in a browser")
    return subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}", *args],
                          capture_output=True, text=True, timeout=timeout, check=False)


def test_html_is_self_contained_with_tables_and_plots():
    report = bench_report(random_weights=True)
    markup = render_html(report)
    page = Page(markup)
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", markup, re.IGNORECASE), "an external URL"
    for tag, attrs in page.elements:
        for attribute in ("src", "href"):
            assert attrs.get(attribute) is None or attrs[attribute].startswith("data:"), (tag, attrs)
    assert page.rows == {"artefacts": 3, "latency": len(report["configs"]), "accuracy": 3}
    images = page.find("img", "plot")
    assert [image["id"] for image in images] == ["plot-latency", "plot-pareto"]
    assert page.body()["data-plots-expected"] == "2"
    for image in images:
        prefix = "data:image/png;base64,"
        assert image["src"].startswith(prefix) and image["alt"]
        width, _ = png_size(base64.b64decode(image["src"][len(prefix):]))
        assert width >= 600
    assert len(page.find("p", "warning")) == 2  # random weights, then the preflight warning
    assert "<td>0.95011</td>" in markup


def test_claim_html_has_a_table_per_runtime_and_the_ratio_plot():
    report = claim_report()
    page = Page(render_html(report))
    claims = page.find("table", "claim")
    assert [t["id"] for t in claims] == ["claim-onnx-fp32", "claim-openvino-int8"]
    assert page.rows["claim-onnx-fp32"] == len(report["claim"]["runtimes"]["onnx-fp32"]["pairs"]) + 1
    assert [image["id"] for image in page.find("img", "plot")] == ["plot-claim", "plot-latency"]
    assert page.find("p", "claim-summary")


def test_html_opens_in_headless_chromium(tmp_path):
    report = bench_report()
    path = tmp_path / "report.html"
    path.write_text(render_html(report), encoding="utf-8")
    dumped = chromium(["--virtual-time-budget=5000", "--dump-dom", path.as_uri()], tmp_path)
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    page = Page(dumped.stdout)
    body = page.body()
    # set by the page's own script on load: plot images whose pixels decoded (naturalWidth > 0)
    assert body.get("data-plots-loaded") == body["data-plots-expected"] == "2", body
    assert page.rows["latency"] == len(report["configs"]) and page.rows["artefacts"] == len(report["artefacts"])
    assert page.rows["accuracy"] == len(report["accuracy"])

    shot = tmp_path / "report.png"
    taken = chromium(["--window-size=1280,1600", f"--screenshot={shot}", path.as_uri()], tmp_path)
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert png_size(shot.read_bytes()) == (1280, 1600) and shot.stat().st_size > 20_000


def test_cli_writes_the_page_beside_the_report(runner, cli, tmp_path):
    saved = save_report(claim_report(), tmp_path / "claim.json")
    result = runner.invoke(cli, ["report", str(saved), "--format", "html"])
    assert result.exit_code == 0, result.output
    page = saved.with_suffix(".html")
    assert result.stdout.strip() == f"wrote {page}"
    assert Page(page.read_text(encoding="utf-8")).find("table", "claim")
