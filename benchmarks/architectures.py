"""The architecture table: every supported encoder type × every target, on tiny random checkpoints
(edgekit/build/tiny_checkpoints.py, text-classification head): which exporter wrote the graph, what ONNX
Runtime fused, and fidelity to PyTorch FP32 (max |diff| of the logits, top-1 agreement) on held-out text.
Targets an architecture cannot use are listed with the registry's reason. Tiny random models: the figures
show that each build is correct, not how accurate a trained model stays.
Writes benchmarks/results/architectures.{json,md}; the README's table is rendered from the JSON.

    .venv/bin/python benchmarks/architectures.py [--samples 32]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, write_results  # noqa: E402

TITLE = "Architectures × targets (tiny random checkpoints)"


def main() -> None:
    from edgekit import api
    from edgekit.build.architectures import get_architecture, model_types
    from edgekit.build.targets import target_names
    from edgekit.build.tiny_checkpoints import save_tiny_checkpoint
    from edgekit.errors import EdgekitError

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=32)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgekit-architectures-") as tmp:
        for model_type in model_types():
            arch = get_architecture(model_type)
            checkpoint = save_tiny_checkpoint(Path(tmp) / model_type, model_type, "text-classification")
            for target in target_names():
                row = {"model_type": model_type, "target": target}
                if target in arch.unsupported_targets:
                    rows.append({**row, "built": False, "reason": arch.unsupported_targets[target]})
                    continue
                try:
                    record = api.export(model=str(checkpoint), target=target, out=Path(tmp) / f"{model_type}-{target}",
                                        samples=args.samples, quiet=True).record.data
                except EdgekitError as error:  # a refused build is a row of the table, not the end of the run
                    rows.append({**row, "built": True, "passed": False, "error": str(error).splitlines()[0]})
                    print(model_type, target, "FAILED:", rows[-1]["error"], flush=True)
                    continue
                validation = record["validation"]
                # pytorch-int8 writes a torch.export program, no ONNX graph
                exporter = (record.get("graph") or {}).get("exporter", {}).get("name", "torch.export")
                rows.append({**row, "built": True, "passed": validation["passed"], "exporter": exporter,
                             "fused": {k: v for k, v in record.get("fusion", {}).get("counts", {}).items() if v},
                             "attention_not_fused": record.get("fusion", {}).get("attention_not_fused"),
                             "max_abs_diff": validation.get("max_abs_diff"),
                             "top1_agreement": validation.get("top1_agreement"),
                             "embeddings": record.get("embeddings", {}).get("chosen")})
                print(model_type, target, rows[-1]["passed"], flush=True)
    result = {"title": TITLE, "weights": "tiny random checkpoints", "random_weights": True,
              "samples": args.samples, "machine": machine(), "rows": rows}
    write_results("architectures", result, render)


def render(result: dict) -> str:
    targets = list(dict.fromkeys(row["target"] for row in result["rows"]))
    lines = [f"# {result['title']}", "",
             f"Tiny random checkpoints (2 layers, 32 hidden), text-classification head, {result['samples']} held-out "
             "texts; each cell: validation against PyTorch FP32 (max |diff| of logits, top-1 agreement). "
             "RANDOM WEIGHTS: fidelity only, not task accuracy.", "",
             "| model type | exporter | ORT fusions (onnxruntime targets) | " + " | ".join(targets) + " |",
             "|---|---|---|" + "---|" * len(targets)]
    for model_type in dict.fromkeys(row["model_type"] for row in result["rows"]):
        rows = {row["target"]: row for row in result["rows"] if row["model_type"] == model_type}
        fused_row = next((r for r in rows.values() if r.get("fused")), {})
        fused = ", ".join(f"{op} {n}" for op, n in fused_row.get("fused", {}).items()) or "—"
        if fused_row.get("attention_not_fused"):
            fused += f" (attention: {fused_row['attention_not_fused']})"
        exporters = sorted({r["exporter"] for r in rows.values() if r.get("exporter")})
        cells = [_cell(rows[t]) for t in targets]
        lines.append(f"| {model_type} | {', '.join(exporters)} | {fused} | " + " | ".join(cells) + " |")
    reasons = {row["reason"] for row in result["rows"] if not row["built"]}
    lines += [""] + [f"- not built: {reason}" for reason in sorted(reasons)]
    lines += [f"- FAILED {row['model_type']} {row['target']}: {row['error']}" for row in result["rows"] if row.get("error")]
    return "\n".join(lines) + "\n"


def _cell(row: dict) -> str:
    if not row["built"]:
        return "not supported"
    if not row["passed"]:
        return "FAILED"
    return f"ok, {row['max_abs_diff']:.0e}, {row['top1_agreement']:.0%}"


def summary(result: dict) -> str:
    built = [r for r in result["rows"] if r["built"]]
    passed = sum(1 for r in built if r["passed"])
    types = len({r["model_type"] for r in result["rows"]})
    return (f"{types} model types × {len({r['target'] for r in result['rows']})} targets: {passed} of {len(built)} "
            f"builds validate; {len(result['rows']) - len(built)} refused with a reason")


if __name__ == "__main__":
    main()
