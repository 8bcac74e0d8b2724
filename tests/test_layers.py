"""The layers point one way: runtime (device) < build < measure < views < api < cli.

Every import in every module is read, those inside functions too, so a lazy import cannot hide a wrong-way
dependency. edgekit.errors (and the package root, for __version__) may be used by every layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "edgekit"
SHARED = {"edgekit", "edgekit.errors"}
# Each layer and the layers it may import from (besides itself and SHARED).
ALLOWED = {
    "runtime": set(),
    "build": {"runtime"},
    "measure": {"build", "runtime"},
    "views": {"measure", "build", "runtime"},
    "api": {"views", "measure", "build", "runtime"},
    "cli": {"api", "views", "runtime"},
}
# The device runtime may need only these third-party packages (and the standard library).
# The runtimes, their in-graph tokenizer extensions, and cryptography for apps that check a bundle's signature
# (each an optional extra of the light install but numpy, the runtimes and tokenizers).
RUNTIME_PACKAGES = {"numpy", "onnxruntime", "openvino", "tokenizers", "onnxruntime_extensions", "openvino_tokenizers",
                    "cryptography"}
# The one runtime module whose artefact runs in PyTorch (pytorch-int8); it refuses with the reason without torch.
RUNTIME_PACKAGES_OF = {"edgekit.runtime.torch_program": {"torch"}}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "edgekit" and parts[1] in ALLOWED else None


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(path: Path, module: str) -> list[str]:
    """Every module name this file imports, relative imports resolved."""
    names = []
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names.append(base)
            names += [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in _modules()]
    return names


MODULES = _modules()


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _layer(m) or m == "edgekit.api"))
def test_imports_point_down_the_layers(module):
    layer = "api" if module == "edgekit.api" else _layer(module)
    allowed = ALLOWED[layer] | {layer}
    wrong = []
    for name in _imports(MODULES[module], module):
        if not name.startswith("edgekit") or name in SHARED:
            continue
        target = "api" if name.startswith("edgekit.api") else _layer(name)
        if target not in allowed:
            wrong.append(name)
    assert not wrong, f"{module} ({layer}) imports {sorted(set(wrong))}, outside {sorted(allowed)}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _layer(m) == "runtime"))
def test_the_device_runtime_needs_only_its_runtimes(module):
    import sys

    outside = {name.split(".")[0] for name in _imports(MODULES[module], module)} - {"edgekit", "__future__"}
    third_party = {name for name in outside if name not in sys.stdlib_module_names}
    allowed = RUNTIME_PACKAGES | RUNTIME_PACKAGES_OF.get(module, set())
    assert third_party <= allowed, f"{module} imports {sorted(third_party - allowed)}"


def test_the_rules_would_catch_a_wrong_way_import(tmp_path):
    # The check itself: a runtime module importing the build side is reported.
    fake = tmp_path / "edgekit" / "runtime" / "bad.py"
    fake.parent.mkdir(parents=True)
    fake.write_text("def f():\n    from edgekit.build.record import read_record\n")
    names = _imports(fake, "edgekit.runtime.bad")
    assert "edgekit.build.record" in names and _layer("edgekit.build.record") not in ALLOWED["runtime"]
