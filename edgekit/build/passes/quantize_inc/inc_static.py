"""Part of quantize-inc: Intel Neural Compressor's PyTorch static INT8 (PT2E with the x86 Inductor quantizer),
from a transformers model to a saved torch.export program (pure: model and feeds in, .pt2 file out).

INC 3.x path: neural_compressor.torch.export.export -> prepare(StaticQuantConfig) -> calibration runs -> convert.
INC's convert leaves the weights FP32, quantised on every call (it does not pass fold_quantize on); edgekit
folds them with torchao's constant folding, as convert_pt2e(fold_quantize=True) would, so the program stores
int8 weights (a quarter of the bytes). The program is exported again with dynamic batch and sequence axes and saved
with its input and output names inside (edgekit.runtime.torch_program reads them).
SmoothQuant is not offered: INC 3.10 runs it for PyTorch through intel-extension-for-pytorch, whose newest wheel
(2.8) requires torch 2.8, not the torch 2.13 edgekit pins.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.build.positional import positional_wrapper
from edgekit.errors import InputError, MissingDependencyError, PassError
from edgekit.runtime.torch_program import INTERFACE_FILE

MIN_DYNAMIC_LENGTH = 2  # torch.export specialises sizes 0 and 1; a sentence has at least <s> and </s>


def require_inc() -> Any:
    try:
        import neural_compressor.torch.quantization as inc_quantization
    except ImportError as exc:
        raise MissingDependencyError("neural-compressor", f"the pytorch-int8 target ({exc})", "export") from None
    return inc_quantization


def _dynamic_shapes(input_names: Sequence[str], max_length: int) -> tuple:
    """One spec per input: batch and sequence axes dynamic."""
    from torch.export import Dim

    batch = Dim("batch_size", min=1, max=1024)
    length = Dim("sequence_length", min=MIN_DYNAMIC_LENGTH, max=max_length)
    return tuple({0: batch, 1: length} for _ in input_names)


def _tensors(feeds: Mapping[str, np.ndarray], input_names: Sequence[str]) -> tuple:
    import torch

    missing = [n for n in input_names if n not in feeds]
    if missing:
        raise InputError(f"feeds lack the model inputs {missing}; they have {sorted(feeds)}")
    return tuple(torch.as_tensor(np.asarray(feeds[n], dtype=np.int64)) for n in input_names)


def float_module_names(model: Any, patterns: Sequence[str]) -> list[str]:
    """Names (as the traced wrapper sees them, prefixed "model.") of the Linear modules matching any regex."""
    import re

    import torch

    return [f"model.{name}" for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)
            and any(re.fullmatch(p, name) for p in patterns)]


def quantize_inc_static(model: Any, dst: Path, *, input_names: Sequence[str], outputs: Sequence[str],
                        example: Mapping[str, np.ndarray], calibration_feeds: Sequence[Mapping[str, np.ndarray]],
                        max_length: int, float_modules: Sequence[str] = (),
                        reduce_range: bool = False) -> dict[str, Any]:
    """Static INT8 program at dst (.pt2). example: a batch of at least 2 sequences of at least 2 tokens, so no
    dynamic size is specialised. float_modules: Linear modules (wrapper names) left in float."""
    inc = require_inc()
    import torch
    from neural_compressor.torch.export import export as inc_export

    if not calibration_feeds:
        raise InputError("INC calibration needs at least one input feed")
    start = time.perf_counter()
    wrapper = positional_wrapper(model, input_names, outputs)
    example_inputs = _tensors(example, input_names)
    shapes = _dynamic_shapes(input_names, max_length)
    config = inc.StaticQuantConfig()  # x86 quantizer: u8 asymmetric per-tensor activations, s8 per-channel weights
    for name in float_modules:
        config.set_local(name, inc.StaticQuantConfig(w_dtype="fp32", act_dtype="fp32"))
    with torch.no_grad():
        exported = inc_export(wrapper, example_inputs, dynamic_shapes=(shapes,))  # the wrapper takes *inputs
        if exported is None:
            raise PassError("Neural Compressor could not export the model with torch.export (see the log above)")
        # Drop what no output uses (BERT's pooler when only last_hidden_state is wanted): torchao's x86
        # quantizer fails on a Linear + Tanh whose result goes nowhere (IndexError in _annotate_linear_unary).
        exported.graph.eliminate_dead_code()
        exported.recompile()
        prepared = inc.prepare(exported, config)
        reduced = _reduce_activation_range(prepared) if reduce_range else 0
        for feeds in calibration_feeds:
            prepared(*_tensors(feeds, input_names))
        converted = inc.convert(prepared)
        _fold_weight_quantization(converted)
        program = torch.export.export(converted, example_inputs, dynamic_shapes=shapes)
    ops = _quantized_ops(program)
    if ops["quantize_per_tensor"] == 0:
        raise PassError("Neural Compressor's convert left no quantize ops; the program would run in float")
    if ops["quantize_per_channel"]:
        raise PassError(f"{ops['quantize_per_channel']} weights were not folded to int8 constants")
    interface = json.dumps({"inputs": list(input_names), "outputs": list(outputs)})
    dst.parent.mkdir(parents=True, exist_ok=True)
    torch.export.save(program, str(dst), extra_files={INTERFACE_FILE: interface})
    import neural_compressor

    return {
        "recipe": {"method": "neural_compressor.torch StaticQuantConfig (PT2E, X86InductorQuantizer)",
                   "activations": "uint8 asymmetric per-tensor", "weights": "int8 symmetric per-channel",
                   "calibration_samples": len(calibration_feeds), "float_modules": list(float_modules),
                   "weights_folded_to_int8": True, "reduce_range": reduce_range,
                   "observers_reduced": reduced},
        "quantized_ops": ops,
        "weights": _weight_types(program),
        "neural_compressor_version": neural_compressor.__version__,
        "seconds": round(time.perf_counter() - start, 2),
    }


def _reduce_activation_range(prepared: Any) -> int:
    """Give the uint8 activation observers a 7-bit range (0..127): without VNNI, oneDNN multiplies u8 x s8 with
    16-bit intermediate sums that saturate (torchao's X86InductorQuantizer advises reduce_range on such CPUs,
    but INC's config has no such field). Returns how many observers were changed."""
    changed = 0
    for module in prepared.modules():
        if getattr(module, "dtype", None) is not None and str(module.dtype) == "torch.uint8" \
                and hasattr(module, "quant_max") and module.quant_max == 255:
            module.quant_max = 127
            changed += 1
    return changed


def _fold_weight_quantization(module: Any) -> None:
    from torchao.quantization.pt2e.constant_fold import constant_fold
    from torchao.quantization.pt2e.quantize_pt2e import _quant_node_constraint  # what fold_quantize=True uses

    constant_fold(module, _quant_node_constraint)
    # The FP32 weights the folded constants replaced are still attributes; saved, they would double the bytes.
    module.graph.eliminate_dead_code()
    used = {node.target for node in module.graph.nodes if node.op == "get_attr"}
    for name, _ in list(module.named_parameters()) + list(module.named_buffers()):
        if name not in used:
            owner, _, leaf = name.rpartition(".")
            delattr(module.get_submodule(owner) if owner else module, leaf)
    module.recompile()


def _quantized_ops(program: Any) -> dict[str, int]:
    counts = {"quantize_per_tensor": 0, "dequantize_per_tensor": 0, "quantize_per_channel": 0,
              "dequantize_per_channel": 0}
    for node in program.graph.nodes:
        if node.op == "call_function":
            name = getattr(node.target, "__name__", str(node.target)).split(".")[0]
            if name in counts:
                counts[name] += 1
    return counts


def _weight_types(program: Any) -> dict[str, int]:
    """Bytes of the program's stored tensors by dtype: int8 weights show here once folded."""
    sizes: dict[str, int] = {}
    for value in list(program.state_dict.values()) + list(program.constants.values()):
        if hasattr(value, "dtype"):
            key = str(value.dtype).removeprefix("torch.")
            sizes[key] = sizes.get(key, 0) + value.numel() * value.element_size()
    return sizes
