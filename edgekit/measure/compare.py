"""edgekit compare: how the latency and accuracy of one report differ from a baseline report, and gates.

Everything is computed from the raw samples in the reports. The samples of two reports come from different
runs, so ratios are unpaired, with seeded bootstrap confidence intervals: the same reports always give the
same comparison.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgekit.errors import InputError, InvalidChoiceError, ReportError
from edgekit.measure.report_schema import check_report
from edgekit.measure.result import config_key
from edgekit.measure.stats import (
    geometric_mean_ratio,
    unpaired_ratio,
    verdict,
)

SCHEMA = "edgekit.comparison"
SCHEMA_VERSION = 1
DEFAULT_NOISE = 0.02
FEW_SAMPLES = 10  # below this a bootstrap interval is too optimistic to trust
LATENCY_METRICS = ("p50", "p90", "p99", "mean")
GATE_METRICS = (*LATENCY_METRICS, "accuracy")
# The accuracy gate judges the first figure both reports have, in this order.
ACCURACY_FIGURES = ("accuracy", "top1_agreement", "cosine_mean")
_FLOAT_SLACK = 1e-9  # 0.905 - 0.895 is 1.0000000000000009 points: not beyond a 1-point gate

_STATISTICS = {
    "p50": np.median,
    "p90": lambda values, axis=None: np.percentile(values, 90, axis=axis),
    "p99": lambda values, axis=None: np.percentile(values, 99, axis=axis),
    "mean": lambda values, axis=None: np.mean(values, axis=axis),
}


@dataclass(frozen=True)
class Gate:
    """A --fail-if condition: latency metrics in percent slower, accuracy in percentage points lost."""
    metric: str
    threshold: float
    text: str


def parse_gate(text: str) -> Gate:
    """'p50:5%', 'p99:10' (percent) or 'accuracy:0.5' (percentage points) as a Gate."""
    metric, colon, value = text.strip().partition(":")
    metric = metric.strip().lower()
    if not colon:
        raise InputError(f"gate {text!r} is not METRIC:THRESHOLD (e.g. p50:5%); metrics: {', '.join(GATE_METRICS)}")
    if metric not in GATE_METRICS:
        raise InvalidChoiceError("gate metric", metric, GATE_METRICS)
    number = value.strip()
    if metric == "accuracy":
        if number.endswith("%"):
            raise InputError(f"gate {text!r}: the accuracy threshold is in percentage points, written without "
                             "'%' (e.g. accuracy:0.5)")
        number = number.removesuffix("pp")
    else:
        number = number.removesuffix("%")
    try:
        threshold = float(number)
    except ValueError:
        threshold = float("nan")
    if not math.isfinite(threshold) or threshold < 0:
        raise InputError(f"gate {text!r}: the threshold must be a non-negative number, got {value.strip()!r}")
    return Gate(metric=metric, threshold=threshold, text=text.strip())


def parse_noise(text: str) -> float:
    """'2%' or '0.02' as the fraction 0.02; below 1 (100%)."""
    stripped = text.strip()
    try:
        noise = float(stripped.removesuffix("%")) / (100 if stripped.endswith("%") else 1)
    except ValueError:
        noise = float("nan")
    if not 0 <= noise < 1:  # also rejects nan
        raise InputError(f"--noise must be a fraction below 1 (0.02) or a percentage below 100% (2%), got {text!r}")
    return noise


def latency_verdict(ci95: list[float], noise: float) -> str:
    """B/A is 'slower' or 'faster' only when its whole CI lies beyond the noise band around 1."""
    if verdict(ci95, 1 + noise) == "holds":
        return "slower"
    if verdict(ci95, 1 - noise) == "does not hold":
        return "faster"
    return "within noise"


def config_label(entry: dict) -> str:
    return f"{entry['artefact']} b{entry['batch']} s{entry['seq_len']} t{entry['threads']}"


def compare_reports(baseline: dict, other: dict, *, noise: float = DEFAULT_NOISE, baseline_name: str = "A",
                    other_name: str = "B") -> dict:
    """The latency ratios other/baseline of every configuration both reports measured, their overall
    geometric mean, and the accuracy figures of the matched artefacts."""
    if not 0 <= noise < 1:
        raise InputError(f"noise must be a fraction in [0, 1), got {noise!r}")
    # Documents may come from memory, not load_report: NaN or negative samples must not reach the math.
    check_report(baseline, baseline_name)
    check_report(other, other_name)
    pairs, matched_by = _match(baseline, other, baseline_name, other_name)
    configs = [_compare_config(a, b, noise=noise, seed=index, names=(baseline_name, other_name))
               for index, (a, b) in enumerate(pairs)]
    overall = geometric_mean_ratio([{"median": c["metrics"]["p50"]["ratio"], "ci95": c["metrics"]["p50"]["ci95"]}
                                    for c in configs])
    _require_finite("the overall p50 ratio", [overall["median"], *overall["ci95"]], baseline_name, other_name)
    matched_a = {config_key(a) for a, _ in pairs}
    matched_b = {config_key(b) for _, b in pairs}
    artefact_map = {a["artefact"]: b["artefact"] for a, b in pairs}
    notes = []
    if matched_by == "settings":
        (a_name, b_name), = artefact_map.items()
        notes.append(f"no configuration in common by name: compared the single artefacts {a_name} and {b_name} "
                     "by batch, sequence length and threads")
    if min(min(c["n"]) for c in configs) < FEW_SAMPLES:
        notes.append(f"some configurations have fewer than {FEW_SAMPLES} samples: their intervals understate the "
                     "noise")
    cpus = [(report.get("machine") or {}).get("cpu") for report in (baseline, other)]
    if cpus[0] != cpus[1]:
        notes.append(f"measured on different CPUs: {cpus[0]} vs {cpus[1]}")
    return {
        "baseline": _describe(baseline, baseline_name), "other": _describe(other, other_name), "noise": noise,
        "matched_by": matched_by, "configs": configs,
        "overall": {"ratio": overall["median"], "ci95": overall["ci95"], "configurations": len(configs),
                    "verdict": latency_verdict(overall["ci95"], noise)},
        "accuracy": _compare_accuracy(baseline, other, artefact_map),
        "only_in_baseline": [config_label(e) for e in baseline["configs"] if config_key(e) not in matched_a],
        "only_in_other": [config_label(e) for e in other["configs"] if config_key(e) not in matched_b],
        "notes": notes,
    }


def check_gates(comparison: dict, gates: list[Gate]) -> list[dict]:
    """The gates this comparison fails: {gate, report, message} each; an empty list when all pass."""
    failures = []
    for gate in gates:
        message = _accuracy_failure(comparison, gate) if gate.metric == "accuracy" else _latency_failure(comparison,
                                                                                                          gate)
        if message:
            failures.append({"gate": gate.text, "report": comparison["other"]["name"], "message": message})
    return failures


def comparison_document(comparisons: list[dict], *, gates: list[Gate], failures: list[dict]) -> dict:
    """The machine-readable result of `edgekit compare`, with every gate's outcome per compared report."""
    failed = {(f["gate"], f["report"]): f["message"] for f in failures}
    results = [{"gate": gate.text, "metric": gate.metric, "threshold": gate.threshold, "report": c["other"]["name"],
                "passed": (gate.text, c["other"]["name"]) not in failed,
                "message": failed.get((gate.text, c["other"]["name"]))}
               for c in comparisons for gate in gates]
    return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION,
            "baseline": comparisons[0]["baseline"] if comparisons else None, "comparisons": comparisons,
            "gates": results, "passed": not failures}


def _describe(report: dict, name: str) -> dict:
    return {"name": name, "kind": report.get("kind"), "created": report.get("created"),
            "cpu": (report.get("machine") or {}).get("cpu")}


def _index(report: dict, name: str) -> dict[tuple, dict]:
    index = {}
    for entry in report["configs"]:
        key = config_key(entry)
        if key in index:
            raise ReportError(f"report '{name}' has the configuration {config_label(entry)} twice")
        index[key] = entry
    return index


def _match(baseline: dict, other: dict, a_name: str, b_name: str) -> tuple[list[tuple[dict, dict]], str]:
    a_index, b_index = _index(baseline, a_name), _index(other, b_name)
    pairs = [(entry, b_index[key]) for key, entry in a_index.items() if key in b_index]
    if pairs:
        return pairs, "configuration"
    # Two builds of one model for different targets have different artefact names: match their settings.
    if len({k[0] for k in a_index}) == 1 and len({k[0] for k in b_index}) == 1:
        by_settings = {key[1:]: entry for key, entry in b_index.items()}
        pairs = [(entry, by_settings[key[1:]]) for key, entry in a_index.items() if key[1:] in by_settings]
        if pairs:
            return pairs, "settings"
    raise ReportError(f"reports '{a_name}' and '{b_name}' have no configuration in common; "
                      f"{a_name} has: {_listing(a_index)}; {b_name} has: {_listing(b_index)}")


def _listing(index: dict[tuple, dict], limit: int = 6) -> str:
    labels = [config_label(entry) for entry in index.values()]
    if not labels:
        return "(none)"
    more = f" and {len(labels) - limit} more" if len(labels) > limit else ""
    return ", ".join(labels[:limit]) + more


def _compare_config(a: dict, b: dict, *, noise: float, seed: int, names: tuple[str, str]) -> dict:
    base, other = np.asarray(a["samples_ms"], dtype=float), np.asarray(b["samples_ms"], dtype=float)
    metrics = {}
    for metric in LATENCY_METRICS:
        statistic = _STATISTICS[metric]
        ratio = unpaired_ratio(other, base, seed=seed, statistic=statistic)
        a_value, b_value = float(statistic(base)), float(statistic(other))
        _require_finite(f"{metric} of {config_label(a)}", [a_value, b_value, ratio["median"], *ratio["ci95"]],
                        *names)
        metrics[metric] = {"a_ms": a_value, "b_ms": b_value, "ratio": ratio["median"], "ci95": ratio["ci95"],
                           "verdict": latency_verdict(ratio["ci95"], noise)}
    label = config_label(a) if a["artefact"] == b["artefact"] else config_label(a).replace(
        a["artefact"], f"{a['artefact']}->{b['artefact']}", 1)
    return {"label": label, "baseline_artefact": a["artefact"], "other_artefact": b["artefact"], "batch": a["batch"],
            "seq_len": a["seq_len"], "threads": a["threads"], "n": [len(base), len(other)], "metrics": metrics}


def _require_finite(what: str, values: list[float], a_name: str, b_name: str) -> None:
    """A NaN ratio compares false with every threshold, so it would pass any gate: refuse it instead."""
    if not all(math.isfinite(v) and v > 0 for v in values):
        shown = ", ".join(f"{v:g}" for v in values)
        raise ReportError(f"comparing '{a_name}' and '{b_name}': {what} is not a finite positive figure ({shown}); "
                          "the samples are damaged")


def _compare_accuracy(baseline: dict, other: dict, artefact_map: dict[str, str]) -> list[dict]:
    """Accuracy figures of matched artefacts on the same data (or the only data each side has), deltas in
    percentage points."""
    rows = []
    for a_artefact, b_artefact in artefact_map.items():
        a_entries = [e for e in baseline.get("accuracy") or [] if e.get("artefact") == a_artefact]
        b_entries = [e for e in other.get("accuracy") or [] if e.get("artefact") == b_artefact]
        for a in a_entries:
            b = next((e for e in b_entries if e.get("data") == a.get("data")), None)
            note = None
            if b is None and len(a_entries) == 1 and len(b_entries) == 1:
                b = b_entries[0]
                note = f"evaluated on different data: {a.get('data')} vs {b.get('data')}"
            if b is None:
                continue
            figures = {field: {"a": a[field], "b": b[field], "delta_pp": (b[field] - a[field]) * 100}
                       for field in ACCURACY_FIGURES if _is_number(a.get(field)) and _is_number(b.get(field))}
            if figures:
                rows.append({"baseline_artefact": a_artefact, "other_artefact": b_artefact, "data": a.get("data"),
                             "n": [a.get("n"), b.get("n")], "figures": figures, "note": note})
    return rows


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _latency_failure(comparison: dict, gate: Gate) -> str | None:
    limit = 1 + gate.threshold / 100
    for config in comparison["configs"]:  # compare_reports never yields these; a hand-made comparison might
        figures = config["metrics"][gate.metric]
        _require_finite(f"{gate.metric} of {config['label']}", [figures["ratio"], *figures["ci95"]],
                        comparison["baseline"]["name"], comparison["other"]["name"])
    # Fail only where the slowdown is both beyond the threshold and statistically beyond the noise band.
    slower = [c for c in comparison["configs"]
              if c["metrics"][gate.metric]["ratio"] > limit + _FLOAT_SLACK
              and c["metrics"][gate.metric]["verdict"] == "slower"]
    if not slower:
        return None
    worst = max(slower, key=lambda c: c["metrics"][gate.metric]["ratio"])
    figures = worst["metrics"][gate.metric]
    return (f"{len(slower)} of {len(comparison['configs'])} configurations have {gate.metric} more than "
            f"{gate.threshold:g}% slower; worst {worst['label']}: {(figures['ratio'] - 1) * 100:+.1f}% "
            f"(B/A {figures['ratio']:.3f}, 95% CI {figures['ci95'][0]:.3f}-{figures['ci95'][1]:.3f})")


def _accuracy_failure(comparison: dict, gate: Gate) -> str | None:
    if not comparison["accuracy"]:
        return "cannot be judged: the reports have no accuracy figures in common"
    drops = []
    for row in comparison["accuracy"]:
        field = next(f for f in ACCURACY_FIGURES if f in row["figures"])
        drop = -row["figures"][field]["delta_pp"]
        if not math.isfinite(drop):  # NaN is never "more than the threshold": refuse rather than pass
            raise ReportError(f"comparing '{comparison['baseline']['name']}' and '{comparison['other']['name']}': "
                              f"the {field} change of {row['other_artefact']} is {drop!r}, not a finite number")
        if drop > gate.threshold + _FLOAT_SLACK:
            drops.append(f"{row['other_artefact']} {field} dropped {drop:.2f} points")
    if not drops:
        return None
    return f"more than {gate.threshold:g} points lost: " + "; ".join(drops)
