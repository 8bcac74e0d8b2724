"""The accuracy budget: how much fidelity to FP32 a reduced-precision artefact may give up.

One number, --max-drop: for heads with a top-1 (classification, fill-mask, tokens, QA) it is the share
of top-1 answers that may change; for embeddings it is 1 - mean cosine of pooled sentence vectors.
"""

from __future__ import annotations

from edgekit.errors import InputError

DEFAULT_MAX_DROP = 0.01


def check_max_drop(value: float) -> float:
    if not isinstance(value, (int, float)) or not 0 < value < 1:
        raise InputError(f"--max-drop must be a fraction between 0 and 1 (e.g. 0.01), got {value!r}")
    return float(value)


def fidelity_drop(figures: dict) -> float:
    """The figure the budget applies to (lower is better)."""
    if "top1_agreement" in figures:
        return 1.0 - figures["top1_agreement"]
    return 1.0 - figures["cosine_mean"]


def drop_name(figures: dict) -> str:
    return "top-1 disagreement" if "top1_agreement" in figures else "1 - mean cosine"


def within_budget(figures: dict, max_drop: float) -> bool:
    return fidelity_drop(figures) <= max_drop


def score(figures: dict) -> float:
    """Higher is better; ties on the budget figure are broken by the worst case and max abs diff."""
    return -fidelity_drop(figures) + 1e-3 * figures.get("cosine_min", 0.0) - 1e-9 * figures.get("max_abs_diff", 0.0)
