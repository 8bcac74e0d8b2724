"""The target registry: one frozen description per artefact edgekit can build.

Each target carries the reason for its runtime, precision and ISA choice. The CLI's --target choices
and `edgekit targets` come from here. Standard library only (the light install lists targets too).
"""

from __future__ import annotations

from dataclasses import dataclass

from edgekit.errors import InvalidChoiceError


@dataclass(frozen=True)
class Target:
    name: str
    runtime: str  # "onnxruntime" or "openvino": the package needed to run the artefact
    precision: str
    isa: str  # "any", "x86-64" or "arm64"
    passes: tuple[str, ...]  # the default recipe, in order
    model_file: str  # the main file inside the artefact directory
    description: str
    reason: str


_TARGETS: dict[str, Target] = {}


def register(target: Target) -> Target:
    if target.name in _TARGETS:
        raise ValueError(f"duplicate target name {target.name!r}")
    _TARGETS[target.name] = target
    return target


def target_names() -> tuple[str, ...]:
    return tuple(_TARGETS)


def all_targets() -> tuple[Target, ...]:
    return tuple(_TARGETS.values())


def get_target(name: str) -> Target:
    try:
        return _TARGETS[name]
    except KeyError:
        raise InvalidChoiceError("target", name, target_names()) from None


register(Target(
    name="onnx-fp32",
    runtime="onnxruntime",
    precision="fp32",
    isa="any",
    passes=("export", "validate"),
    model_file="model.onnx",
    description="plain ONNX export, FP32, validated against PyTorch",
    reason="The unoptimised reference graph every other target starts from; FP32 keeps it equal to "
           "PyTorch within 1e-4, and plain ONNX ops run on any ONNX Runtime build and CPU.",
))
