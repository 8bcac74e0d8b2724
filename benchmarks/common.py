"""Shared by the benchmark scripts: where artefacts are built, and how results are written.

The measuring itself is edgekit's own harness (edgekit.bench), so these tables and `edgekit bench` agree
on method: interleaved rounds, settle pauses, raw samples kept.
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
WORK = Path(__file__).resolve().parent / ".work"  # built artefacts; git-ignored
MODEL = "random:distilroberta-base"


def machine() -> dict:
    from edgekit.measure.machine import machine_record

    return machine_record(threads_used=[])


def build(target: str, *, model: str = MODEL, rebuild: bool = False) -> Path:
    """The artefact for (model, target) under .work/, reused while this edgekit code, its recipe and checksums
    hold. Named as `edgekit claim` names them, so the claim reuses these builds."""
    from edgekit import api
    from edgekit.build.sources import resolve_source

    out = WORK / f"{resolve_source(model).slug}-{target}"
    if rebuild:
        return api.export(model=model, target=target, out=out, force=True).out_dir
    return api.export_or_reuse(model=model, target=target, out=out)


def write_results(name: str, result: dict, render) -> None:
    """One result format (JSON with the raw data), and its Markdown view beside it; prints the view."""
    from edgekit.measure.result import save_report

    RESULTS.mkdir(parents=True, exist_ok=True)
    if result.get("schema") == "edgekit.report":
        save_report(result, RESULTS / f"{name}.json")
    else:
        (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    (RESULTS / f"{name}.md").write_text(render(result))
    print(render(result))
