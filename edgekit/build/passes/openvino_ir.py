"""The openvino-ir pass: ONNX to OpenVINO IR (f32, or f16-compressed weights for fp16 targets).

OpenVINO's CPU plugin picks its own inference precision: bf16 on CPUs with native BF16 (AVX512-BF16, AMX) and
f16 on ARM, even for an "fp32" IR. The record therefore holds the precision the device would use and the one
the target pins; validation runs at the pinned one. This module also reads and writes IRs for the NNCF passes.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgekit.build.passes.base import ONNX, OPENVINO_IR, Pass
from edgekit.errors import InputError, InvalidChoiceError, PassError
from edgekit.runtime.sessions import openvino_core, openvino_default_precision, require_openvino

if TYPE_CHECKING:
    from edgekit.build.state import BuildState

XML_NAME = "model.xml"


def read_model(src: Path) -> Any:
    """An ov.Model from an .onnx file or an IR .xml."""
    src = Path(src)
    if not src.is_file():
        raise InputError(f"model file {str(src)!r} does not exist")
    if src.suffix == ".xml":
        return openvino_core().read_model(str(src))
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
    written = openvino_core().read_model(str(xml))
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
        "runtime_precision": openvino_default_precision("CPU"),
        "seconds": round(time.perf_counter() - start, 2),
    }


def adopt_ir(state: BuildState, xml: Path) -> None:
    """Make an IR (model.xml + model.bin) the current model."""
    state.current = xml
    state.companions = {"model.bin": xml.with_suffix(".bin")}


def move_ir(src_dir: Path, dst_xml: Path) -> Path:
    """Move model.xml/.bin written into src_dir to dst_xml (and its .bin); the .xml names its .bin by stem."""
    shutil.move(str(src_dir / XML_NAME), dst_xml)
    shutil.move(str(src_dir / "model.bin"), dst_xml.with_suffix(".bin"))
    shutil.rmtree(src_dir, ignore_errors=True)
    return dst_xml


def ir_summary(info: dict, state: BuildState) -> dict:
    """The record's "openvino" entry: what the IR holds and the precision it runs at."""
    keep = ("weights", "recipe", "fake_quantize", "int8_constants", "constant_types", "openvino_version",
            "nncf_version")
    summary = {k: info[k] for k in keep if k in info}
    summary["device_default_precision"] = openvino_default_precision("CPU")
    summary["inference_precision"] = state.target.inference_precision or summary["device_default_precision"]
    return summary


def run(state: BuildState, settings: None) -> None:
    fp16 = state.target.precision == "fp16"
    out = state.scratch / "ir"
    with state.progress.step(f"converting to OpenVINO IR ({'f16' if fp16 else 'f32'} weights)"):
        info = convert_to_ir(state.current, out, compress_to_fp16=fp16)
    state.record["openvino"] = ir_summary(info, state)
    adopt_ir(state, out / XML_NAME)


PASS = Pass(name="openvino-ir", description="ONNX to OpenVINO IR (f16-compressed weights for fp16 targets)",
            run=run, accepts=(ONNX,), produces=OPENVINO_IR)
