"""Intel Neural Compressor's INT8 program as an ONNX Runtime candidate: the pytorch-int8 artefact's saved program
(INC PT2E static INT8, int8 weights folded) exported with torch.onnx.export(dynamo=True) to an ONNX QDQ model,
then run by ONNX Runtime beside edgekit's onnxruntime-int8, on random:distilroberta-base.

Reported: whether it exports and runs, its ops, size, fidelity against onnx-fp32 on held-out right-padded
sentences (max |diff| of the logits, top-1 agreement), and its latency against onnxruntime-int8 at batch 1,
sequence 128, 2 threads, interleaved. Writes benchmarks/results/inc_qdq.{json,md}.

    .venv/bin/python benchmarks/inc_qdq.py [--runs 40] [--sentences 200]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import build, machine, write_results  # noqa: E402

TITLE = "Neural Compressor's INT8 program exported to ONNX QDQ, as an ONNX Runtime candidate"
NAMES = ("onnxruntime-int8", "INC program as ONNX QDQ", "onnx-fp32")


def export_qdq(program_path: Path, dst: Path, example: dict[str, np.ndarray]) -> dict:
    import onnx
    import torch

    from edgekit.runtime.torch_program import load_program

    program, interface = load_program(program_path)
    args = tuple(torch.from_numpy(example[name]) for name in interface["inputs"])
    start = time.perf_counter()
    torch.onnx.export(program, args, dynamo=True, input_names=interface["inputs"],
                      output_names=interface["outputs"]).save(str(dst))
    graph = onnx.load(str(dst), load_external_data=False).graph
    ops: dict[str, int] = {}
    for node in graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    return {"seconds": time.perf_counter() - start, "ops": dict(sorted(ops.items(), key=lambda kv: -kv[1])),
            "inputs": {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in graph.input},
            "size_mb": sum(p.stat().st_size for p in dst.parent.iterdir()) / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--sentences", type=int, default=200)
    args = parser.parse_args()

    from edgekit.build.artefact import open_artefact
    from edgekit.build.corpus import held_out_texts, load_corpus
    from edgekit.build.timing import Timing, interleave
    from edgekit.measure.feeds import fixed_length_feeds, load_tokenizer, padded_batches
    from edgekit.measure.stats import latency_stats, paired_ratio
    from edgekit.runtime.sessions import open_runner

    artefacts = {t: open_artefact(build(t)) for t in ("onnxruntime-int8", "pytorch-int8", "onnx-fp32")}
    tokenizer = load_tokenizer(artefacts["onnxruntime-int8"])
    feeds = fixed_length_feeds(tokenizer, load_corpus(), batch=1, seq_len=128)
    with tempfile.TemporaryDirectory(prefix="edgekit-inc-qdq-") as tmp:
        qdq = Path(tmp) / "model.onnx"
        exported = export_qdq(artefacts["pytorch-int8"].model_path, qdq, feeds)
        runners = {"onnxruntime-int8": open_runner(artefacts["onnxruntime-int8"].model_path, threads=2, spinning=True),
                   "INC program as ONNX QDQ": open_runner(qdq, threads=2, spinning=True),
                   "onnx-fp32": open_runner(artefacts["onnx-fp32"].model_path, threads=2, spinning=True)}
        batches = padded_batches(artefacts["onnxruntime-int8"], tokenizer, held_out_texts(args.sentences),
                                 batch_size=8, max_length=128)
        reference = [runners["onnx-fp32"](b)["logits"] for b in batches]
        fidelity = {}
        for name in NAMES[:2]:
            logits = [runners[name](b)["logits"] for b in batches]
            fidelity[name] = {"max_abs_diff": max(float(np.abs(a - r).max()) for a, r in zip(logits, reference)),
                              "top1_agreement": float(np.mean(np.concatenate(
                                  [a.argmax(-1) == r.argmax(-1) for a, r in zip(logits, reference)])))}
        samples = interleave(runners, {name: feeds for name in runners}, Timing(warmup=5, runs=args.runs))
    result = {"schema": "edgekit.bench.inc_qdq/1", "machine": machine(), "model": "random:distilroberta-base",
              "random_weights": True, "runs": args.runs, "sentences": args.sentences, "export": exported,
              "sizes_mb": {"onnxruntime-int8": artefacts["onnxruntime-int8"].size_bytes / 1e6,
                           "pytorch-int8 (.pt2)": artefacts["pytorch-int8"].size_bytes / 1e6},
              "fidelity": fidelity, "samples_ms": samples,
              "stats": {name: latency_stats(values) for name, values in samples.items()},
              "qdq_over_ort_int8": paired_ratio(samples["INC program as ONNX QDQ"], samples["onnxruntime-int8"])}
    write_results("inc_qdq", result, render)


def render(result: dict) -> str:
    m, e, r = result["machine"], result["export"], result["qdq_over_ort_int8"]
    lines = [f"# {TITLE}", "", f"Machine: {m['cpu']}, ISA {' '.join(m['isa'])}; commit {m['git_commit']}; "
             f"{result['model']} (RANDOM WEIGHTS: fidelity to FP32 only); batch 1, sequence 128, 2 threads, "
             f"{result['runs']} interleaved rounds.", "",
             f"Export: torch.onnx.export(dynamo=True) of the pytorch-int8 program in {e['seconds']:.0f} s, inputs "
             f"{e['inputs']}, {e['size_mb']:.1f} MB; ops: " + ", ".join(f"{k} {v}" for k, v in e["ops"].items()), "",
             "| model | p50 ms | p90 ms | max abs diff vs onnx-fp32 | top-1 agreement |", "|---|--:|--:|--:|--:|"]
    for name, stats in result["stats"].items():
        f = result["fidelity"].get(name, {})
        lines.append(f"| {name} | {stats['p50']:.1f} | {stats['p90']:.1f} | "
                     f"{f.get('max_abs_diff', 0):.4f} | {f.get('top1_agreement', 1):.3f} |")
    lines += ["", f"INC as ONNX QDQ / onnxruntime-int8 latency: {r['median']:.2f}x [{r['ci95'][0]:.2f}, "
              f"{r['ci95'][1]:.2f}] (above 1: slower). Sizes: onnxruntime-int8 "
              f"{result['sizes_mb']['onnxruntime-int8']:.1f} MB, the QDQ model {e['size_mb']:.1f} MB."]
    return "\n".join(lines) + "\n"


def summary(result: dict) -> str:
    r = result["qdq_over_ort_int8"]
    return (f"exports and runs in ONNX Runtime; {r['median']:.2f}x onnxruntime-int8's latency, "
            f"{result['export']['size_mb']:.0f} MB against {result['sizes_mb']['onnxruntime-int8']:.0f} MB")


if __name__ == "__main__":
    main()
