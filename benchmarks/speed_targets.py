"""Speed of every target for random:distilroberta-base against PyTorch FP32 eager and onnx-fp32.

Batch 1, sequence 128 (real text, no padding), 2 threads by default; all runtimes are timed in one
process, interleaved round by round, with ONNX Runtime thread spinning off. Writes
benchmarks/results/speed_targets.{json,md}. Random weights: the latencies are real, the outputs are not.

    .venv/bin/python benchmarks/speed_targets.py [--rounds 60] [--targets a,b] [--rebuild]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import WORK, write_results, interleaved, machine, paired_ratio, summary  # noqa: E402

MODEL = "random:distilroberta-base"
GOALS = {  # (slower, faster): minimum speed-up the project promises (issue 3)
    ("pytorch-fp32-eager", "onnxruntime-int8"): 3.5, ("pytorch-fp32-eager", "openvino-int8"): 3.5,
    ("onnx-fp32", "onnxruntime-int8"): 2.5, ("onnx-fp32", "openvino-int8"): 2.5,
    ("onnx-fp32", "onnxruntime-fp32"): 1.0,
}


def build(target: str, rebuild: bool) -> Path:
    from edgekit import api

    out = WORK / f"distilroberta-{target}"
    if rebuild or not (out / "edgekit.json").is_file():
        api.export(model=MODEL, target=target, out=out, force=True, quiet=False)
    return out


def long_text_ids(tokenizer, length: int):
    from edgekit.corpus import load_corpus

    text = " ".join(load_corpus()[:200])  # real sentences, far longer than `length` tokens
    return tokenizer(text, truncation=True, max_length=length, return_tensors="np")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="onnx-fp32,onnxruntime-fp32,onnxruntime-int8,openvino-fp32,openvino-int8")
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()

    import torch

    from edgekit.inference import open_runner
    from edgekit.random_models import RANDOM_WEIGHTS_NOTE, build_random
    from edgekit.record import read_record

    torch.set_num_threads(args.threads)
    model, tokenizer = build_random(MODEL, "AutoModelForSequenceClassification")
    encoded = long_text_ids(tokenizer, args.seq_len)
    feeds = {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}
    torch_feeds = {k: torch.from_numpy(v) for k, v in feeds.items()}

    def torch_run():
        with torch.inference_mode():
            model(**torch_feeds)

    runners = {"pytorch-fp32-eager": torch_run}
    records = {}
    for target in args.targets.split(","):
        out = build(target, args.rebuild)
        record = read_record(out)
        precision = record.get("openvino", {}).get("inference_precision")
        run = open_runner(out / record["model_file"], threads=args.threads, precision=precision)
        runners[target] = lambda run=run: run(feeds)
        records[target] = {"dir": str(out.relative_to(WORK.parent.parent)), "precision": precision,
                           "quantization": record.get("quantization", {}).get("chosen")}

    samples = interleaved(runners, rounds=args.rounds, warmup=args.warmup)
    ratios = {}
    for (slow, fast), goal in GOALS.items():
        if slow in samples and fast in samples:
            ratio = paired_ratio(samples[slow], samples[fast])
            ratios[f"{slow} / {fast}"] = {**ratio, "goal": goal, "met": ratio["median"] >= goal}
    result = {
        "schema": "edgekit.bench.speed_targets/1", "model": MODEL, "warning": RANDOM_WEIGHTS_NOTE,
        "config": {"batch": 1, "seq_len": args.seq_len, "threads": args.threads, "rounds": args.rounds,
                   "warmup": args.warmup, "ort_spinning": False, "order": "interleaved, shuffled per round"},
        "machine": machine(), "artefacts": records,
        "latency_ms": {name: summary(values) for name, values in samples.items()},
        "speedups": ratios, "samples_ms": samples,
    }
    write_results("speed_targets", result, render)


def render(result: dict) -> str:
    cfg, m = result["config"], result["machine"]
    lines = [f"### Target latency: {result['model']} (random weights), batch {cfg['batch']}, "
             f"sequence {cfg['seq_len']}, {cfg['threads']} threads",
             "", f"Machine: {m['cpu']}, {m['cores']} cores, ISA {' '.join(m['isa'])}; commit {m['git_commit']}; "
             f"{cfg['rounds']} interleaved rounds.", "",
             "| runtime | median ms | p10 | p90 |", "|---|---:|---:|---:|"]
    for name, s in result["latency_ms"].items():
        lines.append(f"| {name} | {s['median']:.1f} | {s['p10']:.1f} | {s['p90']:.1f} |")
    lines += ["", "| speed-up | median of paired ratios | 95% CI | p10-p90 | goal | met |", "|---|---:|---|---|---:|---|"]
    for name, r in result["speedups"].items():
        lines.append(f"| {name} | {r['median']:.2f}x | {r['ci95'][0]:.2f}-{r['ci95'][1]:.2f} | "
                     f"{r['p10']:.2f}-{r['p90']:.2f} | {r['goal']:.1f}x | {'yes' if r['met'] else 'NO'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
