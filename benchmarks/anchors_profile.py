"""Where the time goes, for edgekit's INT8 artefacts and the anchor on the same runtime, on one input: ONNX
Runtime's profiler by op type, OpenVINO's per-layer counters by layer type and kernel. Shares of the profiled
total are what to compare (profiling adds a little to every node). For ONNX Runtime also the integer MatMul
work each model does and the rate its kernels reach: a latency ratio between two models on the same kernels is
about the ratio of their work, plus what their other ops cost."""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np

TOP = 8


def _shares(per_run: list[dict[str, float]]) -> dict:
    """Median ms per key over runs, largest first, with each key's share of the total."""
    keys = {key for run in per_run for key in run}
    medians = {key: statistics.median(run.get(key, 0.0) for run in per_run) for key in keys}
    total = sum(medians.values())
    ranked = sorted(medians.items(), key=lambda item: -item[1])
    return {"total_ms": total, "top": [{"op": key, "ms": ms, "share": ms / total if total else 0.0}
                                       for key, ms in ranked[:TOP]]}


def ort_profiles(models: dict[str, Path], feeds: dict[str, np.ndarray], *, threads: int, runs: int = 30) -> dict:
    """ONNX Runtime models profiled with their calls taking turns, so their profiles share the machine's state."""
    from edgekit.measure.op_profile import by_op_type, int8_matmul_work, profile_nodes_interleaved

    profiles = profile_nodes_interleaved(models, feeds, threads=threads, runs=runs, warmup=5)
    tool = "onnxruntime profiler (kernel time by op type; the models' calls interleaved, settle pauses)"
    return {name: {"tool": tool, **_shares([by_op_type(nodes)]), "int8_matmuls": int8_matmul_work(nodes)}
            for name, nodes in profiles.items()}


def openvino_profile(model: Path, feeds: dict[str, np.ndarray], *, threads: int, precision: str | None,
                     runs: int = 30) -> dict:
    from edgekit.runtime.sessions import openvino_core

    config = {"PERF_COUNT": True, "INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
    if precision:
        config["INFERENCE_PRECISION_HINT"] = precision
    compiled = openvino_core().compile_model(str(model), "CPU", config)
    request = compiled.create_infer_request()
    wanted = {p.get_any_name() for p in compiled.inputs}
    inputs = {k: v for k, v in feeds.items() if k in wanted}
    per_run = []
    for index in range(5 + runs):
        request.infer(inputs)
        if index < 5:
            continue
        totals: dict[str, float] = {}
        for layer in request.profiling_info:
            if layer.status.name != "EXECUTED":
                continue
            key = f"{layer.node_type} [{layer.exec_type}]"
            totals[key] = totals.get(key, 0.0) + layer.real_time.total_seconds() * 1e3
        per_run.append(totals)
    return {"tool": "OpenVINO per-layer counters (layer type [kernel])", **_shares(per_run)}
