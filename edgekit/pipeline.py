"""Build passes: plain functions over files, run in the order the recipe lists them.

Each pass reads `state.current` (the model file so far), may write a new file in the work dir and
point `state.current` at it, and adds what it did to `state.record`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit.corpus import load_corpus, split_corpus
from edgekit.errors import InvalidChoiceError, RecipeError
from edgekit.progress import Progress
from edgekit.recipes import Recipe
from edgekit.sources import ModelSource
from edgekit.tasks import Task

# Calibration sentences come first in the corpus split, so validation texts never overlap them.
CALIBRATION_RESERVE = 300


@dataclass
class BuildState:
    source: ModelSource
    task: Task
    recipe: Recipe
    work_dir: Path
    progress: Progress
    model: Any = None
    tokenizer: Any = None
    current: Path | None = None
    record: dict = field(default_factory=dict)

    def validation_texts(self) -> list[str]:
        _, held_out = split_corpus(load_corpus(), calibration=CALIBRATION_RESERVE,
                                   validation=self.recipe.validate.samples)
        return held_out


def export_pass(state: BuildState) -> None:
    from edgekit.export import export_onnx, model_input_names
    from edgekit.validate import tokenize_batches

    dst = state.work_dir / "model.onnx"
    inputs = model_input_names(state.model)
    # Trace on two real sentences of different lengths so no shape is baked in by accident.
    example = tokenize_batches(state.tokenizer, state.validation_texts()[:2], input_names=inputs,
                               batch_size=2, max_length=state.recipe.validate.max_length)[0]
    with state.progress.step(f"exporting to ONNX (opset {state.recipe.export.opset})"):
        state.record["graph"] = export_onnx(state.model, example, state.task, dst, opset=state.recipe.export.opset,
                                            metadata=_graph_metadata(state))
    state.current = dst


def _graph_metadata(state: BuildState) -> dict[str, str]:
    from edgekit import __version__
    from edgekit.random_models import RANDOM_WEIGHTS_NOTE

    metadata = {"edgekit.version": __version__, "edgekit.source": state.source.spec, "edgekit.task": state.task.name}
    if state.source.random_weights:
        metadata["edgekit.random_weights"] = RANDOM_WEIGHTS_NOTE  # visible to anyone who opens the file
    return metadata


def validate_pass(state: BuildState) -> None:
    from edgekit.export import model_input_names
    from edgekit.validate import onnx_runner, reference_outputs, tokenize_batches, validate

    settings = state.recipe.validate
    texts = state.validation_texts()
    batches = tokenize_batches(state.tokenizer, texts, input_names=model_input_names(state.model),
                               batch_size=settings.batch_size, max_length=settings.max_length)
    with state.progress.step(f"validating against PyTorch FP32 on {len(texts)} real texts"):
        reference = reference_outputs(state.model, state.task, batches)
        figures = validate(state.task, reference, batches, onnx_runner(state.current), atol=settings.atol)
    figures.update(texts="edgekit corpus (held-out split)", padding="right", max_length=settings.max_length)
    state.record["validation"] = figures


PASSES: dict[str, Callable[[BuildState], None]] = {
    "export": export_pass,
    "validate": validate_pass,
}


def check_passes(passes: tuple[str, ...]) -> None:
    for name in passes:
        if name not in PASSES:
            raise InvalidChoiceError("pass", name, tuple(PASSES))
    if not passes or passes[0] != "export":
        raise RecipeError(f"passes must start with 'export', got {list(passes)}")
    if "validate" not in passes:
        raise RecipeError("passes must include 'validate': edgekit never ships an unvalidated artefact")


def run_passes(state: BuildState) -> None:
    check_passes(state.recipe.passes)
    for name in state.recipe.passes:
        PASSES[name](state)
