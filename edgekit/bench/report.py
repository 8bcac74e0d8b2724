"""The one result format of edgekit bench and edgekit claim: JSON with a schema version and the raw samples.

Every view (terminal table, Markdown, PNG, HTML) and every comparison is computed from this document, so
a report can be re-rendered or compared long after the run. Layout (schema_version 1):

    {"schema": "edgekit.report", "schema_version": 1, "kind": "bench" | "claim", "created": ISO time,
     "machine": {cpu, arch, cores, threads_used, isa: [...], os, python, packages: {...}, edgekit,
                 git_commit, peaks: {fp32_gflops, int8_gops} | null},
     "settings": {warmup, runs, duration_s, settle_ms, ort_spinning, calls_per_turn, order, text_source},
     "warnings": [{"artefact": name | null, "message": str}],
     "artefacts": [{name, path, target, runtime, precision, inference_precision, task, source,
                    random_weights, size_bytes, load_s, first_run_s, peak_rss_mb, flops_per_token}],
     "configs": [{artefact, batch, seq_len, threads, samples_ms: [...], stats: {...},
                  throughput_seq_s, efficiency: {peak, fraction} | null}],
     "accuracy": [{artefact, data, n, reference, top1_agreement?, cosine_mean?, cosine_min?,
                   accuracy?, accuracy_delta?}],
     "claim": {...}  (kind "claim" only: pairs of model latencies and their ratios, and the verdict)}
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from edgekit.atomic import write_file_atomic
from edgekit.bench.stats import latency_stats
from edgekit.errors import ReportError

SCHEMA = "edgekit.report"
SCHEMA_VERSION = 1
KINDS = ("bench", "claim")


def new_report(kind: str, *, machine: dict, settings: dict) -> dict:
    if kind not in KINDS:
        raise ValueError(kind)
    return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "kind": kind,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": machine, "settings": settings, "warnings": [], "artefacts": [], "configs": [],
            "accuracy": []}


def config_entry(*, artefact: str, batch: int, seq_len: int, threads: int, samples_ms: list[float],
                 flops_per_sequence: float | None = None, peak_ops: float | None = None,
                 peak_name: str | None = None) -> dict:
    """One measured configuration with its raw samples and the figures derived from them."""
    stats = latency_stats(samples_ms)
    entry = {"artefact": artefact, "batch": batch, "seq_len": seq_len, "threads": threads,
             "samples_ms": [round(v, 4) for v in samples_ms], "stats": stats,
             "throughput_seq_s": batch / (stats["p50"] / 1e3), "efficiency": None}
    if flops_per_sequence and peak_ops:
        achieved = flops_per_sequence * batch / (stats["p50"] / 1e3)
        entry["efficiency"] = {"peak": peak_name, "achieved_gops": achieved / 1e9, "fraction": achieved / peak_ops}
    return entry


def config_key(entry: dict) -> tuple:
    return (entry["artefact"], entry["batch"], entry["seq_len"], entry["threads"])


def save_report(report: dict, path: Path | str) -> Path:
    """Write the report atomically (a temp file beside it, then rename)."""
    return write_file_atomic(path, json.dumps(report, indent=1) + "\n")


def load_report(path: Path | str) -> dict:
    """Read and check a report; anything else is one clear ReportError."""
    path = Path(path)
    if not path.is_file():
        raise ReportError(f"report '{path}' does not exist")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReportError(f"'{path}' is not an edgekit report: it is not JSON ({exc.__class__.__name__})") from None
    if not isinstance(report, dict) or report.get("schema") != SCHEMA:
        raise ReportError(f"'{path}' is not an edgekit report: it has no \"schema\": \"{SCHEMA}\" field")
    version = report.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ReportError(f"report '{path}' has schema version {version!r}, which this edgekit cannot read; "
                          f"readable: {SCHEMA_VERSION}")
    if report.get("kind") not in KINDS:
        raise ReportError(f"report '{path}' has kind {report.get('kind')!r}; valid: {', '.join(KINDS)}")
    for field in ("machine", "settings", "artefacts", "configs"):
        if field not in report:
            raise ReportError(f"report '{path}' lacks the field {field!r}; it is damaged or not from edgekit")
    for entry in report["configs"]:
        if not entry.get("samples_ms"):
            raise ReportError(f"report '{path}' has a configuration without raw samples: {config_key(entry)}")
    return report
