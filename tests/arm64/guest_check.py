"""Run inside the emulated ARM64 Python (tools/arm64/setup.sh) by the ARM tier: load each model and bundle of a
job with edgekit's light install, answer the job's inputs, and write what came out.

    .arm64/python tests/arm64/guest_check.py JOB.json
JOB.json: {"inputs": npz of token feeds (right-padded), "threads": n, "out": results dir,
           "one_at_a_time": optional, true to answer each row alone at its own length (as an app does),
           "models": [{"name", "path", "precision": OpenVINO precision or null}],
           "bundles": [{"name", "path", "texts": [...]}]}
Writes OUT/outputs.npz ("<model>/<output>" arrays) and OUT/result.json (per model: load and run seconds, the
precision OpenVINO ran at; per bundle: verify's lines and the answers). One process: the guest cannot start
another aarch64 program.
"""

from __future__ import annotations

import contextlib
import io
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np


def run_rows(run, feeds: dict) -> dict:
    """Each row alone, trimmed to its own length; per-token outputs padded back to the batch's length with zeros."""
    full = feeds["attention_mask"].shape[1]
    lengths = [int(n) for n in feeds["attention_mask"].sum(axis=1)]
    answers = [run({name: value[row:row + 1, :n] for name, value in feeds.items()}) for row, n in enumerate(lengths)]
    stacked = {}
    for name in answers[0]:
        parts = [out[name] for out in answers]
        parts = [np.pad(p, [(0, 0), (0, full - n)] + [(0, 0)] * (p.ndim - 2)) if p.ndim >= 3 and p.shape[1] == n
                 else p for p, n in zip(parts, lengths)]
        stacked[name] = np.concatenate(parts)
    return stacked


def run_model(entry: dict, feeds: dict, threads: int, one_at_a_time: bool = False) -> tuple[dict, dict]:
    from edgekit.runtime import sessions

    start = time.perf_counter()
    precision_used = None
    if entry["path"].endswith(".xml"):
        compiled = sessions.compile_openvino(entry["path"], threads=threads, precision=entry.get("precision"))
        precision_used = sessions.compiled_precision(compiled)
        run = sessions.openvino_runner(compiled)
    else:
        run = sessions.open_runner(entry["path"], threads=threads)
    loaded = time.perf_counter() - start
    start = time.perf_counter()
    outputs = run_rows(run, feeds) if one_at_a_time else run(feeds)
    return outputs, {"load_s": loaded, "run_s": time.perf_counter() - start, "precision_used": precision_used}


def check_bundle(entry: dict, threads: int) -> dict:
    from edgekit import runtime
    from edgekit.cli import cli

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = cli.main(["verify", entry["path"], "--threads", str(threads)], standalone_mode=False)
    answers = runtime.load(entry["path"], threads=threads)(entry["texts"])  # the task's own call
    answers = answers.tolist() if hasattr(answers, "tolist") else answers
    return {"verify_exit": code or 0, "verify": printed.getvalue().splitlines(), "answers": answers}


def main() -> None:
    job = json.loads(Path(sys.argv[1]).read_text())
    out = Path(job["out"])
    out.mkdir(parents=True, exist_ok=True)
    feeds = dict(np.load(job["inputs"]))
    features = next((line.split(":", 1)[1].split() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("Features")), [])
    result = {"machine": platform.machine(), "features": features, "models": {}, "bundles": {}}
    arrays = {}
    for entry in job["models"]:
        outputs, info = run_model(entry, feeds, job["threads"], job.get("one_at_a_time", False))
        result["models"][entry["name"]] = info
        arrays.update({f"{entry['name']}/{name}": value for name, value in outputs.items()})
    for entry in job.get("bundles", []):
        result["bundles"][entry["name"]] = check_bundle(entry, job["threads"])
    np.savez(out / "outputs.npz", **arrays)
    (out / "result.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
