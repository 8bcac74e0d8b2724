"""Part of quantize-nncf: embedding tables that stay int8 in memory.

NNCF stores a quantised embedding table as int8 constants dequantised before the Gather (Convert, optional
Subtract of a zero point, Multiply by per-row scales). In a model with FakeQuantize ops, OpenVINO's CPU plugin
folds that dequantisation at compile time: DistilRoBERTa's 50,265 x 768 word table then sits in memory as a
154 MB float constant, more than the whole 83 MB artefact (peak RSS 464 MB on load). Gathering the int8 rows
first and dequantising only them (the same Convert, Subtract and Multiply, with the scales gathered too) gives
the same numbers, and the table stays int8 in the compiled model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_INTEGER_TYPES = ("i8", "u8")


def _constant(output: Any) -> Any | None:
    node = output.get_node()
    return node if node.get_type_name() == "Constant" else None


def _dequantisation(data: Any) -> tuple[Any, Any | None, Any] | None:
    """(integer table, zero point or None, scale) when `data` is Multiply(Convert(table) [- zero point], scale)
    with constants of one row each (or one in all)."""
    multiply = data.get_node()
    if multiply.get_type_name() != "Multiply":
        return None
    source, scale = multiply.input_value(0), _constant(multiply.input_value(1))
    zero_point = None
    if source.get_node().get_type_name() == "Subtract":
        subtract = source.get_node()
        point = subtract.input_value(1)
        if point.get_node().get_type_name() == "Convert":
            point = point.get_node().input_value(0)
        zero_point, source = _constant(point), subtract.input_value(0)
        if zero_point is None:
            return None
    if source.get_node().get_type_name() != "Convert" or scale is None:
        return None
    table = _constant(source.get_node().input_value(0))
    if table is None or table.get_element_type().to_string() not in _INTEGER_TYPES:
        return None
    rows = table.get_output_shape(0)[0]
    for constant in (scale, zero_point):
        if constant is not None and list(constant.get_output_shape(0)) not in ([rows, 1], [1, 1], [1], []):
            return None
    return table, zero_point, scale


def gather_before_dequantize(model: Any) -> list[str]:
    """Rewrite every Gather (axis 0) of a dequantised integer table to gather the integer rows first; in place.
    Returns the names of the Gathers rewritten."""
    import openvino.opset13 as ops

    rewritten = []
    for gather in model.get_ordered_ops():
        if gather.get_type_name() != "Gather":
            continue
        axis = _constant(gather.input_value(2))
        if axis is None or int(np.asarray(axis.get_data()).reshape(-1)[0]) != 0:
            continue
        found = _dequantisation(gather.input_value(0))
        if found is None:
            continue
        table, zero_point, scale = found
        indices, rows = gather.input_value(1), table.get_output_shape(0)[0]
        zero = ops.constant(np.array(0, dtype=np.int64))
        float_type = gather.get_output_element_type(0)

        def per_row(constant: Any) -> Any:
            # A [rows, 1] constant follows its rows; a single value stays as it is.
            if list(constant.get_output_shape(0)) == [rows, 1]:
                return ops.gather(ops.convert(constant, float_type), indices, zero).output(0)
            return ops.convert(constant, float_type).output(0)

        values = ops.convert(ops.gather(table, indices, zero), float_type).output(0)
        if zero_point is not None:
            values = ops.subtract(values, per_row(zero_point)).output(0)
        result = ops.multiply(values, per_row(scale))
        result.set_friendly_name(gather.get_friendly_name())
        for target in list(gather.output(0).get_target_inputs()):
            target.replace_source_output(result.output(0))
        rewritten.append(gather.get_friendly_name())
    if rewritten:
        model.validate_nodes_and_infer_types()
    return rewritten
