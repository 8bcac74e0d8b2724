"""The pass registry, built from the pass modules, and the check of a recipe's pass list.

Adding a pass: one module (or package) with its `PASS`, one line below, and the targets that list it.
Registry order is also the order of the recipe sections in a printed recipe.
"""

from __future__ import annotations

from edgekit.build.passes import (
    compress_weights,
    export,
    fuse,
    openvino_ir,
    ort_format,
    prune_rows,
    quantize_embeddings,
    quantize_inc,
    quantize_nncf,
    quantize_ort,
    split_kernels,
    validate,
)
from edgekit.build.passes.base import PYTORCH, Pass
from edgekit.errors import InvalidChoiceError, RecipeError


def _registry(*passes: Pass) -> dict[str, Pass]:
    registry: dict[str, Pass] = {}
    for item in passes:
        if item.name in registry:
            raise ValueError(f"duplicate pass name {item.name!r}")
        registry[item.name] = item
    return registry


PASSES = _registry(export.PASS, fuse.PASS, prune_rows.PASS, split_kernels.PASS, quantize_ort.PASS,
                   quantize_nncf.PASS, quantize_inc.PASS, quantize_embeddings.PASS, ort_format.PASS, openvino_ir.PASS,
                   compress_weights.PASS, validate.PASS)


def _sections() -> dict[str, type]:
    """Recipe section -> its settings class, in registry order; passes that share a section share its class."""
    sections: dict[str, type] = {}
    for item in PASSES.values():
        if item.section is None:
            continue
        if sections.setdefault(item.section, item.settings) is not item.settings:
            raise ValueError(f"passes disagree on the settings of [{item.section}]")
    return sections


SECTIONS = _sections()


def get_pass(name: str) -> Pass:
    try:
        return PASSES[name]
    except KeyError:
        raise InvalidChoiceError("pass", name, tuple(PASSES)) from None


def check_pass_list(passes: tuple[str, ...]) -> None:
    """Names known, each once, a pass that takes the PyTorch model first (export, or quantize-inc that stays in
    PyTorch), validate last, and every pass given a model format it takes."""
    if not isinstance(passes, tuple) or not all(isinstance(name, str) for name in passes):
        raise RecipeError(f"passes must be a list of pass names, got {passes!r}")
    steps = [get_pass(name) for name in passes]
    twice = sorted({name for name in passes if passes.count(name) > 1})
    if twice:
        raise RecipeError(f"pass {twice[0]!r} is listed twice in {list(passes)}")
    starters = tuple(name for name, item in PASSES.items() if PYTORCH in item.accepts)
    if not passes or passes[0] not in starters:
        raise RecipeError(f"passes must start with one of {', '.join(starters)} (a pass that takes the PyTorch "
                          f"model), got {list(passes)}")
    if passes[-1] != "validate":
        raise RecipeError("passes must end with 'validate': edgekit never ships an unvalidated artefact")
    current, made_by = PYTORCH, None
    for step in steps:
        if current not in step.accepts:
            raise RecipeError(f"pass {step.name!r} works on {' or '.join(step.accepts)} models, but after "
                              f"{made_by!r} the build holds an {current} model; list {step.name!r} before {made_by!r}")
        if step.produces and step.produces != current:
            current, made_by = step.produces, step.name


def sections_used(passes: tuple[str, ...]) -> tuple[str, ...]:
    """The recipe sections the listed passes read, in registry order."""
    used = {PASSES[name].section for name in passes if name in PASSES}
    return tuple(section for section in SECTIONS if section in used)
