"""Recipes: the resolved settings of one build, loaded strictly from TOML (an unknown key is an error).

A recipe names its target, its passes in order, and one section per setting group that its passes read
([export], [kernels], [quantize], [validate]); each pass module owns its section's settings class
(edgekit.build.passes). Resolution order: built-in defaults, the target's own defaults, a recipe file, then
options given on the command line. Everything is checked here, before any model is loaded.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from edgekit.build.passes import SECTIONS, check_pass_list, get_pass, sections_used
from edgekit.build.targets import get_target
from edgekit.errors import RecipeError

_TOP_KEYS = ("target", "task", "passes", *SECTIONS)


def _default_sections() -> dict[str, Any]:
    return {name: settings() for name, settings in SECTIONS.items()}


@dataclass(frozen=True)
class Recipe:
    target: str
    passes: tuple[str, ...]
    task: str | None = None  # None: from the checkpoint's architectures field
    sections: Mapping[str, Any] = field(default_factory=_default_sections)  # section -> its settings

    def section(self, name: str) -> Any:
        """The settings of one section, e.g. recipe.section("validate").samples."""
        try:
            return self.sections[name]
        except KeyError:
            raise RecipeError(f"unknown recipe section [{name}]; valid: {', '.join(SECTIONS)}") from None

    def to_toml(self) -> str:
        """The recipe as a file: the sections its passes read, in registry order."""
        lines = [f"target = {_toml(self.target)}"]
        if self.task:
            lines.append(f"task = {_toml(self.task)}")
        lines.append(f"passes = {_toml(self.passes)}")
        for name in sections_used(self.passes):
            lines.append(f"\n[{name}]")
            for key, value in asdict(self.sections[name]).items():
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
    for section, settings in SECTIONS.items():
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
    resolved = dict(recipe.sections)
    for name in SECTIONS:
        values = {k: tuple(v) if isinstance(v, list) else v
                  for k, v in sections.get(name, {}).items() if v is not None}
        if not values:
            continue
        try:
            resolved[name] = replace(resolved[name], **values)
        except TypeError as exc:
            raise RecipeError(f"bad [{name}] settings in {where}: {exc}") from None
    return replace(recipe, sections=resolved)


def resolve_recipe(*, target: str | None, recipe_path: Path | None = None, task: str | None = None,
                   overrides: dict[str, dict] | None = None) -> Recipe:
    """Defaults < target defaults < recipe file < explicit overrides ({"validate": {"atol": 1e-3}, ...})."""
    data = load_recipe(recipe_path) if recipe_path else {}
    chosen = target or data.get("target") or "onnx-fp32"
    if target and data.get("target") and data["target"] != target:
        raise RecipeError(f"--target {target!r} contradicts the recipe's target {data['target']!r}")
    recipe = default_recipe(chosen)
    if "passes" in data:
        passes = data["passes"]
        recipe = replace(recipe, passes=tuple(passes) if isinstance(passes, list) else passes)
    recipe = replace(recipe, task=task or data.get("task"))
    recipe = _apply(recipe, data, str(recipe_path))
    recipe = _apply(recipe, overrides or {}, "the command line")
    check_recipe(recipe)
    return recipe


def check_recipe(recipe: Recipe) -> None:
    """The pass list and every section's values, as the passes that read them require."""
    check_pass_list(recipe.passes)
    for settings in recipe.sections.values():
        settings.check()
    for name in recipe.passes:
        step = get_pass(name)
        if step.check is not None:
            step.check(recipe.section(step.section))
