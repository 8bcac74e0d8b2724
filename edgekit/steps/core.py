"""The export, fuse and validate passes, and the final copy of the artefact's files."""

from __future__ import annotations

import shutil
from pathlib import Path

from edgekit.build_state import BuildState
from edgekit.errors import ValidationError


def export_step(state: BuildState) -> None:
    from edgekit.export import export_onnx

    dst = state.scratch / "exported.onnx"
    # Trace on two real sentences of different lengths so no shape is baked in by accident.
    example = state.tokenize(state.validation_texts()[:2], batch_size=2)[0]
    with state.progress.step(f"exporting to ONNX (opset {state.recipe.export.opset})"):
        state.record["graph"] = export_onnx(state.model, example, state.task, dst, opset=state.recipe.export.opset,
                                            metadata=_graph_metadata(state))
    state.current = dst
    state.cache["exported"] = dst  # INT8 candidates may start from the unfused graph


def _graph_metadata(state: BuildState) -> dict[str, str]:
    from edgekit import __version__
    from edgekit.random_models import RANDOM_WEIGHTS_NOTE

    metadata = {"edgekit.version": __version__, "edgekit.source": state.source.spec, "edgekit.task": state.task.name}
    if state.source.random_weights:
        metadata["edgekit.random_weights"] = RANDOM_WEIGHTS_NOTE  # visible to anyone who opens the file
    return metadata


def fuse_step(state: BuildState) -> None:
    """ORT transformer fusion; an incomplete fusion is an error, never a silent pass-through."""
    from edgekit.passes.ort_fuse import fuse_transformer

    config = state.model.config
    layers = config.num_hidden_layers
    dst = state.scratch / "fused.onnx"
    with state.progress.step("fusing transformer ops (ONNX Runtime)"):
        counts = fuse_transformer(state.current, dst, num_heads=config.num_attention_heads,
                                  hidden_size=config.hidden_size,
                                  expected={"Attention": layers, "SkipLayerNormalization": 2 * layers})
    gelus = counts["BiasGelu"] + counts["FastGelu"] + counts["Gelu"]
    if gelus < layers:
        from edgekit.errors import PassError

        raise PassError(f"transformer fusion is incomplete: {gelus} Gelu-family ops for {layers} layers")
    state.record["fusion"] = {"counts": counts, "expected": {"Attention": layers, "Gelu-family": layers,
                                                             "SkipLayerNormalization": 2 * layers}}
    state.current, state.record["fusion"]["skip_layernorm"] = _skip_layernorm_form(state, dst)


# Split only on a clear win: the kernels differ 3-5x where the split helps, noise is a few percent.
_SPLIT_WHEN_FASTER_BY = 0.8


def _skip_layernorm_form(state: BuildState, fused: Path) -> tuple[Path, dict]:
    """Keep SkipLayerNormalization fused, or split it into Add + LayerNormalization where that runs faster."""
    from edgekit.passes.ort_layernorm import (
        loaded_op_counts,
        split_skip_layernorm,
        time_skip_layernorm,
    )

    setting = state.recipe.fuse.skip_layernorm
    info: dict = {"setting": setting}
    if setting == "fused":
        return fused, {**info, "form": "fused", "reason": "set by the recipe"}
    if setting == "auto":
        hidden = state.model.config.hidden_size
        with state.progress.step("timing SkipLayerNormalization against Add + LayerNormalization"):
            timing = time_skip_layernorm(hidden)
        info.update({k: round(v, 4) for k, v in timing.items()}, shape=[1, 128, hidden])
        if timing["split_ms"] > _SPLIT_WHEN_FASTER_BY * timing["fused_ms"]:
            return fused, {**info, "form": "fused",
                           "reason": "the fused kernel is not clearly slower than Add + LayerNormalization here"}
    split = state.scratch / "fused-split-layernorm.onnx"
    with state.progress.step("splitting SkipLayerNormalization into Add + LayerNormalization"):
        count = split_skip_layernorm(fused, split)
        refused = loaded_op_counts(split)["SkipLayerNormalization"]
    if refused:  # ORT would fuse it again at load, so the split file would only pretend to differ
        return fused, {**info, "form": "fused",
                       "reason": f"ONNX Runtime fuses {refused} of the split ops again when it loads the model"}
    reason = ("set by the recipe" if setting == "split" else
              f"Add + LayerNormalization ran {info['fused_ms'] / info['split_ms']:.1f}x faster than the fused kernel")
    return split, {**info, "form": "split", "split": count, "reason": reason}


def _check_split_survives_load(state: BuildState) -> None:
    """Later passes (quantisation) change the graph ORT sees at load; record whether it fuses the split again."""
    form = state.record.get("fusion", {}).get("skip_layernorm", {})
    if form.get("form") != "split":
        return
    from edgekit.passes.ort_layernorm import loaded_op_counts

    fused_again = loaded_op_counts(state.current)["SkipLayerNormalization"]
    form["fused_again_at_load"] = fused_again
    if fused_again:
        state.progress.warn(f"ONNX Runtime fuses {fused_again} SkipLayerNormalization again when it loads "
                            f"{state.current.name}; the split gains nothing there")


def validate_step(state: BuildState) -> None:
    """Final fidelity figures of the artefact against PyTorch FP32, gated by atol or by --max-drop."""
    from edgekit.budget import drop_name, fidelity_drop

    settings = state.recipe.validate
    _check_split_survives_load(state)
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
        budget = state.recipe.budget
        failed = budget.failures(figures)
        figures.update(max_drop=budget.max_drop_for(figures), drop=fidelity_drop(figures),
                       drop_measure=drop_name(figures), passed=not failed, budget_failures=failed)
        failure = f"validation failed on {figures['samples']} real texts: {'; '.join(failed)}"
    state.record["validation"] = figures
    if not figures["passed"]:
        raise ValidationError(failure)


def finalize(state: BuildState) -> None:
    """Copy the final model file and its companions into the artefact directory under their shipped names."""
    shutil.copy2(state.current, state.work_dir / state.target.model_file)
    for name, path in state.companions.items():
        shutil.copy2(path, state.work_dir / name)
