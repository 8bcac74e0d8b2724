"""The export, fuse, prune-rows and validate passes, and the final copy of the artefact's files."""

from __future__ import annotations

import shutil

from edgekit.build_state import BuildState
from edgekit.errors import ValidationError
from edgekit.steps.kernel_forms import check_splits_survive_load


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
    state.current = dst


def prune_rows_step(state: BuildState) -> None:
    """Ops that only feed a first-token head compute that row alone; a per-token head keeps every row."""
    from edgekit.errors import RecipeError
    from edgekit.passes.prune_rows import prune_unread_rows

    if state.current.suffix != ".onnx":
        raise RecipeError(f"prune-rows works on ONNX graphs, but the build holds {state.current.name} here; "
                          "list it after export or fuse, before quantize-ort and openvino-ir")
    feeds = state.tokenize(state.validation_texts()[:8], batch_size=4)
    src, dst = state.current, state.scratch / f"{state.current.stem}-rows.onnx"
    with state.progress.step("pruning rows no output reads"):
        info = prune_unread_rows(src, dst, check_feeds=feeds)
        exported = state.cache.get("exported")
        if info["applied"] and exported not in (None, src):  # unfused INT8 candidates start from it
            state.cache["exported"] = state.scratch / "exported-rows.onnx"
            prune_unread_rows(exported, state.cache["exported"], check_feeds=feeds)
    if info["applied"]:
        if exported == src:
            state.cache["exported"] = dst
        state.current = dst
        attention = " and the last attention its query" if info["pruned_ops"].get("Attention") else ""
        state.progress.note(f"{info['pruned_matmuls']} MatMuls after the last attention{attention} now compute "
                            f"the first token's row only (outputs differ by {info['check_max_abs_diff']:.2g})")
    else:
        state.progress.note(f"prune-rows: nothing pruned: {info['reason']}")
    state.record["rows"] = info


def validate_step(state: BuildState) -> None:
    """Final fidelity figures of the artefact against PyTorch FP32, gated by atol or by --max-drop."""
    from edgekit.budget import drop_name, fidelity_drop

    settings = state.recipe.validate
    check_splits_survive_load(state)
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
