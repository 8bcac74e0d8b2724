"""Fidelity of an artefact's outputs to the FP32 reference. numpy only, so devices can compute it too.

Only real tokens are compared: padded positions carry no meaning, and fused attention kernels are
free to write anything there.
"""

from __future__ import annotations

import numpy as np

from edgekit.build.tasks import Task
from edgekit.runtime.postprocess import mean_pool


def neighbour_agreement(reference: np.ndarray, candidate: np.ndarray) -> float:
    """Share of rows whose nearest other row (by cosine) is the same under both embeddings."""
    if len(reference) < 2:
        return 1.0

    def nearest(embeddings: np.ndarray) -> np.ndarray:
        similarity = embeddings @ embeddings.T
        np.fill_diagonal(similarity, -np.inf)
        return similarity.argmax(axis=1)

    return float((nearest(reference) == nearest(candidate)).mean())


def _real_tokens(array: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return array[mask.astype(bool)]  # (tokens, ...) from (batch, sequence, ...)


def compare_outputs(task: Task, reference: list[dict[str, np.ndarray]], candidate: list[dict[str, np.ndarray]],
                    masks: list[np.ndarray]) -> dict:
    """Figures over all batches: per output max abs diff and top-1 agreement; pooled cosine for embeddings."""
    figures: dict = {"samples": int(sum(len(m) for m in masks)), "outputs": {}}
    for name in task.outputs:
        ref_rows, cand_rows = [], []
        for ref, cand, mask in zip(reference, candidate, masks):
            if task.per_token:
                ref_rows.append(_real_tokens(ref[name], mask))
                cand_rows.append(_real_tokens(cand[name], mask))
            else:
                ref_rows.append(ref[name])
                cand_rows.append(cand[name])
        ref_all = np.concatenate(ref_rows).astype(np.float64)
        cand_all = np.concatenate(cand_rows).astype(np.float64)
        entry = {"max_abs_diff": float(np.abs(ref_all - cand_all).max())}
        if name != "last_hidden_state":  # scores over classes, vocabulary or positions: argmax means something
            entry["top1_agreement"] = float((ref_all.argmax(-1) == cand_all.argmax(-1)).mean())
        figures["outputs"][name] = entry
    figures["max_abs_diff"] = max(e["max_abs_diff"] for e in figures["outputs"].values())
    agreements = [e["top1_agreement"] for e in figures["outputs"].values() if "top1_agreement" in e]
    if agreements:
        figures["top1_agreement"] = min(agreements)
    if "last_hidden_state" in task.outputs:
        ref_emb = np.concatenate([mean_pool(r["last_hidden_state"], m) for r, m in zip(reference, masks)])
        cand_emb = np.concatenate([mean_pool(c["last_hidden_state"], m) for c, m in zip(candidate, masks)])
        cosines = (ref_emb * cand_emb).sum(axis=1)
        figures["cosine_mean"] = float(cosines.mean())
        figures["cosine_min"] = float(cosines.min())
        figures["neighbour_agreement"] = neighbour_agreement(ref_emb, cand_emb)
    return figures
