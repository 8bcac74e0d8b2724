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


def _nncf(smooth_quant_alpha: float | None, preset: str = "mixed", float_patterns: tuple[str, ...] = ()):
    def build(state: BuildState, src: Path, dst: Path, keep_float) -> dict:
        from edgekit.passes.openvino_quantize import quantize_nncf_int8

        texts = state.calibration_texts()
        state.record.setdefault("calibration", {"texts": len(texts), "source": state.recipe.quantize.calibration_data
                                                or "edgekit corpus (calibration split, disjoint from validation)"})
        feeds = state.tokenize(texts, batch_size=1)
        state.progress.note(f"calibrating NNCF INT8 on {len(feeds)} texts")
        info = quantize_nncf_int8(src, dst.parent / (dst.stem + "-ir"), calibration_feeds=feeds,
                                  smooth_quant_alpha=smooth_quant_alpha, ignored_scope=list(keep_float),
                                  ignored_patterns=list(float_patterns),
                                  subset_size=len(feeds), preset=preset, show_progress=not state.progress.quiet)
        move_ir(dst.parent / (dst.stem + "-ir"), dst)
        return {k: info[k] for k in ("recipe", "fake_quantize", "activations_made_unsigned", "nncf_version")
                if k in info}
    return build


def _ov_matmuls(path: Path) -> list[str]:
    from edgekit.passes.openvino_convert import read_model

    return [op.get_friendly_name() for op in read_model(path).get_ops() if op.get_type_name() == "MatMul"
            and any(i.get_source_output().get_node().get_type_name() in ("Constant", "Convert")
                    for i in op.inputs()[1:])]


def _openvino_methods():
    from edgekit.steps.gated import Method

    methods = {}
    for name, build, description in (
        ("nncf", _nncf(None), "NNCF PTQ, ModelType.TRANSFORMER, NNCF's default SmoothQuant"),
        ("nncf-sq0.5", _nncf(0.5), "NNCF PTQ, TRANSFORMER, SmoothQuant alpha 0.5"),
        ("nncf-nosq", _nncf(-1.0), "NNCF PTQ, TRANSFORMER, SmoothQuant off"),
        # Measured on MiniLM: the FFN output projections see the widest activation ranges (after GELU);
        # keeping those 6 MatMuls float lifts nearest-neighbour agreement from 0.935 to 0.96.
        ("nncf-sq0.9-ffn-out-float", _nncf(0.9, float_patterns=(r".*/layer\.\d+/output/dense/MatMul",)),
         "NNCF PTQ, TRANSFORMER, SmoothQuant 0.9, FFN output MatMuls kept float"),
        ("nncf-sq0.9-ffn-float",
         _nncf(0.9, float_patterns=(r".*/layer\.\d+/output/dense/MatMul", r".*/intermediate/dense/MatMul")),
         "NNCF PTQ, TRANSFORMER, SmoothQuant 0.9, both FFN MatMuls kept float (attention stays INT8)"),
    ):
        methods[name] = Method(name, build, _ov_matmuls, description)
    return methods


def quantize_step(state: BuildState) -> None:
    from edgekit.steps.gated import run_gated

    run_gated(state, _openvino_methods(), suffix=".xml", adopt=lambda xml: adopt_ir(state, xml))
