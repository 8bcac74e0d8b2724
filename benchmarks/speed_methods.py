"""Do issue 3's speed-ups depend on how the calls are timed? The same artefacts as speed_targets.py, timed
interleaved in one run under each of three methods, one after the other:

- occasional: one call per turn, a 50 ms pause after it, ONNX Runtime spinning on (speed_targets' method:
  every call starts after other models ran and the machine idled, as an app's occasional call does);
- serving loop: five back-to-back calls per turn, the pause after the turn (warm, steady-state latency);
- no pause: one call per turn, no pause, spinning off (nothing idles between calls).

Also written: how much of the machine's INT8 matrix-multiply peak (measured in the same run) each INT8
artefact reaches end to end, against the fraction that 3.5x faster than PyTorch would need.
Writes benchmarks/results/speed_methods.{json,md}.

    .venv/bin/python benchmarks/speed_methods.py [--runs 60]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import build, machine, write_results
from speed_targets import GOALS, PYTORCH, TARGETS, goal_ratios

METHODS = {  # name: (calls per turn, settle ms, ORT spinning)
    "occasional": (1, 50.0, True),
    "serving loop": (5, 50.0, True),
    "no pause": (1, 0.0, False),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60, help="rounds per method")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from edgekit.measure.flops import flops_per_sequence, skipped_by_record
    from edgekit.measure.probe import measure_peaks
    from edgekit.measure.runner import Timing, bench

    from edgekit.build.artefact import open_artefact

    dirs = [build(t) for t in TARGETS]
    first = open_artefact(dirs[0])  # every target is built from the same model
    peaks = measure_peaks(threads=args.threads)
    from datetime import datetime, timezone

    result = {"schema": "edgekit.speed_methods", "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "machine": machine(), "peaks": peaks, "threads": args.threads, "runs": args.runs,
              "random_weights": first.record.random_weights,
              # per artefact: those that prune rows skip part of the last layer (see edgekit.measure.flops)
              "flops_per_sequence": {
                  target: flops_per_sequence(config=first.config(), seq_len=128,
                                             **skipped_by_record(open_artefact(d).record))
                  for target, d in zip(TARGETS, dirs)}, "methods": {}}
    for name, (calls, settle_ms, spinning) in METHODS.items():
        print(f"== {name}", flush=True)
        report = bench(artefacts=dirs, batch_sizes=[1], seq_lens=[128], threads=[args.threads], reference=True,
                       isolate=False, probe_peaks=False, quiet=True,
                       timing=Timing(warmup=10, runs=args.runs, settle_ms=settle_ms, spinning=spinning,
                                     calls_per_turn=calls))
        p50 = {c["artefact"]: c["stats"]["p50"] for c in report["configs"]}
        result["methods"][name] = {"settings": report["settings"], "p50_ms": p50, "goals": goal_ratios(report),
                                   "samples_ms": {c["artefact"]: c["samples_ms"] for c in report["configs"]}}
    write_results("speed_methods", result, render)


def render(result: dict) -> str:
    names = list(result["methods"])
    goal_keys = [(slow, fast) for (slow, fast), goal in GOALS.items() if goal is not None]
    m = result["machine"]
    lines = [f"# Speed-ups under three timing methods (batch 1, sequence 128, {result['threads']} threads"
             f"{'; random weights' if result.get('random_weights') else ''})", "",
             f"Machine: {m['cpu']}, ISA {' '.join(m['isa'])}; commit {m['git_commit']}; created {result['created']}; "
             f"{result['runs']} interleaved rounds per method.", "",
             "Median of paired per-round ratios, 95% CI in brackets. Methods: " + "; ".join(
                 f"**{n}** = {c} call(s) per turn, {s:g} ms pause, ORT spinning {'on' if sp else 'off'}"
                 for n, (c, s, sp) in METHODS.items() if n in names) + ".", "",
             "| speed-up | goal | " + " | ".join(names) + " |", "|---|---:|" + "---:|" * len(names)]
    for slow, fast in goal_keys:
        cells = []
        for n in names:
            goal = next(g for g in result["methods"][n]["goals"] if (g["slow"], g["fast"]) == (slow, fast))
            r = goal["ratio"]
            cells.append(f"{r['median']:.2f}x [{r['ci95'][0]:.2f}, {r['ci95'][1]:.2f}]")
        lines.append(f"| {slow} / {fast} | {GOALS[slow, fast]:.1f}x | " + " | ".join(cells) + " |")
    lines += ["", "p50 latency, ms:", "", "| artefact | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for artefact in [a for a in (PYTORCH, *TARGETS) if a in result["methods"][names[0]]["p50_ms"]]:
        lines.append(f"| {artefact} | " + " | ".join(f"{result['methods'][n]['p50_ms'][artefact]:.1f}"
                                                    for n in names) + " |")
    peak = result["peaks"]["int8_gops"]
    gops = {t: result["flops_per_sequence"][t] / 1e9 for t in ("onnxruntime-int8", "openvino-int8")}
    lines += ["", f"INT8 end to end against this run's INT8 matrix-multiply peak ({peak:.0f} GOP/s, "
              f"{result['peaks']['method']}); per sequence onnxruntime-int8 does {gops['onnxruntime-int8']:.2f} GOP "
              f"and openvino-int8 {gops['openvino-int8']:.2f} (what prune-rows skips is left out):", "",
              "| method | PyTorch p50 ms | INT8 p50 needed for 3.5x | onnxruntime-int8: fraction of peak needed "
              "| reached | openvino-int8: fraction of peak needed | reached |", "|---|---:|---:|---:|---:|---:|---:|"]
    for n in names:
        p50 = result["methods"][n]["p50_ms"]
        needed_ms = p50[PYTORCH] / 3.5
        cells = [f"{gops[t] / (needed_ms / 1e3) / peak:.0%} | {gops[t] / (p50[t] / 1e3) / peak:.0%}" for t in gops]
        lines.append(f"| {n} | {p50[PYTORCH]:.1f} | {needed_ms:.1f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


TITLE = "The speed-ups under three timing methods (occasional call, serving loop, no pause)"


def summary(result: dict) -> str:
    parts = []
    for method, entry in result["methods"].items():
        goal = next(g for g in entry["goals"] if g["fast"] == "onnxruntime-int8")
        parts.append(f"{method}: PyTorch / onnxruntime-int8 {goal['ratio']['median']:.2f}x")
    return "; ".join(parts)


if __name__ == "__main__":
    main()
