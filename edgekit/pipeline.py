"""The pass registry: plain functions over files, run in the order the recipe lists them."""

from __future__ import annotations

from collections.abc import Callable

from edgekit.build_state import BuildState
from edgekit.errors import InvalidChoiceError, RecipeError
from edgekit.steps import core, kernel_forms, openvino_steps, ort_steps

PASSES: dict[str, Callable[[BuildState], None]] = {
    "export": core.export_step,
    "fuse": core.fuse_step,
    "prune-rows": core.prune_rows_step,
    "split-kernels": kernel_forms.split_kernels_step,
    "quantize-ort": ort_steps.quantize_step,
    "quantize-nncf": openvino_steps.quantize_step,
    "ort-format": ort_steps.ort_format_step,
    "openvino-ir": openvino_steps.convert_step,
    "compress-weights": openvino_steps.compress_weights_step,
    "validate": core.validate_step,
}


def check_passes(passes: tuple[str, ...]) -> None:
    for name in passes:
        if name not in PASSES:
            raise InvalidChoiceError("pass", name, tuple(PASSES))
    if not passes or passes[0] != "export":
        raise RecipeError(f"passes must start with 'export', got {list(passes)}")
    if passes[-1] != "validate":
        raise RecipeError("passes must end with 'validate': edgekit never ships an unvalidated artefact")


def run_passes(state: BuildState) -> None:
    check_passes(state.recipe.passes)
    for name in state.recipe.passes:
        PASSES[name](state)
    core.finalize(state)
