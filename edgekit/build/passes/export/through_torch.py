"""The fallback exporter: torch.onnx.export (TorchScript tracing) of a wrapper with named tuple outputs, traced on
real tokenised text. Used where Optimum cannot export a model edgekit supports; the record says why."""

from __future__ import annotations

import warnings
from pathlib import Path

from edgekit.build.positional import positional_wrapper
from edgekit.build.tasks import Task


def export_with_torch(model, encoded: dict, task: Task, dst: Path, *, opset: int, input_names: list[str]) -> None:
    import torch

    wrapper = positional_wrapper(model, input_names, task.outputs)
    example = tuple(torch.as_tensor(encoded[name]) for name in input_names)
    # the axis names Optimum gives, so both exporters write the same interface
    axes = {name: {0: "batch_size", 1: "sequence_length"} for name in input_names}
    for name in task.outputs:
        axes[name] = {0: "batch_size", 1: "sequence_length"} if task.per_token else {0: "batch_size"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer and deprecation chatter; the result is validated
        torch.onnx.export(wrapper, example, str(dst), input_names=input_names, output_names=list(task.outputs),
                          dynamic_axes=axes, opset_version=opset, do_constant_folding=True, dynamo=False)
