"""Where an ONNX Runtime model spends its time, node by node, from ORT's own profiler.

A latency says how fast; this says why. benchmarks/ort_int8_budget.py uses it to split an INT8 model's time
into integer MatMuls (compared with the same MatMul timed alone, its weights hot in cache) and the rest.
Profiling adds a little time to every node, so shares of the profiled total are what to compare, not its sum
against an unprofiled latency.
"""

from __future__ import annotations

import json
import math
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from edgekit.errors import InputError
from edgekit.runtime.sessions import ort_session

# Integer MatMuls of dynamically quantised ORT graphs (as ORT runs them after its load-time fusions).
INT8_MATMUL_OPS = ("DynamicQuantizeMatMul", "MatMulIntegerToFloat", "MatMulInteger", "QAttention")


def _check_counts(runs: int, warmup: int) -> None:
    if runs < 1 or warmup < 0:
        raise InputError(f"runs must be positive and warmup not negative, got runs={runs}, warmup={warmup}")


def _spinning_session(model_path: Path | str, *, threads: int, profile_prefix: Path | None = None):
    """An ORT CPU session as edgekit bench runs one (spinning on), profiling to profile_prefix if given."""
    return ort_session(model_path, threads=threads, spinning=True, profile_prefix=profile_prefix)


def profile_nodes(model_path: Path | str, feeds: dict[str, np.ndarray], *, threads: int, runs: int = 50,
                  warmup: int = 10, between: Callable[[], None] | None = None) -> list[dict]:
    """Each node ORT ran, in run order: name, op_type, median kernel ms over `runs` calls after `warmup`, and
    its input and output (dtype, shape) pairs. Inputs that ORT pre-packed at load (constant weights of
    integer MatMuls) are not listed. Spinning on, as edgekit bench runs ONNX Runtime. `between` runs after
    each profiled call, outside the profile: other measurements interleaved with it see the same machine."""
    _check_counts(runs, warmup)
    with tempfile.TemporaryDirectory(prefix="edgekit-profile-") as tmp:
        session = _spinning_session(model_path, threads=threads, profile_prefix=Path(tmp) / "profile")
        inputs = _inputs_of(session, feeds)
        for _ in range(warmup + runs):
            session.run(None, inputs)
            if between is not None:
                between()
        return _nodes(json.loads(Path(session.end_profiling()).read_text()), runs)


def profile_nodes_interleaved(models: Mapping[str, Path | str], feeds: dict[str, np.ndarray], *, threads: int,
                              runs: int = 50, warmup: int = 10, settle_ms: float = 50.0) -> dict[str, list[dict]]:
    """profile_nodes for several models whose calls take turns, one call each per round: a noisy machine's slow
    spells then fall on every model alike, so their profiles can be set side by side. Each call is followed by
    a settle_ms pause: a session's spinning threads would otherwise steal the next session's CPU."""
    _check_counts(runs, warmup)
    if settle_ms < 0:
        raise InputError(f"settle_ms must not be negative, got {settle_ms}")
    with tempfile.TemporaryDirectory(prefix="edgekit-profile-") as tmp:
        sessions = {name: _spinning_session(path, threads=threads, profile_prefix=Path(tmp) / f"profile-{index}")
                    for index, (name, path) in enumerate(models.items())}
        inputs = {name: _inputs_of(session, feeds) for name, session in sessions.items()}
        for _ in range(warmup + runs):
            for name, session in sessions.items():
                session.run(None, inputs[name])
                time.sleep(settle_ms / 1e3)
        return {name: _nodes(json.loads(Path(session.end_profiling()).read_text()), runs)
                for name, session in sessions.items()}


def _inputs_of(session, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    wanted = {i.name for i in session.get_inputs()}
    return {k: v for k, v in feeds.items() if k in wanted}


def _nodes(events: list[dict], runs: int) -> list[dict]:
    """ORT's profile events as one entry per node, its kernel time the median over the last `runs` calls."""
    nodes: dict[str, dict] = {}
    for event in events:
        if event.get("cat") != "Node" or not event.get("name", "").endswith("_kernel_time"):
            continue
        name = event["name"][: -len("_kernel_time")]
        args = event.get("args", {})
        node = nodes.setdefault(name, {"node": name, "op_type": args.get("op_name", "?"), "durations_us": [],
                                       "input_shapes": _shapes(args.get("input_type_shape", [])),
                                       "output_shapes": _shapes(args.get("output_type_shape", []))})
        node["durations_us"].append(event["dur"])
    return [{"node": n["node"], "op_type": n["op_type"], "input_shapes": n["input_shapes"],
             "output_shapes": n["output_shapes"], "ms": statistics.median(n["durations_us"][-runs:]) / 1e3}
            for n in nodes.values()]


def _shapes(typed: list[dict]) -> list[tuple[str, list[int]]]:
    """ORT's [{"float": [1, 128, 768]}, ...] as [("float", [1, 128, 768]), ...]."""
    return [next(iter(entry.items())) if entry else ("", []) for entry in typed]


def int8_matmul_shape(node: dict) -> tuple[int, int, int] | None:
    """(M, K, N) of an integer MatMul node: activation rows, inner size, output columns, read from its
    activation input and its output (the weight itself is pre-packed, so not in the profile). For
    QAttention it is the fused Q, K and V projection, N = 3 x hidden. None for any other node."""
    if node["op_type"] not in INT8_MATMUL_OPS or not node["input_shapes"] or not node["output_shapes"]:
        return None
    activations, output = node["input_shapes"][0][1], node["output_shapes"][0][1]
    if len(activations) < 2 or len(output) != len(activations) or output[:-1] != activations[:-1]:
        return None
    columns = 3 * output[-1] if node["op_type"] == "QAttention" else output[-1]
    return math.prod(activations[:-1]), activations[-1], columns


def by_op_type(nodes: list[dict]) -> dict[str, float]:
    """Milliseconds per op type, largest first."""
    totals: dict[str, float] = {}
    for node in nodes:
        totals[node["op_type"]] = totals.get(node["op_type"], 0.0) + node["ms"]
    return dict(sorted(totals.items(), key=lambda item: -item[1]))


def int8_matmul_work(nodes: list[dict]) -> dict:
    """How much integer MatMul work a profiled run did and how fast: giga-operations (2 x M x K x N per node,
    shapes from int8_matmul_shape), their milliseconds, the rate, and the milliseconds of every other node.
    QAttention's milliseconds include the FP32 attention around its INT8 projection, so its rate is a floor."""
    shaped = [(node, int8_matmul_shape(node)) for node in nodes]
    gop = sum(2 * math.prod(shape) for _, shape in shaped if shape) / 1e9
    matmul_ms = sum(node["ms"] for node, shape in shaped if shape)
    return {"gop": gop, "ms": matmul_ms, "gops_per_s": gop / matmul_ms * 1e3 if matmul_ms else 0.0,
            "nodes": sum(1 for _, shape in shaped if shape),
            "other_ms": sum(node["ms"] for node, shape in shaped if not shape)}


def hot_int8_matmul(shape: tuple[int, int, int], *, threads: int, calls: int = 5,
                    seed: int = 0) -> Callable[[], float]:
    """A timer for one dynamically quantised (U8 x S8, per-channel) MatMul of `shape`, the kernel ORT runs in
    the model, alone. Each call of the timer runs it `calls` times in a row and returns the median ms of all
    but the first, which brings the weight back into cache: the kernel's best case."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from edgekit.build.passes.quantize_ort.int8 import quantize_dynamic_int8

    m, k, n = shape
    if calls < 2:
        raise InputError(f"calls must be at least 2 (the first only warms the cache), got {calls}")
    rng = np.random.default_rng(seed)
    weight = numpy_helper.from_array((rng.standard_normal((k, n)) * 0.05).astype(np.float32), "W")
    graph = helper.make_graph([helper.make_node("MatMul", ["X", "W"], ["Y"])], "matmul",
                              [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, m, k])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, m, n])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    with tempfile.TemporaryDirectory(prefix="edgekit-matmul-") as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        onnx.save(model, str(src))
        quantize_dynamic_int8(src, dst, per_channel=True, reduce_range=False)
        session = _spinning_session(dst, threads=threads)
    feeds = {"X": rng.standard_normal((1, m, k)).astype(np.float32)}

    def timed() -> float:
        times = []
        for _ in range(calls):
            start = time.perf_counter()
            session.run(None, feeds)
            times.append(time.perf_counter() - start)
        return statistics.median(times[1:]) * 1e3

    return timed
