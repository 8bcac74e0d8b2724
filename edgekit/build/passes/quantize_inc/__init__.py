"""The quantize-inc pass: PyTorch static INT8 by Intel Neural Compressor (inc_static.py), calibrated on the
same real texts as the other INT8 targets and gated by the same budget. The artefact is a torch.export program.

edgekit's own search (edgekit.build.search) chooses among INC configurations rather than INC's `autotune`:
autotune stops at the first configuration inside `tolerable_loss` (neural-compressor#1617), while the search
times every passing one and keeps the fastest, which is what the issue's "whichever picks the faster passing
model" asks of the two. There is no per-op search here ([quantize] search must stay false): the ladder names
the ops to keep float.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from edgekit.build.passes.base import PYTORCH, TORCH_PROGRAM, Pass
from edgekit.build.search import Method, QuantizeSettings, check_candidates, method_registry, run_search, \
    uses_calibration
from edgekit.errors import RecipeError

if TYPE_CHECKING:
    from edgekit.build.state import BuildState

# The FFN output projections see the widest activation ranges (after GELU); the same rung as quantize-nncf's.
FFN_OUTPUT_MODULES = r".*layer\.\d+\.output\.dense"


def _static(float_patterns: tuple[str, ...] = ()):
    def build(state: BuildState, src: Path | None, dst: Path, keep_float) -> dict:
        from edgekit.build.checkpoint import max_sequence_length
        from edgekit.build.passes.quantize_inc.inc_static import float_module_names, quantize_inc_static
        from edgekit.runtime.cpu import cpu_model_and_flags, summarise_isa

        feeds = state.calibration_feeds(batch_size=1)
        state.progress.note(f"calibrating Neural Compressor static INT8 on {len(feeds)} texts")
        # two real sentences of different lengths, so no size is specialised in the program
        example = state.tokenize(state.validation_texts()[:2], batch_size=2)[0]
        floats = float_module_names(state.model, float_patterns) if float_patterns else []
        reduce_range = not summarise_isa(cpu_model_and_flags()[1])["vnni"]
        return quantize_inc_static(state.model, dst, input_names=state.input_names, outputs=state.task.outputs,
                                   example=example, calibration_feeds=feeds, float_modules=floats,
                                   max_length=max_sequence_length(state.model.config.to_dict()),
                                   reduce_range=reduce_range)
    return build


def _no_per_op_search(path: Path) -> list[str]:
    return []


METHODS = method_registry(
    Method("inc-static", _static(), _no_per_op_search,
           "INC StaticQuantConfig (PT2E, x86 quantizer): every Linear INT8", calibrated=True),
    Method("inc-static-ffn-out-float", _static((FFN_OUTPUT_MODULES,)), _no_per_op_search,
           "INC StaticQuantConfig, FFN output Linears kept float", calibrated=True),
)


def _check(settings: QuantizeSettings) -> None:
    check_candidates(settings, METHODS)
    if settings.search:
        raise RecipeError("quantize-inc has no per-op search: set [quantize] search = false and name the ladder "
                          f"in candidates ({', '.join(METHODS)})")


def _adopt(state: BuildState, path: Path) -> None:
    state.current = path
    state.companions = {}


def run(state: BuildState, settings: QuantizeSettings) -> None:
    run_search(state, settings, METHODS, suffix=".pt2", adopt=lambda path: _adopt(state, path))


PASS = Pass(name="quantize-inc", description="PyTorch INT8 by Intel Neural Compressor (PT2E static), a "
            "torch.export program; the fastest configuration inside the accuracy budget",
            run=run, accepts=(PYTORCH,), produces=TORCH_PROGRAM, section="quantize", settings=QuantizeSettings,
            check=_check, calibration=lambda settings: uses_calibration(settings, METHODS))
