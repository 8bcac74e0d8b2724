"""ONNX Runtime INT8 passes: the x86-64 gated quantiser and the ARM64 QDQ + ORT-format variant."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from edgekit.build_state import BuildState
from edgekit.steps.gated import Method, run_gated


def _calibration_feeds(state: BuildState) -> list[dict]:
    texts = state.calibration_texts()
    state.record.setdefault("calibration", {"texts": len(texts), "source": state.recipe.quantize.calibration_data
                                            or "edgekit corpus (calibration split, disjoint from validation)"})
    return state.tokenize(texts)


def _weight_matmuls(path: Path) -> list[str]:
    from edgekit.passes.ort_quantize import weight_matmuls

    return weight_matmuls(path)


def _dynamic(per_channel: bool, split: bool):
    def build(state: BuildState, src: Path, dst: Path, keep_float: Sequence[str]) -> dict:
        from edgekit.passes.ort_quantize import quantize_dynamic_int8

        info, src, keep_float = _maybe_split(state, src, dst, keep_float, split)
        info.update(quantize_dynamic_int8(src, dst, per_channel=per_channel, nodes_to_exclude=list(keep_float)))
        return info
    return build


def _static(method: str, per_channel: bool, activation_type: str = "u8", weight_type: str = "s8",
            split: bool = False):
    def build(state: BuildState, src: Path, dst: Path, keep_float: Sequence[str]) -> dict:
        from edgekit.passes.ort_quantize import quantize_static_qdq

        info, src, keep_float = _maybe_split(state, src, dst, keep_float, split)
        pad = {"input_ids": int(state.tokenizer.pad_token_id or 0)}
        with state.progress.step(f"calibrating static QDQ ({method}, {len(state.calibration_texts())} texts)"):
            info.update(quantize_static_qdq(src, dst, calibration_feeds=_calibration_feeds(state), method=method,
                                            per_channel=per_channel, activation_type=activation_type,
                                            weight_type=weight_type, nodes_to_exclude=list(keep_float),
                                            pad_values=pad))
        return info
    return build


def _maybe_split(state: BuildState, src: Path, dst: Path, keep_float: Sequence[str], split: bool):
    """Route outlier activation channels through float first (see passes/ort_outliers.py)."""
    if not split:
        return {}, src, list(keep_float)
    from edgekit.passes.ort_outliers import split_outlier_channels

    # The split depends on the source graph and calibration text only: one per build, reused by every
    # candidate and sensitivity probe.
    split_path = state.scratch / f"split-{src.stem}.onnx"
    key = f"outlier_split:{src}"
    if key not in state.cache:
        state.cache[key] = split_outlier_channels(src, split_path, calibration_feeds=_calibration_feeds(state))
    info = state.cache[key]
    return {"outlier_split": info}, split_path, [*keep_float, *info["float_nodes"]]


ORT_METHODS: dict[str, Method] = {}


def _register(name: str, build, description: str, unfused: bool = False) -> None:
    if name in ORT_METHODS:
        raise ValueError(f"duplicate quantisation method {name!r}")
    ORT_METHODS[name] = Method(name, build, _weight_matmuls, description, unfused)


_register("dynamic", _dynamic(False, False), "dynamic INT8, per-tensor weights")
_register("dynamic-pc", _dynamic(True, False), "dynamic INT8, per-channel weights")
_register("dynamic-pc-split", _dynamic(True, True),
          "dynamic INT8, per-channel weights, outlier activation channels routed through small float MatMuls")
# Dynamic INT8 of the unfused graph (MatMulInteger for Q, K, V too) instead of the fused one (QAttention).
_register("dynamic-pc-unfused", _dynamic(True, False), "dynamic INT8, per-channel, on the unfused graph", True)
_register("dynamic-pc-split-unfused", _dynamic(True, True),
          "dynamic INT8, per-channel, outlier channels in float, on the unfused graph", True)
for _calibrator in ("minmax", "entropy", "percentile"):
    _register(f"static-{_calibrator}", _static(_calibrator, False), f"static QDQ U8S8, {_calibrator} calibration")
    _register(f"static-{_calibrator}-pc", _static(_calibrator, True),
              f"static QDQ U8S8, {_calibrator} calibration, per-channel weights")
_register("static-s8s8-minmax-pc", _static("minmax", True, "s8", "s8"),
          "static QDQ S8S8 per-channel, minmax calibration (ARM: SDOT/SMMLA multiply int8 x int8 natively)")
_register("static-s8s8-percentile-pc-split", _static("percentile", True, "s8", "s8", split=True),
          "static QDQ S8S8 per-channel, percentile calibration, outlier channels in float")


def _adopt_onnx(state: BuildState):
    def adopt(path: Path) -> None:
        state.current = path
    return adopt


class _DropOrtChatter(logging.Filter):
    """ORT's quantiser logs advice to the root logger on every call; it does not apply to our graphs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Please consider to run pre-processing")


def quantize_step(state: BuildState) -> None:
    chatter = _DropOrtChatter()
    logging.getLogger().addFilter(chatter)
    try:
        run_gated(state, ORT_METHODS, suffix=".onnx", adopt=_adopt_onnx(state))
    finally:
        logging.getLogger().removeFilter(chatter)


def ort_format_step(state: BuildState) -> None:
    """Also ship the model in ORT format with its operator list, for ORT Mobile and minimal builds."""
    from edgekit.passes.ort_mobile import convert_to_ort_format

    # The converter logs each step at INFO on its own logger; keep the console to our progress lines.
    logging.getLogger("ort_format_model.utils").setLevel(logging.WARNING)
    with state.progress.step("converting to ORT format (--target_platform arm)"):
        files = convert_to_ort_format(state.current, state.scratch / "ort-format", target_platform="arm")
    state.companions.update({"model.ort": files["ort"], "required_operators.config": files["config"]})
    with state.progress.step("validating the .ort file"):
        figures = state.evaluate(files["ort"])
    state.record["ort_format"] = {"target_platform": "arm", "optimization_style": "Fixed",
                                  "files": ["model.ort", "required_operators.config"], "validation": figures}
