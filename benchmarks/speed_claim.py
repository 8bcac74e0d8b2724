"""The model card's claim, "DistilRoBERTa is on average twice as fast as RoBERTa-base", checked in
PyTorch FP32, onnx-fp32, onnxruntime-int8 and openvino-int8 with `edgekit claim` (random weights: speed
does not depend on the weights' values). Batch 1 and 8, sequence 16 to 512, 2 threads.

Writes benchmarks/results/speed_claim.{json,md}.

    .venv/bin/python benchmarks/speed_claim.py [--runs 10]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import WORK, write_results  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seq-lens", default="16,32,64,128,256,512")
    parser.add_argument("--batch-sizes", default="1,8")
    args = parser.parse_args()

    from edgekit.measure.claim import claim
    from edgekit.measure.runner import Timing

    report = claim(batch_sizes=[int(b) for b in args.batch_sizes.split(",")],
                   seq_lens=[int(s) for s in args.seq_lens.split(",")], threads=args.threads,
                   timing=Timing(warmup=2, runs=args.runs), work_dir=WORK)
    write_results("speed_claim", report, render)


def render(report: dict) -> str:
    from edgekit.views.text import render_markdown

    return render_markdown(report)


TITLE = "The model card's claim: DistilRoBERTa twice as fast as RoBERTa-base"


def summary(result: dict) -> str:
    overall = result["claim"]["overall"]
    return (f"overall {overall['median']:.2f}x [{overall['ci95'][0]:.2f}, {overall['ci95'][1]:.2f}] over "
            f"{overall['configurations']} configurations: {result['claim']['verdict']}")


if __name__ == "__main__":
    main()
