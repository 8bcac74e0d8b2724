"""`edgekit compare`: parses options, calls edgekit.bench.compare, and renders its result."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgekit.bench.compare import DEFAULT_NOISE, GATE_METRICS, check_gates, compare_reports, comparison_document
from edgekit.bench.compare import parse_gate, parse_noise
from edgekit.bench.report import load_report
from edgekit.errors import InputError

FORMATS = ("table", "md", "json")


@click.command()
@click.argument("reports", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--noise", default=f"{DEFAULT_NOISE:.0%}", show_default=True,
              help="Changes smaller than this (a fraction like 0.02 or a percentage like 2%) count as noise: a "
                   "configuration is 'faster' or 'slower' only when the whole 95% CI of its ratio lies beyond it.")
@click.option("--fail-if", "gates", multiple=True, metavar="METRIC:THRESHOLD",
              help=f"Exit with code 1 when a gate fails; repeatable. METRIC is one of {', '.join(GATE_METRICS)}. "
                   "Latency gates (p50:5% or p50:5, both five percent) fail when a configuration's ratio B/A exceeds "
                   "1 + threshold AND its verdict is 'slower', i.e. the whole CI is beyond the noise band, so a "
                   "noisy run does not fail the build. accuracy:0.5 fails when task accuracy (else top-1 "
                   "agreement, else mean cosine x100) drops by more than 0.5 percentage points, or when the "
                   "reports have no accuracy figures in common.")
@click.option("--format", "output_format", type=click.Choice(FORMATS), default="table", show_default=True,
              help="table for the terminal, md for Markdown, json for a machine-readable comparison.")
def compare(reports, noise, gates, output_format) -> None:
    """Compare reports with the first one (the baseline): latency B/A per configuration with a 95% CI,
    an overall geometric mean, accuracy deltas, and optional gates.

    Exit code 0: all gates pass; 1: a gate failed; 2: bad input (a file that is no report, a malformed gate,
    reports with no configuration in common)."""
    parsed_gates = [parse_gate(text) for text in gates]
    noise_fraction = parse_noise(noise)
    if len(reports) < 2:
        raise InputError(f"compare needs a baseline report and at least one more; got {len(reports)}")
    baseline = load_report(reports[0])
    comparisons = [compare_reports(baseline, load_report(path), noise=noise_fraction, baseline_name=str(reports[0]),
                                   other_name=str(path)) for path in reports[1:]]
    failures = [failure for c in comparisons for failure in check_gates(c, parsed_gates)]
    document = comparison_document(comparisons, gates=parsed_gates, failures=failures)
    if output_format == "json":
        click.echo(json.dumps(document, indent=1))
        for failure in failures:
            click.echo(_failure_line(failure), err=True)
    else:
        click.echo(render_markdown(document) if output_format == "md" else render_table(document), nl=False)
    if failures:
        click.get_current_context().exit(1)


def render_table(document: dict) -> str:
    """The comparison for the terminal: one table per compared report, then accuracy and gates."""
    lines = []
    for comparison in document["comparisons"]:
        lines.append(f"{comparison['other']['name']} vs baseline {comparison['baseline']['name']} "
                     f"(B/A: below 1 is faster; noise ±{comparison['noise']:.0%})")
        rows = [("configuration", "A p50 ms", "B p50 ms", "B/A p50 [95% CI]", "verdict")]
        rows += [(c["label"], f"{p['a_ms']:.3f}", f"{p['b_ms']:.3f}", _ratio_text(p), p["verdict"])
                 for c in comparison["configs"] for p in [c["metrics"]["p50"]]]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            cells = [row[0].ljust(widths[0]), *(cell.rjust(w) for cell, w in zip(row[1:4], widths[1:4])), row[4]]
            lines.append("  " + "  ".join(cells).rstrip())
        lines += [f"  overall: {_overall_text(comparison)}"]
        lines += [f"  {line}" for line in _extra_lines(comparison)]
        lines.append("")
    lines += _gate_lines(document)
    return "\n".join(lines).rstrip("\n") + "\n"


def render_markdown(document: dict) -> str:
    """The comparison as Markdown, for a pull request or a README."""
    lines = []
    for comparison in document["comparisons"]:
        lines += [f"### `{comparison['other']['name']}` vs baseline `{comparison['baseline']['name']}`", "",
                  "| configuration | A p50 ms | B p50 ms | B/A p50 [95% CI] | verdict |", "|---|---:|---:|---:|---|"]
        lines += [f"| {c['label']} | {p['a_ms']:.3f} | {p['b_ms']:.3f} | {_ratio_text(p)} | {p['verdict']} |"
                  for c in comparison["configs"] for p in [c["metrics"]["p50"]]]
        lines += ["", f"**Overall:** {_overall_text(comparison)}", ""]
        lines += [f"- {line.strip()}" for line in _extra_lines(comparison)]
        lines.append("")
    gate_lines = _gate_lines(document)
    if gate_lines:
        lines += ["**Gates:**", ""] + [f"- {line.strip()}" for line in gate_lines[1:]]
    return "\n".join(lines).rstrip("\n") + "\n"


def _ratio_text(figures: dict) -> str:
    low, high = figures["ci95"]
    return f"{figures['ratio']:.3f} [{low:.3f}, {high:.3f}]"


def _overall_text(comparison: dict) -> str:
    overall = comparison["overall"]
    return (f"geometric mean of {overall['configurations']} p50 ratios {_ratio_text(overall)}, "
            f"{overall['verdict']} ({(overall['ratio'] - 1) * 100:+.1f}%)")


def _extra_lines(comparison: dict) -> list[str]:
    lines = []
    for row in comparison["accuracy"]:
        names = row["baseline_artefact"] if row["baseline_artefact"] == row["other_artefact"] else \
            f"{row['baseline_artefact']}->{row['other_artefact']}"
        figures = "; ".join(f"{field.replace('_', ' ')} {_figure(field, f['a'])} -> {_figure(field, f['b'])} "
                            f"({f['delta_pp']:+.2f} pp)" for field, f in row["figures"].items())
        lines.append(f"accuracy {names} on {row['data']}: {figures}" + (f" ({row['note']})" if row["note"] else ""))
    for side in ("only_in_baseline", "only_in_other"):
        if comparison[side]:
            where = comparison["baseline" if side == "only_in_baseline" else "other"]["name"]
            only = comparison[side]
            shown = ", ".join(only[:6]) + (f" and {len(only) - 6} more" if len(only) > 6 else "")
            lines.append(f"only in {where} ({len(only)} configurations): {shown}")
    lines += [f"note: {note}" for note in comparison["notes"]]
    return lines


def _figure(field: str, value: float) -> str:
    return f"{value:.4f}" if field.startswith("cosine") else f"{value:.2%}"


def _gate_lines(document: dict) -> list[str]:
    if not document["gates"]:
        return []
    lines = ["gates:"]
    for result in document["gates"]:
        lines.append(f"  passed  {result['gate']} ({result['report']})" if result["passed"]
                     else "  " + _failure_line(result))
    return lines


def _failure_line(failure: dict) -> str:
    return f"FAILED  {failure['gate']} ({failure['report']}): {failure['message']}"
