"""Validation inputs: real, right-padded tokenised batches and the PyTorch FP32 reference outputs."""

from __future__ import annotations

import numpy as np

from edgekit.errors import InputError
from edgekit.build.tasks import Task


def tokenize_batches(tokenizer, texts: list[str], *, input_names: list[str], batch_size: int,
                     max_length: int) -> list[dict[str, np.ndarray]]:
    """Right-padded batches in corpus order, so each batch mixes lengths and padding is exercised."""
    if not texts:
        raise InputError("no validation texts were given")
    tokenizer.padding_side = "right"  # fused attention kernels assume right padding
    batches = []
    for start in range(0, len(texts), batch_size):
        encoded = tokenizer(texts[start:start + batch_size], padding=True, truncation=True,
                            max_length=max_length, return_tensors="np")
        batches.append({name: np.asarray(encoded[name], dtype=np.int64) for name in input_names})
    return batches


def reference_outputs(model, task: Task, batches: list[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    import torch

    results = []
    with torch.no_grad():
        for feeds in batches:
            out = model(**{k: torch.from_numpy(v) for k, v in feeds.items()}, return_dict=True)
            results.append({name: out[name].float().numpy() for name in task.outputs})
    return results
