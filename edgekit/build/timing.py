"""Interleaved timing: the one loop behind every latency edgekit reports or decides on.

Used by the build (to keep the faster kernel form or the fastest passing INT8 candidate) and by edgekit bench.
Each round gives every runner one turn in a shuffled order, so drift and neighbours' noise hit all alike; after
a turn the runtime's threads may be left to settle (settle_ms), so ONNX Runtime's spinning threads never steal
CPU from the next runner.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from edgekit.errors import InputError

DEFAULT_RUNS = 20
MIN_RUNS = 3


@dataclass(frozen=True)
class Timing:
    """How each configuration is timed."""
    warmup: int = 5
    runs: int | None = None  # rounds; None: DEFAULT_RUNS (or duration_s)
    duration_s: float | None = None  # or: rounds until this much time has passed (at least MIN_RUNS)
    settle_ms: float = 50.0  # pause after each turn
    spinning: bool = True  # ONNX Runtime threads spin between calls (as in an app)
    calls_per_turn: int = 1  # back-to-back calls per turn: > 1 shows a serving loop's warm latency

    def check(self) -> None:
        if self.runs is not None and self.duration_s is not None:
            raise InputError("give --runs or --duration, not both")
        if self.runs is not None and self.runs < 1:
            raise InputError(f"--runs must be at least 1, got {self.runs}")
        if self.duration_s is not None and self.duration_s <= 0:
            raise InputError(f"--duration must be positive, got {self.duration_s}")
        if self.calls_per_turn < 1:
            raise InputError(f"--calls-per-turn must be at least 1, got {self.calls_per_turn}")
        if self.warmup < 0 or self.settle_ms < 0:
            raise InputError("--warmup and --settle-ms must not be negative")

    def settings(self) -> dict:
        """How the timing was done, as a report's settings record it."""
        return {"warmup": self.warmup, "runs": self.runs if self.duration_s is None else None,
                "duration_s": self.duration_s, "settle_ms": self.settle_ms, "ort_spinning": self.spinning,
                "calls_per_turn": self.calls_per_turn}

    def rounds_done(self, rounds: int, started: float) -> bool:
        if self.duration_s is not None:
            return rounds >= MIN_RUNS and time.perf_counter() - started >= self.duration_s
        return rounds >= (self.runs or DEFAULT_RUNS)


def interleave(runners: Mapping[str, Callable[[object], object]], feeds: Mapping[str, object], timing: Timing, *,
               seed: int = 0) -> dict[str, list[float]]:
    """Milliseconds per call for every runner: each round gives every runner one turn of
    timing.calls_per_turn calls, in a shuffled order. Sample i of every runner comes from the same round."""
    timing.check()
    for name, run in runners.items():
        for _ in range(timing.warmup):
            run(feeds[name])
    order = list(runners)
    rng = random.Random(seed)
    samples: dict[str, list[float]] = {name: [] for name in runners}
    started = time.perf_counter()
    rounds = 0
    while not timing.rounds_done(rounds, started):
        rng.shuffle(order)
        for name in order:
            for _ in range(timing.calls_per_turn):
                start = time.perf_counter()
                runners[name](feeds[name])
                samples[name].append((time.perf_counter() - start) * 1e3)
            if timing.settle_ms:
                time.sleep(timing.settle_ms / 1e3)
        rounds += 1
    return samples


def median_ms(runners: Mapping[str, Callable[[object], object]], feed: object, timing: Timing) -> dict[str, float]:
    """The median latency of each runner on one feed, timed interleaved."""
    samples = interleave(runners, {name: feed for name in runners}, timing)
    return {name: statistics.median(values) for name, values in samples.items()}
