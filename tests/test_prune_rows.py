"""Unit tests of the prune-rows pass on small hand-built graphs: which ops compute one row, where the
walk stops, and that outputs stay equal."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from edgekit.errors import PassError

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper

from edgekit.build.passes.prune_rows import graph as prune_rows

WIDTH = 8


def _weights(name: str, *shape: int, seed: int) -> onnx.TensorProto:
    return numpy_helper.from_array(np.random.default_rng(seed).normal(size=shape).astype(np.float32), name)


def _save(tmp_path, nodes, initializers, outputs) -> object:
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "sequence", WIDTH])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in outputs], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    return path


def _first_token(data: str, index: int = 0) -> list:
    return [helper.make_node("Constant", [], ["index"], value=numpy_helper.from_array(np.array(index, np.int64))),
            helper.make_node("Gather", [data, "index"], ["first"], axis=1)]


def _encoder_tail(tmp_path, *, head: bool = True, index: int = 0):
    """A layer's end in miniature: projection, a row-mixing op (Softmax over the sequence, as attention
    mixes rows), output projection, residual Add, LayerNorm, Gelu by Erf, then a first-token head."""
    nodes = [
        helper.make_node("MatMul", ["x", "w_in"], ["h"]),
        helper.make_node("Softmax", ["h"], ["mixed"], axis=1),
        helper.make_node("MatMul", ["mixed", "w_out"], ["projected"]),
        helper.make_node("Add", ["b_out", "projected"], ["biased"]),
        helper.make_node("Add", ["biased", "h"], ["residual"]),
        helper.make_node("LayerNormalization", ["residual", "gamma", "beta"], ["normed"], axis=-1),
        helper.make_node("Erf", ["normed"], ["erf"]),
        helper.make_node("Mul", ["normed", "erf"], ["act"]),
    ]
    outputs = ["act"]
    if head:
        nodes += _first_token("act", index) + [helper.make_node("MatMul", ["first", "w_head"], ["logits"])]
        outputs = ["logits"]
    initializers = [_weights("w_in", WIDTH, WIDTH, seed=1), _weights("w_out", WIDTH, WIDTH, seed=2),
                    _weights("b_out", WIDTH, seed=3), _weights("gamma", WIDTH, seed=4), _weights("beta", WIDTH, seed=5),
                    _weights("w_head", WIDTH, 3, seed=6)]
    return _save(tmp_path, nodes, initializers, outputs)


def _feeds(batch: int = 2, rows: int = 5) -> list[dict[str, np.ndarray]]:
    return [{"x": np.random.default_rng(7).normal(size=(batch, rows, WIDTH)).astype(np.float32)}]


def _run(path, feeds) -> list[np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, feeds[0])


def test_ops_after_the_row_mixing_op_compute_the_first_row_only(tmp_path):
    src = _encoder_tail(tmp_path)
    dst = tmp_path / "pruned.onnx"
    info = prune_rows.prune_unread_rows(src, dst, check_feeds=_feeds())
    assert info["applied"] is True
    assert info["pruned_ops"] == {"MatMul": 1, "Add": 2, "LayerNormalization": 1, "Erf": 1, "Mul": 1}
    assert info["slices"] == 2  # the Softmax output, and the residual branch that the Softmax also reads
    nodes = {n.output[0]: n for n in onnx.load(str(dst)).graph.node}
    assert nodes["h"].input[0] == "x" and nodes["mixed"].input[0] == "h", "the ops before stay whole"
    assert nodes[nodes["projected"].input[0]].op_type == "Slice"
    assert nodes[nodes["residual"].input[1]].op_type == "Slice"
    np.testing.assert_allclose(_run(dst, _feeds())[0], _run(src, _feeds())[0], atol=1e-6)


def test_per_token_outputs_keep_every_row(tmp_path):
    dst = tmp_path / "pruned.onnx"
    info = prune_rows.prune_unread_rows(_encoder_tail(tmp_path, head=False), dst)
    assert info["applied"] is False and "per-token" in info["reason"]
    assert not dst.exists()


def test_a_head_on_another_token_is_left_alone(tmp_path):
    info = prune_rows.prune_unread_rows(_encoder_tail(tmp_path, index=1), tmp_path / "pruned.onnx")
    assert info["applied"] is False


def test_a_tensor_also_read_elsewhere_is_not_pruned(tmp_path):
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]), *_first_token("h"),
             helper.make_node("MatMul", ["first", "w"], ["logits"])]
    path = _save(tmp_path, nodes, [_weights("w", WIDTH, WIDTH, seed=1)], ["logits", "h"])  # h is an output too
    assert prune_rows.prune_unread_rows(path, tmp_path / "pruned.onnx")["applied"] is False


def test_a_constant_that_varies_by_row_stops_the_walk(tmp_path):
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Add", ["h", "per_row"], ["a"]),
             *_first_token("a")]
    path = _save(tmp_path, nodes, [_weights("w", WIDTH, WIDTH, seed=1), _weights("per_row", 5, WIDTH, seed=2)],
                 ["first"])
    model = onnx.load(str(path))
    pruned = prune_rows.plan_pruning(model)
    assert not pruned, "an Add whose constant differs per row is not row-wise"


def test_the_output_check_catches_an_op_that_is_not_row_wise(tmp_path, monkeypatch):
    # Declare Softmax over the sequence row-wise (it is not): the pass must refuse its own result.
    monkeypatch.setitem(prune_rows._ROW_WISE, "Softmax", (0,))
    with pytest.raises(PassError, match="changed the outputs"):
        prune_rows.prune_unread_rows(_encoder_tail(tmp_path), tmp_path / "pruned.onnx", check_feeds=_feeds())


def test_exported_classifier_prunes_the_last_layer_tail(tiny_classifier, tmp_path):
    """On a real export: the last layer's output projection and both feed-forward MatMuls, nothing before."""
    from edgekit import api

    result = api.export(model=str(tiny_classifier), target="onnx-fp32", out=tmp_path / "plain", quiet=True,
                        samples=16)
    dst = tmp_path / "pruned.onnx"
    info = prune_rows.prune_unread_rows(result.model_path, dst)
    assert info["pruned_matmuls"] == 3 and info["slices"] == 2
    before = Counter(n.op_type for n in onnx.load(str(result.model_path)).graph.node)
    after = Counter(n.op_type for n in onnx.load(str(dst)).graph.node)
    assert after - before == Counter({"Slice": 2})


HIDDEN, HEADS = 16, 2


def _fused_attention_classifier(tmp_path, **attention_attrs):
    """ONNX Runtime's fused form in miniature: Attention (packed Q, K, V weights, per-sequence lengths as
    mask_index), output projection, first-token head."""
    rng = np.random.default_rng(3)
    initializers = [
        numpy_helper.from_array(rng.normal(size=(HIDDEN, 3 * HIDDEN)).astype(np.float32), "qkv_weight"),
        numpy_helper.from_array(rng.normal(size=3 * HIDDEN).astype(np.float32), "qkv_bias"),
        numpy_helper.from_array(rng.normal(size=(HIDDEN, HIDDEN)).astype(np.float32), "w_out"),
        numpy_helper.from_array(np.array([1], np.int64), "axes"),
    ]
    nodes = [
        helper.make_node("Cast", ["attention_mask"], ["mask_int32"], to=TensorProto.INT32),
        helper.make_node("ReduceSum", ["mask_int32", "axes"], ["mask_index"], keepdims=0),
        helper.make_node("Attention", ["x", "qkv_weight", "qkv_bias", "mask_index"], ["attended"],
                         domain="com.microsoft", num_heads=HEADS, **attention_attrs),
        helper.make_node("MatMul", ["attended", "w_out"], ["projected"]),
        *_first_token("projected"),
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "sequence", HIDDEN]),
                     helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"])],
        [helper.make_tensor_value_info("first", TensorProto.FLOAT, None)], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.microsoft", 1)])
    path = tmp_path / "attention.onnx"
    onnx.save(model, str(path))
    return path


def _padded_feeds() -> list[dict[str, np.ndarray]]:
    """Right-padded batches, and the shortest sequences: one token, where row 0 is every row."""
    rng = np.random.default_rng(11)
    feeds = []
    for rows, lengths in ((6, (6, 3)), (1, (1, 1)), (2, (2, 1))):
        mask = np.array([[1] * n + [0] * (rows - n) for n in lengths], dtype=np.int64)
        feeds.append({"x": rng.normal(size=(2, rows, HIDDEN)).astype(np.float32), "attention_mask": mask})
    return feeds


def test_attention_read_at_the_first_row_takes_that_query_alone(tmp_path):
    src, dst = _fused_attention_classifier(tmp_path), tmp_path / "pruned.onnx"
    info = prune_rows.prune_unread_rows(src, dst, check_feeds=_padded_feeds())
    assert info["pruned_ops"] == {"Attention": 1, "MatMul": 1} and "attention_left_whole" not in info
    assert info["check_max_abs_diff"] <= 1e-5
    nodes = {n.output[0]: n for n in onnx.load(str(dst)).graph.node}
    attention = nodes["attended"]
    assert nodes[attention.input[0]].op_type == "Slice", "one query row"
    assert nodes[attention.input[4]].op_type == "Transpose", "every row's keys and values come in as past"
    assert nodes[attention.input[3]].op_type == "Concat", "the mask gains the column that hides row 0's copy"
    assert nodes["projected"].input[0] == "attended", "the attention's output is one row high already"
    for feeds in _padded_feeds():
        np.testing.assert_allclose(_run(dst, [feeds])[0], _run(src, [feeds])[0], atol=1e-5)


def test_attention_whose_inputs_mean_otherwise_is_left_whole(tmp_path):
    # Causal attention: the rewrite's reordered keys would change which ones each query may see.
    src, dst = _fused_attention_classifier(tmp_path, unidirectional=1), tmp_path / "pruned.onnx"
    info = prune_rows.prune_unread_rows(src, dst, check_feeds=_padded_feeds()[:1])
    assert info["pruned_ops"] == {"MatMul": 1}
    assert "unidirectional" in next(iter(info["attention_left_whole"].values())), "the record says why"
    nodes = {n.output[0]: n for n in onnx.load(str(dst)).graph.node}
    assert list(nodes["attended"].input) == ["x", "qkv_weight", "qkv_bias", "mask_index"]
    assert nodes[nodes["projected"].input[0]].op_type == "Slice"
