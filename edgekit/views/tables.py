"""The tables of a report: the one model every view (Markdown, terminal, HTML) renders.

Every figure is computed from the report dict alone, so an old report renders exactly as a fresh one.
Optional fields may be absent: they show as a dash.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from edgekit.measure.stats import latency_stats
from edgekit.measure.stats import verdict as ratio_verdict

MISSING = "—"
# Columns that hold words, not numbers: left-aligned in the terminal.
TEXT_COLUMNS = {"artefact", "runtime", "precision", "inference precision", "data", "reference", "verdict",
                "efficiency", "mean ± CI ms", "ratio CI95", "configuration"}


@dataclass(frozen=True)
class Table:
    """One table of a report. `key` is stable: it is the HTML id (claim tables: claim-<runtime>)."""

    key: str
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""


def number(value, spec: str, *, scale: float = 1.0) -> str:
    """`value` times `scale` formatted with `spec`, or a dash when it is absent or not a finite number."""
    if value is None or isinstance(value, bool):
        return MISSING
    try:
        value = float(value) * scale
    except (TypeError, ValueError):
        return MISSING
    return format(value, spec) if math.isfinite(value) else MISSING


def format_ms(value) -> str:
    """A latency in milliseconds with about four significant digits."""
    try:
        size = abs(float(value))
    except (TypeError, ValueError):
        return MISSING
    return number(value, ".3f" if size < 10 else ".2f" if size < 100 else ".1f")


def format_ratio(value) -> str:
    return number(value, ".2f")


def format_ci(ci) -> str:
    if not isinstance(ci, (list, tuple)) or len(ci) != 2:
        return MISSING
    low, high = format_ratio(ci[0]), format_ratio(ci[1])
    return MISSING if MISSING in (low, high) else f"[{low}, {high}]"


def as_text(value) -> str:
    return MISSING if value is None or value == "" else str(value)


def _fact(value) -> str:
    """A machine or settings value as text: lists joined, dicts as `key value` pairs, booleans on/off."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fact(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k} {_fact(v)}" for k, v in value.items() if v is not None)
    return "" if value is None else str(value)


PEAK_LABELS = {"fp32_gflops": ("FP32", "GFLOP/s"), "int8_gops": ("INT8", "GOP/s")}


def _peaks(peaks) -> str:
    """Matrix-multiply peaks, flat ({fp32_gflops: ..}) or per thread count ({"2": {fp32_gflops: ..}})."""
    if not isinstance(peaks, dict):
        return ""

    def flat(values: dict) -> str:
        parts = []
        for key, value in values.items():
            if key not in PEAK_LABELS:
                continue  # the probe's shape, threads and method are in the JSON; the rates are the fact
            name, unit = PEAK_LABELS[key]
            parts.append(f"{name} {number(value, '.1f')} {unit}".rstrip())
        return ", ".join(parts)

    if all(isinstance(v, dict) for v in peaks.values()):
        return "; ".join(f"{threads} threads: {flat(values)}" for threads, values in peaks.items())
    return flat(peaks)


def machine_facts(report: dict) -> list[tuple[str, str]]:
    """(label, value) pairs describing the machine; absent fields are left out."""
    machine = report.get("machine") or {}
    fields = [("CPU", "cpu"), ("arch", "arch"), ("cores", "cores"), ("threads used", "threads_used"), ("ISA", "isa"),
              ("OS", "os"), ("Python", "python"), ("packages", "packages"), ("edgekit", "edgekit"),
              ("git commit", "git_commit")]
    facts = [(label, _fact(machine.get(key))) for label, key in fields]
    facts.insert(8, ("peaks", _peaks(machine.get("peaks"))))
    return [(label, value) for label, value in facts if value]


def settings_facts(report: dict) -> list[tuple[str, str]]:
    settings = report.get("settings") or {}
    fields = [("warmup runs", "warmup"), ("runs", "runs"), ("duration s", "duration_s"), ("settle ms", "settle_ms"),
              ("ORT spinning", "ort_spinning"), ("calls per turn", "calls_per_turn"), ("order", "order"),
              ("batch sizes", "batch_sizes"), ("sequence lengths", "seq_lens"), ("threads", "threads"),
              ("lengths from", "lengths_from"), ("texts", "text_source")]
    facts = [(label, _fact(settings.get(key))) for label, key in fields]
    return [(label, value) for label, value in facts if value]


def notices(report: dict) -> list[str]:
    """The random-weights warning first, then the preflight warnings, each one sentence."""
    lines = []
    random_names = [a.get("name", MISSING) for a in report.get("artefacts") or [] if a.get("random_weights")]
    if random_names or (report.get("claim") or {}).get("random_weights"):
        shown = ", ".join(random_names) if random_names else "the models of this claim"
        lines.append(f"Random weights: {shown} hold random weights. Latency reflects the architecture; accuracy "
                     "and fidelity figures say nothing about a trained model.")
    for warning in report.get("warnings") or []:
        message = as_text(warning.get("message"))
        lines.append(f"{warning['artefact']}: {message}" if warning.get("artefact") else message)
    return lines


def _artefact_order(report: dict) -> dict[str, int]:
    return {a.get("name"): index for index, a in enumerate(report.get("artefacts") or [])}


def sorted_configs(report: dict) -> list[dict]:
    """Configurations in the order of the artefacts list, then batch, sequence length and threads."""
    order = _artefact_order(report)
    return sorted(report.get("configs") or [], key=lambda c: (order.get(c.get("artefact"), len(order)),
                                                             str(c.get("artefact")), c.get("batch", 0),
                                                             c.get("seq_len", 0), c.get("threads", 0)))


def config_stats(entry: dict) -> dict:
    """A configuration's statistics: as stored, or (they are optional) computed from its raw samples."""
    stats = entry.get("stats")
    if isinstance(stats, dict) and number(stats.get("p50"), "g") != MISSING:
        return stats
    samples = entry.get("samples_ms")
    return latency_stats(samples) if isinstance(samples, list) and samples else {}


def _drop_empty_columns(headers: tuple[str, ...], rows: list[tuple[str, ...]], optional: set[str]):
    """Leave out optional columns no row has a figure for (e.g. efficiency when no peak was measured)."""
    keep = [i for i, h in enumerate(headers) if h not in optional or any(row[i] != MISSING for row in rows)]
    return tuple(headers[i] for i in keep), tuple(tuple(row[i] for i in keep) for row in rows)


def artefacts_table(report: dict) -> Table:
    headers = ("artefact", "runtime", "precision", "inference precision", "size MB", "load s", "first run s",
               "peak RSS MB")
    rows = [(as_text(a.get("name")), as_text(a.get("runtime")), as_text(a.get("precision")),
             as_text(a.get("inference_precision")), number(a.get("size_bytes"), ".1f", scale=1e-6),
             number(a.get("load_s"), ".2f"), number(a.get("first_run_s"), ".3f"), number(a.get("peak_rss_mb"), ".0f"))
            for a in report.get("artefacts") or []]
    return Table("artefacts", "Artefacts", headers, tuple(rows))


def _mean_with_ci(stats: dict) -> str:
    mean, ci = stats.get("mean"), stats.get("ci95_mean")
    half = (ci[1] - ci[0]) / 2 if isinstance(ci, (list, tuple)) and len(ci) == 2 else math.nan
    half_text = format_ms(half)
    return format_ms(mean) if half_text == MISSING else f"{format_ms(mean)} ± {half_text}"


def _efficiency(entry: dict) -> str:
    efficiency = entry.get("efficiency") or {}
    share = number(efficiency.get("fraction"), ".1%")
    if share != MISSING and (efficiency.get("above_peak") or float(efficiency["fraction"]) > 1):
        return "over the probed peak: noisy probe"  # never a share above 100% as if it were real
    if share != MISSING and efficiency.get("peak"):
        return f"{share} of {efficiency['peak']}"
    return share


def latency_table(report: dict) -> Table:
    headers = ("artefact", "batch", "seq", "threads", "n", "p50 ms", "p90 ms", "p99 ms", "min ms", "mean ± CI ms",
               "seq/s", "efficiency", "spread")
    rows = []
    for entry in sorted_configs(report):
        stats = config_stats(entry)
        rows.append((as_text(entry.get("artefact")), as_text(entry.get("batch")), as_text(entry.get("seq_len")),
                     as_text(entry.get("threads")), as_text(stats.get("n")), format_ms(stats.get("p50")),
                     format_ms(stats.get("p90")), format_ms(stats.get("p99")), format_ms(stats.get("min")),
                     _mean_with_ci(stats), number(entry.get("throughput_seq_s"), ".1f"), _efficiency(entry),
                     number(stats.get("iqr_over_median"), ".1%")))
    headers, rows = _drop_empty_columns(headers, rows, {"efficiency"})
    return Table("latency", "Latency per configuration", headers, rows,
                 note="spread: interquartile range over the median; CI: 95% of the mean (Student t)")


def accuracy_table(report: dict) -> Table:
    headers = ("artefact", "data", "n", "reference", "accuracy", "accuracy Δ", "top-1 agreement", "cosine mean",
               "cosine min")
    rows = []
    for entry in report.get("accuracy") or []:
        rows.append((as_text(entry.get("artefact")), as_text(entry.get("data")), as_text(entry.get("n")),
                     as_text(entry.get("reference")), number(entry.get("accuracy"), ".2%"),
                     _points(entry.get("accuracy_delta")),
                     number(entry.get("top1_agreement"), ".2%"), number(entry.get("cosine_mean"), ".5f"),
                     number(entry.get("cosine_min"), ".5f")))
    headers, rows = _drop_empty_columns(headers, rows, {"accuracy", "accuracy Δ", "top-1 agreement", "cosine mean",
                                                        "cosine min", "reference"})
    return Table("accuracy", "Accuracy and fidelity", headers, rows)


def _points(delta) -> str:
    """An accuracy difference in percentage points."""
    text = number(delta, "+.2f", scale=100)
    return text if text == MISSING else f"{text} pp"


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(name).lower()).strip("-") or "runtime"


def claim_summary(report: dict) -> str | None:
    """One sentence: what the claim says, the overall ratio with its CI, and the verdict."""
    claim = report.get("claim")
    if not isinstance(claim, dict):
        return None
    threshold = number(claim.get("threshold"), "g")
    fast, slow = as_text(claim.get("fast_model")), as_text(claim.get("slow_model"))
    statement = claim.get("statement") or f"{fast} is at least {threshold}x as fast as {slow}"
    text = f"Claim: {statement} (latency ratio slow/fast ≥ {threshold})."
    overall = claim.get("overall") or {}
    if overall.get("median") is not None:
        count = overall.get("configurations")
        over = f" over {count} configurations" if count is not None else ""
        text += (f" Overall ratio {format_ratio(overall['median'])}, 95% CI {format_ci(overall.get('ci95'))}"
                 f"{over} (geometric mean).")
    return text + f" Verdict: {as_text(claim.get('verdict'))}."


def _p50_lookup(report: dict) -> dict[tuple, float]:
    return {(c.get("artefact"), c.get("batch"), c.get("seq_len"), c.get("threads")): config_stats(c).get("p50")
            for c in report.get("configs") or []}


def claim_tables(report: dict) -> list[Table]:
    """One table per runtime: the ratio of each configuration with its CI, then the overall row."""
    claim = report.get("claim")
    runtimes = claim.get("runtimes") if isinstance(claim, dict) else None
    if not isinstance(runtimes, dict):
        return []
    threshold, p50 = claim.get("threshold"), _p50_lookup(report)
    headers = ("batch", "seq", "threads", "slow p50 ms", "fast p50 ms", "ratio slow/fast", "ratio CI95", "verdict")
    tables = []
    for runtime, result in runtimes.items():
        result = result if isinstance(result, dict) else {}
        rows = []
        for pair in result.get("pairs") or []:
            key = (pair.get("batch"), pair.get("seq_len"), pair.get("threads"))
            ratio = pair.get("ratio") or {}
            ci = ratio.get("ci95")
            judged = isinstance(threshold, (int, float)) and format_ci(ci) != MISSING
            pair_verdict = ratio_verdict(ci, threshold) if judged else MISSING
            rows.append((*(as_text(v) for v in key), format_ms(p50.get((pair.get("slow_artefact"), *key))),
                         format_ms(p50.get((pair.get("fast_artefact"), *key))), format_ratio(ratio.get("median")),
                         format_ci(ci), pair_verdict))
        overall = result.get("overall") or {}
        if overall:
            count = overall.get("configurations")
            label = f"overall ({count} configs)" if count is not None else "overall"
            rows.append((label, "", "", "", "", format_ratio(overall.get("median")), format_ci(overall.get("ci95")),
                         as_text(result.get("verdict"))))
        note = f"verdict on {runtime}: {as_text(result.get('verdict'))}"
        key = f"claim-{_slug(runtime)}"
        key = key if all(t.key != key for t in tables) else f"{key}-{len(tables)}"  # ids stay unique
        tables.append(Table(key, f"Claim on {runtime}", headers, tuple(rows), note))
    return tables


def report_tables(report: dict) -> list[Table]:
    """The report's tables in reading order: claim tables, artefacts, latency, then accuracy when present."""
    tables = [*claim_tables(report), artefacts_table(report), latency_table(report)]
    if report.get("accuracy"):
        tables.append(accuracy_table(report))
    return tables


def report_title(report: dict) -> str:
    return f"edgekit {report.get('kind', 'bench')} report"
