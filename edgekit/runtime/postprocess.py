"""From raw outputs to answers, per task (numpy only)."""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def classification(logits: np.ndarray, labels: dict[int, str]) -> dict:
    probs = softmax(logits.astype(np.float64))
    best = int(probs.argmax())
    return {"label": labels.get(best, str(best)), "score": float(probs[best]),
            "scores": {labels.get(i, str(i)): float(p) for i, p in enumerate(probs)}}


def mean_pool(hidden: np.ndarray, mask: np.ndarray, *, normalize: bool = True) -> np.ndarray:
    """Sentence vectors (batch, hidden) from hidden states (batch, sequence, hidden): the mean over real tokens
    (mask 1), L2-normalised by default: the sentence-embedding recipe of sentence-transformers. float64."""
    weights = np.asarray(mask)[:, : hidden.shape[1], None].astype(np.float64)
    pooled = (hidden.astype(np.float64) * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
    if normalize:
        pooled = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
    return pooled


def fill_mask(logits: np.ndarray, encoding, mask_id: int | None, tokenizer, top_k: int) -> list[dict]:
    if mask_id is None or encoding is None or mask_id not in encoding.ids:
        return []
    position = encoding.ids.index(mask_id)
    probs = softmax(logits[position].astype(np.float64))
    best = np.argsort(-probs)[:top_k]
    return [{"token": tokenizer.decode([int(i)]).strip(), "token_id": int(i), "score": float(probs[i])} for i in best]


def token_labels(logits: np.ndarray, encoding, labels: dict[int, str]) -> list[dict]:
    if encoding is None:
        return []
    probs = softmax(logits[: len(encoding.ids)].astype(np.float64))
    results = []
    for i, (token, special) in enumerate(zip(encoding.tokens, encoding.special_tokens_mask)):
        if special:
            continue
        best = int(probs[i].argmax())
        start, end = encoding.offsets[i]
        results.append({"token": token, "label": labels.get(best, str(best)), "score": float(probs[i, best]),
                        "start": int(start), "end": int(end)})
    return results
