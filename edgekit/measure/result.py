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
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from edgekit.build.artefact import Artefact
from edgekit.build.atomic import check_output_file, write_file_atomic
from edgekit.errors import ReportError
from edgekit.measure.report_schema import check_report
from edgekit.measure.stats import latency_stats

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


ARTEFACT_FIELDS = ("name", "path", "target", "runtime", "precision", "inference_precision", "isa", "task", "source",
                   "random_weights", "size_bytes", "quantization", "load_s", "first_run_s", "peak_rss_mb",
                   "model_rss_mb")


def artefact_entry(name: str, artefact: Artefact | None = None, **fields) -> dict:
    """One row of a report's artefacts list: from an artefact's record, with `fields` on top (a runtime that
    edgekit did not build, such as PyTorch eager, gives them all). Fields nobody knows stay None."""
    entry: dict = dict.fromkeys(ARTEFACT_FIELDS)
    entry.update(name=name, random_weights=False)
    if artefact is not None:
        record = artefact.record
        entry.update(path=str(artefact.directory), target=record.target_name, runtime=record.runtime,
                     precision=record.precision, inference_precision=record.inference_precision, isa=record.isa,
                     task=record.task, source=record.source_spec, random_weights=record.random_weights,
                     size_bytes=record.size_bytes, quantization=record.quantization_method)
    entry.update(fields)
    return entry


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


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    return value


def to_json(document, *, indent: int | None = 1) -> str:
    """Strict JSON (no NaN or Infinity, which many parsers reject): a non-finite figure, which edgekit never
    measures but a damaged optional field may hold, is written as null, i.e. missing."""
    return json.dumps(_json_safe(document), indent=indent, allow_nan=False)


def save_report(report: dict, path: Path | str) -> Path:
    """Write the report atomically (a temp file beside it, then rename). Callers that may replace a file
    check the path first (check_report_out)."""
    return write_file_atomic(path, to_json(report) + "\n")


def is_report_file(path: Path) -> bool:
    """Whether `path` holds an edgekit report (damaged or not): the files --force may replace."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return False
    return isinstance(document, dict) and document.get("schema") == SCHEMA


def check_report_out(path: Path | str, *, force: bool) -> Path:
    """Refuse, before measuring, a --out that is a directory or an existing file; with force, an existing
    edgekit report is replaced, anything else still refused."""
    return check_output_file(path, force=force, ours=is_report_file, what="report")


def load_report(path: Path | str) -> dict:
    """Read and check a report; anything else is one clear ReportError."""
    path = Path(path)
    if path.is_dir():
        raise ReportError(f"report '{path}' is a directory; give a report file (.json)")
    if not path.is_file():
        raise ReportError(f"report '{path}' does not exist")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ReportError(f"'{path}' is not an edgekit report: it is not JSON ({exc.__class__.__name__})") from None
    if not isinstance(report, dict) or report.get("schema") != SCHEMA:
        raise ReportError(f"'{path}' is not an edgekit report: it has no \"schema\": \"{SCHEMA}\" field")
    version = report.get("schema_version")
    if type(version) is not int or version != SCHEMA_VERSION:  # true == 1 in Python, not here
        raise ReportError(f"report '{path}' has schema version {version!r}, which this edgekit cannot read; "
                          f"readable: {SCHEMA_VERSION}")
    if report.get("kind") not in KINDS:
        raise ReportError(f"report '{path}' has kind {report.get('kind')!r}; valid: {', '.join(KINDS)}")
    for field in ("machine", "settings", "artefacts", "configs"):
        if field not in report:
            raise ReportError(f"report '{path}' lacks the field {field!r}; it is damaged or not from edgekit")
    check_report(report, str(path))
    return report


@dataclass(frozen=True)
class Report:
    """A bench or claim report: the JSON document with its raw samples (`document`), and where it was read
    from or saved to. Every view (edgekit.views) renders the document."""
    document: dict
    path: Path | None = None

    @property
    def kind(self) -> str:
        return self.document["kind"]

    @property
    def configs(self) -> list[dict]:
        return self.document["configs"]

    @property
    def artefacts(self) -> list[dict]:
        return self.document["artefacts"]

    def save(self, path: Path | str, *, force: bool = False) -> Report:
        """Write the report to `path`; an existing file is replaced only with force and only when it is an
        edgekit report (checked again here: it may have appeared while measuring)."""
        check_report_out(path, force=force)
        return Report(self.document, save_report(self.document, path))

    @classmethod
    def load(cls, path: Path | str) -> Report:
        return cls(load_report(path), Path(path))
