"""Write recipes/<target>.toml for every registered target from its built-in defaults.

    .venv/bin/python tools/write_recipes.py
tests/test_recipes.py checks that the shipped files still equal the defaults.
"""

from __future__ import annotations

from pathlib import Path

from edgekit.build.recipes import default_recipe
from edgekit.build.targets import all_targets

RECIPES = Path(__file__).resolve().parent.parent / "recipes"

for target in all_targets():
    header = (f"# {target.name}: {target.description}.\n"
              "# Copy and edit; unknown keys are errors. Resolved recipe of any build:\n"
              "#   edgekit export --model M --target T --print-recipe\n")
    (RECIPES / f"{target.name}.toml").write_text(header + default_recipe(target.name).to_toml())
    print(f"wrote recipes/{target.name}.toml")
