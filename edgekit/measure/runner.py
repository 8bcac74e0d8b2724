"""edgekit bench: latency, throughput, load time, memory and accuracy of artefacts, in one report.

How the timings stay fair on a small, noisy machine:
- every configuration measures all artefacts round-robin, in a shuffled order each round, after warm-up,
  so drift and neighbours' noise hit every artefact alike;
- after each timed call the runtime's threads are left to settle (settle_ms) before the next call. ONNX
  Runtime spins its threads after a run by default, which is what an app gets, and the pause keeps that
  spinning from stealing CPU from the next artefact. Spinning can also be switched off (spinning=False).
- a turn is one call by default: each call then starts after a pause and after other models ran, as an
  app's occasional call does. calls_per_turn > 1 makes back-to-back calls (the pause follows the turn),
  which shows the warm, steady-state latency of a serving loop.
- load time and peak memory are measured in a fresh process per artefact, where nothing else is loaded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgekit.build.artefact import Artefact, open_artefact
from edgekit.build.progress import Progress
from edgekit.build.timing import Timing, interleave
from edgekit.errors import InputError
from edgekit.measure.feeds import (
    check_seq_lens,
    fixed_length_feeds,
    lengths_to_seq_lens,
    load_tokenizer,
    max_positions,
)
from edgekit.measure.result import artefact_entry, config_entry, new_report
from edgekit.runtime.sessions import check_threads

__all__ = ["Timing", "bench", "interleave"]
Runner = Callable[[dict[str, np.ndarray]], object]


def _labels(artefacts: list[Artefact]) -> list[str]:
    """Target names, made unique where two artefacts share a target by as much of their paths as tells them
    apart (their directory, then its parent, ...); the same directory twice is an error."""
    paths = [a.directory.resolve() for a in artefacts]
    if len(set(paths)) != len(paths):
        twice = next(p for p in paths if paths.count(p) > 1)
        raise InputError(f"artefact '{twice}' is given twice; give each artefact once")
    names = [a.name for a in artefacts]
    labels = []
    for name, path in zip(names, paths):
        rivals = [p for n, p in zip(names, paths) if n == name and p != path]
        depth = 1
        while any(p.parts[-depth:] == path.parts[-depth:] for p in rivals):
            depth += 1
        labels.append(f"{name} ({'/'.join(path.parts[-depth:])})" if rivals else name)
    return labels


def _check_sizes(batch_sizes: list[int], seq_lens: list[int] | None, threads: list[int], *,
                 oversubscribe: bool = False) -> None:
    for what, values in (("--batch-sizes", batch_sizes), ("--threads", threads), ("--seq-lens", seq_lens or [2])):
        if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
            raise InputError(f"{what} needs positive whole numbers, got {values}")
    for count in threads:
        check_threads(count, oversubscribe=oversubscribe)


def bench(*, artefacts: list[Path | str], batch_sizes: list[int] = (1,), seq_lens: list[int] | None = (128,),
          lengths_from: Path | str | None = None, threads: list[int] = (2,), timing: Timing = Timing(),
          reference: bool = False, eval_data: str | None = None, eval_max_length: int = 128,
          isolate: bool = True, probe_peaks: bool = True, oversubscribe: bool = False, quiet: bool = False) -> dict:
    """Measure artefacts and return a report (see edgekit.measure.result). Thread counts above the usable cores
    are refused unless oversubscribe."""
    from edgekit.build.corpus import load_corpus, read_text_file
    from edgekit.measure.flops import flops_per_sequence, skipped_by_record
    from edgekit.measure.machine import machine_record, openvino_default_precision
    from edgekit.measure.preflight import preflight_warnings

    if not artefacts:
        raise InputError("give at least one artefact directory")
    timing.check()
    batch_sizes, threads = sorted(set(batch_sizes)), sorted(set(threads))
    _check_sizes(batch_sizes, list(seq_lens) if seq_lens else None, threads, oversubscribe=oversubscribe)
    progress = Progress(quiet=quiet)
    opened = [open_artefact(path) for path in artefacts]  # checksums first: fail before any timing
    labels = _labels(opened)
    tokenizers = {label: load_tokenizer(a) for label, a in zip(labels, opened)}
    lengths_info = None
    if lengths_from is not None:
        lengths = [len(e.ids) for e in tokenizers[labels[0]].encode_batch(read_text_file(lengths_from))]
        seq_lens, lengths_info = lengths_to_seq_lens(lengths, limit=min(max_positions(a) for a in opened))
        lengths_info["file"] = str(lengths_from)
    seq_lens = sorted(set(seq_lens or ()))
    if eval_data is not None:
        from edgekit.measure.accuracy import read_eval_data

        eval_texts = read_eval_data(eval_data)  # read now: bad data fails before minutes of timing
    _check_sizes(batch_sizes, seq_lens, threads, oversubscribe=oversubscribe)
    for artefact in opened:
        check_seq_lens(artefact, seq_lens)

    machine = machine_record(threads_used=threads)
    ov_precision = openvino_default_precision()
    report = new_report("bench", machine=machine, settings={
        **timing.settings(), "order": "round-robin, shuffled each round", "batch_sizes": batch_sizes,
        "seq_lens": seq_lens, "threads": threads, "lengths_from": lengths_info,
        "text_source": "edgekit's shipped English corpus, every position a real token"})
    for label, artefact in zip(labels, opened):
        for message in preflight_warnings(artefact=artefact, machine=machine, threads=threads,
                                          openvino_precision=ov_precision):
            if any(w["message"] == message for w in report["warnings"]):
                continue  # a machine-wide warning (e.g. threads > cores) is said once
            report["warnings"].append({"artefact": label, "message": message})
            progress.warn(f"{label}: {message}")
    if probe_peaks:
        from edgekit.measure.probe import measure_peaks

        with progress.step("measuring this machine's FP32 and INT8 matrix-multiply peaks"):
            machine["peaks"] = {str(t): measure_peaks(threads=t) for t in threads}
            time.sleep(0.2)  # let the probe's spinning threads stop before anything is timed
    report["artefacts"] = [_describe(label, a, isolate, batch_sizes[-1], seq_lens[-1], threads[0], progress)
                           for label, a in zip(labels, opened)]

    texts = load_corpus()
    references = _references(opened, labels) if reference else {}
    total = len(threads) * len(batch_sizes) * len(seq_lens)
    with progress.bar("timing configurations", total) as advance:
        for thread_count in threads:
            runners = _open_runners(opened, labels, thread_count, timing.spinning)
            runners.update(_reference_runners(references, thread_count))
            for batch in batch_sizes:
                for seq_len in seq_lens:
                    feeds = {label: fixed_length_feeds(tokenizers[label], texts, batch=batch, seq_len=seq_len)
                             for label in labels}
                    for name, (artefact, _) in references.items():
                        feeds[name] = feeds[labels[opened.index(artefact)]]
                    samples = interleave(runners, feeds, timing)
                    peaks = (machine.get("peaks") or {}).get(str(thread_count)) or {}
                    for name, values in samples.items():
                        artefact = references[name][0] if name in references else opened[labels.index(name)]
                        # int8 weights run int8 matmuls on x86 too: OpenVINO quantises their activations on the fly
                        int8 = name not in references and (artefact.precision == "int8" or (
                            artefact.precision == "int8-weights" and machine.get("arch") in ("x86_64", "AMD64")))
                        peak = peaks.get("int8_gops" if int8 else "fp32_gflops")
                        skipped = {} if name in references else skipped_by_record(artefact.record)
                        report["configs"].append(config_entry(
                            artefact=name, batch=batch, seq_len=seq_len, threads=thread_count, samples_ms=values,
                            flops_per_sequence=flops_per_sequence(config=artefact.config(), seq_len=seq_len,
                                                                 **skipped),
                            peak_ops=peak * 1e9 if peak else None, peak_name="int8" if int8 else "fp32"))
                    advance(1)
    if probe_peaks:
        _recheck_peaks(report, progress)
    for name, (artefact, _) in references.items():
        report["artefacts"].append(_reference_description(name, artefact))
    if eval_data is not None:
        from edgekit.measure.accuracy import accuracy_entries

        report["accuracy"] = accuracy_entries(opened, labels, eval_data=eval_texts, threads=threads[0],
                                              max_length=eval_max_length, progress=progress,
                                              spinning=timing.spinning)
    return report


def _recheck_peaks(report: dict, progress: Progress) -> None:
    """No model runs faster than the machine's matrix-multiply peak: where one seems to, the probe met a
    noisy moment. Probe those thread counts again, keep the higher peak of both probes, recompute every
    efficiency there, and flag any figure still above it."""
    from edgekit.measure.probe import measure_peaks

    peaks = report["machine"]["peaks"]
    over = sorted({c["threads"] for c in report["configs"] if (c.get("efficiency") or {}).get("fraction", 0) > 1})
    for threads in over:
        with progress.step(f"probing the {threads}-thread peaks again (a model measured above them)"):
            fresh = measure_peaks(threads=threads, seconds=2.0, refresh=True)
            time.sleep(0.2)
        probed = peaks[str(threads)]
        for key, name in (("fp32_gflops", "fp32"), ("int8_gops", "int8")):
            probed[key] = max(probed[key], fresh[key])
            for config in report["configs"]:
                efficiency = config.get("efficiency")
                if config["threads"] == threads and efficiency and efficiency["peak"] == name:
                    efficiency["fraction"] = efficiency["achieved_gops"] / probed[key]
        probed["probes"] = probed.get("probes", 1) + 1
    for config in report["configs"]:
        efficiency = config.get("efficiency")
        if efficiency and efficiency["fraction"] > 1:
            efficiency["above_peak"] = True  # the views show it flagged, never as a real share of the peak


def _describe(label: str, artefact: Artefact, isolate: bool, batch: int, seq_len: int, threads: int,
              progress: Progress) -> dict:
    entry = artefact_entry(label, artefact)
    if isolate:
        from edgekit.measure.isolate import measure_isolated

        with progress.step(f"{label}: load time and peak memory in a fresh process"):
            measured = measure_isolated(artefact_dir=artefact.directory, batch=batch, seq_len=seq_len,
                                        threads=threads, precision=artefact.inference_precision)
        entry.update({k: measured.get(k) for k in ("load_s", "first_run_s", "peak_rss_mb", "model_rss_mb")})
        entry["memory_config"] = {"batch": batch, "seq_len": seq_len, "threads": threads}
    return entry


def _open_runners(opened: list[Artefact], labels: list[str], threads: int, spinning: bool) -> dict[str, Runner]:
    from edgekit.runtime.sessions import open_runner

    return {label: open_runner(a.model_path, threads=threads, precision=a.inference_precision, spinning=spinning)
            for label, a in zip(labels, opened)}


def _references(opened: list[Artefact], labels: list[str]) -> dict[str, tuple[Artefact, Runner]]:
    """One PyTorch FP32 eager runner per distinct source model."""
    from edgekit.measure.reference import pytorch_runner, reference_name

    references: dict[str, tuple[Artefact, Runner]] = {}
    for artefact in opened:
        name = reference_name(artefact)
        if name not in references:
            references[name] = (artefact, pytorch_runner(artefact))
    return references


def _reference_runners(references: dict, threads: int) -> dict[str, Runner]:
    if not references:
        return {}
    import torch

    torch.set_num_threads(threads)
    return {name: runner for name, (_, runner) in references.items()}


def _reference_description(name: str, artefact: Artefact) -> dict:
    record = artefact.record
    return artefact_entry(name, target="pytorch-fp32-eager", runtime="pytorch", precision="fp32",
                          inference_precision="f32", task=record.task, source=record.source_spec,
                          random_weights=record.random_weights)
