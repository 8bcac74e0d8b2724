"""The validate pass: run the artefact and the PyTorch FP32 model on the same real, right-padded text."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgekit.errors import InputError, ValidationError
from edgekit.fidelity import compare_outputs
from edgekit.tasks import Task

Runner = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


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


def validate(task: Task, reference: list[dict[str, np.ndarray]], batches: list[dict[str, np.ndarray]],
             run: Runner, *, atol: float | None) -> dict:
    """Fidelity figures; raises ValidationError when atol is given and any output exceeds it."""
    candidate = [run(feeds) for feeds in batches]
    figures = compare_outputs(task, reference, candidate, [b["attention_mask"] for b in batches])
    figures["atol"] = atol
    if atol is not None:
        worst = max(figures["outputs"].items(), key=lambda item: item[1]["max_abs_diff"])
        figures["passed"] = worst[1]["max_abs_diff"] <= atol
        if not figures["passed"]:
            raise ValidationError(
                f"validation failed: output {worst[0]!r} differs from PyTorch by {worst[1]['max_abs_diff']:.3g} "
                f"> --atol {atol:g} on {figures['samples']} real texts")
    return figures


def onnx_runner(model_path: Path) -> Runner:
    from edgekit.inference import ort_session, run_onnx

    session = ort_session(model_path)
    return lambda feeds: run_onnx(session, feeds)
