"""The targets matrix: every edgekit target for random:distilroberta-base, plus PyTorch FP32 eager, at
batch 1 and 8 and sequence 16 to 256, 2 threads, measured with `edgekit bench`. ARM targets run here on
x86 for completeness; their speed on x86 is not what they are built for (the report warns).

Writes benchmarks/results/targets_matrix.{json,md} (the JSON is an edgekit report: render it with
`edgekit report benchmarks/results/targets_matrix.json --format html`).

    .venv/bin/python benchmarks/targets_matrix.py [--runs 10] [--rebuild]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import build, write_results  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seq-lens", default="16,32,64,128,256")
    parser.add_argument("--batch-sizes", default="1,8")
    parser.add_argument("--eval-texts", type=int, default=256, help="held-out corpus texts for fidelity")
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()

    from edgekit.measure.runner import Timing, bench
    from edgekit.build.targets import all_targets

    dirs = [build(t.name, rebuild=args.rebuild) for t in all_targets()]
    report = bench(artefacts=dirs, batch_sizes=[int(b) for b in args.batch_sizes.split(",")],
                   seq_lens=[int(s) for s in args.seq_lens.split(",")], threads=[args.threads], reference=True,
                   timing=Timing(warmup=2, runs=args.runs), eval_data=f"corpus:{args.eval_texts}")
    write_results("targets_matrix", report, render)


def render(report: dict) -> str:
    from edgekit.views.text import render_markdown

    return render_markdown(report)


TITLE = "Every target: size, load, memory, latency over batch and length, fidelity"


def summary(result: dict) -> str:
    return "size MB: " + ", ".join(f"{a['name'].split(' (')[0]} {a['size_bytes'] / 1e6:.0f}"
                                   for a in result["artefacts"] if a.get("size_bytes"))


if __name__ == "__main__":
    main()
