"""PNG plots of a report, drawn with matplotlib's Agg canvas (no display, no pyplot state).

Panels: latency against sequence length (one per batch size and thread count, one line per artefact), the
Pareto view of fidelity against latency, and for a claim the slow/fast ratio with its CI against sequence
length, one panel per runtime. matplotlib is imported only when a plot is drawn: the light install renders
tables without it.
"""

from __future__ import annotations

import io
import math
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.build.atomic import write_file_atomic as write_atomic
from edgekit.errors import MissingDependencyError
from edgekit.views.tables import config_stats, sorted_configs

# Fidelity measures the Pareto view can use, in order of preference, with their axis labels.
FIDELITY_MEASURES = (("accuracy", "task accuracy"), ("top1_agreement", "top-1 agreement with the reference"),
                     ("cosine_mean", "mean cosine similarity to the reference"))
AGREEMENT_MEASURES = {"top1_agreement", "cosine_mean"}  # the reference agrees with itself: 1.0
PANEL_SIZE = (6.4, 4.4)  # inches per panel


@dataclass(frozen=True)
class Panel:
    group: str  # "claim", "latency" or "pareto": the HTML page shows one image per group
    title: str
    draw: Callable


@dataclass(frozen=True)
class PlotImage:
    key: str
    caption: str
    png: bytes


def _figure_class():
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependencyError("matplotlib", "PNG plots and the HTML report", extra="report") from None
    return Figure


def pareto_front(points: list[tuple[float, float]]) -> list[bool]:
    """For each (latency, fidelity) point: True when no other point is at least as fast and at least as
    faithful, and strictly better in one of the two."""
    return [not any(ox <= x and oy >= y and (ox < x or oy > y) for ox, oy in points) for x, y in points]


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def pareto_data(report: dict) -> dict | None:
    """What the Pareto view plots: the fidelity measure, the reference configuration (the one most artefacts
    with a fidelity figure were timed at; ties go to batch 1, then the longest sequence) and one
    (artefact, p50 ms, fidelity) point per artefact. None when the report has no fidelity figures."""
    entries = report.get("accuracy") or []
    coverage = {key: {e.get("artefact") for e in entries if _finite(e.get(key))} for key, _ in FIDELITY_MEASURES}
    key, label = max(FIDELITY_MEASURES, key=lambda m: len(coverage[m[0]]))  # max keeps the first of ties
    if not coverage[key]:
        return None
    values: dict[str, float] = {}
    for entry in entries:
        if _finite(entry.get(key)):
            values.setdefault(entry.get("artefact"), float(entry[key]))
    if key in AGREEMENT_MEASURES:
        for entry in entries:
            values.setdefault(entry.get("reference"), 1.0)
    timed = [c for c in report.get("configs") or [] if c.get("artefact") in values]
    if not timed:
        return {"measure": label, "config": None, "points": []}
    counts = Counter((c.get("batch"), c.get("seq_len"), c.get("threads")) for c in timed)
    config = max(counts, key=lambda k: (counts[k], k[0] == 1, k[1] or 0, k[2] or 0))
    points = [(c["artefact"], float(config_stats(c)["p50"]), values[c["artefact"]]) for c in sorted_configs(report)
              if c.get("artefact") in values and (c.get("batch"), c.get("seq_len"), c.get("threads")) == config]
    return {"measure": label, "config": config, "points": points}


def _message(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, transform=ax.transAxes, color="0.35")
    ax.set_xticks([])
    ax.set_yticks([])


def _seq_axis(ax, seq_lens: set) -> None:
    ticks = sorted(s for s in seq_lens if _finite(s))
    if len(ticks) > 1 and ticks[0] > 0:
        ax.set_xscale("log", base=2)
    ax.minorticks_off()
    ax.set_xticks(ticks, labels=[str(s) for s in ticks])
    ax.set_xlabel("sequence length (tokens)")


def _draw_latency(ax, configs: list[dict]) -> None:
    by_artefact = defaultdict(list)
    for entry in configs:
        by_artefact[entry.get("artefact")].append(entry)
    for name, entries in by_artefact.items():
        entries.sort(key=lambda e: e.get("seq_len", 0))
        seqs = [e["seq_len"] for e in entries]
        p50 = [config_stats(e)["p50"] for e in entries]
        line, = ax.plot(seqs, p50, marker="o", markersize=4, label=str(name))
        low = [np.percentile(e["samples_ms"], 10) for e in entries]
        high = [np.percentile(e["samples_ms"], 90) for e in entries]
        ax.fill_between(seqs, low, high, color=line.get_color(), alpha=0.18, linewidth=0)
    _seq_axis(ax, {e.get("seq_len") for e in configs})
    ax.set_ylabel("latency ms (p50; band p10 to p90)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")


def _draw_pareto(ax, report: dict) -> None:
    data = pareto_data(report)
    if data is None:
        _message(ax, "no accuracy or fidelity data in this report\n(nothing to set against latency)")
        return
    if not data["points"]:
        _message(ax, "no artefact with a fidelity figure was timed, so there is no latency to set it against")
        return
    names, xs, ys = zip(*data["points"])
    front = pareto_front(list(zip(xs, ys)))
    ax.scatter([x for x, f in zip(xs, front) if not f], [y for y, f in zip(ys, front) if not f], color="0.55",
               label="dominated")
    ax.scatter([x for x, f in zip(xs, front) if f], [y for y, f in zip(ys, front) if f], color="C3", zorder=3,
               label="Pareto front")
    edge = sorted((x, y) for x, y, f in zip(xs, ys, front) if f)
    ax.step([x for x, _ in edge], [y for _, y in edge], where="post", color="C3", alpha=0.6)
    for name, x, y in zip(names, xs, ys):
        ax.annotate(str(name), (x, y), textcoords="offset points", xytext=(4, 4), fontsize="x-small")
    ax.margins(0.15)  # room for the labels
    batch, seq_len, threads = data["config"]
    ax.set_xlabel(f"p50 latency ms at batch {batch}, sequence {seq_len}, {threads} threads (lower is better)")
    ax.set_ylabel(f"{data['measure']} (higher is better)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")


def _draw_claim(ax, runtime: str, result: dict, threshold) -> None:
    series = defaultdict(list)
    for pair in result.get("pairs") or []:
        ratio = pair.get("ratio") or {}
        ci = ratio.get("ci95") or [math.nan, math.nan]
        if _finite(pair.get("seq_len")) and _finite(ratio.get("median")):
            series[(pair.get("batch"), pair.get("threads"))].append((pair["seq_len"], ratio["median"], *ci))
    if not series:
        _message(ax, f"{runtime}: no ratios in this report")
        return
    for (batch, threads), points in sorted(series.items(), key=lambda item: str(item[0])):
        points.sort()
        seqs, medians, lows, highs = (np.asarray(column, dtype=float) for column in zip(*points))
        errors = np.nan_to_num(np.vstack([medians - lows, highs - medians]))
        ax.errorbar(seqs, medians, yerr=np.clip(errors, 0, None), marker="o", markersize=4, capsize=3,
                    label=f"batch {batch}, {threads} threads")
    if _finite(threshold):
        ax.axhline(threshold, color="C3", linestyle="--", label=f"threshold {threshold:g}x")
    _seq_axis(ax, {s for points in series.values() for s, *_ in points})
    ax.set_ylabel("latency ratio slow/fast (median, 95% CI)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")


def panels(report: dict) -> list[Panel]:
    """Every panel the report has data for, in reading order."""
    found = []
    claim = report.get("claim") if isinstance(report.get("claim"), dict) else {}
    runtimes = claim.get("runtimes") if isinstance(claim.get("runtimes"), dict) else {}
    for runtime, result in runtimes.items():
        result = result if isinstance(result, dict) else {}
        title = f"{runtime}: ratio slow/fast, verdict {result.get('verdict', '—')}"
        found.append(Panel("claim", title, lambda ax, r=runtime, res=result: _draw_claim(ax, r, res,
                                                                                           claim.get("threshold"))))
    configs = report.get("configs") or []
    for batch, threads in sorted({(c.get("batch"), c.get("threads")) for c in configs}, key=str):
        subset = [c for c in configs if (c.get("batch"), c.get("threads")) == (batch, threads)]
        found.append(Panel("latency", f"latency at batch {batch}, {threads} threads",
                           lambda ax, s=subset: _draw_latency(ax, s)))
    if report.get("kind") != "claim" or report.get("accuracy"):
        found.append(Panel("pareto", "fidelity against latency (Pareto view)", lambda ax: _draw_pareto(ax, report)))
    return found


def _png(chosen: list[Panel], title: str) -> bytes:
    figure_class = _figure_class()
    columns = 1 if len(chosen) <= 1 else 2
    rows = max(1, math.ceil(len(chosen) / columns))
    figure = figure_class(figsize=(PANEL_SIZE[0] * columns, PANEL_SIZE[1] * rows + 0.4), dpi=100,
                          layout="constrained")
    figure.suptitle(title)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, panel in zip(axes, chosen):
        ax.set_title(panel.title, fontsize="medium")
        panel.draw(ax)
    if not chosen:
        _message(axes[0], "no measurements in this report")
    for ax in axes[len(chosen) or 1:]:
        ax.set_visible(False)
    buffer = io.BytesIO()
    # The mark tells --force this file is edgekit's (views/formats.py); no matplotlib version: same bytes
    figure.savefig(buffer, format="png", metadata={"Software": "edgekit"})
    return buffer.getvalue()


def plot_images(report: dict) -> list[PlotImage]:
    """One PNG per group of panels (claim, latency, Pareto), for the HTML page."""
    found = panels(report)
    captions = {"claim": "Latency ratio slow/fast against sequence length, with 95% CIs and the threshold",
                "latency": "Latency against sequence length: p50 line, p10 to p90 band",
                "pareto": "Fidelity against latency: the Pareto front is highlighted"}
    groups = [g for g in captions if any(p.group == g for p in found)]
    return [PlotImage(g, captions[g], _png([p for p in found if p.group == g], captions[g])) for g in groups]


def render_png(report: dict, out_path: Path | str) -> list[Path]:
    """Write every panel into one PNG at out_path (atomically) and return [out_path]."""
    kind = report.get("kind", "bench")
    png = _png(panels(report), f"edgekit {kind} report, {report.get('created', '')}".rstrip(", "))
    return [write_atomic(out_path, png)]
