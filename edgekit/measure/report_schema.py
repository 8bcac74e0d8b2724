"""The types and values a report document must have, checked on read and before a comparison.

A report is a file anyone can edit, truncate or produce with another tool. A NaN sample makes every ratio
NaN, and NaN compares false with every gate threshold, so it would pass any gate; a string where an object
belongs crashes a view. Each problem is one ReportError naming the report, the field and the bad value.
"""

from __future__ import annotations

import math

from edgekit.errors import ReportError

_ABSENT = object()
FRACTIONS = ("accuracy", "top1_agreement")  # shares in [0, 1]
COSINES = ("cosine_mean", "cosine_min")  # in [-1, 1]; float32 rounding may pass 1 slightly
COSINE_SLACK = 1e-3


def _show(value) -> str:
    if value is _ABSENT:
        return "missing"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fail(where: str, field: str, value, expected: str):
    raise ReportError(f"report '{where}': {field} is {_show(value)}; expected {expected}")


def finite(value) -> bool:
    """A real number (not a bool) that is neither NaN nor infinite."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _text(value) -> bool:
    return isinstance(value, str)


def _field(entry: dict, key: str, prefix: str):
    return entry.get(key, _ABSENT), f"{prefix}.{key}" if prefix else key


def _objects(report: dict, key: str, where: str, *, required: bool) -> list[dict]:
    """report[key] as a list of objects; absent is an empty list unless required."""
    value = report.get(key, _ABSENT)
    if value is _ABSENT and not required:
        return []
    if not isinstance(value, list):
        _fail(where, key, value, "a list of objects")
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            _fail(where, f"{key}[{index}]", item, "an object")
    return value


def check_report(report: dict, where: str) -> None:
    """Raise ReportError unless the document's sections and values have the types every view relies on."""
    for key in ("machine", "settings"):
        if not isinstance(report.get(key, _ABSENT), dict):
            _fail(where, key, report.get(key, _ABSENT), "an object")
    artefacts = _objects(report, "artefacts", where, required=True)
    configs = _objects(report, "configs", where, required=True)
    _objects(report, "warnings", where, required=False)
    accuracy = _objects(report, "accuracy", where, required=False)
    for index, entry in enumerate(artefacts):
        value, field = _field(entry, "name", f"artefacts[{index}]")
        if not _text(value):
            _fail(where, field, value, "the artefact's name (text)")
    for index, entry in enumerate(configs):
        _check_config(entry, f"configs[{index}]", where)
    for index, entry in enumerate(accuracy):
        _check_accuracy(entry, f"accuracy[{index}]", where)
    claim = report.get("claim", _ABSENT)
    if report.get("kind") == "claim" or claim not in (_ABSENT, None):
        _check_claim(claim, where)


def _check_config(entry: dict, prefix: str, where: str) -> None:
    value, field = _field(entry, "artefact", prefix)
    if not _text(value):
        _fail(where, field, value, "the artefact's name (text)")
    for key in ("batch", "seq_len", "threads"):
        value, field = _field(entry, key, prefix)
        if not _positive_int(value):
            _fail(where, field, value, "a whole number of at least 1")
    samples, field = _field(entry, "samples_ms", prefix)
    if not isinstance(samples, list) or not samples:
        _fail(where, field, samples, "a non-empty list of latencies in ms")
    for index, sample in enumerate(samples):
        if not (finite(sample) and sample > 0):
            _fail(where, f"{field}[{index}]", sample, "a latency in ms: a finite number above 0")
    stats, field = _field(entry, "stats", prefix)
    if stats is not _ABSENT:
        _check_stats(stats, field, where)
    efficiency, field = _field(entry, "efficiency", prefix)
    if efficiency not in (_ABSENT, None) and not isinstance(efficiency, dict):
        _fail(where, field, efficiency, "an object or null")


def _check_stats(stats, field: str, where: str) -> None:
    if not isinstance(stats, dict):
        _fail(where, field, stats, "an object of statistics")
    for key, value in stats.items():
        # ci95_mean is a pair, or null for a single sample
        items = value if isinstance(value, list) else [value]
        for item in items:
            if item is not None and not finite(item):
                _fail(where, f"{field}.{key}", value, "a finite number, a list of them, or null")


def _check_accuracy(entry: dict, prefix: str, where: str) -> None:
    value, field = _field(entry, "artefact", prefix)
    if not _text(value):
        _fail(where, field, value, "the artefact's name (text)")
    value, field = _field(entry, "reference", prefix)
    if value not in (_ABSENT, None) and not _text(value):
        _fail(where, field, value, "the reference's name (text) or null")
    for key in (*FRACTIONS, *COSINES, "accuracy_delta"):
        value, field = _field(entry, key, prefix)
        if value in (_ABSENT, None):
            continue
        low, high = (0.0, 1.0) if key in FRACTIONS else (-1.0, 1.0)
        slack = COSINE_SLACK if key in COSINES else 0.0
        if not (finite(value) and low - slack <= value <= high + slack):
            _fail(where, field, value, f"a number from {low:g} to {high:g}, or null")


def _check_ratio(ratio, field: str, where: str) -> None:
    """A ratio with its 95% CI: {median, ci95: [low, high], ...}, all finite and above 0."""
    if not isinstance(ratio, dict):
        _fail(where, field, ratio, "an object {median, ci95}")
    median, name = _field(ratio, "median", field)
    if not (finite(median) and median > 0):
        _fail(where, name, median, "a finite ratio above 0")
    ci, name = _field(ratio, "ci95", field)
    if not (isinstance(ci, list) and len(ci) == 2 and all(finite(v) and v > 0 for v in ci) and ci[0] <= ci[1]):
        _fail(where, name, ci, "[low, high]: finite ratios above 0, low <= high")


def _check_claim(claim, where: str) -> None:
    """The layout edgekit.measure.claim.summarise writes."""
    if not isinstance(claim, dict):
        _fail(where, "claim", claim, "an object (the claim's ratios and verdict)")
    threshold, field = _field(claim, "threshold", "claim")
    if not (finite(threshold) and threshold > 0):
        _fail(where, field, threshold, "a finite number above 0")
    for key in ("fast_model", "slow_model", "verdict"):
        value, field = _field(claim, key, "claim")
        if not _text(value):
            _fail(where, field, value, "text")
    value, field = _field(claim, "statement", "claim")
    if value not in (_ABSENT, None) and not _text(value):
        _fail(where, field, value, "text or null")
    _check_ratio(claim.get("overall", _ABSENT), "claim.overall", where)
    runtimes, field = _field(claim, "runtimes", "claim")
    if not isinstance(runtimes, dict):
        _fail(where, field, runtimes, "an object of runtime -> result")
    for runtime, result in runtimes.items():
        prefix = f"claim.runtimes[{runtime!r}]"
        if not isinstance(result, dict):
            _fail(where, prefix, result, "an object {pairs, overall, verdict}")
        verdict, field = _field(result, "verdict", prefix)
        if not _text(verdict):
            _fail(where, field, verdict, "text")
        _check_ratio(result.get("overall", _ABSENT), f"{prefix}.overall", where)
        pairs, field = _field(result, "pairs", prefix)
        if not isinstance(pairs, list):
            _fail(where, field, pairs, "a list of objects")
        for index, pair in enumerate(pairs):
            _check_pair(pair, f"{field}[{index}]", where)


def _check_pair(pair, prefix: str, where: str) -> None:
    if not isinstance(pair, dict):
        _fail(where, prefix, pair, "an object")
    for key in ("batch", "seq_len", "threads"):
        value, field = _field(pair, key, prefix)
        if not _positive_int(value):
            _fail(where, field, value, "a whole number of at least 1")
    for key in ("slow_artefact", "fast_artefact"):
        value, field = _field(pair, key, prefix)
        if not _text(value):
            _fail(where, field, value, "the artefact's name (text)")
    _check_ratio(pair.get("ratio", _ABSENT), f"{prefix}.ratio", where)
