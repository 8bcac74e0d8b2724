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

from edgekit.build.corpus import CALIBRATION_RESERVE, held_out_texts, max_validation_samples, read_calibration_file
from edgekit.build.passes import PASSES, SECTIONS, check_pass_list, get_pass, sections_used
from edgekit.build.passes.base import expected_if_wrong, setting_choices, setting_types
from edgekit.build.targets import get_target, target_names
from edgekit.build.tasks import get_task, task_names
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
    return _apply(recipe, {k: dict(v) for k, v in target_obj.settings.items()}, f"the defaults of target {target}")


def load_recipe(path: Path) -> dict:
    """The raw, checked contents of a recipe file (only the keys it sets)."""
    where = f"recipe {str(path)!r}"
    try:
        data = tomllib.loads(_read(Path(path), where))
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"{where} is not valid TOML: {exc}") from None
    _check_keys(data, _TOP_KEYS, str(path))
    _check_top_level(data, where)
    for section, settings in SECTIONS.items():
        if section in data:
            if not isinstance(data[section], dict):
                raise RecipeError(f"{where}: [{section}] must be a table")
            _check_keys(data[section], tuple(f.name for f in fields(settings)), f"{path} [{section}]")
    return data


def _read(path: Path, where: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError(f"recipe file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise RecipeError(f"{where} is a directory; give a TOML file (examples in recipes/)") from None
    except UnicodeDecodeError as exc:
        raise RecipeError(f"{where} is not a TOML text file: byte {exc.object[exc.start]:#04x} at offset "
                          f"{exc.start} is not UTF-8") from None
    except OSError as exc:  # permissions, a path through a file
        raise RecipeError(f"cannot read {where}: {exc.strerror or exc}") from None


def _check_top_level(data: dict, where: str) -> None:
    """TOML types of the top-level keys; the names themselves are checked when resolved."""
    for key, names in (("target", target_names()), ("task", task_names())):
        if key in data and not isinstance(data[key], str):
            raise RecipeError(f"{where}: {key} must be a string, one of {', '.join(names)}; got {data[key]!r}")
    passes = data.get("passes", [])
    if not (isinstance(passes, list) and all(isinstance(name, str) for name in passes)):
        raise RecipeError(f'{where}: passes must be a list of pass names, e.g. ["export", "validate"], got '
                          f"{passes!r}; passes: {', '.join(PASSES)}")


def _check_keys(data: dict, valid: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise RecipeError(f"unknown key(s) {', '.join(map(repr, unknown))} in {where}; valid: {', '.join(valid)}")


def _apply(recipe: Recipe, sections: dict[str, dict], where: str, *, options: bool = False) -> Recipe:
    """Set the given values, each checked against its settings field's type. options: they came as command
    line options (--max-length), so errors name those."""
    resolved = dict(recipe.sections)
    for name, settings in SECTIONS.items():
        values = {k: v for k, v in sections.get(name, {}).items() if v is not None}
        if values:
            resolved[name] = replace(resolved[name], **_typed(name, settings, values, where, options))
    return replace(recipe, sections=resolved)


def _typed(section: str, settings: type, values: dict, where: str, options: bool) -> dict:
    hints = setting_types(settings)
    typed = {}
    for key, value in values.items():
        if key not in hints:
            raise RecipeError(f"unknown [{section}] setting {key!r} in {where}; valid: {', '.join(hints)}")
        expected = expected_if_wrong(hints[key], value, setting_choices(settings, key))
        if expected:
            name = f"--{key.replace('_', '-')}" if options else f"[{section}] {key}"
            raise RecipeError(f"{name} must be {expected}, got {value!r}" + ("" if options else f" in {where}"))
        typed[key] = tuple(value) if isinstance(value, list) else value
    return typed


def resolve_recipe(*, target: str | None, recipe_path: Path | None = None, task: str | None = None,
                   overrides: dict[str, dict] | None = None) -> Recipe:
    """Defaults < target defaults < recipe file < explicit overrides ({"validate": {"atol": 1e-3}, ...}).
    Checks everything a build would reject later, the calibration file's texts included."""
    data = load_recipe(recipe_path) if recipe_path else {}
    if target and data.get("target") and data["target"] != target:
        raise RecipeError(f"--target {target!r} contradicts the recipe's target {data['target']!r}")
    recipe = default_recipe(target or data.get("target", "onnx-fp32"))
    if "passes" in data:
        recipe = replace(recipe, passes=tuple(data["passes"]))
    chosen_task = task or data.get("task")
    if chosen_task is not None:
        get_task(chosen_task)  # an empty or unknown name is an error, not the checkpoint's default
    recipe = replace(recipe, task=chosen_task)
    recipe = _apply(recipe, data, f"recipe {str(recipe_path)!r}")
    recipe = _apply(recipe, overrides or {}, "the command line", options=True)
    check_recipe(recipe)
    check_texts(recipe)
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
    _check_calibration_is_read(recipe)


def _reads_calibration(recipe: Recipe) -> bool:
    steps = [get_pass(name) for name in recipe.passes]
    return any(step.calibration is not None and step.calibration(recipe.section(step.section)) for step in steps)


def _check_calibration_is_read(recipe: Recipe) -> None:
    """A calibration file no pass reads would be ignored without a word: refuse it."""
    data = recipe.section("quantize").calibration_data
    if not data or _reads_calibration(recipe):
        return
    quantizers = [name for name in recipe.passes if get_pass(name).section == "quantize"]
    why = (f"the [quantize] candidates of this build ({', '.join(recipe.section('quantize').candidates)}) "
           f"read no calibration text" if quantizers else f"target {recipe.target} does not quantize")
    users = [name for name in target_names() if _reads_calibration(default_recipe(name))]
    raise RecipeError(f"calibration data {data!r} (--calibration-data, [quantize] calibration_data) is only used "
                      f"by builds that quantize with calibration (targets {', '.join(users)}); {why}")


def check_texts(recipe: Recipe) -> None:
    """The texts a build will read: enough held-out corpus sentences for [validate] samples, and a calibration
    file that is readable and has texts outside them. Cheap: no model, no tokenizer."""
    samples, available = recipe.section("validate").samples, max_validation_samples()
    if samples > available:
        raise RecipeError(f"[validate] samples (--samples) is {samples}, but edgekit's corpus holds {available} "
                          f"texts for validation (the other {CALIBRATION_RESERVE} are kept for calibration); use "
                          f"{available} or fewer")
    path = recipe.section("quantize").calibration_data
    if path:
        held_out = set(held_out_texts(samples))
        if all(text in held_out for text in read_calibration_file(path)):
            raise RecipeError(f"calibration file {path!r} holds only texts of edgekit's {samples} held-out "
                              "validation texts; calibrating on them would hide overfitting, so give other texts")
