"""Accuracy-gated quantisation, shared by the ONNX Runtime and OpenVINO INT8 passes.

Every method the recipe names is built and validated; the fastest one inside --max-drop wins. If
none passes and the recipe allows a search, the most sensitive ops (measured one at a time) are kept
in float, in growing numbers, and again the fastest passing build wins. If nothing passes, the best
candidate's model, record and search log are saved beside the output and the build fails.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from edgekit.budget import drop_name, fidelity_drop
from edgekit.build_state import BuildState
from edgekit.errors import InvalidChoiceError, ValidationError

# (state, source model, destination, ops to keep in float) -> what was done
Builder = Callable[[BuildState, Path, Path, Sequence[str]], dict]


@dataclass(frozen=True)
class Method:
    name: str
    build: Builder
    sensitive_ops: Callable[[Path], list[str]]  # ops the search may keep in float, for a source model
    description: str
    unfused: bool = False  # quantise the graph as exported, before fusion (ORT: measured faster on some CPUs)


def run_gated(state: BuildState, methods: dict[str, Method], *, suffix: str, adopt: Callable[[Path], None]) -> None:
    from edgekit.passes.sensitivity import (
        Candidate,
        exclusion_candidates,
        gated_search,
        rank_sensitivity,
    )

    settings, budget = state.recipe.quantize, state.recipe.budget
    for name in settings.candidates:
        if name not in methods:
            raise InvalidChoiceError("quantisation method", name, tuple(methods))
    infos: dict[str, dict] = {}

    def source(method: Method) -> Path:
        return state.cache["exported"] if method.unfused else state.current

    def builder(method: Method, keep_float: Sequence[str]):
        def build(dst: Path) -> None:
            infos[dst.name] = {**method.build(state, source(method), dst, keep_float),
                               "graph": "unfused" if method.unfused else "as built so far"}
        return build

    evaluate = state.evaluate
    passes, score = budget.passes, budget.score
    candidates = [Candidate(label=m, build=builder(methods[m], ()), suffix=suffix) for m in settings.candidates]
    with state.progress.bar(f"building and validating {len(candidates)} INT8 candidate(s)", len(candidates)) as tick:
        result = gated_search(candidates, evaluate=_ticking(evaluate, tick), passes=passes, score=score,
                              latency=state.latencies_ms, work_dir=state.scratch / "candidates", keep_all=True)
    if result.passed and settings.choose == "first":  # recipe order: where this machine's timing means nothing
        result.chosen = next(o for o in result.outcomes if o.passed)
    log = result.summary()
    if not result.passed and settings.search and settings.max_float_ops > 0:
        best = methods[max(result.outcomes, key=lambda o: o.score).label]
        ops = best.sensitive_ops(source(best))
        with state.progress.bar(f"measuring the sensitivity of {len(ops)} ops ({best.name})", len(ops)) as tick:
            ranking = rank_sensitivity(candidates=ops, build=lambda keep, dst: builder(best, keep)(dst),
                                       evaluate=_ticking(evaluate, tick), score=score,
                                       work_dir=state.scratch / "sensitivity", suffix=suffix)
        sizes = [k for k in (1, 2, 3, 4, 6, 8, 12, 16) if k <= settings.max_float_ops]
        search = exclusion_candidates(ranking=[name for name, _ in ranking], sizes=sizes, label=best.name,
                                      build=lambda keep, dst: builder(best, keep)(dst), suffix=suffix)
        with state.progress.bar(f"searching float-kept ops ({len(search)} builds)", len(search)) as tick:
            result = gated_search(search, evaluate=_ticking(evaluate, tick), passes=passes, score=score,
                                  latency=state.latencies_ms, work_dir=state.scratch / "search", keep_all=True)
        log += result.summary()
        state.record.setdefault("quantization_sensitivity", [{"op": n, "score": s} for n, s in ranking])
    chosen = result.chosen
    state.record["quantization"] = {
        "chosen": chosen.label, "passed": result.passed, "kept_float": list(chosen.excluded),
        "max_drop": budget.max_drop_for(chosen.figures), "drop_measure": drop_name(chosen.figures),
        "drop": fidelity_drop(chosen.figures),
        "details": infos.get(chosen.path.name, {}), "candidates": log,
        "rule": f"{settings.choose} candidate inside the budget; if none, the best-scoring one is saved and the "
                "build fails",
    }
    if not result.passed:
        saved = _save_rejected(state, chosen.path)
        raise ValidationError(
            f"no INT8 build met the accuracy budget: the best, {chosen.label} with {len(chosen.excluded)} ops kept "
            f"float, has {'; '.join(budget.failures(chosen.figures))}; its model and record were saved to {saved}")
    adopt(chosen.path)


def _ticking(evaluate, tick):
    def wrapped(path: Path) -> dict:
        figures = evaluate(path)
        tick(1)
        return figures
    return wrapped


def _save_rejected(state: BuildState, model_path: Path) -> Path:
    """Keep the best failing candidate: users need its figures to decide what to relax."""
    base = state.out_dir.with_name(state.out_dir.name + ".rejected")
    out, n = base, 1
    while out.exists():  # never overwrite: an earlier one may hold the user's notes
        n += 1
        out = base.with_name(f"{base.name}-{n}")
    out.mkdir(parents=True)
    for path in model_path.parent.glob(model_path.stem + ".*"):
        shutil.copy2(path, out / ("model" + path.suffix))
    (out / "edgekit.json").write_text(json.dumps({
        "passed": False, "source": state.source.spec, "target": state.target.name, "task": state.task.name,
        "random_weights": state.source.random_weights, **state.record}, indent=2, default=str) + "\n")
    return out
