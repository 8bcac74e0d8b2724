"""How edgekit.runtime cuts a list of texts into batches: padded tokens against time, end to end (text in, label
out), for max_padding values of runtime.load, timed interleaved on real held-out corpus sentences.

A batch is padded to its longest text; max_padding cuts a batch where the padding would exceed that share of its
real tokens (inf: batches of batch_size whatever their lengths, edgekit's behaviour before max_padding).
Writes benchmarks/results/batching.{json,md}.

    .venv/bin/python benchmarks/batching.py [--bundle DIR ...] [--sentences 32 128] [--runs 10]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import WORK, build, machine, write_results  # noqa: E402

PADDINGS = (float("inf"), 0.5, 0.25, 0.1, 0.05)
TARGETS = ("onnxruntime-int8", "openvino-int8")


def _name(padding: float) -> str:
    return "one batch per batch_size (inf)" if padding == float("inf") else f"max_padding {padding:g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, nargs="*", help="bundles to load (default: package this code's builds)")
    parser.add_argument("--sentences", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from edgekit import runtime
    from edgekit.build.bundle.package import package
    from edgekit.build.corpus import held_out_texts
    from edgekit.build.timing import Timing, interleave
    from edgekit.measure.stats import latency_stats, paired_ratio

    bundles = args.bundle or [package(artefact_dir=build(t), out=WORK / "bundles" / f"batching-{t}", force=True,
                                      quiet=True).bundle_dir for t in TARGETS]
    rows = []
    for bundle in bundles:
        models = {_name(p): runtime.load(bundle, threads=args.threads, max_padding=p) for p in PADDINGS}
        baseline = _name(float("inf"))
        for count in args.sentences:
            texts = held_out_texts(count)
            lengths = [len(e.ids) for e in models[baseline].encode(texts)]
            answers = {name: [r["label"] for r in m.predict(texts)] for name, m in models.items()}
            calls = {name: (lambda ts, m=m: m.predict(ts, batch_size=32)) for name, m in models.items()}
            samples = interleave(calls, {name: texts for name in calls}, Timing(warmup=2, runs=args.runs))
            for name, model in models.items():
                groups = model._groups(lengths, 32)
                rows.append({"bundle": bundle.name, "sentences": count, "policy": name, "batches": len(groups),
                             "padded_tokens": sum(len(g) * max(lengths[i] for i in g) for g in groups),
                             "real_tokens": sum(lengths), "same_answers": answers[name] == answers[baseline],
                             "stats": latency_stats(samples[name]),
                             "speedup": paired_ratio(samples[baseline], samples[name]), "samples_ms": samples[name]})
            print(f"{bundle.name} {count} sentences done", flush=True)
    result = {"schema": "edgekit.bench.batching/1", "machine": machine(), "threads": args.threads, "runs": args.runs,
              "random_weights": runtime.load(bundles[0]).manifest.get("random_weights"),
              "bundles": [str(b) for b in bundles], "rows": rows}
    write_results("batching", result, render)


def render(result: dict) -> str:
    m = result["machine"]
    lines = [f"# {TITLE}", "", f"Machine: {m['cpu']}, ISA {' '.join(m['isa'])}; commit {m['git_commit']}; "
             f"{result['threads']} threads, {result['runs']} interleaved rounds, batch_size 32, held-out corpus "
             "sentences. Speed-up: median of paired per-round ratios against one batch per 32 texts, 95% CI.", "",
             "| bundle | sentences | policy | batches | padded / real tokens | p50 ms | speed-up | same answers |",
             "|---|--:|---|--:|--:|--:|--:|---|"]
    for r in result["rows"]:
        s = r["speedup"]
        lines.append(f"| {r['bundle']} | {r['sentences']} | {r['policy']} | {r['batches']} | "
                     f"{r['padded_tokens'] / r['real_tokens']:.2f} | {r['stats']['p50']:.0f} | {s['median']:.2f}x "
                     f"[{s['ci95'][0]:.2f}, {s['ci95'][1]:.2f}] | {'yes' if r['same_answers'] else 'NO'} |")
    return "\n".join(lines) + "\n"


TITLE = "Batching in edgekit.runtime: padding-aware cuts against one padded batch"


def summary(result: dict) -> str:
    from edgekit.runtime.model import DEFAULT_MAX_PADDING

    chosen = [r for r in result["rows"] if r["policy"] == _name(DEFAULT_MAX_PADDING)]
    return f"max_padding {DEFAULT_MAX_PADDING:g} (the default): " + "; ".join(
        f"{r['bundle']} {r['sentences']} sentences {r['speedup']['median']:.2f}x" for r in chosen)


if __name__ == "__main__":
    main()
