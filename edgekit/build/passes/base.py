"""What every pass declares: its name, the model formats it takes and leaves, its recipe section and its run.

A pass module holds one `PASS = Pass(...)` and the pure file-to-file functions its run calls, so those stay
testable without a build. Its settings class is a frozen dataclass with defaults (the recipe section) and a
`check()` that raises RecipeError for a bad value; the whole pass list of a recipe and every section are
checked before any model is loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgekit.build.state import BuildState

# Model formats a build carries from pass to pass; it starts with the loaded PyTorch model.
PYTORCH = "pytorch"
ONNX = "onnx"
OPENVINO_IR = "openvino-ir"
ANY_FORMAT = (ONNX, OPENVINO_IR)


@dataclass(frozen=True)
class Pass:
    name: str
    description: str
    run: Callable[[BuildState, Any], None]  # (build state, the settings of its section or None)
    accepts: tuple[str, ...]  # the formats it works on
    produces: str | None = None  # the format it leaves; None: the one it was given
    section: str | None = None  # the recipe section it reads, e.g. "kernels"
    settings: type | None = None  # that section's settings class
    check: Callable[[Any], None] | None = None  # a check of its settings beyond the section's own check()
