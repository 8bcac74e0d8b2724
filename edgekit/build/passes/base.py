"""What every pass declares: its name, the model formats it takes and leaves, its recipe section and its run.

A pass module holds one `PASS = Pass(...)` and the pure file-to-file functions its run calls, so those stay
testable without a build. Its settings class is a frozen dataclass with defaults (the recipe section) and a
`check()` that raises RecipeError for a bad value; the whole pass list of a recipe and every section are
checked before any model is loaded.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from types import UnionType
from typing import TYPE_CHECKING, Any, Union, get_args, get_origin, get_type_hints

if TYPE_CHECKING:
    from edgekit.build.state import BuildState

# Model formats a build carries from pass to pass; it starts with the loaded PyTorch model.
PYTORCH = "pytorch"
ONNX = "onnx"
OPENVINO_IR = "openvino-ir"
TORCH_PROGRAM = "torch-program"  # a saved torch.export program (.pt2)
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
    # Whether its run, with these settings, reads calibration text ([quantize] calibration_data); None: never.
    calibration: Callable[[Any], bool] | None = None


# -- the types of settings fields, checked generically against their annotations ----------------------------
def setting_types(settings: type) -> dict[str, Any]:
    """Field name -> its annotation, resolved (the modules use postponed annotations)."""
    return get_type_hints(settings)


def setting_choices(settings: type, key: str) -> tuple[str, ...]:
    """The values a str field (or each element of a tuple[str, ...] field) may take; () when any.
    A field declares them as field(metadata={"choices": (...)})."""
    return tuple(next(f for f in fields(settings) if f.name == key).metadata.get("choices", ()))


def expected_if_wrong(hint: Any, value: Any, choices: tuple[str, ...] = ()) -> str | None:
    """What `value` should have been for the annotation `hint`, or None when it fits. Strict: TOML and
    Python both tell true from 1, and a bool is never a number here; floats must be finite, since inf or
    nan would switch a gate off."""
    if _fits(hint, value, choices):
        return None
    return _describe(hint, choices)


def _fits(hint: Any, value: Any, choices: tuple[str, ...]) -> bool:
    if get_origin(hint) in (Union, UnionType):
        return any(_fits(arg, value, choices) for arg in get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if hint is str:
        return isinstance(value, str) and (not choices or value in choices)
    if get_origin(hint) is tuple:
        element = _element(hint)
        return isinstance(value, (list, tuple)) and all(_fits(element, v, choices) for v in value)
    raise TypeError(f"settings annotation {hint!r} is not supported by the recipe type check")


_NAMES = {bool: ("true or false", "true/false values"), int: ("an integer", "integers"),
          float: ("a finite number", "finite numbers"), str: ("a string", "strings")}


def _describe(hint: Any, choices: tuple[str, ...]) -> str:
    if get_origin(hint) in (Union, UnionType):  # TOML has no null: an optional field is set or left out
        return " or ".join(_describe(arg, choices) for arg in get_args(hint) if arg is not type(None))
    if get_origin(hint) is tuple:
        element = _element(hint)
        if choices:
            return f"a list of values from {', '.join(choices)}"
        return f"a list of {_name(element)[1]}"
    if hint is str and choices:
        return f"one of {', '.join(choices)}"
    return _name(hint)[0]


def _name(hint: Any) -> tuple[str, str]:
    if hint not in _NAMES:
        raise TypeError(f"settings annotation {hint!r} is not supported by the recipe type check")
    return _NAMES[hint]


def _element(hint: Any) -> Any:
    args = get_args(hint)
    if len(args) != 2 or args[1] is not Ellipsis:
        raise TypeError(f"settings annotation {hint!r}: only tuple[X, ...] is supported")
    return args[0]
