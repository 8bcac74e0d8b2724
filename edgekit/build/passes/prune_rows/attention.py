"""Part of prune-rows. One-query attention: the step prune-rows takes into a fused Attention whose output is read at row 0 only.

Such an attention needs the first token's query alone, but every token's key and value. The rewrite feeds
it that one row and passes all rows' keys and values in through the op's `past` input, computed by one
MatMul with the key and value columns of the same weights. The first row then appears twice as a key
(in `past` and as the current token), so the mask gets one more column, zero, that hides the second copy.

Exact: attention does not depend on the order of its keys, and each key keeps its mask value. In
DistilRoBERTa it takes the last layer's query projection and attention scores off 127 of 128 rows.
ONNX Runtime's quantiser turns the rewritten Attention into a QAttention with the same `past` input.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_DOMAIN = "com.microsoft"
# Attributes that change what the inputs mean; an Attention carrying any of them is left as it is.
_UNSUPPORTED_ATTRIBUTES = ("unidirectional", "qkv_hidden_sizes", "past_present_share_buffer", "do_rotary")


def unsupported_reason(onnx: Any, node: Any, constants: dict[str, np.ndarray],
                       producers: dict[str, Any]) -> str | None:
    """Why `node` cannot take one query, or None when it can."""
    if node.op_type != "Attention" or node.domain != _DOMAIN:
        return "not a com.microsoft Attention"
    if len(node.output) > 1 and any(node.output[1:]):
        return "its present output is read"
    if len(node.input) > 4 and any(node.input[4:]):
        return "it has past or attention-bias inputs already"
    for attr in node.attribute:
        if attr.name in _UNSUPPORTED_ATTRIBUTES and onnx.helper.get_attribute_value(attr):
            return f"its {attr.name} attribute is set"
    weights, bias = (constants.get(node.input[i]) for i in (1, 2))
    if weights is None or bias is None or weights.ndim != 2 or weights.shape[1] % 3:
        return "its weights or bias are not constants of the packed Q, K, V form"
    if _raw_mask(onnx, node, constants, producers) is None:
        return "its mask_index is not the per-sequence lengths of a (batch, sequence) mask"
    return None


def _raw_mask(onnx: Any, node: Any, constants: dict[str, np.ndarray], producers: dict[str, Any]) -> str | None:
    """The (batch, sequence) 0/1 mask behind the Attention's mask_index: ONNX Runtime's fusion sums it
    over the sequence into per-sequence lengths (ReduceSum, axis 1, keepdims 0)."""
    if len(node.input) < 4 or not node.input[3]:
        return None
    reduce = producers.get(node.input[3])
    if reduce is None or reduce.op_type != "ReduceSum":
        return None
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in reduce.attribute}
    axes = list(attrs.get("axes", ())) or (
        constants[reduce.input[1]].tolist() if len(reduce.input) > 1 and reduce.input[1] in constants else [])
    if attrs.get("keepdims", 1) != 0 or [int(a) for a in np.ravel(axes)] != [1]:
        return None
    return reduce.input[0]


def rewrite(onnx: Any, model: Any, node: Any, constants: dict[str, np.ndarray],
            producers: dict[str, Any]) -> list[Any]:
    """Give `node` (checked by unsupported_reason) the past keys and values and the longer mask; returns
    the nodes that must run before it, and adds their initializers to `model`. Its input 0 stays the
    full-height tensor here: the caller slices it to row 0, as prune-rows does for every pruned op."""
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    heads = next(helper.get_attribute_value(a) for a in node.attribute if a.name == "num_heads")
    weights, bias = constants[node.input[1]], constants[node.input[2]]
    hidden = weights.shape[1] // 3
    prefix = f"{node.name or node.output[0]}/one_query"

    def c(name: str) -> str:
        return f"{prefix}/{name}"

    values = {
        "kv_weight": np.ascontiguousarray(weights[:, hidden:]),
        "kv_bias": np.ascontiguousarray(bias[hidden:]),
        "kv_shape": np.array([0, -1, 2, heads, hidden // heads], dtype=np.int64),  # 0: keep the batch size
        "zero": np.array([0], dtype=np.int64), "one": np.array([1], dtype=np.int64),
        "no_token": np.array(0, dtype=np.int32),
    }
    model.graph.initializer.extend(numpy_helper.from_array(value, c(name)) for name, value in values.items())
    full, mask = node.input[0], _raw_mask(onnx, node, constants, producers)
    new_nodes = [
        helper.make_node("MatMul", [full, c("kv_weight")], [c("kv_projected")], name=c("kv_MatMul")),
        helper.make_node("Add", [c("kv_projected"), c("kv_bias")], [c("kv")], name=c("kv_Add")),
        helper.make_node("Reshape", [c("kv"), c("kv_shape")], [c("kv_split")], name=c("kv_Reshape")),
        # (batch, seq, 2, heads, head size) -> past's (2, batch, heads, seq, head size)
        helper.make_node("Transpose", [c("kv_split")], [c("past")], name=c("past_Transpose"), perm=[2, 0, 3, 1, 4]),
        helper.make_node("Cast", [mask], [c("mask_int32")], name=c("mask_Cast"), to=onnx.TensorProto.INT32),
        helper.make_node("Slice", [c("mask_int32"), c("zero"), c("one"), c("one")], [c("mask_column")],
                         name=c("mask_Slice")),
        helper.make_node("Mul", [c("mask_column"), c("no_token")], [c("hidden_copy")], name=c("mask_Mul")),
        helper.make_node("Concat", [c("mask_int32"), c("hidden_copy")], [c("mask")], name=c("mask_Concat"), axis=1),
    ]
    inputs = [full, node.input[1], node.input[2], c("mask"), c("past")]
    del node.input[:]
    node.input.extend(inputs)
    del node.output[1:]
    node.output.append(c("present"))  # read by nothing, but ONNX Runtime requires it whenever past is given
    return new_nodes
