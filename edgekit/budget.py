"""The accuracy budget: how much fidelity to FP32 a reduced-precision artefact may give up.

One number, --max-drop: for heads with a top-1 (classification, fill-mask, tokens, QA) it is the share
of top-1 answers that may change (default 0.01); for embeddings it is 1 - mean cosine of pooled
sentence vectors (default 0.003).
"""

from __future__ import annotations

from edgekit.errors import InputError

# Defaults per measure: embeddings are compared by cosine, where 0.997 still keeps nearest neighbours.
DEFAULT_MAX_DROP = {"top-1 disagreement": 0.01, "1 - mean cosine": 0.003}


def check_max_drop(value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise InputError(f"--max-drop must be a fraction between 0 and 1 (e.g. 0.01), got {value!r}")
    return float(value)


def fidelity_drop(figures: dict) -> float:
    """The figure the budget applies to (lower is better)."""
    if "top1_agreement" in figures:
        return 1.0 - figures["top1_agreement"]
    return 1.0 - figures["cosine_mean"]


def drop_name(figures: dict) -> str:
    return "top-1 disagreement" if "top1_agreement" in figures else "1 - mean cosine"


def effective_max_drop(figures: dict, max_drop: float | None) -> float:
    """The budget that applies: the user's --max-drop, or the default for this kind of output."""
    return DEFAULT_MAX_DROP[drop_name(figures)] if max_drop is None else max_drop


def within_budget(figures: dict, max_drop: float | None) -> bool:
    return fidelity_drop(figures) <= effective_max_drop(figures, max_drop)


def score(figures: dict) -> float:
    """Higher is better; ties on the budget figure are broken by the worst case and max abs diff."""
    return -fidelity_drop(figures) + 1e-3 * figures.get("cosine_min", 0.0) - 1e-9 * figures.get("max_abs_diff", 0.0)
