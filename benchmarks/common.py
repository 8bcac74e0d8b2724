"""Shared by the benchmark scripts: the machine record, interleaved timing and summary statistics."""

from __future__ import annotations

import os
import platform
import random
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
WORK = Path(__file__).resolve().parent / ".work"  # built artefacts; git-ignored


def machine() -> dict:
    flags: set[str] = set()
    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            if line.startswith(("flags", "Features")):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8",
              "asimddp", "i8mm", "sve")
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent, check=False).stdout.strip() or None
    except OSError:
        commit = None
    return {"cpu": model, "cores": os.cpu_count(), "machine": platform.machine(), "os": platform.platform(),
            "isa": sorted(f for f in wanted if f in flags), "git_commit": commit}


def interleaved(runners: dict[str, Callable[[], object]], *, rounds: int, warmup: int,
                seed: int = 0) -> dict[str, list[float]]:
    """Milliseconds per call, one call of each runner per round in a shuffled order, after warm-up.

    Interleaving spreads the machine's noise over every runner alike, so ratios within a round are fair.
    """
    for run in runners.values():
        for _ in range(warmup):
            run()
    order = list(runners)
    rng = random.Random(seed)
    samples: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(rounds):
        rng.shuffle(order)
        for name in order:
            start = time.perf_counter()
            runners[name]()
            samples[name].append((time.perf_counter() - start) * 1e3)
    return samples


def summary(values: list[float]) -> dict:
    array = np.asarray(values)
    return {"n": len(values), "median": float(np.median(array)), "p10": float(np.percentile(array, 10)),
            "p90": float(np.percentile(array, 90)), "min": float(array.min())}


def paired_ratio(slow: list[float], fast: list[float], *, seed: int = 0) -> dict:
    """Speed-up slow/fast from paired rounds: the median of per-round ratios, a bootstrap 95% CI of it,
    and its p10-p90 spread."""
    ratios = np.asarray(slow) / np.asarray(fast)
    rng = np.random.default_rng(seed)
    boots = [float(np.median(rng.choice(ratios, size=len(ratios)))) for _ in range(2000)]
    return {"median": float(np.median(ratios)), "ci95": [float(np.percentile(boots, 2.5)),
                                                         float(np.percentile(boots, 97.5))],
            "p10": float(np.percentile(ratios, 10)), "p90": float(np.percentile(ratios, 90)),
            "ratio_of_medians": float(statistics.median(slow) / statistics.median(fast))}


def write_results(name: str, result: dict, render) -> None:
    """One result format (JSON with the raw data), and its Markdown view beside it; prints the view."""
    import json

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    (RESULTS / f"{name}.md").write_text(render(result))
    print(render(result))
