"""The export pass: the PyTorch model to an ONNX graph with dynamic batch and sequence axes, through Optimum's
exporter (through_optimum.py) or, where Optimum cannot, torch.onnx.export (through_torch.py).

Recipe section [export]: opset, the attention implementation transformers traces into the graph, and the exporter.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from edgekit.build.passes.base import ONNX, PYTORCH, Pass
from edgekit.build.tasks import Task
from edgekit.errors import ExportError, InvalidChoiceError, RecipeError

if TYPE_CHECKING:
    from edgekit.build.state import BuildState

DEFAULT_OPSET = 17
# TorchScript exporter range whose graphs ORT's transformer fusions recognise.
SUPPORTED_OPSETS = tuple(range(14, 21))
# "sdpa" is what transformers picks by default; "eager" writes the classic MatMul/Softmax/MatMul pattern
# with a constant scale.
ATTENTION_FORMS = ("sdpa", "eager")
# "auto": Optimum's exporter, falling back to torch.onnx.export (with the reason recorded) where Optimum has no
# config for the model type and task; "optimum" makes that an error; "torch" skips Optimum.
EXPORTERS = ("auto", "optimum", "torch")


def check_opset(opset: int) -> int:
    if opset not in SUPPORTED_OPSETS:
        raise InvalidChoiceError("opset", opset, [str(o) for o in SUPPORTED_OPSETS])
    return opset


@dataclass(frozen=True)
class ExportSettings:
    opset: int = DEFAULT_OPSET
    attention: str = field(default="sdpa", metadata={"choices": ATTENTION_FORMS})
    exporter: str = field(default="auto", metadata={"choices": EXPORTERS})

    def check(self) -> None:
        check_opset(self.opset)
        if self.attention not in ATTENTION_FORMS:
            raise RecipeError(f"attention must be one of {', '.join(ATTENTION_FORMS)}, got {self.attention!r}")
        if self.exporter not in EXPORTERS:
            raise RecipeError(f"exporter must be one of {', '.join(EXPORTERS)}, got {self.exporter!r}")


def model_input_names(model) -> list[str]:
    """Inputs the graph takes. token_type_ids only where the model has more than one segment type."""
    names = ["input_ids", "attention_mask"]
    takes_types = "token_type_ids" in inspect.signature(model.forward).parameters
    if takes_types and getattr(model.config, "type_vocab_size", 1) > 1:
        names.append("token_type_ids")
    return names


def export_onnx(model, encoded: dict, task: Task, dst: Path, *, opset: int, metadata: dict[str, str] | None = None,
                exporter: str = "auto") -> dict:
    """Write dst through Optimum's exporter (or, where it cannot, torch.onnx.export; exporter="auto"), then check
    it. Returns what the graph looks like and which exporter wrote it, with the reason for a fallback."""
    import onnx

    check_opset(opset)
    if exporter not in EXPORTERS:
        raise InvalidChoiceError("exporter", exporter, EXPORTERS)
    input_names = model_input_names(model)
    used = _export(model, encoded, task, dst, opset=opset, input_names=input_names, exporter=exporter)
    graph = onnx.load(str(dst))
    if metadata:
        for key, value in metadata.items():
            graph.metadata_props.add(key=key, value=value)
        onnx.save(graph, str(dst))
    onnx.checker.check_model(str(dst))
    found = [i.name for i in graph.graph.input]
    if found != input_names:  # the feeds edgekit builds everywhere else must fit the graph
        raise ExportError(f"the exported graph takes inputs {found}; edgekit feeds {input_names}")
    return {"inputs": input_names, "outputs": list(task.outputs), "opset": opset, "nodes": len(graph.graph.node),
            "attention": getattr(model.config, "_attn_implementation", None), "exporter": used}


def _export(model, encoded: dict, task: Task, dst: Path, *, opset: int, input_names: list[str],
            exporter: str) -> dict:
    from edgekit.build.passes.export.through_optimum import (
        OptimumCannotExport,
        export_with_optimum,
        optimum_version,
    )
    from edgekit.build.passes.export.through_torch import export_with_torch

    reason = "the recipe asks for torch.onnx.export ([export] exporter = \"torch\")"
    if exporter != "torch":
        try:
            config = export_with_optimum(model, task, dst, opset=opset, input_names=input_names)
            return {"name": "optimum", "version": optimum_version(), "onnx_config": config}
        except OptimumCannotExport as exc:
            if exporter == "optimum":
                raise ExportError(f"{exc}; use [export] exporter = \"auto\" to fall back to torch.onnx.export") \
                    from None
            reason = str(exc)
    import torch

    export_with_torch(model, encoded, task, dst, opset=opset, input_names=input_names)
    return {"name": "torch.onnx.export", "version": f"torch {torch.__version__}", "fallback_reason": reason}


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
                                            metadata=_graph_metadata(state), exporter=settings.exporter)
    used = state.record["graph"]["exporter"]
    if used["name"] != "optimum":
        state.progress.note(f"exported with {used['name']}: {used['fallback_reason']}")
    state.current = dst
    state.unfused = dst  # INT8 candidates may start from the unfused graph


PASS = Pass(name="export", description="PyTorch to ONNX by Optimum's exporter (torch.onnx.export where it cannot)",
            run=run, accepts=(PYTORCH,), produces=ONNX, section="export", settings=ExportSettings)
