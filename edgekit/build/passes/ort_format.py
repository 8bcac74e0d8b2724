"""The ort-format pass: the model also in ORT format (.ort) with its operator list, for ONNX Runtime Mobile
and reduced-operator builds.

The ARM artefact is meant to be S8S8 QDQ per-channel (see quantize_static_qdq): signed int8 on both
sides because ARM's SDOT/SMMLA instructions multiply int8 x int8 natively, so there is no U8S8 saturation
hazard (that is an x86 VPMADDUBSW quirk) and no need for reduce_range; ORT's QDQ guidance names S8S8 as
the first choice, and the mobile execution providers (XNNPACK, NNAPI, QNN) consume signed per-channel
QDQ weights. Per-channel because per-tensor weight scales cost far more accuracy (measured on MiniLM).
S8S8 is slow on x86, which does not matter for an ARM artefact; it still loads and runs there for checks.
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from edgekit.build.passes.base import ONNX, Pass
from edgekit.errors import InputError, InvalidChoiceError, MissingDependencyError, PassError

if TYPE_CHECKING:
    from edgekit.build.state import BuildState

TARGET_PLATFORMS = ("arm", "amd64")


def convert_to_ort_format(src: Path, out_dir: Path, *, target_platform: str = "arm") -> dict[str, Path]:
    """Convert `src` with ORT's converter (optimisation style Fixed) into out_dir.

    Returns {"ort": <model>.ort, "config": <model>.required_operators.config}; the config lists the
    operators (and opsets) a reduced ORT build must include to run the model.
    "arm" lets the converter fuse QDQ groups into int8 kernels (session.qdqisint8allowed); the
    optimisations are fixed at conversion time, so the .ort file does not depend on the device's
    runtime optimiser.
    """
    src, out_dir = Path(src), Path(out_dir)
    if target_platform not in TARGET_PLATFORMS:
        raise InvalidChoiceError("target platform", target_platform, TARGET_PLATFORMS)
    if not src.is_file() or src.suffix.lower() != ".onnx":
        raise InputError(f"expected an existing .onnx file, got {src}")
    try:
        from onnxruntime.tools.convert_onnx_models_to_ort import OptimizationStyle, convert_onnx_models_to_ort
    except ImportError as exc:  # the converter imports onnx (export extra)
        raise MissingDependencyError("onnx", "conversion to ORT format", "export") from exc
    out_dir.mkdir(parents=True, exist_ok=True)
    log = io.StringIO()
    # The converter prints progress to stdout; keep it for the error message instead of the console.
    with contextlib.redirect_stdout(log):
        convert_onnx_models_to_ort(src, output_dir=out_dir, optimization_styles=[OptimizationStyle.Fixed],
                                   target_platform=target_platform)
    # Names carry a level suffix when ORT_CONVERT_ONNX_MODELS_TO_ORT_OPTIMIZATION_LEVEL is set; match loosely.
    ort_files = sorted(out_dir.glob(src.stem + "*.ort"))
    configs = sorted(out_dir.glob(src.stem + ".required_operators*.config"))
    if not ort_files or not configs:
        raise PassError(f"ORT format conversion of {src.name} wrote no .ort file or operator config: "
                        f"{log.getvalue()[-500:]}")
    return {"ort": ort_files[0], "config": configs[0]}


def run(state: BuildState, settings: None) -> None:
    # The converter logs each step at INFO on its own logger; keep the console to our progress lines.
    if not state.progress.verbose:
        logging.getLogger("ort_format_model.utils").setLevel(logging.WARNING)
    with state.progress.step("converting to ORT format (--target_platform arm)"):
        files = convert_to_ort_format(state.current, state.scratch / "ort-format", target_platform="arm")
    state.companions.update({"model.ort": files["ort"], "required_operators.config": files["config"]})
    with state.progress.step("validating the .ort file"):
        figures = state.evaluate(files["ort"])
    state.record["ort_format"] = {"target_platform": "arm", "optimization_style": "Fixed",
                                  "files": ["model.ort", "required_operators.config"], "validation": figures}


PASS = Pass(name="ort-format", description="also ship the model as .ort with its operator list (ORT Mobile)",
            run=run, accepts=(ONNX,))
