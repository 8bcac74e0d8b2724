"""OpenVINO passes: ONNX to IR (f32 or f16-compressed weights) and int8 weight compression for ARM."""

from __future__ import annotations

import shutil
from pathlib import Path

from edgekit.build_state import BuildState


def adopt_ir(state: BuildState, xml: Path) -> None:
    """Make an IR (model.xml + model.bin) the current model."""
    state.current = xml
    state.companions = {"model.bin": xml.with_suffix(".bin")}


def move_ir(src_dir: Path, dst_xml: Path) -> Path:
    """Move model.xml/.bin written into src_dir to dst_xml (and its .bin); the .xml names its .bin by stem."""
    shutil.move(str(src_dir / "model.xml"), dst_xml)
    shutil.move(str(src_dir / "model.bin"), dst_xml.with_suffix(".bin"))
    shutil.rmtree(src_dir, ignore_errors=True)
    return dst_xml


def convert_step(state: BuildState) -> None:
    from edgekit.passes.openvino_convert import convert_to_ir

    fp16 = state.target.precision == "fp16"
    out = state.scratch / "ir"
    with state.progress.step(f"converting to OpenVINO IR ({'f16' if fp16 else 'f32'} weights)"):
        info = convert_to_ir(state.current, out, compress_to_fp16=fp16)
    state.record["openvino"] = _ir_summary(info, state)
    adopt_ir(state, out / "model.xml")


def compress_weights_step(state: BuildState) -> None:
    from edgekit.passes.openvino_quantize import compress_weights_int8

    out = state.scratch / "ir-int8-weights"
    with state.progress.step("compressing weights to int8 (activations stay float)"):
        info = compress_weights_int8(state.current, out)
    state.record["openvino"] = _ir_summary(info, state)
    adopt_ir(state, out / "model.xml")


def _ir_summary(info: dict, state: BuildState) -> dict:
    from edgekit.passes.openvino_convert import runtime_precision

    keep = ("weights", "recipe", "fake_quantize", "int8_constants", "constant_types", "openvino_version",
            "nncf_version")
    summary = {k: info[k] for k in keep if k in info}
    summary["device_default_precision"] = runtime_precision("CPU")
    summary["inference_precision"] = state.target.inference_precision or summary["device_default_precision"]
    return summary
