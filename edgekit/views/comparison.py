"""The terminal and Markdown views of a comparison (edgekit.measure.compare), from the shared table renderers."""

from __future__ import annotations

from edgekit.measure.result import to_json
from edgekit.views.tables import Table
from edgekit.views.text import markdown_table, plain_table

HEADERS = ("configuration", "A p50 ms", "B p50 ms", "B/A p50 [95% CI]", "verdict")


def comparison_table(comparison: dict) -> Table:
    rows = tuple((c["label"], f"{p['a_ms']:.3f}", f"{p['b_ms']:.3f}", _ratio_text(p), p["verdict"])
                 for c in comparison["configs"] for p in [c["metrics"]["p50"]])
    return Table("comparison", f"{comparison['other']['name']} vs baseline {comparison['baseline']['name']}",
                 HEADERS, rows)


def render_text(document: dict) -> str:
    """The comparison for the terminal: one table per compared report, then accuracy and gates."""
    lines = []
    for comparison in document["comparisons"]:
        table = comparison_table(comparison)
        lines.append(f"{table.title} (B/A: below 1 is faster; noise ±{comparison['noise']:.0%})")
        lines.append(plain_table(table, indent="  "))
        lines += [f"  overall: {_overall_text(comparison)}"]
        lines += [f"  {line}" for line in _extra_lines(comparison)]
        lines.append("")
    lines += gate_lines(document)
    return "\n".join(lines).rstrip("\n") + "\n"


def render_json(document: dict) -> str:
    """Strict JSON (no NaN): a missing figure is null."""
    return to_json(document)


def render_markdown(document: dict) -> str:
    """The comparison as Markdown, for a pull request or a README."""
    lines = []
    for comparison in document["comparisons"]:
        table = comparison_table(comparison)
        lines += [f"### `{comparison['other']['name']}` vs baseline `{comparison['baseline']['name']}`", "",
                  markdown_table(table), "", f"**Overall:** {_overall_text(comparison)}", ""]
        lines += [f"- {line.strip()}" for line in _extra_lines(comparison)]
        lines.append("")
    gates = gate_lines(document)
    if gates:
        lines += ["**Gates:**", ""] + [f"- {line.strip()}" for line in gates[1:]]
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


def gate_lines(document: dict) -> list[str]:
    if not document["gates"]:
        return []
    lines = ["gates:"]
    for result in document["gates"]:
        lines.append(f"  passed  {result['gate']} ({result['report']})" if result["passed"]
                     else "  " + failure_line(result))
    return lines


def failure_line(failure: dict) -> str:
    return f"FAILED  {failure['gate']} ({failure['report']}): {failure['message']}"
