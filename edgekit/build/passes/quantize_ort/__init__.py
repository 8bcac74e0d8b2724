"""The quantize-ort pass: ONNX Runtime INT8, the fastest method inside the accuracy budget (edgekit.build.search).

Methods (named in [quantize] candidates): dynamic INT8 (U8 activations quantised at run time, S8 weights,
per-tensor or per-channel), optionally with outlier activation channels routed through small float MatMuls
(outliers.py), on the graph as built so far or as exported (before fusion); and static QDQ with minmax,
entropy or percentile calibration, U8S8 or S8S8 (int8.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from edgekit.build.passes.base import ONNX, Pass
from edgekit.build.passes.quantize_ort.int8 import quantize_dynamic_int8, quantize_static_qdq, weight_matmuls
from edgekit.build.passes.quantize_ort.outliers import split_outlier_channels
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


def _dynamic(per_channel: bool, split: bool, weight_type: str = "s8"):
    def build(state: BuildState, src: Path, dst: Path, keep_float: Sequence[str]) -> dict:
        info, src, keep_float = _maybe_split(state, src, keep_float, split)
        info.update(quantize_dynamic_int8(src, dst, per_channel=per_channel, weight_type=weight_type,
                                          nodes_to_exclude=list(keep_float)))
        return info
    return build


def _static(method: str, per_channel: bool, activation_type: str = "u8", weight_type: str = "s8",
            split: bool = False):
    def build(state: BuildState, src: Path, dst: Path, keep_float: Sequence[str]) -> dict:
        info, src, keep_float = _maybe_split(state, src, keep_float, split)
        pad = {"input_ids": int(state.tokenizer.pad_token_id or 0)}
        with state.progress.step(f"calibrating static QDQ ({method}, {len(state.calibration_texts())} texts)"):
            info.update(quantize_static_qdq(src, dst, calibration_feeds=state.calibration_feeds(), method=method,
                                            per_channel=per_channel, activation_type=activation_type,
                                            weight_type=weight_type, nodes_to_exclude=list(keep_float),
                                            pad_values=pad))
        return info
    return build


def _maybe_split(state: BuildState, src: Path, keep_float: Sequence[str], split: bool):
    """Route outlier activation channels through float first (see outliers.py)."""
    if not split:
        return {}, src, list(keep_float)
    # The split depends on the source graph and calibration text only: one per build, reused by every
    # candidate and sensitivity probe.
    split_path = state.scratch / f"split-{src.stem}.onnx"
    key = f"outlier_split:{src}"
    if key not in state.cache:
        state.cache[key] = split_outlier_channels(src, split_path, calibration_feeds=state.calibration_feeds())
    info = state.cache[key]
    return {"outlier_split": info}, split_path, [*keep_float, *info["float_nodes"]]


def _method(name: str, build, description: str, unfused: bool = False, calibrated: bool = False) -> Method:
    return Method(name, build, weight_matmuls, description, unfused, calibrated)


METHODS = method_registry(
    _method("dynamic", _dynamic(False, False), "dynamic INT8, per-tensor weights"),
    _method("dynamic-pc", _dynamic(True, False), "dynamic INT8, per-channel weights"),
    _method("dynamic-pc-split", _dynamic(True, True),
            "dynamic INT8, per-channel weights, outlier activation channels routed through small float MatMuls",
            calibrated=True),
    # U8U8: exact on every x86 CPU. On CPUs without VNNI, U8S8 must drop to 7-bit weights (reduce_range) and loses
    # accuracy (MiniLM, 1000 sentences: nearest-neighbour agreement 0.849 with U8S8 7-bit, 0.862 with U8U8).
    _method("dynamic-pc-u8u8", _dynamic(True, False, "u8"), "dynamic INT8, per-channel U8 weights (U8U8)"),
    _method("dynamic-pc-split-u8u8", _dynamic(True, True, "u8"),
            "dynamic INT8, per-channel U8 weights (U8U8), outlier activation channels in float", calibrated=True),
    # Dynamic INT8 of the unfused graph (MatMulInteger for Q, K, V too) instead of the fused one (QAttention).
    _method("dynamic-pc-unfused", _dynamic(True, False), "dynamic INT8, per-channel, on the unfused graph", True),
    _method("dynamic-pc-split-unfused", _dynamic(True, True),
            "dynamic INT8, per-channel, outlier channels in float, on the unfused graph", True, calibrated=True),
    *(_method(f"static-{calibrator}{suffix}", _static(calibrator, per_channel),
              f"static QDQ U8S8, {calibrator} calibration" + (", per-channel weights" if per_channel else ""),
              calibrated=True)
      for calibrator in ("minmax", "entropy", "percentile") for suffix, per_channel in (("", False), ("-pc", True))),
    _method("static-s8s8-minmax-pc", _static("minmax", True, "s8", "s8"),
            "static QDQ S8S8 per-channel, minmax calibration (ARM: SDOT/SMMLA multiply int8 x int8 natively)",
            calibrated=True),
    _method("static-s8s8-percentile-pc-split", _static("percentile", True, "s8", "s8", split=True),
            "static QDQ S8S8 per-channel, percentile calibration, outlier channels in float", calibrated=True),
)


class _DropOrtChatter(logging.Filter):
    """ORT's quantiser logs advice to the root logger on every call; it does not apply to our graphs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Please consider to run pre-processing")


def _adopt(state: BuildState):
    def adopt(path: Path) -> None:
        state.current = path
    return adopt


def run(state: BuildState, settings: QuantizeSettings) -> None:
    chatter = _DropOrtChatter()
    logging.getLogger().addFilter(chatter)
    try:
        run_search(state, settings, METHODS, suffix=".onnx", adopt=_adopt(state), float_model=state.current)
    finally:
        logging.getLogger().removeFilter(chatter)


PASS = Pass(name="quantize-ort", description="ONNX Runtime INT8: the fastest method inside the accuracy budget",
            run=run, accepts=(ONNX,), section="quantize", settings=QuantizeSettings,
            check=lambda settings: check_candidates(settings, METHODS),
            calibration=lambda settings: uses_calibration(settings, METHODS))
