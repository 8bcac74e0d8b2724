"""ONNX -> OpenVINO IR (fp32 or fp16-compressed weights), and compiling an IR with a pinned precision.

OpenVINO's CPU plugin picks its own inference precision: bf16 on CPUs with native BF16 (AVX512-BF16,
AMX) and f16 on ARM, even for an "fp32" IR. Every info dict therefore records the precision the
runtime will use, and validation pins f32 when it compares an fp32 artefact with its reference.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from edgekit.errors import InputError, InvalidChoiceError, MissingDependencyError, PassError

XML_NAME = "model.xml"
PRECISIONS = ("f32", "bf16", "f16")
PERFORMANCE_HINTS = ("LATENCY", "THROUGHPUT")


def require_openvino() -> Any:
    """The openvino module, or a MissingDependencyError naming the extra to install."""
    try:
        import openvino
    except ImportError:
        raise MissingDependencyError("openvino", "the OpenVINO passes") from None
    return openvino


def _core() -> Any:
    # One Core per process: creating it loads the plugins, which is slow.
    global _CORE
    if _CORE is None:
        _CORE = require_openvino().Core()
    return _CORE


_CORE: Any = None


def runtime_precision(device: str = "CPU") -> str:
    """The inference precision the device uses when nobody pins it ("f32", "bf16" or "f16")."""
    return _core().get_property(device, "INFERENCE_PRECISION_HINT").to_string()


def compiled_precision(compiled: Any) -> str:
    """The inference precision a compiled model actually runs at."""
    return compiled.get_property("INFERENCE_PRECISION_HINT").to_string()


def read_model(src: Path) -> Any:
    """An ov.Model from an .onnx file or an IR .xml."""
    src = Path(src)
    if not src.is_file():
        raise InputError(f"model file {str(src)!r} does not exist")
    if src.suffix == ".xml":
        return _core().read_model(str(src))
    if src.suffix == ".onnx":
        return require_openvino().convert_model(str(src))
    raise InvalidChoiceError("model file type", src.suffix, (".onnx", ".xml"))


def op_summary(model: Any) -> dict[str, Any]:
    """Counts that show what a pass did: op types and constant element types."""
    ops = Counter(op.get_type_name() for op in model.get_ops())
    consts = Counter(op.get_element_type().to_string() for op in model.get_ops()
                     if op.get_type_name() == "Constant")
    return {"ops": dict(sorted(ops.items())), "constant_types": dict(sorted(consts.items()))}


def save_ir(model: Any, out_dir: Path, *, compress_to_fp16: bool) -> dict[str, Any]:
    """Write model.xml/.bin into out_dir; returns paths, sizes and op counts of what was written."""
    ov = require_openvino()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    xml = out_dir / XML_NAME
    ov.save_model(model, str(xml), compress_to_fp16=compress_to_fp16)
    bin_path = xml.with_suffix(".bin")
    # Summarise the file as written: save_model's own transformations (fp16, int8 weights) show there.
    written = _core().read_model(str(xml))
    return {
        "xml": str(xml),
        "bin": str(bin_path),
        "bin_bytes": bin_path.stat().st_size,
        "inputs": {p.get_any_name(): str(p.get_partial_shape()) for p in written.inputs},
        "outputs": [p.get_any_name() for p in written.outputs],
        **op_summary(written),
        "openvino_version": ov.get_version(),
    }


def convert_to_ir(onnx_path: Path, out_dir: Path, *, compress_to_fp16: bool) -> dict[str, Any]:
    """ONNX -> IR. With compress_to_fp16 the weights are stored f16 and decompressed to f32 at load."""
    start = time.perf_counter()
    model = read_model(Path(onnx_path))
    info = save_ir(model, out_dir, compress_to_fp16=compress_to_fp16)
    if compress_to_fp16 and "f16" not in info["constant_types"]:
        raise PassError("fp16 weight compression left no f16 constants in the IR")
    return {
        **info,
        "weights": "f16" if compress_to_fp16 else "f32",
        "runtime_precision": runtime_precision("CPU"),
        "seconds": round(time.perf_counter() - start, 2),
    }


def compile_ir(xml_path: Path | Any, *, threads: int | None, precision: str | None = None,
               device: str = "CPU", performance_hint: str = "LATENCY",
               static_shapes: dict[str, list[int]] | None = None,
               dynamic_quantization_group_size: int | None = None) -> Any:
    """Compile an IR (path or ov.Model) for inference.

    precision None leaves the device's default (bf16/f16 on capable CPUs); "f32" pins full precision,
    which is what a comparison of an fp32 artefact with its reference needs. static_shapes reshapes
    the inputs first (e.g. {"input_ids": [1, -1]}). A fully static [1, 128] INT8 IR fails to compile
    in OpenVINO 2026.4 (openvino#33446); a static batch with dynamic length works.
    dynamic_quantization_group_size: on x86 the CPU plugin quantises the activations of
    weight-compressed (int8-weight) MatMuls on the fly, in groups of 32 by default; 0 turns that off.
    """
    if precision is not None and precision not in PRECISIONS:
        raise InvalidChoiceError("OpenVINO inference precision", precision, PRECISIONS)
    if performance_hint not in PERFORMANCE_HINTS:
        raise InvalidChoiceError("OpenVINO performance hint", performance_hint, PERFORMANCE_HINTS)
    if threads is not None and threads < 1:
        raise InputError(f"threads must be a positive number, got {threads}")
    model = xml_path if not isinstance(xml_path, (str, Path)) else read_model(Path(xml_path))
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
    return _core().compile_model(model, device, config)
