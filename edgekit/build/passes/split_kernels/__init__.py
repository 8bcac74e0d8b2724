"""The split-kernels pass: keep each fused ORT kernel, or split it into standard ops where that runs faster.

ORT's transformer optimizer folds each residual Add (and the dense bias) into SkipLayerNormalization, and the
FFN bias into BiasGelu. The fusion proves the graph was understood, but the fused CPU kernels are not always
faster: with ONNX Runtime 1.32 on x86-64, SkipLayerNormalization took 0.32 ms at 128 x 768 against 0.07 ms for
Add + LayerNormalization, and BiasGelu 0.37 ms at 128 x 3072 against 0.16 ms for Gelu alone (the bias Add
then joins the INT8 MatMul before it). So each form is timed on the building machine, the faster is kept,
and the record says which and why.

Recipe section [kernels], per fused kernel: "auto" times it against its split form and keeps the faster;
"fused" or "split" force one form. Runs on the final graph (after quantisation): whether ORT fuses a split
form again at load depends on what surrounds it (an INT8 MatMul absorbs the Gelu's bias Add; a float one
leaves Add + Gelu to be fused back into BiasGelu), so the check is made on the graph that ships, and again
before validation in case a later pass changed it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from edgekit.build.checkpoint import encoder_shape
from edgekit.build.passes.base import ONNX, Pass
from edgekit.build.passes.split_kernels.forms import (
    graph_op_counts,
    loaded_op_counts,
    split_fused_ops,
    time_fused_and_split,
)
from edgekit.errors import RecipeError

if TYPE_CHECKING:
    from edgekit.build.state import BuildState

FORMS = ("auto", "fused", "split")
# Split only on a clear win: the kernels differ 2-5x where the split helps; noise is a few percent.
_SPLIT_WHEN_FASTER_BY = 0.8
# fused op -> (its [kernels] key, the config field giving the width it runs at, the split form in words)
_KERNELS = {
    "SkipLayerNormalization": ("skip_layernorm", "hidden_size", "Add + LayerNormalization"),
    "BiasGelu": ("bias_gelu", "intermediate_size", "Add + Gelu"),
}


@dataclass(frozen=True)
class KernelSettings:
    # SkipLayerNormalization or Add + LayerNormalization; BiasGelu or Add + Gelu
    skip_layernorm: str = field(default="auto", metadata={"choices": FORMS})
    bias_gelu: str = field(default="auto", metadata={"choices": FORMS})

    def check(self) -> None:
        for name, value in asdict(self).items():
            if value not in FORMS:
                raise RecipeError(f"{name} must be one of {', '.join(FORMS)}, got {value!r}")


def run(state: BuildState, settings: KernelSettings) -> None:
    counts = graph_op_counts(state.current)
    forms = {}
    for op, (key, width_field, split_name) in _KERNELS.items():
        if not counts.get(op):
            forms[op] = {"form": "absent", "reason": "the graph has none"}
            continue
        width = encoder_shape(state.model.config.to_dict())[width_field]
        state.current, forms[op] = _choose(state, state.current, op, getattr(settings, key), width, split_name)
    state.record["kernels"] = forms
    state.checks_before_validation.append(check_splits_survive_load)


def _choose(state: BuildState, path: Path, op: str, setting: str, width: int, split_name: str) -> tuple[Path, dict]:
    info: dict = {"setting": setting}
    if setting == "fused":
        return path, {**info, "form": "fused", "reason": "set by the recipe"}
    split = state.scratch / f"{path.stem}-split-{op}.onnx"
    with state.progress.step(f"splitting {op} into {split_name}"):
        count = split_fused_ops(path, split, op_type=op)
        before, after = loaded_op_counts(path), loaded_op_counts(split)
    if after[op]:  # ORT would fuse it again at load, so the split file would only pretend to differ
        return path, {**info, "form": "fused",
                      "reason": f"ONNX Runtime fuses {after[op]} of the split {op} again when it loads the model"}
    # Time the kernels ORT will actually run: a bias Add that an INT8 MatMul absorbs at load costs nothing.
    absorbed = op == "BiasGelu" and after["Add"] - before["Add"] < count
    if absorbed:
        split_name = "Gelu (its bias Add absorbed by the MatMul before it)"
    if setting == "auto":
        with state.progress.step(f"timing {op} against {split_name}"):
            timing = time_fused_and_split(op, width, bias_absorbed=absorbed)
        info.update({k: round(v, 4) for k, v in timing.items()}, shape=[1, 128, width])
        if timing["split_ms"] > _SPLIT_WHEN_FASTER_BY * timing["fused_ms"]:
            return path, {**info, "form": "fused",
                          "reason": f"the fused kernel is not clearly slower than {split_name} here"}
    reason = ("set by the recipe" if setting == "split" else
              f"{split_name} ran {info['fused_ms'] / info['split_ms']:.1f}x faster than the fused kernel")
    return split, {**info, "form": "split", "split": count, "reason": reason}


def check_splits_survive_load(state: BuildState) -> None:
    """A pass after split-kernels may change the graph ORT sees at load; record whether it fuses a split again."""
    forms = state.record.get("kernels", {})
    split_ops = [op for op, form in forms.items() if form["form"] == "split"]
    if not split_ops or state.current.suffix != ".onnx":  # an OpenVINO IR made from it has no ORT kernels
        return
    loaded = loaded_op_counts(state.current)
    for op in split_ops:
        forms[op]["fused_again_at_load"] = loaded[op]
        if loaded[op]:
            state.progress.warn(f"ONNX Runtime fuses {loaded[op]} {op} again when it loads {state.current.name}; "
                                "the split gains nothing there")


PASS = Pass(name="split-kernels", description="each fused ORT kernel kept or split, whichever runs faster here",
            run=run, accepts=(ONNX,), section="kernels", settings=KernelSettings)
