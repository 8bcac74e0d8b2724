"""The prune-rows planner and rewrite (pure, file to file). Prune rows no output reads: where a head reads only the first token (sequence classification takes
<s>/[CLS]), the row-wise ops that feed it compute that one row instead of every token's.

Exact, not an approximation: each op pruned here works row by row (MatMul with a weight matrix, bias and
residual Adds, LayerNorm, Gelu and friends), so row 0 of its result depends on row 0 of its inputs only.
The walk goes backwards from the head's Gather(axis=1, index 0) and stops at the first op that mixes
rows (attention), where one Slice keeps row 0. In DistilRoBERTa that takes the last layer's output
projection and feed-forward off 127 of 128 rows: about 12% of the model's MatMul work. A fused Attention
there goes one step further and takes the first token's query alone (see attention.py).

It works on ONNX graphs before quantisation: dynamic INT8 scales are computed over all rows of a tensor,
so they are not row-wise, and the pass stops at them rather than change an answer.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.build.onnx_files import check_model_file, require_onnx, save_model
from edgekit.build.passes.prune_rows import attention
from edgekit.errors import PassError

# op -> positions of inputs that carry rows; the op's other inputs must be constants. None: every input
# may carry rows (element-wise ops), and a constant operand must be a scalar or a last-axis vector.
_ROW_WISE: dict[str, tuple[int, ...] | None] = {
    "MatMul": (0,),  # with a constant 2-D weight as input 1
    "Add": None, "Sub": None, "Mul": None, "Div": None,
    "LayerNormalization": (0,),  # normalises the last axis only (checked)
    "SkipLayerNormalization": (0, 1),
    "Gelu": (0,), "FastGelu": (0,), "BiasGelu": (0,),
    "Erf": (0,), "Tanh": (0,), "Relu": (0,), "Sigmoid": (0,), "Identity": (0,), "Cast": (0,),
}
_ROW_AXIS = 1  # (batch, sequence, hidden): the sequence axis holds the rows
# FP32 outputs of the pruned graph against the original: the 1e-4 the FP32 targets are validated with.
_CHECK_ATOL = 1e-4


def _constants(onnx: Any, graph: Any) -> dict[str, np.ndarray]:
    values = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    values[node.output[0]] = onnx.numpy_helper.to_array(attr.t)
        elif node.op_type == "Identity" and node.input[0] in values:  # the exporter's shared weights
            values[node.output[0]] = values[node.input[0]]
    return values


def _first_token_gathers(onnx: Any, nodes: list[Any], constants: dict[str, np.ndarray]) -> set[int]:
    """Indices of Gather(data, 0, axis=1) nodes: a head taking the first token's row."""
    found = set()
    for index, node in enumerate(nodes):
        if node.op_type != "Gather" or len(node.input) != 2:
            continue
        axis = next((onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == "axis"), 0)
        value = constants.get(node.input[1])
        if axis == _ROW_AXIS and value is not None and value.ndim == 0 and int(value) == 0:
            found.add(index)
    return found


def _row_inputs(onnx: Any, node: Any, constants: dict[str, np.ndarray]) -> tuple[int, ...] | None:
    """Positions of node's row-carrying inputs if it works row by row, else None."""
    if node.op_type not in _ROW_WISE or len(node.output) != 1:
        return None
    positions = _ROW_WISE[node.op_type]
    if positions is None:  # element-wise: every non-constant input carries rows
        rows = tuple(i for i, name in enumerate(node.input) if name not in constants)
        if any(constants[name].ndim > 1 for name in node.input if name in constants):
            return None  # a constant that could broadcast across rows
        return rows or None
    others = [name for i, name in enumerate(node.input) if i not in positions and name]
    if any(name not in constants for name in others):
        return None
    if node.op_type == "MatMul" and constants[node.input[1]].ndim != 2:
        return None
    if node.op_type == "LayerNormalization":
        axis = next((onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == "axis"), -1)
        if axis != -1:
            return None
    if any(node.input[i] in constants for i in positions if i < len(node.input)):
        return None
    return positions


@dataclass(frozen=True)
class _Graph:
    """A graph's nodes (named by index: protobuf hands out a new Python object on every access), its
    constants, its first-token Gathers, each tensor's readers and the graph outputs."""
    nodes: list[Any]
    constants: dict[str, np.ndarray]
    gathers: set[int]
    readers: dict[str, list[int]]
    outputs: set[str]

    @classmethod
    def of(cls, onnx: Any, model: Any) -> _Graph:
        nodes = list(model.graph.node)
        constants = _constants(onnx, model.graph)
        readers: dict[str, list[int]] = {}
        for index, node in enumerate(nodes):
            for name in node.input:
                readers.setdefault(name, []).append(index)
        return cls(nodes, constants, _first_token_gathers(onnx, nodes, constants), readers,
                   {o.name for o in model.graph.output})

    def read_at_row_zero(self, name: str, pruned: dict[int, tuple[int, ...]]) -> bool:
        """No graph output, and each reader is a first-token Gather or a pruned node reading row 0."""
        readers = self.readers.get(name, [])
        return name not in self.outputs and bool(readers) and all(
            _reads_row_zero(self.nodes[r], r, name, self.gathers, pruned) for r in readers)


def plan_pruning(model: Any) -> dict[int, tuple[int, ...]]:
    """{index of each node that can compute one row: positions of its row-carrying inputs}."""
    onnx = require_onnx("row pruning")
    return _plan(onnx, _Graph.of(onnx, model))


def _plan(onnx: Any, graph: _Graph) -> dict[int, tuple[int, ...]]:
    """Graph nodes are in topological order, so one backward sweep decides every tensor: by the time a node
    is reached, all readers of its outputs are."""
    pruned: dict[int, tuple[int, ...]] = {}
    for index in reversed(range(len(graph.nodes))):
        node = graph.nodes[index]
        rows = _row_inputs(onnx, node, graph.constants)
        if rows is not None and graph.read_at_row_zero(node.output[0], pruned):
            pruned[index] = rows
    return pruned


def _reads_row_zero(consumer: Any, index: int, name: str, gathers: set[int],
                    pruned: dict[int, tuple[int, ...]]) -> bool:
    if index in gathers:
        return consumer.input[0] == name and consumer.input[1] != name
    if index not in pruned:
        return False
    return all(i in pruned[index] for i, n in enumerate(consumer.input) if n == name)


def prune_unread_rows(src: Path, dst: Path, *, check_feeds: list[dict[str, np.ndarray]] | None = None) -> dict:
    """Write `dst`, where the ops that only feed a first-token head compute row 0 alone.

    Returns what was done: {"applied", "pruned_ops" (op -> count), "pruned_matmuls", "slices", "reason"}.
    With nothing to prune (every output reads all tokens) "applied" is False, the reason says why and
    `dst` is not written. `check_feeds` (tokenised real text) are run through both graphs with ONNX
    Runtime; outputs further apart than 1e-4 raise PassError.
    """
    onnx = require_onnx("row pruning")
    src, dst = check_model_file(src), Path(dst)
    model = onnx.load(str(src))
    graph = _Graph.of(onnx, model)
    pruned = _plan(onnx, graph)
    nodes = graph.nodes
    before, left_whole = _one_query_attentions(onnx, model, graph, pruned)
    ops = Counter(nodes[i].op_type for i in pruned)
    if not ops["MatMul"]:
        reason = ("no output reads the first token alone (per-token outputs need every row)"
                  if not graph.gathers else "the first-token head is not fed by row-wise MatMuls")
        return {"applied": False, "pruned_ops": {}, "pruned_matmuls": 0, "slices": 0, "reason": reason}

    one_row = {out for index in pruned for out in nodes[index].output}
    sliced = _insert_slices(onnx, model, nodes, pruned, one_row, before)
    stale = [v for v in model.graph.value_info if v.name in one_row]  # their sequence axis is now 1
    for info in stale:
        model.graph.value_info.remove(info)
    save_model(model, dst)
    result = {"applied": True, "pruned_ops": dict(ops), "pruned_matmuls": ops["MatMul"],
              "slices": sliced, "reason": "the only output reads the first token's row"}
    if left_whole:
        result["attention_left_whole"] = left_whole
    if check_feeds:
        result["check_max_abs_diff"] = _check_same_outputs(src, dst, check_feeds)
    return result


def _one_query_attentions(onnx: Any, model: Any, graph: _Graph, pruned: dict[int, tuple[int, ...]]
                          ) -> tuple[dict[int, list[Any]], dict[str, str]]:
    """Rewrite each fused Attention read at row 0 only to attend from that row (see attention.py) and
    mark it pruned, so its input is sliced like any pruned op's. Returns ({its index: nodes to run before
    it}, {name of each such Attention left whole: why})."""
    producers = {out: node for node in graph.nodes for out in node.output}
    before, left_whole = {}, {}
    for index, node in enumerate(graph.nodes):
        if node.op_type != "Attention" or not graph.read_at_row_zero(node.output[0], pruned):
            continue
        reason = attention.unsupported_reason(onnx, node, graph.constants, producers)
        if reason:
            left_whole[node.name or node.output[0]] = reason
        else:
            before[index] = attention.rewrite(onnx, model, node, graph.constants, producers)
            pruned[index] = (0,)
    return before, left_whole


def _insert_slices(onnx: Any, model: Any, nodes: list[Any], pruned: dict[int, tuple[int, ...]],
                   one_row: set[str], before: dict[int, list[Any]]) -> int:
    """Feed each pruned node's full-height inputs through one shared Slice to row 0; returns the count.
    one_row: the pruned nodes' outputs, which are one row high already. before: nodes to place just
    before the node of that index."""
    graph = model.graph
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    prefix = "edgekit_rows"
    for name, value in (("starts", 0), ("ends", 1), ("axes", _ROW_AXIS)):
        graph.initializer.append(numpy_helper.from_array(np.array([value], dtype=np.int64), f"{prefix}_{name}"))
    slice_of: dict[str, str] = {}
    for index, rows in pruned.items():
        node = nodes[index]
        for i in rows:
            name = node.input[i]
            if name in one_row:
                continue  # a pruned producer computes one row already
            if name not in slice_of:
                slice_of[name] = f"{name}_{prefix}"
            node.input[i] = slice_of[name]
    produced_by = {out: index for index, node in enumerate(nodes) for out in node.output}
    placed: dict[int, list[Any]] = {}
    for number, (name, sliced) in enumerate(slice_of.items()):
        slice_node = helper.make_node("Slice", [name, f"{prefix}_starts", f"{prefix}_ends", f"{prefix}_axes"],
                                      [sliced], name=f"{prefix}/Slice_{number}")
        placed.setdefault(produced_by.get(name, -1), []).append(slice_node)
    ordered = list(placed.get(-1, []))  # slices of graph inputs go first
    for index, node in enumerate(nodes):
        ordered.extend(before.get(index, []))
        ordered.append(node)
        ordered.extend(placed.get(index, []))
    del graph.node[:]
    graph.node.extend(ordered)
    return len(slice_of)


def _check_same_outputs(original: Path, pruned: Path, feeds: list[dict[str, np.ndarray]]) -> float:
    from edgekit.runtime.sessions import ort_session

    before, after = ort_session(original), ort_session(pruned)
    wanted = {i.name for i in before.get_inputs()}
    worst = 0.0
    for feed in feeds:
        feed = {name: value for name, value in feed.items() if name in wanted}
        for a, b in zip(before.run(None, feed), after.run(None, feed)):
            worst = max(worst, float(np.max(np.abs(a - b))))
    if worst > _CHECK_ATOL:
        raise PassError(f"row pruning changed the outputs of {original.name} by {worst:.3g} (> {_CHECK_ATOL:g}); "
                        "an op treated as row-wise is not: leave prune-rows out of the recipe and report this")
    return worst
