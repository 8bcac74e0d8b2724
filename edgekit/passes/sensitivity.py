"""Accuracy-gated quantisation search: rank nodes by sensitivity, keep the worst in float, pick the fastest pass.

Metric-agnostic: the caller supplies `build`, `evaluate`, `passes`, `score` and `latency`. Two
complaints about existing tuners shaped it: they stop at the first passing configuration rather than
the fastest, and they return nothing when no configuration passes. Here every candidate is evaluated,
the fastest passing one wins, and when none passes the best-scoring one is still returned, with
`passed=False` and all its figures.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit.errors import InputError

Figures = Mapping[str, Any]
Build = Callable[[Sequence[str], Path], Any]  # (nodes kept float, destination) -> anything; writes dst


@dataclass(frozen=True)
class Candidate:
    """One way of building the model, e.g. "dynamic per-channel, 2 most sensitive MatMuls in float"."""

    label: str
    build: Callable[[Path], Any]  # writes the model to the given path
    excluded: tuple[str, ...] = ()
    suffix: str = ".onnx"  # file type the build writes (".xml" for OpenVINO IR)


@dataclass
class Outcome:
    label: str
    path: Path
    excluded: tuple[str, ...]
    figures: dict[str, Any]
    passed: bool
    score: float
    latency_ms: float | None = None


@dataclass
class SearchResult:
    chosen: Outcome
    passed: bool  # False: nothing met the budget; `chosen` is then the best-scoring candidate
    outcomes: list[Outcome] = field(default_factory=list)

    def summary(self) -> list[dict[str, Any]]:
        return [{"label": o.label, "passed": o.passed, "score": o.score, "latency_ms": o.latency_ms,
                 "excluded": list(o.excluded), "figures": dict(o.figures), "chosen": o is self.chosen}
                for o in self.outcomes]


def rank_sensitivity(*, candidates: Sequence[str], build: Build, evaluate: Callable[[Path], Figures],
                     score: Callable[[Figures], float], work_dir: Path,
                     suffix: str = ".onnx") -> list[tuple[str, float]]:
    """Quantise one node at a time (all other candidates kept float) and score it; most harmful first.

    One build and one evaluation per node: measuring nodes alone, rather than removing them one at a
    time from a fully quantised model, keeps one node's error from masking another's.
    """
    names = list(dict.fromkeys(candidates))
    if not names:
        raise InputError("rank_sensitivity needs at least one candidate node")
    work_dir.mkdir(parents=True, exist_ok=True)
    path = work_dir / ("sensitivity_probe" + suffix)
    scores = []
    try:
        for name in names:
            build([n for n in names if n != name], path)
            scores.append((name, float(score(evaluate(path)))))
    finally:
        path.unlink(missing_ok=True)
    return sorted(scores, key=lambda item: item[1])  # lowest score = largest damage


def exclusion_candidates(*, ranking: Sequence[str], build: Build, sizes: Sequence[int] = (0, 1, 2, 3, 4, 6, 8),
                         label: str = "int8", suffix: str = ".onnx") -> list[Candidate]:
    """Candidates keeping the k most sensitive nodes (from `ranking`) float, for each k in `sizes`."""
    ks = sorted({k for k in sizes if 0 <= k <= len(ranking)})
    return [Candidate(label=f"{label}-float{k}", excluded=tuple(ranking[:k]), suffix=suffix,
                      build=lambda dst, keep=tuple(ranking[:k]): build(list(keep), dst)) for k in ks]


def gated_search(candidates: Sequence[Candidate], *, evaluate: Callable[[Path], Figures],
                 passes: Callable[[Figures], bool], score: Callable[[Figures], float],
                 latency: Callable[[Sequence[Path]], Sequence[float]], work_dir: Path,
                 keep_all: bool = False) -> SearchResult:
    """Build and evaluate every candidate; time the passing ones; choose the fastest passing one.

    `latency` gets all passing models at once and returns milliseconds in the same order, so it can
    interleave their runs (fairer than timing one after another on a noisy machine).
    If none passes, the best-scoring candidate is chosen (and timed) so its figures can be reported.
    Unchosen model files are deleted unless keep_all.
    """
    if not candidates:
        raise InputError("gated_search needs at least one candidate")
    labels = [c.label for c in candidates]
    if len(set(labels)) != len(labels):
        raise InputError(f"candidate labels must be unique: {labels}")
    work_dir.mkdir(parents=True, exist_ok=True)
    outcomes = []
    for cand in candidates:
        path = work_dir / f"{_safe(cand.label)}{cand.suffix}"
        cand.build(path)
        figures = dict(evaluate(path))
        outcomes.append(Outcome(cand.label, path, cand.excluded, figures, bool(passes(figures)),
                                float(score(figures))))
    passing = [o for o in outcomes if o.passed]
    timed = passing or [max(outcomes, key=lambda o: o.score)]
    times = list(latency([o.path for o in timed]))
    if len(times) != len(timed):
        raise InputError(f"latency returned {len(times)} timings for {len(timed)} models")
    for o, ms in zip(timed, times):
        o.latency_ms = float(ms)
    chosen = min(timed, key=lambda o: o.latency_ms)
    if not keep_all:
        for o in outcomes:
            if o is not chosen:
                _remove(o.path)
    return SearchResult(chosen=chosen, passed=bool(passing), outcomes=outcomes)


def _safe(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label)


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    data = path.with_name(path.name + ".data")  # external weights, if a builder wrote any
    if data.exists():
        shutil.rmtree(data) if data.is_dir() else data.unlink()
