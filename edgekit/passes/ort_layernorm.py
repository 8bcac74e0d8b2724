"""SkipLayerNormalization, fused or split back into Add + LayerNormalization: whichever runs faster here.

ORT's transformer optimizer folds each residual Add (and the dense bias) into one SkipLayerNormalization.
The fusion proves the graph was understood, but the fused CPU kernel is not always the faster one: with
ONNX Runtime 1.32 on x86-64 it took 0.32 ms at 128 x 768 against 0.07 ms for Add + LayerNormalization,
about 3 ms of a 24 ms INT8 DistilRoBERTa. So the kernels are timed on the building machine and the
faster form is kept, and the record says which and why.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from edgekit.errors import InputError, MissingDependencyError, PassError

_PROTOBUF_LIMIT = 2 * 1024**3
_DEFAULT_EPSILON = 1e-12  # com.microsoft SkipLayerNormalization's default


def _require_onnx() -> Any:
    try:
        import onnx
    except ImportError as exc:
        raise MissingDependencyError("onnx", "graph rewriting", "export") from exc
    return onnx


def _epsilon(node: Any) -> float:
    return next((a.f for a in node.attribute if a.name == "epsilon"), _DEFAULT_EPSILON)


def _split_nodes(onnx: Any, node: Any, used: set[str]) -> list[Any]:
    """Add(input, skip) -> Add(., bias) -> LayerNormalization, keeping the node's output names."""
    make = onnx.helper.make_node
    names = list(node.input) + [""] * (5 - len(node.input))
    data, skip, gamma, beta, bias = names[:5]
    outputs = list(node.output) + [""] * (4 - len(node.output))
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


def split_skip_layernorm(src: Path, dst: Path) -> int:
    """Rewrite every SkipLayerNormalization of `src` as Add(s) + LayerNormalization into `dst`; the count."""
    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise InputError(f"ONNX model not found: {src}")
    onnx = _require_onnx()
    model = onnx.load(str(src))
    used = {name for node in model.graph.node for name in node.input} | {o.name for o in model.graph.output}
    rewritten, count = [], 0
    for node in model.graph.node:
        if node.op_type == "SkipLayerNormalization" and node.domain == "com.microsoft":
            rewritten.extend(_split_nodes(onnx, node, used))
            count += 1
        else:
            rewritten.append(node)
    del model.graph.node[:]
    model.graph.node.extend(rewritten)
    if not any(op.domain in ("", "ai.onnx") and op.version >= 17 for op in model.opset_import):
        raise PassError(f"{src.name}: LayerNormalization needs ONNX opset 17 or newer")
    dst.parent.mkdir(parents=True, exist_ok=True)
    external = sum(len(t.raw_data) for t in model.graph.initializer) > _PROTOBUF_LIMIT - 64 * 1024**2
    onnx.save(model, str(dst), save_as_external_data=external)
    return count


def _kernel_model(onnx: Any, hidden_size: int, fused: bool) -> bytes:
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    import numpy as np

    float_input = onnx.TensorProto.FLOAT
    inputs = [helper.make_tensor_value_info(n, float_input, [1, "tokens", hidden_size]) for n in ("x", "skip")]
    output = helper.make_tensor_value_info("y", float_input, None)
    weights = [numpy_helper.from_array(np.full(hidden_size, v, np.float32), n)
               for n, v in (("gamma", 1.0), ("beta", 0.0), ("bias", 0.0))]
    if fused:
        nodes = [helper.make_node("SkipLayerNormalization", ["x", "skip", "gamma", "beta", "bias"], ["y"],
                                  domain="com.microsoft", epsilon=1e-5)]
    else:
        nodes = [helper.make_node("Add", ["x", "skip"], ["b"]), helper.make_node("Add", ["b", "bias"], ["s"]),
                 helper.make_node("LayerNormalization", ["s", "gamma", "beta"], ["y"], axis=-1, epsilon=1e-5)]
    graph = helper.make_graph(nodes, "skip_layernorm", inputs, [output], initializer=weights)
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    return helper.make_model(graph, opset_imports=opsets).SerializeToString()


def time_skip_layernorm(hidden_size: int, *, tokens: int = 128, threads: int | None = None,
                        rounds: int = 200) -> dict[str, float]:
    """Median ms of the fused kernel and of Add + LayerNormalization at [1, tokens, hidden], interleaved."""
    import numpy as np
    import onnxruntime as ort

    onnx = _require_onnx()
    sessions = {}
    for form in ("fused", "split"):
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no CPU stolen across forms
        # The split form must stay split here even if this ORT would fuse it at load.
        sessions[form] = ort.InferenceSession(_kernel_model(onnx, hidden_size, form == "fused"), options,
                                              providers=["CPUExecutionProvider"],
                                              disabled_optimizers=["SkipLayerNormFusion"])
    rng = np.random.default_rng(0)
    feed = {n: rng.standard_normal((1, tokens, hidden_size), dtype=np.float32) for n in ("x", "skip")}
    samples: dict[str, list[float]] = {form: [] for form in sessions}
    order = list(sessions)
    for i in range(rounds + 10):
        random.Random(i).shuffle(order)
        for form in order:
            start = time.perf_counter()
            sessions[form].run(None, feed)
            if i >= 10:  # warm-up rounds are not kept
                samples[form].append((time.perf_counter() - start) * 1e3)
    return {f"{form}_ms": float(np.median(values)) for form, values in samples.items()}


def loaded_op_counts(model_path: Path) -> Counter:
    """Op types of the graph ONNX Runtime runs after its load-time rewrites (default session options)."""
    import onnxruntime as ort

    onnx = _require_onnx()
    with tempfile.TemporaryDirectory(prefix="edgekit-loaded-") as tmp:
        options = ort.SessionOptions()
        options.optimized_model_filepath = str(Path(tmp) / "loaded.onnx")
        options.log_severity_level = 3  # ORT warns that the dump is machine-specific; it is only counted
        ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        graph = onnx.load(options.optimized_model_filepath, load_external_data=False).graph
        return Counter(n.op_type for n in graph.node)
