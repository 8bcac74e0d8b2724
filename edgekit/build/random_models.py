"""`random:` models: the exact DistilRoBERTa-base / RoBERTa-base architectures with seeded random weights.

They exist for speed work where the hub is absent. Their outputs mean nothing; every record and
report built from them says so, and their accuracy figures are only fidelity to FP32.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from edgekit.errors import InvalidChoiceError

PREFIX = "random:"
SEED = 0
RANDOM_WEIGHTS_NOTE = ("RANDOM WEIGHTS: this model has seeded random weights (architecture only); "
                       "accuracy figures are fidelity to the FP32 model, not task accuracy")


@dataclass(frozen=True)
class RandomArchitecture:
    name: str
    num_hidden_layers: int
    description: str


# The published configurations differ only in depth; the rest is shared (see roberta_config).
_ARCHITECTURES = {
    arch.name: arch
    for arch in (
        RandomArchitecture("distilroberta-base", 6, "DistilRoBERTa-base: 6 layers, 768 hidden, 12 heads"),
        RandomArchitecture("roberta-base", 12, "RoBERTa-base: 12 layers, 768 hidden, 12 heads"),
    )
}


def random_names() -> tuple[str, ...]:
    return tuple(PREFIX + name for name in _ARCHITECTURES)


def is_random_spec(spec: str) -> bool:
    return spec.startswith(PREFIX)


def get_architecture(spec: str) -> RandomArchitecture:
    name = spec[len(PREFIX):]
    if name not in _ARCHITECTURES:
        raise InvalidChoiceError("random model", spec, random_names())
    return _ARCHITECTURES[name]


def roberta_config(arch: RandomArchitecture) -> dict:
    """The Hugging Face config of distilroberta-base / roberta-base, as published."""
    return {
        "model_type": "roberta",
        "architectures": ["RobertaForSequenceClassification"],
        "vocab_size": 50265,
        "max_position_embeddings": 514,
        "num_hidden_layers": arch.num_hidden_layers,
        "hidden_size": 768,
        "num_attention_heads": 12,
        "intermediate_size": 3072,
        "hidden_act": "gelu",
        "type_vocab_size": 1,
        "layer_norm_eps": 1e-5,
        "pad_token_id": 1,
        "bos_token_id": 0,
        "eos_token_id": 2,
        "num_labels": 2,
    }


def train_tokenizer():
    """A fresh tokenizers.Tokenizer; training runs once per process (see _trained_tokenizer_json)."""
    from tokenizers import Tokenizer

    return Tokenizer.from_str(_trained_tokenizer_json())


@functools.cache
def _trained_tokenizer_json() -> str:
    """A byte-level BPE tokenizer with RoBERTa's special tokens, trained on the shipped corpus.

    Deterministic for a given corpus and tokenizers version. Its vocabulary is smaller than the
    model's 50265 rows; unused embedding rows cost nothing at inference.
    """
    from tokenizers import ByteLevelBPETokenizer
    from tokenizers.processors import RobertaProcessing

    from edgekit.build.corpus import load_corpus

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # RoBERTa's ids 0..4
    tokenizer = ByteLevelBPETokenizer(add_prefix_space=False)
    tokenizer.train_from_iterator(load_corpus(), vocab_size=8000, min_frequency=2,
                                  special_tokens=specials, show_progress=False)
    tokenizer.post_processor = RobertaProcessing(("</s>", 2), ("<s>", 0))
    return tokenizer.to_str()


def build_random(spec: str, task_auto_class: str, *, attention: str = "sdpa"):
    """(model, tokenizer) for a random: spec. Needs the export extra (torch, transformers)."""
    import torch
    import transformers
    from transformers import RobertaConfig, RobertaTokenizerFast

    arch = get_architecture(spec)
    config = RobertaConfig(**{k: v for k, v in roberta_config(arch).items() if k != "model_type"})
    torch.manual_seed(SEED)
    model = getattr(transformers, task_auto_class).from_config(config, attn_implementation=attention).eval()
    tokenizer = RobertaTokenizerFast(tokenizer_object=train_tokenizer(), bos_token="<s>", eos_token="</s>",
                                     unk_token="<unk>", sep_token="</s>", cls_token="<s>", pad_token="<pad>",
                                     mask_token="<mask>", model_max_length=512)
    return model, tokenizer
