"""The validate pass: the artefact against PyTorch FP32 on real, right-padded held-out text; a failure is an error.

FP32 targets must match within atol; reduced-precision ones stay inside the accuracy budget (edgekit.build.budget).
Recipe section [validate]: the tolerances and the held-out texts they are measured on. The build's other
settings that depend on text (calibration, tracing) read the sample count and lengths from here too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edgekit.build.budget import Budget, check_fraction, drop_name, fidelity_drop
from edgekit.build.passes.base import ANY_FORMAT, TORCH_PROGRAM, Pass
from edgekit.errors import RecipeError, ValidationError

if TYPE_CHECKING:
    from edgekit.build.state import BuildState


@dataclass(frozen=True)
class ValidateSettings:
    atol: float = 1e-4  # FP32 graphs must match PyTorch to this max abs diff on real text
    max_drop: float | None = None  # reduced-precision graphs; None: per-output default (edgekit.build.budget)
    min_cosine: float = 0.985  # embeddings: worst sentence's cosine to FP32
    min_neighbour_agreement: float = 0.9  # embeddings: nearest other sentence unchanged
    samples: int = 64  # held-out corpus sentences
    batch_size: int = 8
    max_length: int = 128

    @property
    def budget(self) -> Budget:
        return Budget(self.max_drop, self.min_cosine, self.min_neighbour_agreement)

    def check(self) -> None:
        # inf or nan would pass every output: the gate must stay a gate.
        if not (isinstance(self.atol, (int, float)) and not isinstance(self.atol, bool) and math.isfinite(self.atol)
                and self.atol > 0):
            raise RecipeError(f"atol must be a positive finite number, got {self.atol!r}")
        for name in ("samples", "batch_size", "max_length"):
            value = getattr(self, name)
            if not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
                raise RecipeError(f"{name} must be a positive integer, got {value!r}")
        check_fraction("max_drop", self.max_drop)
        check_fraction("min_cosine", self.min_cosine)
        check_fraction("min_neighbour_agreement", self.min_neighbour_agreement)


def run(state: BuildState, settings: ValidateSettings) -> None:
    for check in state.checks_before_validation:
        check(state)
    with state.progress.step(f"validating against PyTorch FP32 on {len(state.validation_texts())} held-out texts"):
        figures = state.evaluate(state.current)
    figures.update(texts="edgekit corpus (held-out split)", padding="right", max_length=settings.max_length)
    if state.target.gate == "atol":
        figures["atol"] = settings.atol
        worst_name, worst = max(figures["outputs"].items(), key=lambda item: item[1]["max_abs_diff"])
        figures["passed"] = worst["max_abs_diff"] <= settings.atol
        failure = (f"validation failed: output {worst_name!r} differs from PyTorch by {worst['max_abs_diff']:.3g} "
                   f"> --atol {settings.atol:g} on {figures['samples']} real texts")
    else:
        budget = settings.budget
        failed = budget.failures(figures)
        figures.update(max_drop=budget.max_drop_for(figures), drop=fidelity_drop(figures),
                       drop_measure=drop_name(figures), passed=not failed, budget_failures=failed)
        failure = f"validation failed on {figures['samples']} real texts: {'; '.join(failed)}"
    state.record["validation"] = figures
    if not figures["passed"]:
        raise ValidationError(failure)


PASS = Pass(name="validate", description="fidelity to PyTorch FP32 on held-out real text, gated; never skipped",
            run=run, accepts=(*ANY_FORMAT, TORCH_PROGRAM), section="validate", settings=ValidateSettings)
