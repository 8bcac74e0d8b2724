"""edgekit claim: is DistilRoBERTa "twice as fast as RoBERTa-base" in the same runtime and precision?

Both models are timed in the same rounds (interleaved, shuffled, with settle pauses), so each round gives
one paired ratio slow/fast per configuration; the report keeps every sample. A configuration's ratio is the
median of its paired ratios with a bootstrap 95% CI; a runtime's overall ratio is the geometric mean over
its configurations. The verdict against the threshold is "holds" when the whole CI is at or above it,
"does not hold" when it is all below, otherwise "inconclusive".
"""

from __future__ import annotations

import time
from pathlib import Path

from edgekit.build.progress import Progress
from edgekit.build.timing import Timing, interleave
from edgekit.errors import InputError, InvalidChoiceError
from edgekit.measure.result import artefact_entry, config_entry, new_report
from edgekit.measure.stats import geometric_mean_ratio, paired_ratio, verdict
from edgekit.runtime.sessions import check_threads

PYTORCH = "pytorch-fp32"
# Runtimes the claim can be checked on: PyTorch eager, or an edgekit target built for both models.
CLAIM_RUNTIMES = (PYTORCH, "onnx-fp32", "onnxruntime-fp32", "onnxruntime-int8", "openvino-fp32", "openvino-int8",
                  "pytorch-int8")
DEFAULT_RUNTIMES = (PYTORCH, "onnx-fp32", "onnxruntime-int8", "openvino-int8")
DEFAULT_SEQ_LENS = (16, 32, 64, 128, 256, 512)
DEFAULT_BATCH_SIZES = (1, 8)
THRESHOLD = 2.0


def _build_or_reuse(model: str, target: str, work_dir: Path, progress: Progress):
    from edgekit.build.artefact import open_artefact
    from edgekit.build.builder import export_or_reuse
    from edgekit.build.sources import resolve_source

    out = work_dir / f"{resolve_source(model).slug}-{target}"
    return open_artefact(export_or_reuse(model=model, target=target, out=out, progress=progress))


def claim(*, fast_model: str = "random:distilroberta-base", slow_model: str = "random:roberta-base",
          runtimes: list[str] = DEFAULT_RUNTIMES, batch_sizes: list[int] = DEFAULT_BATCH_SIZES,
          seq_lens: list[int] = DEFAULT_SEQ_LENS, threads: int = 2, timing: Timing = Timing(runs=10),
          work_dir: Path | str = Path("edgekit-out") / "claim", threshold: float = THRESHOLD,
          quiet: bool = False) -> dict:
    """Measure both models in each runtime and return a claim report (kind "claim")."""
    from edgekit.build.corpus import load_corpus
    from edgekit.build.sources import resolve_source
    from edgekit.measure.feeds import check_seq_lens, fixed_length_feeds, load_tokenizer
    from edgekit.measure.machine import machine_record
    from edgekit.runtime.sessions import open_runner

    for runtime in runtimes:
        if runtime not in CLAIM_RUNTIMES:
            raise InvalidChoiceError("claim runtime", runtime, CLAIM_RUNTIMES)
    if not runtimes or not threshold > 0:
        raise InputError(f"claim needs at least one runtime and a positive threshold, got {runtimes} and {threshold}")
    check_threads(threads, oversubscribe=False)
    timing.check()
    progress = Progress(quiet=quiet)
    sources = {"slow": resolve_source(slow_model), "fast": resolve_source(fast_model)}
    random_weights = any(s.random_weights for s in sources.values())
    if random_weights:
        from edgekit.build.random_models import RANDOM_WEIGHTS_NOTE

        progress.warn("random weights: " + RANDOM_WEIGHTS_NOTE.split(": ", 1)[-1] + "; speed does not depend "
                      "on the weights' values")
    work_dir = Path(work_dir)
    built = {(role, rt): _build_or_reuse(spec, rt, work_dir, progress)
             for rt in runtimes if rt != PYTORCH for role, spec in (("slow", slow_model), ("fast", fast_model))}
    for artefact in built.values():
        check_seq_lens(artefact, list(seq_lens))
    name = {(role, rt): f"{rt} ({spec})" for rt in runtimes for role, spec in (("slow", slow_model), ("fast", fast_model))}

    runners, tokenizers = {}, {}
    for (role, rt), artefact in built.items():
        runners[name[role, rt]] = open_runner(artefact.model_path, threads=threads, spinning=timing.spinning,
                                              precision=artefact.inference_precision)
        tokenizers[role] = tokenizers.get(role) or load_tokenizer(artefact)
    if PYTORCH in runtimes:
        for role, (runner, tokenizer) in _pytorch_runners(slow_model, fast_model, threads, progress).items():
            runners[name[role, PYTORCH]] = runner
            tokenizers.setdefault(role, tokenizer)

    report = new_report("claim", machine=machine_record(threads_used=[threads]), settings={
        **timing.settings(),
        "order": "round-robin, shuffled each round; both models of a runtime in the same rounds",
        "batch_sizes": list(batch_sizes), "seq_lens": list(seq_lens), "threads": [threads],
        "text_source": "edgekit's shipped English corpus, every position a real token"})
    report["artefacts"] = _describe(built, name, sources, runtimes)
    texts = load_corpus()
    # The first call apart from the steady latency: pytorch-int8 compiles there (seconds to minutes).
    first = {role: fixed_length_feeds(tok, texts, batch=min(batch_sizes), seq_len=min(seq_lens))
             for role, tok in tokenizers.items()}
    for entry in report["artefacts"]:
        runner_name = entry["name"]
        role = "slow" if runner_name in (name["slow", rt] for rt in runtimes) else "fast"
        start = time.perf_counter()
        runners[runner_name](first[role])
        entry["first_run_s"] = time.perf_counter() - start
    pairs: dict[str, list[dict]] = {rt: [] for rt in runtimes}
    with progress.bar("timing both models over the sweep", len(batch_sizes) * len(seq_lens)) as advance:
        for batch in sorted(batch_sizes):
            for seq_len in sorted(seq_lens):
                by_role = {role: fixed_length_feeds(tok, texts, batch=batch, seq_len=seq_len)
                           for role, tok in tokenizers.items()}
                feeds = {name[role, rt]: by_role[role] for rt in runtimes for role in ("slow", "fast")}
                samples = interleave(runners, feeds, timing, seed=batch * 1000 + seq_len)
                for runner_name, values in samples.items():
                    report["configs"].append(config_entry(artefact=runner_name, batch=batch, seq_len=seq_len,
                                                          threads=threads, samples_ms=values))
                for rt in runtimes:
                    slow, fast = samples[name["slow", rt]], samples[name["fast", rt]]
                    pairs[rt].append({"batch": batch, "seq_len": seq_len, "threads": threads,
                                      "slow_artefact": name["slow", rt], "fast_artefact": name["fast", rt],
                                      "ratio": paired_ratio(slow, fast, seed=seq_len)})
                advance(1)
    report["claim"] = summarise(pairs, threshold=threshold, fast_model=fast_model, slow_model=slow_model,
                                random_weights=random_weights)
    return report


def summarise(pairs: dict[str, list[dict]], *, threshold: float, fast_model: str, slow_model: str,
              random_weights: bool) -> dict:
    """Per-runtime and overall ratios and verdicts from the per-configuration paired ratios."""
    per_runtime = {}
    for rt, entries in pairs.items():
        overall = geometric_mean_ratio([e["ratio"] for e in entries])
        per_runtime[rt] = {"pairs": entries, "overall": overall, "verdict": verdict(overall["ci95"], threshold)}
    everything = geometric_mean_ratio([e["ratio"] for entries in pairs.values() for e in entries])
    return {"threshold": threshold, "fast_model": fast_model, "slow_model": slow_model,
            "random_weights": random_weights, "statement": f"{fast_model} is at least {threshold:g}x as fast as "
            f"{slow_model}", "runtimes": per_runtime, "overall": everything,
            "verdict": verdict(everything["ci95"], threshold)}


def _pytorch_runners(slow_model: str, fast_model: str, threads: int, progress: Progress) -> dict:
    import torch

    from edgekit.measure.reference import pytorch_model_runner

    torch.set_num_threads(threads)
    runners = {}
    for role, spec in (("slow", slow_model), ("fast", fast_model)):
        with progress.step(f"loading {spec} in PyTorch"):
            runners[role] = pytorch_model_runner(spec)
    return runners


def _describe(built: dict, name: dict, sources: dict, runtimes) -> list[dict]:
    entries = []
    for rt in runtimes:
        for role in ("slow", "fast"):
            artefact = built.get((role, rt))
            pytorch = {} if artefact else {"target": "pytorch-fp32-eager", "precision": "fp32",
                                           "inference_precision": "f32"}
            entries.append(artefact_entry(name[role, rt], artefact, role=role, runtime=rt,
                                          source=sources[role].spec, random_weights=sources[role].random_weights,
                                          **pytorch))
    return entries
