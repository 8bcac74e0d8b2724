"""The export pass: the PyTorch model to an ONNX graph with dynamic batch and sequence axes.

Recipe section [export]: opset, and the attention implementation transformers traces into the graph.
"""

from __future__ import annotations

import inspect
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from edgekit.build.passes.base import ONNX, PYTORCH, Pass
from edgekit.build.tasks import Task
from edgekit.errors import InvalidChoiceError, RecipeError

if TYPE_CHECKING:
    from edgekit.build.state import BuildState

DEFAULT_OPSET = 17
# TorchScript exporter range whose graphs ORT's transformer fusions recognise.
SUPPORTED_OPSETS = tuple(range(14, 21))
# "sdpa" is what transformers picks by default; "eager" writes the classic MatMul/Softmax/MatMul pattern
# with a constant scale.
ATTENTION_FORMS = ("sdpa", "eager")


def check_opset(opset: int) -> int:
    if opset not in SUPPORTED_OPSETS:
        raise InvalidChoiceError("opset", opset, [str(o) for o in SUPPORTED_OPSETS])
    return opset


@dataclass(frozen=True)
class ExportSettings:
    opset: int = DEFAULT_OPSET
    attention: str = field(default="sdpa", metadata={"choices": ATTENTION_FORMS})

    def check(self) -> None:
        check_opset(self.opset)
        if self.attention not in ATTENTION_FORMS:
            raise RecipeError(f"attention must be one of {', '.join(ATTENTION_FORMS)}, got {self.attention!r}")


def model_input_names(model) -> list[str]:
    """Inputs the graph takes. token_type_ids only where the model has more than one segment type."""
    names = ["input_ids", "attention_mask"]
    takes_types = "token_type_ids" in inspect.signature(model.forward).parameters
    if takes_types and getattr(model.config, "type_vocab_size", 1) > 1:
        names.append("token_type_ids")
    return names


def export_onnx(model, encoded: dict, task: Task, dst: Path, *, opset: int,
                metadata: dict[str, str] | None = None) -> dict:
    """Trace the model on real tokenised text and write dst. Returns what the graph looks like."""
    import onnx
    import torch

    check_opset(opset)
    input_names = model_input_names(model)
    wrapper = _TupleOutputs(model, task.outputs, input_names)
    example = tuple(torch.as_tensor(encoded[name]) for name in input_names)
    axes = {name: {0: "batch", 1: "sequence"} for name in input_names}
    for name in task.outputs:
        axes[name] = {0: "batch", 1: "sequence"} if task.per_token else {0: "batch"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer and deprecation chatter; the result is validated below
        torch.onnx.export(wrapper, example, str(dst), input_names=input_names, output_names=list(task.outputs),
                          dynamic_axes=axes, opset_version=opset, do_constant_folding=True, dynamo=False)
    graph = onnx.load(str(dst))
    if metadata:
        for key, value in metadata.items():
            graph.metadata_props.add(key=key, value=value)
        onnx.save(graph, str(dst))
    onnx.checker.check_model(str(dst))
    return {"inputs": input_names, "outputs": list(task.outputs), "opset": opset, "nodes": len(graph.graph.node)}


class _TupleOutputs:
    """Adapts a transformers model to positional inputs and a tuple of named outputs for tracing."""

    def __new__(cls, model, outputs: tuple[str, ...], input_names: list[str]):
        import torch

        class Wrapper(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, *inputs):
                result = self.model(**dict(zip(input_names, inputs)), return_dict=True)
                return tuple(result[name] for name in outputs)

        return Wrapper().eval()


def _graph_metadata(state: BuildState) -> dict[str, str]:
    from edgekit import __version__
    from edgekit.build.random_models import RANDOM_WEIGHTS_NOTE

    metadata = {"edgekit.version": __version__, "edgekit.source": state.source.spec, "edgekit.task": state.task.name}
    if state.source.random_weights:
        metadata["edgekit.random_weights"] = RANDOM_WEIGHTS_NOTE  # visible to anyone who opens the file
    return metadata


def run(state: BuildState, settings: ExportSettings) -> None:
    dst = state.scratch / "exported.onnx"
    # Trace on two real sentences of different lengths so no shape is baked in by accident.
    example = state.tokenize(state.validation_texts()[:2], batch_size=2)[0]
    with state.progress.step(f"exporting to ONNX (opset {settings.opset})"):
        state.record["graph"] = export_onnx(state.model, example, state.task, dst, opset=settings.opset,
                                            metadata=_graph_metadata(state))
    state.current = dst
    state.unfused = dst  # INT8 candidates may start from the unfused graph


PASS = Pass(name="export", description="PyTorch to ONNX, dynamic batch and sequence axes", run=run,
            accepts=(PYTORCH,), produces=ONNX, section="export", settings=ExportSettings)
