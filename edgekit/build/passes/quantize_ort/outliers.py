"""Part of quantize-ort: the outlier-channel split before dynamic INT8 (in the spirit of LLM.int8()).

Why: on real checkpoints a few hidden channels carry activations 10-20x larger than the rest (MiniLM:
channel 99 after the attention LayerNorm reaches ~28 while the median channel peaks near 2). Dynamic
INT8 quantises each activation tensor with one scale, so those channels set the step size and the
other channels lose most of their resolution. Measured on MiniLM, activation rounding, not weight
rounding, is the dominant error (weight-only per-channel INT8 alone keeps cosine 0.9996).

The rewrite, exact in float: X @ W == (X * keep) @ W_masked + Gather(X, outliers) @ W[outliers].
The first MatMul is left to the quantiser (its input now has a small range); the second is a tiny
float MatMul (K = a handful of channels) whose name is returned so the caller keeps it out of INT8.
SmoothQuant-style rescaling was tried instead and made MiniLM worse: it moves the outliers into rows
of W, and ORT quantises W per output column, so a few large rows then dominate every column's scale.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.build.onnx_files import check_model_file, require_onnx, save_model
from edgekit.errors import InputError
from edgekit.runtime.sessions import ort_session

SUFFIX = "_outlier_split"


def _weight_matmuls(graph: Any) -> dict[str, Any]:
    inits = {t.name for t in graph.initializer}
    return {n.name: n for n in graph.node if n.op_type == "MatMul" and n.input[1] in inits}


def input_channel_absmax(model_path: Path, feeds: Iterable[Mapping[str, np.ndarray]],
                         nodes: Sequence[str]) -> dict[str, np.ndarray]:
    """Per-input-channel max |x| of each MatMul's activation input, over real (unmasked) tokens."""
    onnx = require_onnx("the outlier-channel split")
    model = onnx.load(str(model_path))
    by_name = {n.name: n for n in model.graph.node}
    tensors = sorted({by_name[n].input[0] for n in nodes})
    outputs = {o.name for o in model.graph.output}
    for t in (t for t in tensors if t not in outputs):  # expose activations as outputs (type only)
        model.graph.output.append(onnx.helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None))
    session = ort_session(model.SerializeToString())
    inputs = {i.name for i in session.get_inputs()}
    absmax: dict[str, np.ndarray] = {}
    seen = 0
    for feed in feeds:
        arrays = session.run(tensors, {k: np.asarray(v) for k, v in feed.items() if k in inputs})
        mask = np.asarray(feed["attention_mask"]).astype(bool) if "attention_mask" in feed else None
        for name, a in zip(tensors, arrays):
            rows = a[mask] if mask is not None and a.shape[:2] == mask.shape else a.reshape(-1, a.shape[-1])
            absmax[name] = np.maximum(absmax.get(name, 0.0), np.abs(rows).max(axis=0))
        seen += 1
    if not seen:
        raise InputError("calibration_feeds is empty; the outlier split needs calibration data")
    return {n: absmax[by_name[n].input[0]] for n in nodes}


def _outlier_channels(absmax: np.ndarray, threshold: float, max_channels: int) -> np.ndarray:
    top = np.argsort(absmax)[::-1][:max_channels]
    return np.sort(top[absmax[top] > threshold * np.median(absmax)])


def split_outlier_channels(src: Path, dst: Path, *, calibration_feeds: Iterable[Mapping[str, np.ndarray]],
                           threshold: float = 4.0, max_channels: int = 16,
                           nodes: Sequence[str] | None = None) -> dict[str, Any]:
    """Route outlier input channels of weight MatMuls through small float MatMuls (see module docstring).

    A channel is an outlier when its calibration max |x| exceeds `threshold` x the median channel's;
    at most `max_channels` per MatMul. Returns {"float_nodes": [...], "channels": {matmul: count}}:
    pass float_nodes to the quantiser's nodes_to_exclude.
    """
    src, dst = check_model_file(src), Path(dst)
    if threshold <= 0 or max_channels < 1:
        raise InputError(f"threshold ({threshold}) must be > 0 and max_channels ({max_channels}) >= 1")
    onnx = require_onnx("the outlier-channel split")
    nh, helper = onnx.numpy_helper, onnx.helper
    model = onnx.load(str(src))
    matmuls = _weight_matmuls(model.graph)
    targets = list(matmuls) if nodes is None else list(nodes)
    unknown = [n for n in targets if n not in matmuls]
    if unknown:
        raise InputError(f"not MatMul nodes with a constant weight: {', '.join(unknown[:5])}")
    absmax = input_channel_absmax(src, calibration_feeds, targets)
    inits = {t.name: t for t in model.graph.initializer}
    rewritten: dict[str, list[Any]] = {}
    channels: dict[str, int] = {}
    for name in targets:
        idx = _outlier_channels(absmax[name], threshold, max_channels)
        if not len(idx):
            continue
        node = matmuls[name]
        weight = nh.to_array(inits[node.input[1]])
        keep = np.ones(weight.shape[0], np.float32)
        keep[idx] = 0.0
        p = name + SUFFIX
        # A private copy of W with the outlier rows zeroed: narrower per-column weight ranges too.
        model.graph.initializer.extend([
            nh.from_array((weight * keep[:, None]).astype(weight.dtype), p + "/w_masked"),
            nh.from_array(weight[idx].copy(), p + "/w_outliers"),
            nh.from_array(keep, p + "/keep"),
            nh.from_array(idx.astype(np.int64), p + "/index")])
        x, y = node.input[0], node.output[0]
        float_mm = helper.make_node("MatMul", [p + "/x_outliers", p + "/w_outliers"], [p + "/y_outliers"],
                                    name=p + "/float_matmul")
        rewritten[name] = [
            helper.make_node("Mul", [x, p + "/keep"], [p + "/x_masked"], name=p + "/mask"),
            helper.make_node("Gather", [x, p + "/index"], [p + "/x_outliers"], name=p + "/gather", axis=-1),
            helper.make_node("MatMul", [p + "/x_masked", p + "/w_masked"], [p + "/y_masked"], name=name),
            float_mm,
            helper.make_node("Add", [p + "/y_masked", p + "/y_outliers"], [y], name=p + "/add")]
        channels[name] = int(len(idx))
    nodes_out = []
    for node in model.graph.node:
        nodes_out.extend(rewritten.get(node.name, [node]))
    del model.graph.node[:]
    model.graph.node.extend(nodes_out)
    _drop_unused_initializers(model)
    save_model(model, dst)
    return {"float_nodes": [n + SUFFIX + "/float_matmul" for n in channels], "channels": channels,
            "threshold": threshold, "max_channels": max_channels}


def _drop_unused_initializers(model: Any) -> None:
    used = {i for n in model.graph.node for i in n.input}
    keep = [t for t in model.graph.initializer if t.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)
