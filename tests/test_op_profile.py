"""edgekit.measure.op_profile on a small dynamically quantised graph: nodes, shapes and the per-op totals.

No timing is asserted: only that ORT's profile was read and its figures are consistent.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgekit.measure.op_profile import (by_op_type, hot_int8_matmul, int8_matmul_shape, int8_matmul_work,
                                         profile_nodes, profile_nodes_interleaved)
from edgekit.errors import InputError
from edgekit.build.passes.quantize_ort.int8 import quantize_dynamic_int8

M, K, N = 8, 32, 48


@pytest.fixture(scope="module")
def int8_model(tmp_path_factory):
    """X[1, 8, 32] @ W[32, 48] -> Relu, quantised as edgekit's dynamic INT8 pass does it."""
    tmp = tmp_path_factory.mktemp("op_profile")
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array((rng.standard_normal((K, N)) * 0.1).astype(np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["H"]), helper.make_node("Relu", ["H"], ["Y"])], "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, M, K])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, M, N])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp / "fp32.onnx"))
    quantize_dynamic_int8(tmp / "fp32.onnx", tmp / "int8.onnx", per_channel=True, reduce_range=False)
    return tmp / "int8.onnx"


def test_profile_finds_the_integer_matmul_and_its_shape(int8_model):
    feeds = {"X": np.random.default_rng(1).standard_normal((1, M, K)).astype(np.float32), "unused": np.zeros(1)}
    between = []
    nodes = profile_nodes(int8_model, feeds, threads=1, runs=5, warmup=2, between=lambda: between.append(1))
    assert len(between) == 7  # after every call, warm-up included
    ops = [n["op_type"] for n in nodes]
    assert "Relu" in ops
    matmuls = [n for n in nodes if int8_matmul_shape(n)]
    assert len(matmuls) == 1 and matmuls[0]["op_type"] in ("DynamicQuantizeMatMul", "MatMulIntegerToFloat")
    assert int8_matmul_shape(matmuls[0]) == (M, K, N)
    assert all(n["ms"] > 0 for n in nodes)
    totals = by_op_type(nodes)
    assert list(totals.values()) == sorted(totals.values(), reverse=True)
    assert sum(totals.values()) == pytest.approx(sum(n["ms"] for n in nodes))
    work = int8_matmul_work(nodes)
    assert work["gop"] == pytest.approx(2 * M * K * N / 1e9) and work["nodes"] == 1
    assert work["ms"] + work["other_ms"] == pytest.approx(sum(n["ms"] for n in nodes))


def test_interleaved_profiles_give_each_model_its_own_nodes(int8_model, tmp_path):
    relu = helper.make_graph([helper.make_node("Relu", ["X"], ["Y"])], "relu",
                             [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, M, K])],
                             [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, M, K])])
    relu_model = helper.make_model(relu, opset_imports=[helper.make_opsetid("", 17)])
    relu_model.ir_version = 8
    onnx.save(relu_model, str(tmp_path / "relu.onnx"))
    feeds = {"X": np.random.default_rng(1).standard_normal((1, M, K)).astype(np.float32)}
    profiles = profile_nodes_interleaved({"int8": int8_model, "relu": tmp_path / "relu.onnx"}, feeds, threads=1,
                                         runs=4, warmup=1, settle_ms=1)
    assert list(profiles) == ["int8", "relu"]
    assert int8_matmul_work(profiles["int8"])["gop"] == pytest.approx(2 * M * K * N / 1e9)
    assert [n["op_type"] for n in profiles["relu"]] == ["Relu"] and profiles["relu"][0]["ms"] > 0
    with pytest.raises(InputError, match="runs must be positive"):
        profile_nodes_interleaved({"relu": tmp_path / "relu.onnx"}, feeds, threads=1, runs=0)
    with pytest.raises(InputError, match="settle_ms must not be negative"):
        profile_nodes_interleaved({"relu": tmp_path / "relu.onnx"}, feeds, threads=1, settle_ms=-1)


def test_shapes_of_qattention_and_other_nodes():
    qattention = {"op_type": "QAttention", "input_shapes": [("uint8", [1, 128, 768]), ("float", [2304])],
                  "output_shapes": [("float", [1, 128, 768])]}
    assert int8_matmul_shape(qattention) == (128, 768, 2304)
    gelu = {"op_type": "Gelu", "input_shapes": [("float", [1, 128, 3072])], "output_shapes": [("float", [1, 128, 3072])]}
    assert int8_matmul_shape(gelu) is None
    mismatched = {"op_type": "DynamicQuantizeMatMul", "input_shapes": [("float", [1, 4, 16])],
                  "output_shapes": [("float", [1, 5, 2])]}
    assert int8_matmul_shape(mismatched) is None


def test_hot_matmul_time_is_measured_and_counts_are_checked(int8_model):
    timer = hot_int8_matmul((M, K, N), threads=1, calls=3)
    assert timer() > 0 and timer() > 0
    with pytest.raises(InputError, match="at least 2"):
        hot_int8_matmul((M, K, N), threads=1, calls=1)
    with pytest.raises(InputError, match="runs must be positive"):
        profile_nodes(int8_model, {}, threads=1, runs=0)


def test_int8_matmul_work_counts_operations_time_and_the_rest():
    def node(op, rows, k, n, ms):
        return {"op_type": op, "input_shapes": [("float", [1, rows, k])], "output_shapes": [("float", [1, rows, n])],
                "ms": ms}
    nodes = [node("DynamicQuantizeMatMul", 128, 768, 3072, 2.0), node("QAttention", 128, 768, 768, 1.0),
             node("Gelu", 128, 3072, 3072, 0.5), node("LayerNormalization", 128, 768, 768, 0.25)]
    work = int8_matmul_work(nodes)
    # QAttention counts its fused Q, K and V projection: N = 3 x 768
    assert work["gop"] == pytest.approx(2 * (128 * 768 * 3072 + 128 * 768 * 2304) / 1e9)
    assert work["ms"] == pytest.approx(3.0) and work["other_ms"] == pytest.approx(0.75) and work["nodes"] == 2
    assert work["gops_per_s"] == pytest.approx(work["gop"] / 3.0 * 1e3)
    assert int8_matmul_work(nodes[2:])["gops_per_s"] == 0.0
