"""Recipes: the resolved settings of one build, loaded strictly from TOML (an unknown key is an error).

Resolution order: the target's defaults, then a recipe file, then options given on the command line.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from edgekit.errors import RecipeError
from edgekit.export import DEFAULT_OPSET, check_opset
from edgekit.targets import get_target


@dataclass(frozen=True)
class ExportSettings:
    opset: int = DEFAULT_OPSET


@dataclass(frozen=True)
class ValidateSettings:
    atol: float = 1e-4  # FP32 graphs must match PyTorch to this max abs diff on real text
    samples: int = 64  # held-out corpus sentences
    batch_size: int = 8
    max_length: int = 128


@dataclass(frozen=True)
class Recipe:
    target: str
    passes: tuple[str, ...]
    task: str | None = None  # None: from the checkpoint's architectures field
    export: ExportSettings = ExportSettings()
    validate: ValidateSettings = ValidateSettings()

    def to_toml(self) -> str:
        lines = [f'target = "{self.target}"']
        if self.task:
            lines.append(f'task = "{self.task}"')
        lines.append("passes = [" + ", ".join(f'"{p}"' for p in self.passes) + "]")
        for section in ("export", "validate"):
            lines.append(f"\n[{section}]")
            for key, value in asdict(getattr(self, section)).items():
                lines.append(f"{key} = {value!r}")
        return "\n".join(lines) + "\n"


_SECTIONS = {"export": ExportSettings, "validate": ValidateSettings}
_TOP_KEYS = ("target", "task", "passes", *_SECTIONS)


def default_recipe(target: str) -> Recipe:
    return Recipe(target=target, passes=get_target(target).passes)


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


def resolve_recipe(*, target: str | None, recipe_path: Path | None = None, task: str | None = None,
                   overrides: dict[str, dict] | None = None) -> Recipe:
    """Target defaults < recipe file < explicit overrides ({"validate": {"atol": 1e-3}, ...})."""
    data = load_recipe(recipe_path) if recipe_path else {}
    chosen = target or data.get("target") or "onnx-fp32"
    if target and data.get("target") and data["target"] != target:
        raise RecipeError(f"--target {target!r} contradicts the recipe's target {data['target']!r}")
    recipe = default_recipe(chosen)
    if "passes" in data:
        recipe = replace(recipe, passes=tuple(data["passes"]))
    recipe = replace(recipe, task=task or data.get("task"))
    for section, settings in _SECTIONS.items():
        values = {**data.get(section, {}), **{k: v for k, v in (overrides or {}).get(section, {}).items()
                                              if v is not None}}
        try:
            recipe = replace(recipe, **{section: replace(getattr(recipe, section), **values)})
        except TypeError as exc:
            raise RecipeError(f"bad [{section}] settings: {exc}") from None
    _check_values(recipe)
    return recipe


def _check_values(recipe: Recipe) -> None:
    check_opset(recipe.export.opset)
    v = recipe.validate
    if not (isinstance(v.atol, (int, float)) and v.atol > 0):
        raise RecipeError(f"atol must be a positive number, got {v.atol!r}")
    for name in ("samples", "batch_size", "max_length"):
        value = getattr(v, name)
        if not (isinstance(value, int) and value > 0):
            raise RecipeError(f"{name} must be a positive integer, got {value!r}")
