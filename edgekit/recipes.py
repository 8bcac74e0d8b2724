"""Recipes: the resolved settings of one build, loaded strictly from TOML (an unknown key is an error).

Resolution order: built-in defaults, the target's own defaults, a recipe file, then options given on
the command line.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from edgekit.budget import Budget, check_fraction
from edgekit.errors import RecipeError
from edgekit.export import DEFAULT_OPSET, check_opset
from edgekit.targets import get_target

KERNEL_FORMS = ("auto", "fused", "split")  # [kernels] values; kept here: recipes load on the light install
# [export] attention: the transformers attention implementation traced into the graph. "sdpa" is what
# transformers picks by default; "eager" writes the classic MatMul/Softmax/MatMul pattern with a constant scale.
ATTENTION_FORMS = ("sdpa", "eager")


@dataclass(frozen=True)
class ExportSettings:
    opset: int = DEFAULT_OPSET
    attention: str = "sdpa"


@dataclass(frozen=True)
class KernelSettings:
    # Per fused kernel: "auto" times it against its split form here and keeps the faster; "fused" or
    # "split" force one form (see edgekit/passes/ort_unfuse.py).
    skip_layernorm: str = "auto"  # SkipLayerNormalization or Add + LayerNormalization
    bias_gelu: str = "auto"  # BiasGelu or Add + Gelu


@dataclass(frozen=True)
class QuantizeSettings:
    candidates: tuple[str, ...] = ()  # methods to try; the fastest inside the budget wins
    calibration_samples: int = 300  # corpus sentences, disjoint from the validation ones
    calibration_data: str = ""  # a .txt/.jsonl/.csv file instead of the shipped corpus
    choose: str = "fastest"  # among passing candidates: "fastest" (measured here) or "first" (recipe order)
    search: bool = True  # when no candidate passes, keep the most sensitive ops in float
    max_float_ops: int = 8  # the most ops the search may keep in float


@dataclass(frozen=True)
class ValidateSettings:
    atol: float = 1e-4  # FP32 graphs must match PyTorch to this max abs diff on real text
    max_drop: float | None = None  # reduced-precision graphs; None: per-output default (edgekit.budget)
    min_cosine: float = 0.985  # embeddings: worst sentence's cosine to FP32
    min_neighbour_agreement: float = 0.9  # embeddings: nearest other sentence unchanged
    samples: int = 64  # held-out corpus sentences
    batch_size: int = 8
    max_length: int = 128


_SECTIONS = {"export": ExportSettings, "kernels": KernelSettings, "quantize": QuantizeSettings,
             "validate": ValidateSettings}
_TOP_KEYS = ("target", "task", "passes", *_SECTIONS)


@dataclass(frozen=True)
class Recipe:
    target: str
    passes: tuple[str, ...]
    task: str | None = None  # None: from the checkpoint's architectures field
    export: ExportSettings = ExportSettings()
    kernels: KernelSettings = KernelSettings()
    quantize: QuantizeSettings = QuantizeSettings()
    validate: ValidateSettings = ValidateSettings()

    @property
    def budget(self) -> Budget:
        v = self.validate
        return Budget(v.max_drop, v.min_cosine, v.min_neighbour_agreement)

    def to_toml(self) -> str:
        lines = [f"target = {_toml(self.target)}"]
        if self.task:
            lines.append(f"task = {_toml(self.task)}")
        lines.append(f"passes = {_toml(self.passes)}")
        for section in _SECTIONS:
            if section == "quantize" and not self.quantize.candidates:
                continue  # float targets have nothing to quantise
            if section == "kernels" and "split-kernels" not in self.passes:
                continue
            lines.append(f"\n[{section}]")
            for key, value in asdict(getattr(self, section)).items():
                # TOML has no null: an unset option is shown commented out, with what it means.
                lines.append(f"# {key} unset: default per output kind" if value is None else f"{key} = {_toml(value)}")
        return "\n".join(lines) + "\n"


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def default_recipe(target: str) -> Recipe:
    target_obj = get_target(target)
    recipe = Recipe(target=target, passes=target_obj.passes)
    return _apply(recipe, {k: dict(v) for k, v in target_obj.settings.items()}, f"target {target}")


def load_recipe(path: Path) -> dict:
    """The raw, checked contents of a recipe file (only the keys it sets)."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecipeError(f"recipe file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"recipe {str(path)!r} is not valid TOML: {exc}") from None
    _check_keys(data, _TOP_KEYS, str(path))
    for section, settings in _SECTIONS.items():
        if section in data:
            if not isinstance(data[section], dict):
                raise RecipeError(f"recipe {str(path)!r}: [{section}] must be a table")
            _check_keys(data[section], tuple(f.name for f in fields(settings)), f"{path} [{section}]")
    return data


def _check_keys(data: dict, valid: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise RecipeError(f"unknown key(s) {', '.join(map(repr, unknown))} in {where}; valid: {', '.join(valid)}")


def _apply(recipe: Recipe, sections: dict[str, dict], where: str) -> Recipe:
    for section in _SECTIONS:
        values = {k: tuple(v) if isinstance(v, list) else v
                  for k, v in sections.get(section, {}).items() if v is not None}
        if not values:
            continue
        try:
            recipe = replace(recipe, **{section: replace(getattr(recipe, section), **values)})
        except TypeError as exc:
            raise RecipeError(f"bad [{section}] settings in {where}: {exc}") from None
    return recipe


def resolve_recipe(*, target: str | None, recipe_path: Path | None = None, task: str | None = None,
                   overrides: dict[str, dict] | None = None) -> Recipe:
    """Defaults < target defaults < recipe file < explicit overrides ({"validate": {"atol": 1e-3}, ...})."""
    data = load_recipe(recipe_path) if recipe_path else {}
    chosen = target or data.get("target") or "onnx-fp32"
    if target and data.get("target") and data["target"] != target:
        raise RecipeError(f"--target {target!r} contradicts the recipe's target {data['target']!r}")
    recipe = default_recipe(chosen)
    if "passes" in data:
        recipe = replace(recipe, passes=tuple(data["passes"]))
    recipe = replace(recipe, task=task or data.get("task"))
    recipe = _apply(recipe, data, str(recipe_path))
    recipe = _apply(recipe, overrides or {}, "the command line")
    _check_values(recipe)
    return recipe


def _check_values(recipe: Recipe) -> None:
    check_opset(recipe.export.opset)
    if recipe.export.attention not in ATTENTION_FORMS:
        raise RecipeError(f"attention must be one of {', '.join(ATTENTION_FORMS)}, got {recipe.export.attention!r}")
    v, q = recipe.validate, recipe.quantize
    if not (isinstance(v.atol, (int, float)) and v.atol > 0):
        raise RecipeError(f"atol must be a positive number, got {v.atol!r}")
    for section, name in (("validate", "samples"), ("validate", "batch_size"), ("validate", "max_length"),
                          ("quantize", "calibration_samples")):
        value = getattr(getattr(recipe, section), name)
        if not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
            raise RecipeError(f"{name} must be a positive integer, got {value!r}")
    if not (isinstance(q.max_float_ops, int) and q.max_float_ops >= 0):
        raise RecipeError(f"max_float_ops must be a non-negative integer, got {q.max_float_ops!r}")
    check_fraction("max_drop", v.max_drop)
    check_fraction("min_cosine", v.min_cosine)
    check_fraction("min_neighbour_agreement", v.min_neighbour_agreement)
    for name, value in asdict(recipe.kernels).items():
        if value not in KERNEL_FORMS:
            raise RecipeError(f"{name} must be one of {', '.join(KERNEL_FORMS)}, got {value!r}")
    if q.choose not in ("fastest", "first"):
        raise RecipeError(f"choose must be 'fastest' or 'first', got {q.choose!r}")
