"""Where onnxruntime-int8's time goes, and how far its integer MatMuls sit from their own speed in isolation.

Issue 3 asks onnxruntime-int8 to be 3.5x faster than PyTorch FP32 eager. This script says why it is or is
not, from measurements taken in one run on random:distilroberta-base (batch 1, sequence 128 real tokens):

1. the speed-up itself, with edgekit's harness (interleaved, paired ratios), as benchmarks/speed_targets.py;
2. ORT's per-node profile of the same artefact: milliseconds per op type;
3. each integer MatMul shape timed alone in its own session, its weight in cache, two ways: interleaved with
   the profiled calls and after the same settle pause (like for like), and back to back in a tight loop
   (the kernel's top speed);
4. what the speed-up would be if every integer MatMul, the QKV projections inside QAttention included, took
   its time alone and everything else what the profile says. A best case, not a forecast.

Writes benchmarks/results/ort_int8_budget.{json,md}.

    .venv/bin/python benchmarks/ort_int8_budget.py [--runs 60] [--profile-runs 60]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import MODEL, build, write_results  # noqa: E402

TARGET = "onnxruntime-int8"
PYTORCH = f"pytorch-fp32 ({MODEL})"
GOAL = 3.5
PAUSED_CALLS = 5  # alone, after the same settle pause as each model call; the first call re-warms the cache
TIGHT_CALLS = 200  # alone, back to back: the kernel's top speed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60, help="interleaved rounds for the speed-up")
    parser.add_argument("--profile-runs", type=int, default=60, help="profiled calls of the artefact")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from edgekit.build.artefact import open_artefact
    from edgekit.measure.feeds import fixed_length_feeds, load_tokenizer
    from edgekit.measure.op_profile import hot_int8_matmul, int8_matmul_shape, profile_nodes
    from edgekit.measure.runner import Timing, bench
    from edgekit.measure.stats import paired_ratio
    from edgekit.build.corpus import load_corpus

    directory = build(TARGET)
    report = bench(artefacts=[directory], batch_sizes=[1], seq_lens=[128], threads=[args.threads],
                   reference=True, timing=Timing(warmup=10, runs=args.runs))
    samples = {c["artefact"]: c["samples_ms"] for c in report["configs"]}
    p50 = {c["artefact"]: c["stats"]["p50"] for c in report["configs"]}
    artefact = open_artefact(directory)
    feeds = fixed_length_feeds(load_tokenizer(artefact), load_corpus(), batch=1, seq_len=128)
    # One short profile finds the integer MatMul shapes; the real one interleaves their alone timings with it.
    first = profile_nodes(artefact.model_path, feeds, threads=args.threads, runs=1, warmup=0)
    shapes = sorted({s for s in map(int8_matmul_shape, first) if s})
    timers = {shape: hot_int8_matmul(shape, threads=args.threads, calls=PAUSED_CALLS) for shape in shapes}
    paused_samples: dict[tuple, list[float]] = {shape: [] for shape in shapes}
    settle_s = Timing().settle_ms / 1e3  # spinning ORT threads of one session must not run into the next

    def time_alone_after_pause() -> None:
        for shape, timer in timers.items():
            time.sleep(settle_s)
            paused_samples[shape].append(timer())
        time.sleep(settle_s)

    warmup = 10
    nodes = profile_nodes(artefact.model_path, feeds, threads=args.threads, runs=args.profile_runs,
                          warmup=warmup, between=time_alone_after_pause)
    alone = {"after a pause": {shape: statistics.median(v[warmup:]) for shape, v in paused_samples.items()},
             "tight loop": {shape: hot_int8_matmul(shape, threads=args.threads, calls=TIGHT_CALLS)()
                            for shape in shapes}}
    speed_up = paired_ratio(samples[PYTORCH], samples[TARGET])
    result = {
        "schema": "edgekit.ort_int8_budget", "model": MODEL, "target": TARGET, "weights": "random",
        "machine": report["machine"], "git_commit": report["machine"].get("git_commit"), "created": report["created"],
        "settings": {"batch": 1, "seq_len": 128, "threads": args.threads, "runs": args.runs,
                     "profile_runs": args.profile_runs, "settle_ms": Timing().settle_ms,
                     "paused_calls": PAUSED_CALLS, "tight_calls": TIGHT_CALLS},
        "p50_ms": p50, "samples_ms": samples, "speed_up": speed_up, "goal": GOAL, "nodes": nodes,
        "alone_ms": {method: [{"shape": list(s), "ms": ms} for s, ms in times.items()]
                     for method, times in alone.items()},
        "budget": {method: budget(nodes, times, speed_up["median"]) for method, times in alone.items()},
    }
    write_results("ort_int8_budget", result, render)


def budget(nodes: list[dict], alone: dict[tuple, float], speed_up: float) -> dict:
    """The profiled time split into integer MatMuls and the rest, and the speed-up if every integer MatMul
    took its time alone. QAttention's projection cannot be timed apart inside the model, so it is taken to
    differ from its time alone as much as the other integer MatMuls do (stated in the report)."""
    from edgekit.measure.op_profile import int8_matmul_shape

    total = sum(n["ms"] for n in nodes)
    matmuls = [n for n in nodes if int8_matmul_shape(n) and n["op_type"] != "QAttention"]
    attention = [n for n in nodes if int8_matmul_shape(n) and n["op_type"] == "QAttention"]
    matmul_ms = sum(n["ms"] for n in matmuls)
    matmul_alone_ms = sum(alone[int8_matmul_shape(n)] for n in matmuls)
    in_model = matmul_ms / matmul_alone_ms if matmul_alone_ms else 1.0
    projection_alone_ms = sum(alone[int8_matmul_shape(n)] for n in attention)
    attention_ms = sum(n["ms"] for n in attention)
    best_ms = total - (matmul_ms - matmul_alone_ms) - (in_model - 1.0) * projection_alone_ms
    return {
        "profiled_ms": total, "int8_matmul_ms": matmul_ms, "int8_matmul_alone_ms": matmul_alone_ms,
        "in_model_over_alone": in_model, "qattention_ms": attention_ms,
        "qattention_projection_alone_ms": projection_alone_ms,
        "qattention_rest_ms": attention_ms - in_model * projection_alone_ms,
        "other_ms": total - matmul_ms - attention_ms, "best_case_ms": best_ms,
        "best_case_speed_up": speed_up * total / best_ms,
        "needed_ms": total * speed_up / GOAL,  # profiled total scaled to the goal
    }


def render(result: dict) -> str:
    from edgekit.measure.op_profile import by_op_type, int8_matmul_shape

    r = result["speed_up"]
    total = sum(n["ms"] for n in result["nodes"])
    lines = [
        f"# Where {result['target']} spends its time ({result['model']}, random weights)", "",
        f"Batch 1, sequence 128 real tokens, {result['settings']['threads']} threads; commit "
        f"{result['git_commit']}. Random weights: this is about speed, not accuracy.", "",
        "## Speed-up over PyTorch FP32 eager (edgekit's interleaved harness)", "",
        f"- p50: PyTorch {result['p50_ms'][PYTORCH]:.2f} ms, {result['target']} {result['p50_ms'][result['target']]:.2f} ms",
        f"- median of paired ratios: **{r['median']:.2f}x** [{r['ci95'][0]:.2f}, {r['ci95'][1]:.2f}] "
        f"(goal {result['goal']:.1f}x: {'met' if r['median'] >= result['goal'] else 'not met'})", "",
        f"## Profile ({result['settings']['profile_runs']} profiled calls, median per node, summed)", "",
        "| op type | ms | share |", "|---|--:|--:|"]
    lines += [f"| {op} | {ms:.3f} | {ms / total:.1%} |" for op, ms in by_op_type(result["nodes"]).items()
              if ms / total >= 0.005]
    lines += [f"| all nodes | {total:.3f} | 100% |", "", "## Integer MatMuls: in the model against alone", "",
              "ms each (GOP/s). Alone: the same MatMul in its own session, weight in cache, timed interleaved "
              "with the profiled calls after a settle pause, and back to back in a tight loop.", "",
              "| op | M x K x N | nodes | in the model (median) | alone, after a pause | alone, tight loop |",
              "|---|---|--:|--:|--:|--:|"]
    alone = {method: {tuple(a["shape"]): a["ms"] for a in times} for method, times in result["alone_ms"].items()}
    groups: dict[tuple, list[float]] = {}
    for node in result["nodes"]:
        shape = int8_matmul_shape(node)
        if shape:
            groups.setdefault((node["op_type"], shape), []).append(node["ms"])
    for (op, (m, k, n)), times in sorted(groups.items(), key=lambda item: -sum(item[1])):
        each = sorted(times)[len(times) // 2]
        mop = 2.0 * m * k * n / 1e6  # MOP; / ms = GOP/s
        paused, tight = alone["after a pause"][(m, k, n)], alone["tight loop"][(m, k, n)]
        lines.append(f"| {op} | {m} x {k} x {n} | {len(times)} | {each:.3f} ({mop / each:.0f}) | "
                     f"{paused:.3f} ({mop / paused:.0f}) | {tight:.3f} ({mop / tight:.0f}) |")
    lines += ["", "QAttention's row counts its whole time: the QKV projection and the FP32 attention around it.",
              "", "## Best case", ""]
    for method, b in result["budget"].items():
        lines.append(
            f"- **Every integer MatMul at its time alone, {method}**: {b['best_case_ms']:.2f} ms, a speed-up of "
            f"**{b['best_case_speed_up']:.2f}x**. In the model the MatMuls outside attention take "
            f"{b['in_model_over_alone']:.2f}x their time alone ({b['int8_matmul_ms']:.2f} against "
            f"{b['int8_matmul_alone_ms']:.2f} ms); QAttention's projections are taken to do the same, which leaves "
            f"{b['qattention_rest_ms']:.2f} ms of FP32 attention.")
    b = next(iter(result["budget"].values()))
    lines += [
        f"- Everything that is not an integer MatMul or QAttention: {b['other_ms']:.2f} ms.",
        f"- The goal needs the profiled total to fall from {b['profiled_ms']:.2f} to {b['needed_ms']:.2f} ms "
        f"({1 - b['needed_ms'] / b['profiled_ms']:.1%} less).",
        "- \"After a pause\" is like for like: each model call also starts after the harness's settle pause. "
        "\"Tight loop\" is the kernel's top speed, which no call of the model gets. Neither is a forecast.", ""]
    return "\n".join(lines)


TITLE = "Where onnxruntime-int8 spends its time (ORT's per-node profile)"


def summary(result: dict) -> str:
    budget = result["budget"]["after a pause"]
    return (f"integer MatMuls {budget['int8_matmul_ms']:.1f} of {budget['profiled_ms']:.1f} profiled ms "
            f"({budget['in_model_over_alone']:.2f}x their time alone)")


if __name__ == "__main__":
    main()
