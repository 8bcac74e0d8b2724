"""Edge sizes: every file of every target's artefact for random:distilroberta-base, against the size goals.

Reads each artefact's own record (the bytes and sha256 of every file it wrote), built by the current code
(the same builds benchmarks/targets_matrix.py times; built here if missing). What a device downloads for one
runtime is the model file and its weights: for onnxruntime-int8-arm64 that is either model.onnx (+ data) or the
mobile model.ort, never both, so that target's two forms are shown apart.
Writes benchmarks/results/sizes.{json,md}.

    .venv/bin/python benchmarks/sizes.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import build, machine, write_results  # noqa: E402

TITLE = "Edge sizes: every file of every target (random:distilroberta-base)"
GOAL_MB = 90.0  # the INT8 artefacts an app ships (issue 17)
WEIGHT_SUFFIXES = (".onnx", ".ort", ".bin", ".data", ".xml")


def _forms(target: str, files: dict[str, int]) -> dict[str, list[str]]:
    """Which files one deployment of the artefact needs, per form (the .ort form drops the .onnx files)."""
    model = [name for name in files if name.endswith(WEIGHT_SUFFIXES)]
    if "model.ort" in files:
        return {"onnx": [n for n in model if n != "model.ort"], "ort": ["model.ort"]}
    return {"model": model}


def main() -> None:
    from edgekit.build.artefact import open_artefact
    from edgekit.build.targets import all_targets

    rows = []
    for target in all_targets():
        artefact = open_artefact(build(target.name))
        files = {name: int(entry["bytes"]) for name, entry in artefact.record.files.items()}
        goal = GOAL_MB if target.precision == "int8" else None
        for form, names in _forms(target.name, files).items():
            mb = sum(files[n] for n in names) / 1e6
            rows.append({"target": target.name, "precision": target.precision, "form": form, "files": names,
                         "model_mb": round(mb, 2), "artefact_mb": round(sum(files.values()) / 1e6, 2),
                         "goal_mb": goal, "met": None if goal is None else mb <= goal,
                         "chosen": artefact.record.quantization_method,
                         "random_weights": artefact.record.random_weights})
    write_results("sizes", {"schema": "edgekit.sizes", "machine": machine(), "model": "random:distilroberta-base "
                            "(random weights: sizes are real, outputs meaningless)", "rows": rows}, render)


def render(result: dict) -> str:
    lines = [f"# {TITLE}", "", f"{result['model']}; commit {result['machine'].get('git_commit')}. Model MB: the "
             "files one deployment needs (tokenizer files aside); goal for INT8: <= 90 MB.", "",
             "| target | precision | form | model files | model MB | whole artefact MB | goal | met |",
             "|---|---|---|---|--:|--:|--:|---|"]
    for r in result["rows"]:
        goal = f"<= {r['goal_mb']:.0f}" if r["goal_mb"] else ""
        met = "" if r["met"] is None else ("yes" if r["met"] else "**no**")
        lines.append(f"| {r['target']} | {r['precision']} | {r['form']} | {', '.join(r['files'])} | "
                     f"{r['model_mb']:.1f} | {r['artefact_mb']:.1f} | {goal} | {met} |")
    return "\n".join(lines) + "\n"


def summary(result: dict) -> str:
    goals = [r for r in result["rows"] if r["goal_mb"]]
    met = sum(r["met"] for r in goals)
    return f"{met}/{len(goals)} INT8 forms <= 90 MB: " + ", ".join(
        f"{r['target']}{' .ort' if r['form'] == 'ort' else ''} {r['model_mb']:.0f}" for r in goals)


if __name__ == "__main__":
    main()
