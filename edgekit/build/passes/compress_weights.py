"""The compress-weights pass: INT8 weight-only compression of an OpenVINO model (activations stay float).

The ARM variant: OpenVINO's ARM CPU plugin has limited int8 kernels and runs in f16 by default, so a
FakeQuantize model gains little there; int8 weights still halve the bytes to load versus f16, and they
decompress into whatever float precision the device computes in. No calibration data.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgekit.build.nncf_tools import nncf_output
from edgekit.build.passes.base import ANY_FORMAT, OPENVINO_IR, Pass
from edgekit.build.passes.openvino_ir import XML_NAME, adopt_ir, ir_summary, read_model, save_ir
from edgekit.errors import InvalidChoiceError, PassError

if TYPE_CHECKING:
    from edgekit.build.state import BuildState

WEIGHT_MODES = ("int8_asym", "int8_sym")


def compress_weights_int8(src: Path, out_dir: Path, *, mode: str = "int8_asym", float_constants: str = "f16",
                          ignored_scope: list[str] | None = None, verbose: bool = False) -> dict[str, Any]:
    """Weight-only INT8 IR in out_dir from an .onnx or .xml; returns what was written. float_constants: how the
    float constants left (LayerNorm, biases) are stored, f16 (ARM computes in f16 anyway) or f32."""
    if mode not in WEIGHT_MODES:
        raise InvalidChoiceError("weight compression mode", mode, WEIGHT_MODES)
    if float_constants not in ("f16", "f32"):
        raise InvalidChoiceError("float constant type", float_constants, ("f16", "f32"))
    start = time.perf_counter()
    model = read_model(Path(src))
    with nncf_output(show_progress=False, verbose=verbose) as nncf:
        scope = nncf.IgnoredScope(names=list(ignored_scope), validate=False) if ignored_scope else None
        compressed = nncf.compress_weights(model, mode=nncf.CompressWeightsMode(mode), ignored_scope=scope)
    info = save_ir(compressed, out_dir, compress_to_fp16=float_constants == "f16")
    int8_constants = sum(n for t, n in info["constant_types"].items() if t in ("u8", "i8"))
    if int8_constants == 0:
        raise PassError("weight compression left no int8 constants in the IR")
    return {
        **info,
        "recipe": {"method": "nncf.compress_weights", "mode": mode},
        "int8_constants": int8_constants,
        "nncf_version": nncf.__version__,
        "seconds": round(time.perf_counter() - start, 2),
    }


def run(state: BuildState, settings: None) -> None:
    out = state.scratch / "ir-int8-weights"
    with state.progress.step("compressing weights to int8 (activations stay float)"):
        info = compress_weights_int8(state.current, out, verbose=state.progress.verbose)
    state.record["openvino"] = ir_summary(info, state)
    adopt_ir(state, out / XML_NAME)


PASS = Pass(name="compress-weights", description="OpenVINO INT8 weight-only compression (NNCF), activations float",
            run=run, accepts=ANY_FORMAT, produces=OPENVINO_IR)
