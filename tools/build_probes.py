"""Build the two matrix-multiply probe graphs edgekit bench times to find a machine's FP32 and INT8 peaks.

Run: python tools/build_probes.py   (needs the `onnx` package; writes edgekit/data/probes/*.onnx)

The light install has no `onnx`, so the graphs are committed. Every operand is a graph input, not an
initializer, so each file is a few hundred bytes and the shapes are chosen at run time:
- matmul_fp32.onnx:    Y = MatMul(A: float[M, K], B: float[K, N])
- matmul_int8.onnx:    Y = MatMulInteger(A: uint8[M, K], B: int8[K, N], a_zero_point: uint8 scalar)
  (uint8 activations with a zero point times int8 weights: what dynamically quantised models run).
The output is deterministic: the same onnx version writes the same bytes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

OPSET = 17
IR_VERSION = 8  # the IR that opset 17 shipped with; old enough for every ONNX Runtime edgekit supports
OUT_DIR = Path(__file__).resolve().parent.parent / "edgekit" / "data" / "probes"


def _model(name: str, node, inputs: list, output):
    from onnx import helper

    graph = helper.make_graph([node], name, inputs, [output])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="edgekit")
    model.ir_version = IR_VERSION
    return model


def build() -> dict:
    """The two probe models by file name."""
    from onnx import TensorProto, helper

    def tensor(name: str, dtype: int, shape: list):
        return helper.make_tensor_value_info(name, dtype, shape)

    fp32 = _model("edgekit_probe_matmul_fp32", helper.make_node("MatMul", ["A", "B"], ["Y"]),
                  [tensor("A", TensorProto.FLOAT, ["M", "K"]), tensor("B", TensorProto.FLOAT, ["K", "N"])],
                  tensor("Y", TensorProto.FLOAT, ["M", "N"]))
    int8 = _model("edgekit_probe_matmul_int8",
                  helper.make_node("MatMulInteger", ["A", "B", "a_zero_point"], ["Y"]),
                  [tensor("A", TensorProto.UINT8, ["M", "K"]), tensor("B", TensorProto.INT8, ["K", "N"]),
                   tensor("a_zero_point", TensorProto.UINT8, [])],
                  tensor("Y", TensorProto.INT32, ["M", "N"]))
    return {"matmul_fp32.onnx": fp32, "matmul_int8.onnx": int8}


def main() -> None:
    import onnx

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, model in build().items():
        onnx.checker.check_model(model, full_check=True)
        path = args.out / name
        onnx.save(model, path)
        print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
