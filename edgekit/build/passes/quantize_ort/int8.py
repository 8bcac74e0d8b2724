"""Part of quantize-ort: ONNX Runtime INT8 quantisation, dynamic (MatMulInteger / QAttention) and static QDQ
(pure, file to file).

Pitfalls handled here rather than left to each caller:
- Graphs fused by ORT's transformer optimizer hold com.microsoft ops that ONNX shape inference cannot
  type. Dynamic mode then fails ("Unable to find data type for weight_name") unless DefaultTensorType
  is set. Static mode is worse: it silently skips every activation it cannot type and quantises the
  weights only (a float MatMul fed by DequantizeLinear: weight-only rounding, no INT8 speed). Fused
  graphs are therefore typed with ORT's symbolic shape inference first, and the result is checked:
  every weight MatMul that was not excluded must have DequantizeLinear on both inputs.
- U8S8 (uint8 activations x int8 weights) can saturate on x86 CPUs without VNNI (VPMADDUBSW adds pairs
  into int16); reduce_range (7-bit weights) avoids it, at some accuracy cost, so it is only turned on
  by default where the building CPU lacks VNNI.
- Static QDQ ignores MatMulConstBOnly: activation x activation MatMuls (Q.K^T, P.V) would be quantised
  with static per-tensor ranges, which wrecks accuracy; they are kept float explicitly.
- The histogram calibrators (entropy, percentile) stack every batch into one array, so all calibration
  feeds must share one shape; they are split into rows and right-padded to a common length.
"""

from __future__ import annotations

import platform
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.build.onnx_files import check_model_file, require_onnx
from edgekit.errors import InputError, InvalidChoiceError, PassError
from edgekit.runtime.cpu import has_vnni, isa_family

METHODS = ("minmax", "entropy", "percentile")
INT8_TYPES = ("u8", "s8")
DYNAMIC_OP_TYPES = ("MatMul", "Attention")  # embedding Gather stays float: no speed gain, some accuracy loss
_QUANT_OPS = ("MatMulInteger", "QAttention", "DynamicQuantizeMatMul", "QuantizeLinear", "DequantizeLinear",
              "DynamicQuantizeLinear", "QEmbedLayerNormalization", "QGather")


def _auto_reduce_range(activation_type: str, weight_type: str) -> tuple[bool, str]:
    if (activation_type, weight_type) != ("u8", "s8"):
        return False, f"{activation_type.upper()}{weight_type.upper()} does not saturate"
    if isa_family(platform.machine()) != "x86-64":
        return False, "not x86: integer dot products do not saturate"
    vnni = has_vnni()
    if vnni is None:
        return False, "CPU flags unknown; assuming VNNI (pass reduce_range=True for older x86 targets)"
    return (not vnni), ("CPU has VNNI: U8S8 is exact" if vnni else "x86 CPU without VNNI: U8S8 would saturate")


def _require_quantization() -> Any:
    onnx = require_onnx("ONNX Runtime quantisation")
    from onnxruntime import quantization

    return onnx, quantization


def _check_paths(src: Path, dst: Path) -> None:
    check_model_file(src)
    dst.parent.mkdir(parents=True, exist_ok=True)


def _check_choice(what: str, value: str, valid: Sequence[str]) -> None:
    if value not in valid:
        raise InvalidChoiceError(what, value, tuple(valid))


def _graph(onnx: Any, path: Path) -> Any:
    return onnx.load(str(path), load_external_data=False).graph


def _check_excluded(graph: Any, names: Sequence[str]) -> list[str]:
    # A misspelt node name would otherwise be ignored silently and the node quantised after all.
    known = {n.name for n in graph.node}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InputError(f"nodes_to_exclude names nodes not in the graph: {', '.join(unknown[:5])}")
    return list(names)


def weight_matmuls(path: Path) -> list[str]:
    """Names of MatMul/Attention nodes with a constant weight: the candidates for INT8 (and for exclusion)."""
    onnx, _ = _require_quantization()
    graph = _graph(onnx, Path(path))
    inits = {t.name for t in graph.initializer}
    return [n.name for n in graph.node
            if n.op_type == "Attention" or (n.op_type == "MatMul" and n.input[1] in inits)]


def _op_counts(onnx: Any, path: Path) -> dict[str, int]:
    counts = Counter(n.op_type for n in _graph(onnx, path).node)
    return {op: counts[op] for op in ("MatMul", "Attention", *_QUANT_OPS) if counts[op]}


def quantize_dynamic_int8(src: Path, dst: Path, *, per_channel: bool, reduce_range: bool | None = None,
                          weight_type: str = "s8", nodes_to_exclude: Sequence[str] = (),
                          op_types: Sequence[str] = DYNAMIC_OP_TYPES) -> dict[str, Any]:
    """Dynamic INT8 (U8 activations quantised at run time; S8 weights, or U8 where the building x86 CPU has no
    VNNI: U8U8 never saturates and keeps all 8 bits, where U8S8 there needs reduce_range's 7); works on fused
    or unfused graphs. reduce_range=None decides from the CPU (see module docstring). Returns what was done.
    """
    _check_choice("weight type", weight_type, INT8_TYPES)
    src, dst = Path(src), Path(dst)
    _check_paths(src, dst)
    onnx, q = _require_quantization()
    excluded = _check_excluded(_graph(onnx, src), nodes_to_exclude)
    reason = "set by caller"
    if reduce_range is None:
        reduce_range, reason = _auto_reduce_range("u8", weight_type)
    types = {"u8": q.QuantType.QUInt8, "s8": q.QuantType.QInt8}
    q.quantize_dynamic(str(src), str(dst), op_types_to_quantize=list(op_types), per_channel=per_channel,
                       reduce_range=reduce_range, weight_type=types[weight_type], nodes_to_exclude=excluded,
                       extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT, "MatMulConstBOnly": True})
    counts = _op_counts(onnx, dst)
    return {"mode": "dynamic", "activation_type": "u8", "weight_type": weight_type, "per_channel": per_channel,
            "reduce_range": reduce_range, "reduce_range_reason": reason, "excluded": excluded,
            "quantized_matmuls": counts.get("MatMulInteger", 0) + counts.get("QAttention", 0),
            "ops": counts}


def uniform_feeds(feeds: Iterable[Mapping[str, np.ndarray]], *,
                  pad_values: Mapping[str, int] | None = None) -> list[dict[str, np.ndarray]]:
    """Rows of every feed, right-padded on axis 1 to the longest row (histogram calibrators need one shape).

    Padding keeps the attention mask at 0, so pad positions never reach a real token; pad_values gives the
    pad id per input (e.g. {"input_ids": 1} for RoBERTa), 0 otherwise.
    """
    pads = dict(pad_values or {})
    rows = [{k: np.asarray(v)[i:i + 1] for k, v in feed.items()}
            for feed in feeds for i in range(len(next(iter(feed.values()))))]
    if not rows:
        return []
    length = max(a.shape[1] for row in rows for a in row.values())
    return [{k: np.pad(a, [(0, 0), (0, length - a.shape[1])] + [(0, 0)] * (a.ndim - 2),
                       constant_values=pads.get(k, 0)) for k, a in row.items()} for row in rows]


def _typed(onnx: Any, src: Path) -> Any:
    """The model, with value types from ORT's symbolic shape inference when it holds com.microsoft ops."""
    model = onnx.load(str(src))
    if all(n.domain in ("", "ai.onnx") for n in model.graph.node):
        return str(src)  # plain ONNX: the quantiser's own shape inference types everything
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    return SymbolicShapeInference.infer_shapes(model, auto_merge=True, guess_output_rank=True)


def _reader(q: Any, feeds: list[dict[str, np.ndarray]]) -> Any:
    class _Feeds(q.CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(feeds)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

    return _Feeds()


def _model_feeds(onnx: Any, src: Path, feeds: Iterable[Mapping[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    names = [i.name for i in _graph(onnx, src).input]
    out = []
    for feed in feeds:
        missing = [n for n in names if n not in feed]
        if missing:
            raise InputError(f"calibration feed lacks model input(s) {', '.join(missing)}")
        out.append({n: np.asarray(feed[n]) for n in names})  # tokenizers add inputs the graph may not take
    if not out:
        raise InputError("calibration_feeds is empty; static quantisation needs calibration data")
    return out


def quantize_static_qdq(src: Path, dst: Path, *, calibration_feeds: Iterable[Mapping[str, np.ndarray]],
                        method: str, per_channel: bool, activation_type: str = "u8", weight_type: str = "s8",
                        nodes_to_exclude: Sequence[str] = (), reduce_range: bool | None = None,
                        activation_symmetric: bool = False, pad_values: Mapping[str, int] | None = None,
                        calibration_cache: Path | None = None) -> dict[str, Any]:
    """Static QDQ INT8 of the weight MatMuls, activation ranges calibrated on `calibration_feeds`.

    calibration_cache: a JSON file of tensor ranges; written on first use and read (skipping calibration)
    afterwards. Reuse it only for the same model, method and feeds, e.g. across a sensitivity sweep.
    """
    src, dst = Path(src), Path(dst)
    _check_choice("calibration method", method, METHODS)
    _check_choice("activation type", activation_type, INT8_TYPES)
    _check_choice("weight type", weight_type, INT8_TYPES)
    _check_paths(src, dst)
    onnx, q = _require_quantization()
    graph = _graph(onnx, src)
    excluded = _check_excluded(graph, nodes_to_exclude)
    inits = {t.name for t in graph.initializer}
    act_x_act = [n.name for n in graph.node if n.op_type == "MatMul" and n.input[1] not in inits]
    wanted = [n.name for n in graph.node if n.op_type == "MatMul" and n.input[1] in inits and n.name not in excluded]
    feeds = _model_feeds(onnx, src, calibration_feeds)
    if method != "minmax":
        feeds = uniform_feeds(feeds, pad_values=pad_values)
    reason = "set by caller"
    if reduce_range is None:
        reduce_range, reason = _auto_reduce_range(activation_type, weight_type)
    types = {"u8": q.QuantType.QUInt8, "s8": q.QuantType.QInt8}
    calibrate = {"minmax": q.CalibrationMethod.MinMax, "entropy": q.CalibrationMethod.Entropy,
                 "percentile": q.CalibrationMethod.Percentile}[method]
    q.quantize_static(_typed(onnx, src), str(dst), _reader(q, feeds), quant_format=q.QuantFormat.QDQ,
                      op_types_to_quantize=["MatMul"], per_channel=per_channel, reduce_range=reduce_range,
                      activation_type=types[activation_type], weight_type=types[weight_type],
                      nodes_to_exclude=excluded + act_x_act, calibrate_method=calibrate,
                      extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT,
                                     "ActivationSymmetric": activation_symmetric},
                      calibration_cache_path=str(calibration_cache) if calibration_cache else None)
    out = _graph(onnx, dst)
    producers = {o: n.op_type for n in out.node for o in n.output}
    # Quantised = both inputs dequantised; a DQ on the weight alone is weight-only rounding.
    done = {n.name for n in out.node if n.op_type == "MatMul"
            and all(producers.get(i) == "DequantizeLinear" for i in n.input[:2])}
    skipped = [n for n in wanted if n not in done]
    if skipped:
        dst.unlink(missing_ok=True)
        raise PassError(f"static quantisation left the activations of {len(skipped)} of {len(wanted)} "
                        f"MatMuls in float (first: {skipped[0]}); their input types could not be inferred")
    quantized = len(done)
    return {"mode": "static-qdq", "method": method, "activation_type": activation_type,
            "weight_type": weight_type, "per_channel": per_channel, "reduce_range": reduce_range,
            "reduce_range_reason": reason, "excluded": excluded, "calibration_batches": len(feeds),
            "quantized_matmuls": quantized, "ops": _op_counts(onnx, dst)}
