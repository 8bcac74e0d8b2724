"""The accuracy-gated quantisation search, shared by the ONNX Runtime and OpenVINO INT8 passes.

Every method the recipe names is built and validated; the fastest one inside --max-drop wins, a near tie going
to the earlier in recipe order (or, with choose = "first", the first passing one in recipe order, where timing
on the building machine means nothing).
If none passes and the recipe allows a search, each weight op is quantised alone to rank its damage, and the
most sensitive ops are kept in float in growing numbers; again the fastest passing build wins. If nothing
passes, the best candidate's model and record are saved beside the output and the build fails.

Two complaints about existing tuners shaped it: they stop at the first passing configuration rather than the
fastest, and they return nothing when no configuration passes. The core (gated_search, rank_sensitivity,
exclusion_candidates) is metric-agnostic: callers supply build, evaluate, passes, score and latency.

Recipe section [quantize] (QuantizeSettings).
"""

from __future__ import annotations

import shutil
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgekit.build.budget import drop_name, fidelity_drop
from edgekit.errors import InputError, InvalidChoiceError, RecipeError, ValidationError

if TYPE_CHECKING:
    from edgekit.build.state import BuildState

CHOICE_RULES = ("fastest", "first")
SEARCH_SIZES = (1, 2, 3, 4, 6, 8, 12, 16)  # how many of the most sensitive ops a search keeps in float
# Below this speed-up over its float source an INT8 build is not worth its accuracy loss: the build warns.
MIN_SPEEDUP_VS_FLOAT = 1.1
# A candidate timed up to this much slower than the fastest, and no slower in a quarter of the paired rounds or more
# (about where a 95% CI of the median of 15 rounds begins), is tied with it; a tie goes to the earlier candidate
# in the recipe's order (full INT8 before weights alone, fewer ops kept float before more), so noise on the build
# machine does not decide between near-equal builds.
TIE_WITHIN = 0.05

Figures = Mapping[str, Any]


@dataclass(frozen=True)
class QuantizeSettings:
    candidates: tuple[str, ...] = ()  # methods to try; the fastest inside the budget wins
    calibration_samples: int = 300  # corpus sentences, disjoint from the validation ones
    calibration_data: str = ""  # a .txt/.jsonl/.csv file instead of the shipped corpus
    # among passing candidates: "fastest" (measured here) or "first" (recipe order)
    choose: str = field(default="fastest", metadata={"choices": CHOICE_RULES})
    search: bool = True  # when no candidate passes, keep the most sensitive ops in float
    max_float_ops: int = 8  # the most ops the search may keep in float

    def check(self) -> None:
        if not (isinstance(self.calibration_samples, int) and not isinstance(self.calibration_samples, bool)
                and self.calibration_samples > 0):
            raise RecipeError(f"calibration_samples must be a positive integer, got {self.calibration_samples!r}")
        if not (isinstance(self.max_float_ops, int) and not isinstance(self.max_float_ops, bool)
                and self.max_float_ops >= 0):
            raise RecipeError(f"max_float_ops must be a non-negative integer, got {self.max_float_ops!r}")
        if self.choose not in CHOICE_RULES:
            raise RecipeError(f"choose must be 'fastest' or 'first', got {self.choose!r}")


# (state, source model, destination, ops to keep in float) -> what was done
Builder = Callable[["BuildState", Path, Path, Sequence[str]], dict]


@dataclass(frozen=True)
class Method:
    """One way of building an INT8 model, named in a recipe's candidates."""
    name: str
    build: Builder
    sensitive_ops: Callable[[Path], list[str]]  # ops the search may keep in float, for a source model
    description: str
    unfused: bool = False  # quantise the graph as exported, before fusion (ORT: measured faster on some CPUs)
    calibrated: bool = False  # reads calibration text (static ranges, outlier channels, NNCF PTQ)


def method_registry(*methods: Method) -> dict[str, Method]:
    registry: dict[str, Method] = {}
    for method in methods:
        if method.name in registry:
            raise ValueError(f"duplicate quantisation method {method.name!r}")
        registry[method.name] = method
    return registry


def check_candidates(settings: QuantizeSettings, methods: Mapping[str, Method]) -> None:
    if not settings.candidates:
        raise RecipeError(f"[quantize] candidates is empty; name one or more of: {', '.join(methods)}")
    for name in settings.candidates:
        if name not in methods:
            raise InvalidChoiceError("quantisation method", name, tuple(methods))


def uses_calibration(settings: QuantizeSettings, methods: Mapping[str, Method]) -> bool:
    """Whether any of the recipe's candidates reads calibration text, so a calibration file means something."""
    return any(methods[name].calibrated for name in settings.candidates if name in methods)


# -- the metric-agnostic core ---------------------------------------------------------------------------
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
    latency_ms: float | None = None  # median of the timing samples
    vs_fastest: dict | None = None  # paired ratios to the fastest timed candidate: median, 25th percentile


@dataclass
class SearchResult:
    chosen: Outcome
    passed: bool  # False: nothing met the budget; `chosen` is then the best-scoring candidate
    outcomes: list[Outcome] = field(default_factory=list)
    choice: str = ""  # why `chosen` won

    def summary(self) -> list[dict[str, Any]]:
        return [{"label": o.label, "passed": o.passed, "score": o.score, "latency_ms": o.latency_ms,
                 "vs_fastest": o.vs_fastest,
                 "excluded": list(o.excluded), "figures": dict(o.figures), "chosen": o is self.chosen}
                for o in self.outcomes]


def rank_sensitivity(*, candidates: Sequence[str], build: Callable[[Sequence[str], Path], Any],
                     evaluate: Callable[[Path], Figures], score: Callable[[Figures], float], work_dir: Path,
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


def exclusion_candidates(*, ranking: Sequence[str], build: Callable[[Sequence[str], Path], Any],
                         sizes: Sequence[int] = (0, 1, 2, 3, 4, 6, 8), label: str = "int8",
                         suffix: str = ".onnx") -> list[Candidate]:
    """Candidates keeping the k most sensitive nodes (from `ranking`) float, for each k in `sizes`."""
    ks = sorted({k for k in sizes if 0 <= k <= len(ranking)})
    return [Candidate(label=f"{label}-float{k}", excluded=tuple(ranking[:k]), suffix=suffix,
                      build=lambda dst, keep=tuple(ranking[:k]): build(list(keep), dst)) for k in ks]


def gated_search(candidates: Sequence[Candidate], *, evaluate: Callable[[Path], Figures],
                 passes: Callable[[Figures], bool], score: Callable[[Figures], float],
                 latency: Callable[[Sequence[Path]], Sequence[Sequence[float]]] | None, work_dir: Path,
                 keep_all: bool = False) -> SearchResult:
    """Build and evaluate every candidate; time the passing ones (when more than one); choose the fastest,
    or on a tie (TIE_WITHIN) the earliest in candidate order.

    `latency` gets all passing models at once and returns, in the same order, each one's per-round timings,
    paired: sample i of every model comes from the same interleaved round (fairer than timing one after
    another on a noisy machine, and what makes a paired ratio between two candidates meaningful).
    latency=None: nothing is timed and the first passing candidate wins (where the building machine's timing
    means nothing, e.g. a build for another ISA).
    If none passes, the best-scoring candidate is chosen so its figures can be reported.
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
    chosen, choice = timed[0], ("none passed: the best-scoring candidate" if not passing else
                                "the only passing candidate" if len(timed) == 1 else "the first passing candidate")
    if len(timed) > 1 and latency is not None:  # one candidate is chosen untimed: timing decides nothing
        samples = [list(s) for s in latency([o.path for o in timed])]
        if len(samples) != len(timed) or len({len(s) for s in samples}) != 1 or not samples[0]:
            raise InputError(f"latency must return equally many paired samples for each of {len(timed)} models")
        chosen, choice = _fastest_or_earliest_tie(timed, samples)
    if not keep_all:
        for o in outcomes:
            if o is not chosen:
                _remove(o.path)
    return SearchResult(chosen=chosen, passed=bool(passing), outcomes=outcomes, choice=choice)


def _fastest_or_earliest_tie(timed: list[Outcome], samples: list[list[float]]) -> tuple[Outcome, str]:
    medians = [statistics.median(s) for s in samples]
    best = min(range(len(timed)), key=medians.__getitem__)
    for o, s, ms in zip(timed, samples, medians):
        o.latency_ms = float(ms)
        ratios = np.asarray(s) / np.asarray(samples[best])  # paired: round i against round i
        o.vs_fastest = {"median": round(float(np.median(ratios)), 4),
                        "p25": round(float(np.percentile(ratios, 25)), 4)}
    fastest = timed[best]
    for o in timed[:best]:  # candidate order: the first one tied with the fastest wins
        if o.vs_fastest["median"] <= 1 + TIE_WITHIN and o.vs_fastest["p25"] <= 1.0:
            return o, (f"tied with the fastest, {fastest.label} ({o.vs_fastest['median']:.3f}x its time, no slower "
                       f"in a quarter of the rounds or more), and earlier in the candidates' order")
    return fastest, "the fastest"


def _safe(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label)


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    data = path.with_name(path.name + ".data")  # external weights, if a builder wrote any
    if data.exists():
        shutil.rmtree(data) if data.is_dir() else data.unlink()


# -- the build-side driver --------------------------------------------------------------------------------
def run_search(state: BuildState, settings: QuantizeSettings, methods: Mapping[str, Method], *, suffix: str,
               adopt: Callable[[Path], None], float_model: Path | None = None) -> None:
    """Build the recipe's candidates with `methods`, search if none passes, and adopt the chosen model.

    float_model: the float graph the candidates are made from; with choose = "fastest" the chosen INT8 model
    is timed against it (speed_vs_float), and a warning says so when INT8 gains under MIN_SPEEDUP_VS_FLOAT."""
    check_candidates(settings, methods)
    budget = state.validate_settings.budget
    infos: dict[str, dict] = {}

    def source(method: Method) -> Path:
        return state.unfused if method.unfused else state.current

    def builder(method: Method, keep_float: Sequence[str]):
        def build(dst: Path) -> None:
            infos[dst.name] = {**method.build(state, source(method), dst, keep_float),
                               "graph": "unfused" if method.unfused else "as built so far"}
        return build

    candidates = [Candidate(label=m, build=builder(methods[m], ()), suffix=suffix) for m in settings.candidates]
    latency = state.timing_samples if settings.choose == "fastest" else None
    with state.progress.bar(f"building and validating {len(candidates)} INT8 candidate(s)", len(candidates)) as tick:
        result = gated_search(candidates, evaluate=_ticking(state.evaluate, tick), passes=budget.passes,
                              score=budget.score, latency=latency, work_dir=state.scratch / "candidates",
                              keep_all=True)
    log = result.summary()
    if not result.passed and settings.search and settings.max_float_ops > 0:
        best = methods[max(result.outcomes, key=lambda o: o.score).label]
        ops = best.sensitive_ops(source(best))
        with state.progress.bar(f"measuring the sensitivity of {len(ops)} ops ({best.name})", len(ops)) as tick:
            ranking = rank_sensitivity(candidates=ops, build=lambda keep, dst: builder(best, keep)(dst),
                                       evaluate=_ticking(state.evaluate, tick), score=budget.score,
                                       work_dir=state.scratch / "sensitivity", suffix=suffix)
        sizes = [k for k in SEARCH_SIZES if k <= settings.max_float_ops]
        search = exclusion_candidates(ranking=[name for name, _ in ranking], sizes=sizes, label=best.name,
                                      build=lambda keep, dst: builder(best, keep)(dst), suffix=suffix)
        with state.progress.bar(f"searching float-kept ops ({len(search)} builds)", len(search)) as tick:
            result = gated_search(search, evaluate=_ticking(state.evaluate, tick), passes=budget.passes,
                                  score=budget.score, latency=latency, work_dir=state.scratch / "search",
                                  keep_all=True)
        log += result.summary()
        state.record.setdefault("quantization_sensitivity", [{"op": n, "score": s} for n, s in ranking])
    chosen = result.chosen
    state.record["quantization"] = {
        "chosen": chosen.label, "passed": result.passed, "kept_float": list(chosen.excluded),
        "max_drop": budget.max_drop_for(chosen.figures), "drop_measure": drop_name(chosen.figures),
        "drop": fidelity_drop(chosen.figures),
        "details": infos.get(chosen.path.name, {}), "candidates": log, "choice": result.choice,
        "rule": ("fastest candidate inside the budget (a tie, within "
                 f"{TIE_WITHIN:.0%} and the noise, goes to the earlier one)" if latency else
                 "first candidate inside the budget, in order") + "; if none, the best-scoring one is saved and the "
                "build fails",
    }
    if latency is not None:
        state.record["quantization"]["timing"] = state.timing_measure()
    if not result.passed:
        from edgekit.build.builder import save_rejected

        saved = save_rejected(state, chosen.path, reason="no INT8 build met the accuracy budget")
        raise ValidationError(
            f"no INT8 build met the accuracy budget: the best, {chosen.label} with {len(chosen.excluded)} ops kept "
            f"float, has {'; '.join(budget.failures(chosen.figures))}; its model and record were saved to {saved}")
    if float_model is not None and settings.choose == "fastest":
        state.record["quantization"]["speed_vs_float"] = speed_vs_float(state, float_model, chosen)
    adopt(chosen.path)


def speed_vs_float(state: BuildState, float_model: Path, chosen: Outcome) -> dict:
    """The chosen INT8 model against the float graph it was made from, timed interleaved on this machine.

    INT8 is not always faster: on a CPU without VNNI the integer kernels gain little, and a build that keeps
    many ops float to meet the floors pays for quantising activations without the integer speed (MiniLM on a
    Zen 3 core: 12 of 24 ops kept float, 1.02x its float source). The user should hear it, not find it."""
    float_ms, int8_ms = (statistics.median(s) for s in state.timing_samples([float_model, chosen.path]))
    entry = {"float_ms": float(f"{float_ms:.5g}"), "int8_ms": float(f"{int8_ms:.5g}"),
             "speedup": round(float_ms / int8_ms, 3), "measure": state.timing_measure()}
    if entry["speedup"] < MIN_SPEEDUP_VS_FLOAT:
        entry["warning"] = (f"the INT8 build ({chosen.label}, {len(chosen.excluded)} ops kept float) ran "
                            f"{int8_ms:.3g} ms per sequence against {float_ms:.3g} ms for the float graph it came "
                            f"from ({float_ms / int8_ms:.2f}x, under {MIN_SPEEDUP_VS_FLOAT:.2f}x): on this CPU a float "
                            "target may serve better (or lower the floors, or build on a CPU with VNNI)")
        state.progress.warn(entry["warning"])
    return entry


def _ticking(evaluate, tick):
    def wrapped(path: Path) -> dict:
        figures = evaluate(path)
        tick(1)
        return figures
    return wrapped
