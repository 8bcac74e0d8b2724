"""The PyTorch FP32 eager reference for an artefact: its source model, loaded again. Needs the export extra."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edgekit.build.artefact import Artefact
from edgekit.build.tasks import get_task
from edgekit.errors import MissingDependencyError


def pytorch_runner(artefact: Artefact) -> Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """feeds -> outputs of the artefact's source model in PyTorch FP32 eager mode (threads: torch's global
    setting, which the caller sets)."""
    record = artefact.record
    return pytorch_model_runner(record.source_path or record.source_spec, task_name=record.task)[0]


def pytorch_model_runner(spec: str, *, task_name: str | None = None):
    """(feeds -> outputs of a model spec (checkpoint directory, hub id or random:...) in PyTorch FP32 eager,
    its tokenizer as a plain tokenizers.Tokenizer)."""
    try:
        import torch
    except ImportError:
        raise MissingDependencyError("torch", "a PyTorch reference", "export") from None
    from edgekit.build.sources import load_model, resolve_source

    source = resolve_source(spec)
    task = get_task(task_name) if task_name else source.default_task()
    model, hf_tokenizer, _ = load_model(source, task, new_head=True)  # the artefact's own head, seeded alike
    wanted = set(model.forward.__code__.co_varnames)

    def run(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            out = model(**{k: torch.from_numpy(v) for k, v in feeds.items() if k in wanted}, return_dict=True)
        return {name: out[name].float().numpy() for name in task.outputs}

    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(hf_tokenizer.backend_tokenizer.to_str())
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return run, tokenizer


def reference_name(artefact: Artefact) -> str:
    return f"pytorch-fp32 ({artefact.record.source_spec})"
