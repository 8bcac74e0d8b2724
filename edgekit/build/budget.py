"""The accuracy budget: how much fidelity to FP32 a reduced-precision artefact may give up.

--max-drop is the main number: for heads with a top-1 (classification, fill-mask, tokens, QA) the
share of top-1 answers that may change (default 0.01); for embeddings 1 - mean cosine of pooled
sentence vectors (default 0.003). Embeddings also keep two floors, because a good mean can hide a
few ruined sentences or a scrambled ranking: the minimum cosine and nearest-neighbour agreement.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgekit.errors import InputError

DEFAULT_MAX_DROP = {"top-1 disagreement": 0.01, "1 - mean cosine": 0.003}


def check_fraction(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise InputError(f"{name} must be a fraction between 0 and 1 (e.g. 0.01), got {value!r}")
    return float(value)


def fidelity_drop(figures: dict) -> float:
    """The figure --max-drop applies to (lower is better)."""
    if "top1_agreement" in figures:
        return 1.0 - figures["top1_agreement"]
    return 1.0 - figures["cosine_mean"]


def drop_name(figures: dict) -> str:
    return "top-1 disagreement" if "top1_agreement" in figures else "1 - mean cosine"


@dataclass(frozen=True)
class Budget:
    max_drop: float | None = None  # None: the default for the kind of output
    min_cosine: float = 0.985  # embeddings only
    min_neighbour_agreement: float = 0.9  # embeddings only

    def max_drop_for(self, figures: dict) -> float:
        return DEFAULT_MAX_DROP[drop_name(figures)] if self.max_drop is None else self.max_drop

    def failures(self, figures: dict) -> list[str]:
        """What misses the budget, one phrase each; empty when the figures pass."""
        failed = []
        limit, drop = self.max_drop_for(figures), fidelity_drop(figures)
        if drop > limit:
            failed.append(f"{drop_name(figures)} {drop:.4f} > --max-drop {limit:g}")
        if "top1_agreement" not in figures:
            if figures["cosine_min"] < self.min_cosine:
                failed.append(f"min cosine {figures['cosine_min']:.4f} < {self.min_cosine:g}")
            if figures["neighbour_agreement"] < self.min_neighbour_agreement:
                failed.append(f"nearest-neighbour agreement {figures['neighbour_agreement']:.3f} "
                              f"< {self.min_neighbour_agreement:g}")
        return failed

    def passes(self, figures: dict) -> bool:
        return not self.failures(figures)

    def score(self, figures: dict) -> float:
        """Higher is better: shortfalls against every criterion, then the drop itself, break ties."""
        shortfall = max(0.0, fidelity_drop(figures) - self.max_drop_for(figures))
        if "top1_agreement" not in figures:
            shortfall += max(0.0, self.min_cosine - figures["cosine_min"])
            shortfall += max(0.0, self.min_neighbour_agreement - figures["neighbour_agreement"])
        return -shortfall - 1e-3 * fidelity_drop(figures)
