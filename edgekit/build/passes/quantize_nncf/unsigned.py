"""Part of quantize-nncf: unsigned (u8) activations for the INT8 weight MatMuls of an NNCF-quantised IR, for x86 VNNI.

NNCF's ModelType.TRANSFORMER makes some activation quantizers symmetric, so that OpenVINO can run
attention's activation x activation MatMuls in INT8. A quantizer that also (or only) feeds weight
MatMuls then hands them signed activations. x86 VNNI (VPDPBUSD) multiplies unsigned by signed bytes;
OpenVINO's CPU plugin runs s8 x s8 FullyConnected through a slower path (FullyConnectedQuantizedLegacy).
On random:distilroberta-base, 10 such quantizers (every attention output projection, the first layer's
QKV and FFN input, the classifier) made openvino-int8 3-4% slower (interleaved A/B, 150 rounds).

The fix moves a signed-symmetric range [-128 s, 127 s] up by one step to [-127 s, 128 s]: the same
step s and grid, so the values in between quantise exactly as before; only inputs below -127 s now
clip one step higher, and one step is added at the top. OpenVINO then reads the range as u8 with
zero point 127. Quantizers that feed anything but weight MatMuls (attention's Q.K^T and P.V) keep
their symmetric range.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_SIGNED_RATIO = 128 / 127  # -low / high of a signed 8-bit symmetric range
_WEIGHT_PATH_OPS = ("Constant", "Convert", "Subtract", "Multiply", "FakeQuantize", "Reshape", "Transpose")


def _constant(output: Any) -> np.ndarray | None:
    node = output.get_node()
    return node.get_data() if node.get_type_name() == "Constant" else None


def _is_weight(output: Any, depth: int = 6) -> bool:
    """Whether an input is computed from constants only (stored weights and their dequantisation)."""
    node = output.get_node()
    if node.get_type_name() == "Constant":
        return True
    if depth == 0 or node.get_type_name() not in _WEIGHT_PATH_OPS:
        return False
    return all(_is_weight(i.get_source_output(), depth - 1) for i in node.inputs())


def _feeds_weight_matmuls_only(fake_quantize: Any) -> bool:
    targets = list(fake_quantize.output(0).get_target_inputs())
    if not targets:
        return False
    for target in targets:
        node = target.get_node()
        if node.get_type_name() != "MatMul":
            return False
        other = node.input(1 - target.get_index()).get_source_output()
        if not _is_weight(other):
            return False
    return True


def _signed_symmetric_range(fake_quantize: Any) -> tuple[float, float] | None:
    """(low, high) when this is a per-tensor 256-level FakeQuantize with a signed symmetric range."""
    if fake_quantize.get_attributes().get("levels") != 256:
        return None
    bounds = [_constant(fake_quantize.input_value(i)) for i in range(1, 5)]
    if any(b is None or b.size != 1 for b in bounds):
        return None
    in_low, in_high, out_low, out_high = (float(b.reshape(())) for b in bounds)
    if (in_low, in_high) != (out_low, out_high) or in_high <= 0:
        return None
    if not np.isclose(-in_low / in_high, _SIGNED_RATIO, rtol=1e-5):
        return None
    return in_low, in_high


def unsign_weight_matmul_activations(model: Any) -> list[str]:
    """Move signed-symmetric activation ranges that feed only weight MatMuls up one step (in place).

    Returns the names of the FakeQuantize ops changed.
    """
    from openvino import opset13

    changed = []
    for op in model.get_ordered_ops():
        if op.get_type_name() != "FakeQuantize" or _is_weight(op.input_value(0)):
            continue
        if not _feeds_weight_matmuls_only(op):
            continue
        bounds = _signed_symmetric_range(op)
        if bounds is None:
            continue
        low, high = bounds
        step = (high - low) / 255
        dtype = op.input_value(1).get_element_type().to_dtype()
        for index, value in ((1, low + step), (2, high + step), (3, low + step), (4, high + step)):
            constant = opset13.constant(np.array(value, dtype=dtype).reshape(op.input_value(index).get_shape()))
            op.input(index).replace_source_output(constant.output(0))
        changed.append(op.get_friendly_name())
    return changed
