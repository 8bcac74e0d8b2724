"""quantize-embeddings on small graphs: each precision is the dequantisation it claims, exactly as ONNX Runtime
runs it, and the table is found (or its absence explained)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgekit.build.passes import quantize_embeddings as qe
from edgekit.errors import PassError, RecipeError
from edgekit.runtime.sessions import ort_session

ROWS, WIDTH = 300, 64


def _graph(tmp_path, *, table=None, fused=False):
    rng = np.random.default_rng(0)
    table = (rng.standard_normal((ROWS, WIDTH)) * 0.05).astype(np.float32) if table is None else table
    position = (rng.standard_normal((8, WIDTH)) * 0.05).astype(np.float32)  # a smaller table: not the words
    nodes = [helper.make_node("Gather", ["words", "input_ids"], ["emb"], axis=0),
             helper.make_node("Relu", ["emb"], ["out"])]
    if fused:
        nodes[0] = helper.make_node("Relu", ["input_f"], ["emb"])
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["b", "s"]),
                                           *([helper.make_tensor_value_info("input_f", TensorProto.FLOAT, None)]
                                             if fused else [])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(table, "words"), numpy_helper.from_array(position, "positions")])
    if fused:
        graph.node.append(helper.make_node("EmbedLayerNormalization", ["input_ids"], ["x"], domain="com.microsoft"))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "emb.onnx"
    onnx.save(model, str(path))
    return path, table


@pytest.mark.parametrize("precision, bits", [("fp16", 16), ("int8", 8), ("int4", 4)])
def test_each_precision_runs_as_the_dequantisation_it_claims(tmp_path, precision, bits):
    src, table = _graph(tmp_path)
    ids = np.random.default_rng(1).integers(0, ROWS, (3, 5))
    info = qe.quantize_word_embeddings(src, tmp_path / f"{precision}.onnx", precision=precision)
    model = onnx.load(str(tmp_path / f"{precision}.onnx"))
    gather = next(n for n in model.graph.node if n.op_type in ("Gather", "GatherBlockQuantized"))
    _, _, restored = qe._REWRITES[precision](onnx, gather, table)
    out = ort_session(tmp_path / f"{precision}.onnx").run(None, {"input_ids": ids})[0]
    np.testing.assert_array_equal(out, np.maximum(restored[ids], 0))  # what ONNX Runtime runs, to the bit
    assert "words" not in {t.name for t in model.graph.initializer}, "the float table is gone"
    assert info["bytes"] <= info["float_bytes"] * bits / 32 + ROWS * WIDTH * 4 / 8, "the bytes shrink with the bits"
    assert 0 < info["max_abs_error"] <= np.abs(table).max() / {16: 500, 8: 100, 4: 5}[bits]


def test_float_keeps_the_table_and_unknown_precisions_are_refused(tmp_path):
    src, _ = _graph(tmp_path)
    assert qe.quantize_word_embeddings(src, tmp_path / "f.onnx", precision="float")["max_abs_error"] == 0.0
    with pytest.raises(RecipeError, match="unknown embedding precision 'int2'.*float, fp16, int8, int4"):
        qe.quantize_word_embeddings(src, tmp_path / "x.onnx", precision="int2")
    with pytest.raises(RecipeError, match="within must be a fraction"):
        qe.EmbeddingSettings(within=2.0).check()


def test_the_word_table_is_the_one_read_with_the_token_ids(tmp_path):
    src, _ = _graph(tmp_path)
    gather, table = qe.find_word_embeddings(onnx.load(str(src)), vocab_size=ROWS)
    assert table.name == "words" and gather.input[1] == "input_ids"
    with pytest.raises(PassError, match="no word-embedding Gather"):
        qe.find_word_embeddings(onnx.load(str(src)), vocab_size=ROWS + 1)
    fused, _ = _graph(tmp_path / "..", fused=True)
    with pytest.raises(PassError, match="EmbedLayerNormalization holds it: fuse with embed_layer_norm = false"):
        qe.find_word_embeddings(onnx.load(str(fused)))
