"""Part of split-kernels: fused ORT kernels rewritten as standard ops, timed against them, and counted as
ONNX Runtime runs them (pure, file to file).

ORT's transformer optimizer folds each residual Add (and the dense bias) into SkipLayerNormalization, and
the FFN bias into BiasGelu. The fusion proves the graph was understood, but the fused CPU kernels are not
always faster: with ONNX Runtime 1.32 on x86-64, SkipLayerNormalization took 0.32 ms at 128 x 768 against
0.07 ms for Add + LayerNormalization, and BiasGelu 0.37 ms at 128 x 3072 against 0.16 ms for Gelu alone
(the bias Add then joins the INT8 MatMul before it). So each form is timed on the building machine, the
faster is kept, and the record says which and why.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgekit.build.onnx_files import check_model_file, require_onnx, save_model
from edgekit.build.timing import Timing, median_ms
from edgekit.errors import InvalidChoiceError, PassError
from edgekit.runtime.sessions import ort_session

_DEFAULT_EPSILON = 1e-12  # com.microsoft SkipLayerNormalization's default


def _epsilon(node: Any) -> float:
    return next((a.f for a in node.attribute if a.name == "epsilon"), _DEFAULT_EPSILON)


def _split_skip_layernorm(onnx: Any, node: Any, used: set[str]) -> list[Any]:
    """Add(input, skip) -> Add(., bias) -> LayerNormalization, keeping the node's output names."""
    make = onnx.helper.make_node
    data, skip, gamma, beta, bias = (list(node.input) + [""] * 5)[:5]
    outputs = (list(node.output) + [""] * 4)[:4]
    if any(o and o in used for o in outputs[1:3]):
        raise PassError(f"{node.name}: its mean/inv_std_var outputs are used, so it cannot be split")
    total = outputs[3] if outputs[3] else f"{node.name}/sum"
    # Residual first, bias second: ORT's load-time SkipLayerNormFusion matches bias-first chains (the
    # unfused model's order) and would undo the split; this order it leaves alone (checked after each build).
    summed = f"{node.name}/skipped" if bias else total
    nodes = [make("Add", [data, skip], [summed], name=f"{node.name}/AddSkip")]
    if bias:
        nodes.append(make("Add", [summed, bias], [total], name=f"{node.name}/AddBias"))
    nodes.append(make("LayerNormalization", [total, gamma] + ([beta] if beta else []), [outputs[0]],
                      name=f"{node.name}/LayerNorm", axis=-1, epsilon=_epsilon(node)))
    return nodes


def _split_bias_gelu(onnx: Any, node: Any, used: set[str]) -> list[Any]:
    """Add(input, bias) -> Gelu: the Add can then join the MatMul before it (ORT fuses a bias into
    DynamicQuantizeMatMul at load), leaving the faster plain Gelu kernel."""
    make = onnx.helper.make_node
    biased = f"{node.name}/biased"
    return [make("Add", list(node.input[:2]), [biased], name=f"{node.name}/AddBias"),
            make("Gelu", [biased], [node.output[0]], name=f"{node.name}/Gelu", domain="com.microsoft")]


_REWRITES: dict[str, Callable[[Any, Any, set[str]], list[Any]]] = {
    "SkipLayerNormalization": _split_skip_layernorm,
    "BiasGelu": _split_bias_gelu,
}
SPLITTABLE = tuple(_REWRITES)


def split_fused_ops(src: Path, dst: Path, *, op_type: str) -> int:
    """Rewrite every com.microsoft `op_type` node of `src` as standard ops into `dst`; the count rewritten."""
    if op_type not in _REWRITES:
        raise InvalidChoiceError("fused op to split", op_type, SPLITTABLE)
    src = check_model_file(src)
    onnx = require_onnx("graph rewriting")
    model = onnx.load(str(src))
    used = {name for node in model.graph.node for name in node.input} | {o.name for o in model.graph.output}
    rewritten, count = [], 0
    for node in model.graph.node:
        if node.op_type == op_type and node.domain == "com.microsoft":
            rewritten.extend(_REWRITES[op_type](onnx, node, used))
            count += 1
        else:
            rewritten.append(node)
    if op_type == "SkipLayerNormalization" and not any(
            op.domain in ("", "ai.onnx") and op.version >= 17 for op in model.opset_import):
        raise PassError(f"{src.name}: LayerNormalization needs ONNX opset 17 or newer")
    del model.graph.node[:]
    model.graph.node.extend(rewritten)
    save_model(model, dst)
    return count


def _kernel_model(onnx: Any, op_type: str, width: int, fused: bool, bias_absorbed: bool = False) -> bytes:
    """One fused node, or its split form (less the bias Add where a MatMul absorbs it), on [1, tokens, width]."""
    import numpy as np

    helper = onnx.helper
    weights = {"gamma": 1.0, "beta": 0.0, "bias": 0.1}
    inputs = ["x", "skip"] if op_type == "SkipLayerNormalization" else ["x"]
    node = helper.make_node(op_type, inputs + (["gamma", "beta", "bias"] if len(inputs) == 2 else ["bias"]),
                            ["y"], name="fused", domain="com.microsoft",
                            **({"epsilon": 1e-5} if op_type == "SkipLayerNormalization" else {}))
    nodes = _REWRITES[op_type](onnx, node, set()) if not fused else [node]
    if bias_absorbed and not fused:
        nodes = [n for n in nodes if not n.name.endswith("/AddBias")]
        nodes[0].input[0] = "x"
    graph = helper.make_graph(
        nodes, op_type,
        [helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, [1, "tokens", width]) for n in inputs],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
        initializer=[onnx.numpy_helper.from_array(np.full(width, v, np.float32), n) for n, v in weights.items()])
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    return helper.make_model(graph, opset_imports=opsets).SerializeToString()


def time_fused_and_split(op_type: str, width: int, *, tokens: int = 128, threads: int | None = None,
                         rounds: int = 200, bias_absorbed: bool = False) -> dict[str, float]:
    """Median ms of the fused kernel and of its split form at [1, tokens, width], interleaved.

    bias_absorbed: time the BiasGelu split as Gelu alone, for graphs where ORT folds the bias Add into the
    INT8 MatMul before it (see loaded_op_counts)."""
    import numpy as np

    if op_type not in _REWRITES:
        raise InvalidChoiceError("fused op to split", op_type, SPLITTABLE)
    onnx = require_onnx("kernel timing")
    sessions = {}
    for form in ("fused", "split"):
        model = _kernel_model(onnx, op_type, width, form == "fused", bias_absorbed and op_type == "BiasGelu")
        # The split form must stay split here even where this ORT would fuse it at load; the split form leaves
        # the bias initializer unused in this tiny graph, which ORT would warn about.
        sessions[form] = ort_session(model, threads=threads, log_severity=3,
                                     disabled_optimizers=["SkipLayerNormFusion", "BiasGeluFusion"])
    feed = {i.name: np.random.default_rng(0).standard_normal((1, tokens, width), dtype=np.float32)
            for i in sessions["fused"].get_inputs()}
    runners = {form: (lambda f, s=session: s.run(None, f)) for form, session in sessions.items()}
    medians = median_ms(runners, feed, Timing(warmup=10, runs=rounds, settle_ms=0, spinning=False))
    return {f"{form}_ms": medians[form] for form in sessions}


def graph_op_counts(model_path: Path) -> Counter:
    """Op types of the graph as saved."""
    onnx = require_onnx("counting ops")
    return Counter(n.op_type for n in onnx.load(str(model_path), load_external_data=False).graph.node)


def loaded_op_counts(model_path: Path) -> Counter:
    """Op types of the graph ONNX Runtime runs after its load-time rewrites (default session options)."""
    onnx = require_onnx("counting ops")
    with tempfile.TemporaryDirectory(prefix="edgekit-loaded-") as tmp:
        loaded = Path(tmp) / "loaded.onnx"
        # ORT warns that the dump is machine-specific; it is only counted.
        ort_session(model_path, optimized_model_path=loaded, log_severity=3)
        graph = onnx.load(str(loaded), load_external_data=False).graph
        return Counter(n.op_type for n in graph.node)
