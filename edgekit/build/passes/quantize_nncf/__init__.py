"""The quantize-nncf pass: OpenVINO INT8 by NNCF post-training quantisation, calibrated on real text; the
fastest method inside the accuracy budget wins (edgekit.build.search).

Methods are a ladder from all-INT8 to more ops in float (named in [quantize] candidates). model_type is always
TRANSFORMER (nncf_int8.py), and the weight MatMuls get unsigned activations where NNCF made them signed
(unsigned.py), and embedding tables are gathered before they are dequantised so that they stay int8 in
memory (gathers.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from edgekit.build.passes.base import ANY_FORMAT, OPENVINO_IR, Pass
from edgekit.build.passes.openvino_ir import adopt_ir, move_ir, read_model
from edgekit.build.passes.quantize_nncf.nncf_int8 import FFN_OUTPUT_PATTERN, quantize_nncf_int8
from edgekit.build.search import (
    Method,
    QuantizeSettings,
    check_candidates,
    method_registry,
    run_search,
    uses_calibration,
)

if TYPE_CHECKING:
    from edgekit.build.state import BuildState

FFN_INPUT_PATTERN = r".*/intermediate/dense/MatMul"


def _nncf(smooth_quant_alpha: float | None, preset: str = "mixed", float_patterns: tuple[str, ...] = ()):
    def build(state: BuildState, src: Path, dst: Path, keep_float) -> dict:
        feeds = state.calibration_feeds(batch_size=1)
        state.progress.note(f"calibrating NNCF INT8 on {len(feeds)} texts")
        ir_dir = dst.parent / (dst.stem + "-ir")
        info = quantize_nncf_int8(src, ir_dir, calibration_feeds=feeds, smooth_quant_alpha=smooth_quant_alpha,
                                  ignored_scope=list(keep_float), ignored_patterns=list(float_patterns),
                                  subset_size=len(feeds), preset=preset, show_progress=not state.progress.quiet,
                                  verbose=state.progress.verbose)
        move_ir(ir_dir, dst)
        return {k: info[k] for k in ("recipe", "fake_quantize", "activations_made_unsigned", "gathers_kept_int8",
                                     "float_weights_compressed_int8", "nncf_version") if k in info}
    return build


def _weights_only(state: BuildState, src: Path, dst: Path, keep_float) -> dict:
    from edgekit.build.passes.compress_weights import compress_weights_int8

    ir_dir = dst.parent / (dst.stem + "-ir")
    info = compress_weights_int8(src, ir_dir, float_constants="f32", ignored_scope=list(keep_float),
                                 verbose=state.progress.verbose)
    move_ir(ir_dir, dst)
    return {k: info[k] for k in ("recipe", "int8_constants", "nncf_version")}


def weight_matmuls(path: Path) -> list[str]:
    """MatMuls of an OpenVINO model with a constant (or decompressed constant) weight."""
    return [op.get_friendly_name() for op in read_model(path).get_ops() if op.get_type_name() == "MatMul"
            and any(i.get_source_output().get_node().get_type_name() in ("Constant", "Convert")
                    for i in op.inputs()[1:])]


def _method(name: str, build, description: str) -> Method:
    # Every NNCF PTQ method calibrates; weight-only compression reads no text.
    return Method(name, build, weight_matmuls, description, calibrated=build is not _weights_only)


METHODS = method_registry(
    _method("nncf", _nncf(None), "NNCF PTQ, ModelType.TRANSFORMER, NNCF's default SmoothQuant"),
    _method("nncf-sq0.5", _nncf(0.5), "NNCF PTQ, TRANSFORMER, SmoothQuant alpha 0.5"),
    _method("nncf-nosq", _nncf(-1.0), "NNCF PTQ, TRANSFORMER, SmoothQuant off"),
    # Measured on MiniLM: the FFN output projections see the widest activation ranges (after GELU);
    # keeping those 6 MatMuls float lifts nearest-neighbour agreement from 0.935 to 0.96.
    _method("nncf-sq0.9-ffn-out-float", _nncf(0.9, float_patterns=(FFN_OUTPUT_PATTERN,)),
            "NNCF PTQ, TRANSFORMER, SmoothQuant 0.9, FFN output MatMuls kept float"),
    _method("nncf-sq0.9-ffn-float", _nncf(0.9, float_patterns=(FFN_OUTPUT_PATTERN, FFN_INPUT_PATTERN)),
            "NNCF PTQ, TRANSFORMER, SmoothQuant 0.9, both FFN MatMuls kept float (attention stays INT8)"),
    # INT8 weights, float activations (OpenVINO's x86 plugin quantises them on the fly in groups of 32). On x86
    # without VNNI the CPU plugin's static INT8 loses accuracy (MiniLM: nearest-neighbour agreement 0.924, 0.974
    # on a VNNI CPU); this keeps it (0.984) at a speed cost, so it is the ladder's last rung.
    _method("nncf-weights-int8", _weights_only, "NNCF weight compression, INT8 weights (asymmetric, per channel), "
            "float activations"),
)


def run(state: BuildState, settings: QuantizeSettings) -> None:
    run_search(state, settings, METHODS, suffix=".xml", adopt=lambda xml: adopt_ir(state, xml),
               float_model=state.current)


PASS = Pass(name="quantize-nncf", description="OpenVINO INT8 by NNCF: the fastest method inside the accuracy budget",
            run=run, accepts=ANY_FORMAT, produces=OPENVINO_IR, section="quantize", settings=QuantizeSettings,
            check=lambda settings: check_candidates(settings, METHODS),
            calibration=lambda settings: uses_calibration(settings, METHODS))
