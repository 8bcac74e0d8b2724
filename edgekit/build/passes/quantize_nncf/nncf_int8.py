"""Part of quantize-nncf: NNCF INT8 post-training quantisation of an OpenVINO model (pure, file to file).

model_type is always TRANSFORMER: without it NNCF quantises LayerNorm/Softmax inputs and the
residual Adds, and MiniLM's sentence embeddings collapse (mean cosine 0.62 against FP32, measured).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.build.nncf_tools import nncf_output, require_nncf
from edgekit.build.passes.openvino_ir import read_model, save_ir
from edgekit.build.passes.quantize_nncf.gathers import gather_before_dequantize
from edgekit.build.passes.quantize_nncf.unsigned import unsign_weight_matmul_activations
from edgekit.errors import InputError, InvalidChoiceError, PassError

PRESETS = ("performance", "mixed")
# Measured on MiniLM-L6 pooled embeddings, 600 held-out sentences: 0.9 beat off, 0.5, 0.8, NNCF's
# default 0.95 and 1.0 on mean and min cosine and nearest-neighbour agreement (0.85 lost on a tuning set).
RECOMMENDED_SMOOTH_QUANT_ALPHA = 0.9
# The MatMuls whose INT8 costs MiniLM the most accuracy (FFN output, early layers first); keeping
# them float buys accuracy at a speed cost, so callers opt in through ignored_patterns.
FFN_OUTPUT_PATTERN = r".*/layer\.\d+/output/dense/MatMul"


def float_weight_matmuls(model: Any) -> list[str]:
    """MatMuls whose weight input is a plain f32/f16 Constant (not quantised, not compressed)."""
    names = []
    for op in model.get_ops():
        if op.get_type_name() != "MatMul":
            continue
        weight = op.input(1).get_source_output().get_node()
        if weight.get_type_name() == "Constant" and weight.get_element_type().get_type_name() in ("f32", "f16"):
            names.append(op.get_friendly_name())
    return names


def _check_feeds(model: Any, feeds: Sequence[Mapping[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    """Keep only the model's inputs (an exported BERT may take token_type_ids, a RoBERTa not)."""
    if not feeds:
        raise InputError("calibration needs at least one input feed")
    names = [p.get_any_name() for p in model.inputs]
    missing = [n for n in names if n not in feeds[0]]
    if missing:
        raise InputError(f"calibration feeds lack the model inputs {missing}; they have {sorted(feeds[0])}")
    return [{n: np.asarray(feed[n]) for n in names} for feed in feeds]


def _ignored_scope(nncf: Any, model: Any, names: Sequence[str], patterns: Sequence[str]) -> Any:
    if not names and not patterns:
        return None
    known = {op.get_friendly_name() for op in model.get_ops()}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InputError(f"ignored_scope names not in the model: {unknown[:5]}")
    # validate=False: a pattern may match nothing in a smaller model of the same family.
    return nncf.IgnoredScope(names=list(names), patterns=list(patterns), validate=False)


def quantize_nncf_int8(src: Path, out_dir: Path, *, calibration_feeds: Sequence[Mapping[str, np.ndarray]],
                       smooth_quant_alpha: float | None, ignored_scope: Sequence[str] = (),
                       ignored_patterns: Sequence[str] = (), subset_size: int = 300, preset: str = "mixed",
                       fast_bias_correction: bool = True, unsigned_activations: bool = True,
                       compress_float_weights: bool = True, show_progress: bool = True,
                       verbose: bool = False) -> dict[str, Any]:
    """Static INT8 (FakeQuantize) IR from an .onnx or .xml, calibrated on real tokenised text.

    smooth_quant_alpha: None keeps NNCF's default (0.95 for MatMul); 0..1 sets it; a negative value
    turns SmoothQuant off (NNCF's convention). ignored_scope/ignored_patterns: op names / regexes
    left in float. preset "mixed" = symmetric weights, asymmetric activations (NNCF's transformer
    default); "performance" = symmetric both. unsigned_activations: give the weight MatMuls u8
    activations where NNCF made them signed (x86 VNNI runs u8 x s8 fastest; see unsigned.py).
    compress_float_weights: store the weights of MatMuls left float (ignored scope) as int8 too (weight-only,
    activations float), so that keeping ops float costs no bytes: FP32 FFN weights would add ~40 MB to
    DistilRoBERTa.
    """
    nncf = require_nncf()
    if preset not in PRESETS:
        raise InvalidChoiceError("NNCF preset", preset, PRESETS)
    if subset_size < 1:
        raise InputError(f"subset_size must be positive, got {subset_size}")
    if smooth_quant_alpha is not None and not smooth_quant_alpha <= 1:
        raise InputError(f"smooth_quant_alpha must be at most 1 (negative disables), got {smooth_quant_alpha}")
    start = time.perf_counter()
    model = read_model(Path(src))
    feeds = _check_feeds(model, calibration_feeds)
    advanced = nncf.AdvancedQuantizationParameters()
    if smooth_quant_alpha is not None:
        advanced.smooth_quant_alphas = nncf.AdvancedSmoothQuantParameters(matmul=float(smooth_quant_alpha))
    with nncf_output(show_progress=show_progress, verbose=verbose):
        quantized = nncf.quantize(
            model, nncf.Dataset(feeds),
            model_type=nncf.ModelType.TRANSFORMER,
            preset=nncf.QuantizationPreset(preset),
            subset_size=subset_size,
            fast_bias_correction=fast_bias_correction,
            ignored_scope=_ignored_scope(nncf, model, ignored_scope, ignored_patterns),
            advanced_parameters=advanced,
        )
    unsigned = unsign_weight_matmul_activations(quantized) if unsigned_activations else []
    int8_gathers = gather_before_dequantize(quantized)  # the embedding tables stay int8 in memory
    float_weights = float_weight_matmuls(quantized)
    if compress_float_weights and float_weights:
        with nncf_output(show_progress=False, verbose=verbose):
            quantized = nncf.compress_weights(quantized, mode=nncf.CompressWeightsMode.INT8_ASYM)
        left = float_weight_matmuls(quantized)
        if left:
            raise PassError(f"weight compression left {len(left)} float-weight MatMuls, e.g. {left[:3]}")
    # compress_to_fp16=False: the weights become int8 anyway; what stays float (biases, LayerNorm)
    # keeps f32 so that the artefact's only approximation is the INT8 one.
    info = save_ir(quantized, out_dir, compress_to_fp16=False)
    fake_quantize = info["ops"].get("FakeQuantize", 0)
    if fake_quantize == 0:
        raise PassError("NNCF quantisation inserted no FakeQuantize ops; the IR would run in float")
    return {
        **info,
        "recipe": {
            "method": "nncf.quantize", "model_type": "transformer", "preset": preset,
            "smooth_quant_alpha": smooth_quant_alpha, "subset_size": subset_size,
            "calibration_samples": min(subset_size, len(feeds)), "fast_bias_correction": fast_bias_correction,
            "ignored_scope": list(ignored_scope), "ignored_patterns": list(ignored_patterns),
            "unsigned_activations": unsigned_activations, "compress_float_weights": compress_float_weights,
        },
        "float_weights_compressed_int8": len(float_weights) if compress_float_weights else 0,
        "activations_made_unsigned": len(unsigned),
        "gathers_kept_int8": int8_gathers,
        "fake_quantize": fake_quantize,
        "nncf_version": nncf.__version__,
        "seconds": round(time.perf_counter() - start, 2),
    }
