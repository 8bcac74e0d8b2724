"""A transformers model as tracers want it: positional tensor inputs in, a tuple of named outputs out. Shared by
the torch.onnx fallback exporter and the quantize-inc pass (torch.export)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def positional_wrapper(model: Any, input_names: Sequence[str], outputs: Sequence[str]) -> Any:
    """An eval-mode torch Module: forward(*inputs in input_names order) -> tuple of outputs, in that order."""
    import torch

    class NamedOutputs(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs):
            result = self.model(**dict(zip(input_names, inputs)), return_dict=True)
            return tuple(result[name] for name in outputs)

    return NamedOutputs().eval()
