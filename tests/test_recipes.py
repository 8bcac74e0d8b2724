"""Recipes: strict TOML, resolution order, and the shipped recipes/ staying equal to the built-in defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgekit.errors import InvalidChoiceError, RecipeError
from edgekit.build.passes import check_pass_list as check_passes
from edgekit.build.recipes import default_recipe, load_recipe, resolve_recipe
from edgekit.build.targets import target_names

RECIPES = Path(__file__).resolve().parent.parent / "recipes"


def test_unknown_top_level_key(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text('target = "onnx-fp32"\nquantise = true\n')
    with pytest.raises(RecipeError, match="unknown key\\(s\\) 'quantise'.*valid: target, task, passes"):
        load_recipe(path)


def test_unknown_section_key(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text('[validate]\natol = 1e-3\ntolerance = 2\n')
    with pytest.raises(RecipeError, match="'tolerance'.*valid: atol, max_drop, min_cosine, min_neighbour_agreement, samples, batch_size, max_length"):
        load_recipe(path)


def test_bad_values(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text('[validate]\nsamples = -3\n')
    with pytest.raises(RecipeError, match="samples must be a positive integer"):
        resolve_recipe(target=None, recipe_path=path)
    path.write_text('[export]\nopset = 9\n')
    with pytest.raises(InvalidChoiceError, match="unknown opset 9"):
        resolve_recipe(target=None, recipe_path=path)


def test_skip_layernorm_setting(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text('[kernels]\nskip_layernorm = "sometimes"\n')
    with pytest.raises(RecipeError, match="skip_layernorm must be one of auto, fused, split, got 'sometimes'"):
        resolve_recipe(target="onnxruntime-fp32", recipe_path=path)
    path.write_text('[kernels]\nbias_gelu = true\n')
    with pytest.raises(RecipeError, match="bias_gelu must be one of auto, fused, split, got True"):
        resolve_recipe(target="onnxruntime-fp32", recipe_path=path)
    path.write_text('[kernels]\nskip_layernorm = "fused"\n')
    recipe = resolve_recipe(target="onnxruntime-int8", recipe_path=path)
    assert recipe.section("kernels").skip_layernorm == "fused" and 'skip_layernorm = "fused"' in recipe.to_toml()
    assert "[kernels]" not in resolve_recipe(target="onnx-fp32").to_toml(), "only targets that split show it"


def test_resolution_order(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text('target = "onnx-fp32"\n[validate]\natol = 1e-3\nsamples = 10\n')
    recipe = resolve_recipe(target=None, recipe_path=path, overrides={"validate": {"samples": 20, "atol": None}})
    assert recipe.section("validate").atol == 1e-3 and recipe.section("validate").samples == 20
    assert recipe.section("validate").max_length == 128  # the default shows through


def test_target_contradicting_recipe(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text('target = "onnx-fp32"\n')
    with pytest.raises(RecipeError, match="contradicts"):
        resolve_recipe(target="onnx-int3", recipe_path=path)


def test_passes_are_checked():
    with pytest.raises(InvalidChoiceError, match="unknown pass 'shrink'"):
        check_passes(("export", "shrink", "validate"))
    with pytest.raises(RecipeError, match="must end with 'validate'"):
        check_passes(("export",))
    with pytest.raises(RecipeError, match="must end with 'validate'"):
        check_passes(("export", "validate", "fuse"))


@pytest.mark.parametrize("target", target_names())
def test_shipped_recipe_matches_target_defaults(target):
    path = RECIPES / f"{target}.toml"
    assert path.is_file(), f"recipes/{target}.toml is missing"
    assert resolve_recipe(target=None, recipe_path=path) == default_recipe(target)


def test_attention_setting(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text('[export]\nattention = "flash"\n')
    with pytest.raises(RecipeError, match="attention must be one of sdpa, eager, got 'flash'"):
        resolve_recipe(target="onnx-fp32", recipe_path=path)
    assert resolve_recipe(target="onnx-fp32").section("export").attention == "sdpa"
    assert resolve_recipe(target="openvino-int8").section("export").attention == "eager"
