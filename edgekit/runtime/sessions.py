"""Running model files with numpy and one runtime: ONNX Runtime (.onnx, .ort) or OpenVINO (.xml).

Every ONNX Runtime session and every OpenVINO compilation in edgekit is made here, so thread, spinning and
precision settings mean the same thing everywhere. Light install only: nothing here imports torch,
transformers or onnx.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.errors import InputError, InvalidChoiceError, MissingDependencyError

Runner = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]
MODEL_SUFFIXES = (".onnx", ".ort", ".xml", ".pt2")
OPENVINO_PRECISIONS = ("f32", "bf16", "f16")
PERFORMANCE_HINTS = ("LATENCY", "THROUGHPUT")


OVERSUBSCRIBE_LIMIT = 8  # threads per core even when asked for more: beyond, a runtime only thrashes or hangs


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask; a container's CPU set)."""
    import os

    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def check_threads(threads: int | None, *, oversubscribe: bool = True) -> None:
    """A thread count a runtime can use: at most the usable cores, or with oversubscribe (benchmarks that
    study it; the internal default) at most OVERSUBSCRIBE_LIMIT per core."""
    if threads is None:
        return
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise InputError(f"threads must be a positive whole number, got {threads!r}")
    cores = usable_cores()
    limit = cores * OVERSUBSCRIBE_LIMIT if oversubscribe else cores
    if threads > limit:
        more = "" if oversubscribe else " (more threads than cores only take turns on them)"
        raise InputError(f"threads {threads} is more than this machine allows: at most {limit} for its {cores} "
                         f"usable cores{more}")


def ort_session(model: Path | str | bytes, *, threads: int | None = None, spinning: bool = False,
                profile_prefix: Path | None = None, optimized_model_path: Path | None = None,
                disabled_optimizers: Sequence[str] = (), custom_ops_library: str | None = None,
                log_severity: int | None = None):
    """An ONNX Runtime CPU session.

    spinning: intra-op threads keep spinning after a run. Spinning threads steal CPU from whatever runs next
    (another runtime, the reference model), so it is off unless the caller isolates runs in time (edgekit
    bench lets threads settle between calls) or is an app that wants the lowest latency of back-to-back calls.
    """
    import onnxruntime as ort

    check_threads(threads)
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    if profile_prefix is not None:
        options.enable_profiling = True
        options.profile_file_prefix = str(profile_prefix)
    if optimized_model_path is not None:
        options.optimized_model_filepath = str(optimized_model_path)
    if custom_ops_library is not None:
        options.register_custom_ops_library(custom_ops_library)
    if log_severity is not None:
        options.log_severity_level = log_severity
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"],
                                disabled_optimizers=list(disabled_optimizers) or None)


def run_onnx(session, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run a session on int64 token feeds; inputs the graph does not take are left out."""
    names = [o.name for o in session.get_outputs()]
    wanted = {i.name for i in session.get_inputs()}
    arrays = session.run(names, {k: np.asarray(v, dtype=np.int64) for k, v in feeds.items() if k in wanted})
    return dict(zip(names, arrays))


def require_openvino() -> Any:
    """The openvino module, or a MissingDependencyError naming it."""
    try:
        import openvino
    except ImportError:
        raise MissingDependencyError("openvino", "running an OpenVINO model") from None
    return openvino


_CORE: Any = None


def openvino_core() -> Any:
    """One Core per process: creating it loads the plugins, which is slow."""
    global _CORE
    if _CORE is None:
        _CORE = require_openvino().Core()
    return _CORE


def openvino_default_precision(device: str = "CPU") -> str:
    """The inference precision the device uses when nobody pins it ("f32", "bf16" or "f16")."""
    return openvino_core().get_property(device, "INFERENCE_PRECISION_HINT").to_string()


def compiled_precision(compiled: Any) -> str:
    """The inference precision a compiled model actually runs at."""
    return compiled.get_property("INFERENCE_PRECISION_HINT").to_string()


def compile_openvino(model: Path | str | Any, *, threads: int | None, precision: str | None = None,
                     device: str = "CPU", performance_hint: str = "LATENCY",
                     static_shapes: dict[str, list[int]] | None = None,
                     dynamic_quantization_group_size: int | None = None, core: Any = None) -> Any:
    """Compile an IR (path or ov.Model) for inference.

    precision None leaves the device's default (bf16/f16 on capable CPUs); "f32" pins full precision,
    which is what a comparison of an fp32 artefact with its reference needs. static_shapes reshapes
    the inputs first (e.g. {"input_ids": [1, -1]}). A fully static [1, 128] INT8 IR fails to compile
    in OpenVINO 2026.4 (openvino#33446); a static batch with dynamic length works.
    dynamic_quantization_group_size: on x86 the CPU plugin quantises the activations of
    weight-compressed (int8-weight) MatMuls on the fly, in groups of 32 by default; 0 turns that off.
    core: a Core with extensions registered (the in-graph tokenizer's string ops); default the shared one.
    """
    if precision is not None and precision not in OPENVINO_PRECISIONS:
        raise InvalidChoiceError("OpenVINO inference precision", precision, OPENVINO_PRECISIONS)
    if performance_hint not in PERFORMANCE_HINTS:
        raise InvalidChoiceError("OpenVINO performance hint", performance_hint, PERFORMANCE_HINTS)
    check_threads(threads)
    core = core or openvino_core()
    if isinstance(model, (str, Path)):
        path = Path(model)
        if not path.is_file():
            raise InputError(f"model file {str(path)!r} does not exist")
        model = core.read_model(str(path))
    if static_shapes:
        model.reshape(static_shapes)
    config: dict[str, Any] = {"PERFORMANCE_HINT": performance_hint}
    if threads is not None:
        config["INFERENCE_NUM_THREADS"] = threads
    if precision is not None:
        config["INFERENCE_PRECISION_HINT"] = precision
    if dynamic_quantization_group_size is not None:
        if dynamic_quantization_group_size < 0:
            raise InputError(f"dynamic_quantization_group_size must be >= 0, got {dynamic_quantization_group_size}")
        config["DYNAMIC_QUANTIZATION_GROUP_SIZE"] = dynamic_quantization_group_size
    return core.compile_model(model, device, config)


def openvino_runner(compiled: Any, *, dtype=np.int64) -> Callable[[dict[str, Any]], dict[str, np.ndarray]]:
    """feeds -> outputs of a compiled OpenVINO model, through one infer request; inputs it lacks are left out."""
    inputs = {p.get_any_name() for p in compiled.inputs}
    names = [p.get_any_name() for p in compiled.outputs]
    request = compiled.create_infer_request()

    def run(feeds: dict[str, Any]) -> dict[str, np.ndarray]:
        result = request.infer({k: np.asarray(v, dtype=dtype) for k, v in feeds.items() if k in inputs})
        return {name: np.array(result[compiled.output(name)]) for name in names}

    return run


def open_runner(model_path: Path | str, *, threads: int | None = None, precision: str | None = None,
                spinning: bool = False) -> Runner:
    """A callable feeds -> outputs for any artefact model file. precision applies to OpenVINO only
    (None: the device default, which is bf16 or f16 on capable CPUs); spinning to ONNX Runtime only.
    A .pt2 program (pytorch-int8) needs torch, and compiles on its first call."""
    model_path = Path(model_path)
    if model_path.suffix in (".onnx", ".ort"):
        session = ort_session(model_path, threads=threads, spinning=spinning)
        return lambda feeds: run_onnx(session, feeds)
    if model_path.suffix == ".xml":
        return openvino_runner(compile_openvino(model_path, threads=threads, precision=precision))
    if model_path.suffix == ".pt2":
        from edgekit.runtime.torch_program import torch_program_runner

        return torch_program_runner(model_path, threads=threads)
    raise InvalidChoiceError("model file type", model_path.suffix, MODEL_SUFFIXES)
