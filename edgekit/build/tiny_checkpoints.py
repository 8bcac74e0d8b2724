"""Tiny random checkpoints of every encoder architecture edgekit supports, saved as real Hugging Face directories
(config, safetensors weights, a tokenizer of the architecture's own kind trained on edgekit's corpus).

For tests, benchmarks/architectures.py and users' smoke tests: no hub needed. Outputs mean nothing; fidelity to
the FP32 model is what they can show.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

from edgekit.errors import InvalidChoiceError

# The shape every tiny model shares; distilbert names its fields differently (see _config).
TINY_SHAPE = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                  max_position_embeddings=514)


@dataclass(frozen=True)
class TinyArchitecture:
    model_type: str
    config_class: str  # transformers class
    tokenizer_class: str  # the fast tokenizer class its checkpoints ship
    tokenizer_kind: str  # "byte-bpe" (GPT-2 style), "wordpiece" (BERT style) or "unigram" (SentencePiece style)
    specials: dict[str, str]  # tokenizer special tokens: role -> token
    pair_template: str  # "roberta": <s> A </s>; "bert": [CLS] A [SEP]
    config: dict = field(default_factory=dict)  # config fields beyond TINY_SHAPE


_ROBERTA_SPECIALS = {"bos_token": "<s>", "pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>",
                     "mask_token": "<mask>", "cls_token": "<s>", "sep_token": "</s>"}
_BERT_SPECIALS = {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]",
                  "mask_token": "[MASK]"}
_ALBERT_SPECIALS = {"pad_token": "<pad>", "unk_token": "<unk>", "cls_token": "[CLS]", "sep_token": "[SEP]",
                    "mask_token": "[MASK]"}
_ROBERTA_IDS = dict(pad_token_id=1, bos_token_id=0, eos_token_id=2)

_ARCHITECTURES = {a.model_type: a for a in (
    TinyArchitecture("roberta", "RobertaConfig", "RobertaTokenizerFast", "byte-bpe", _ROBERTA_SPECIALS, "roberta",
                     dict(type_vocab_size=1, **_ROBERTA_IDS)),
    TinyArchitecture("xlm-roberta", "XLMRobertaConfig", "XLMRobertaTokenizerFast", "unigram", _ROBERTA_SPECIALS,
                     "roberta", dict(type_vocab_size=1, **_ROBERTA_IDS)),
    TinyArchitecture("camembert", "CamembertConfig", "CamembertTokenizerFast", "unigram", _ROBERTA_SPECIALS,
                     "roberta", dict(type_vocab_size=1, **_ROBERTA_IDS)),
    TinyArchitecture("bert", "BertConfig", "BertTokenizerFast", "wordpiece", _BERT_SPECIALS, "bert",
                     dict(type_vocab_size=2, pad_token_id=0)),
    TinyArchitecture("distilbert", "DistilBertConfig", "DistilBertTokenizerFast", "wordpiece", _BERT_SPECIALS,
                     "bert", dict(pad_token_id=0)),
    TinyArchitecture("albert", "AlbertConfig", "AlbertTokenizerFast", "unigram", _ALBERT_SPECIALS, "bert",
                     dict(type_vocab_size=2, embedding_size=16, pad_token_id=0)),
    TinyArchitecture("electra", "ElectraConfig", "ElectraTokenizerFast", "wordpiece", _BERT_SPECIALS, "bert",
                     dict(type_vocab_size=2, embedding_size=16, pad_token_id=0)),
    TinyArchitecture("deberta-v2", "DebertaV2Config", "DebertaV2TokenizerFast", "unigram", _BERT_SPECIALS, "bert",
                     dict(type_vocab_size=0, pad_token_id=0, relative_attention=True, position_buckets=32,
                          pos_att_type=["p2c", "c2p"], max_relative_positions=-1, position_biased_input=False)),
    TinyArchitecture("mpnet", "MPNetConfig", "MPNetTokenizerFast", "wordpiece", _ROBERTA_SPECIALS, "roberta",
                     dict(**_ROBERTA_IDS)),
)}


def tiny_model_types() -> tuple[str, ...]:
    return tuple(_ARCHITECTURES)


def get_tiny_architecture(model_type: str) -> TinyArchitecture:
    if model_type not in _ARCHITECTURES:
        raise InvalidChoiceError("model type", model_type, tiny_model_types())
    return _ARCHITECTURES[model_type]


def save_tiny_checkpoint(directory: Path, model_type: str, task: str, *, seed: int = 1) -> Path:
    """A tiny random `model_type` checkpoint with the head of `task`, saved in `directory`."""
    import torch
    import transformers

    from edgekit.build.tasks import get_task

    arch = get_tiny_architecture(model_type)
    tokenizer = _tokenizer(arch)
    labels = 2 if task == "question-answering" else 3  # a QA head scores start and end
    config = getattr(transformers, arch.config_class)(**_config(arch, len(tokenizer), labels))
    torch.manual_seed(seed)
    model = getattr(transformers, get_task(task).auto_class).from_config(config)
    model.save_pretrained(directory)  # sets architectures, e.g. BertForTokenClassification
    tokenizer.save_pretrained(directory)
    return Path(directory)


def _config(arch: TinyArchitecture, vocab_size: int, labels: int) -> dict:
    values = {**TINY_SHAPE, **arch.config, "vocab_size": vocab_size, "num_labels": labels}
    if arch.model_type == "distilbert":
        renamed = dict(hidden_size="dim", num_hidden_layers="n_layers", num_attention_heads="n_heads",
                       intermediate_size="hidden_dim")
        values = {renamed.get(k, k): v for k, v in values.items()}
    return values


def _tokenizer(arch: TinyArchitecture):
    import transformers
    from tokenizers import Tokenizer

    backend = Tokenizer.from_str(_trained_tokenizer_json(arch.tokenizer_kind, tuple(arch.specials.items()),
                                                         arch.pair_template))
    return getattr(transformers, arch.tokenizer_class)(tokenizer_object=backend, model_max_length=512,
                                                        **arch.specials)


@functools.cache
def _trained_tokenizer_json(kind: str, specials: tuple[tuple[str, str], ...], template: str) -> str:
    """A tokenizer of `kind` trained on edgekit's corpus, special tokens first (ids 0..), with the architecture's
    single-text template. Deterministic for a corpus and tokenizers version."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from tokenizers.processors import TemplateProcessing

    from edgekit.build.corpus import load_corpus
    from edgekit.build.random_models import train_tokenizer

    roles = dict(specials)
    ordered = list(dict.fromkeys(roles[r] for r in ("bos_token", "pad_token", "eos_token", "unk_token", "cls_token",
                                                      "sep_token", "mask_token") if r in roles))
    if kind == "byte-bpe":
        tokenizer = train_tokenizer()
    elif kind == "wordpiece":
        tokenizer = Tokenizer(models.WordPiece(unk_token=roles["unk_token"]))
        tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tokenizer.decoder = decoders.WordPiece()
        tokenizer.train_from_iterator(load_corpus(), trainers.WordPieceTrainer(
            vocab_size=4000, special_tokens=ordered, show_progress=False))
    elif kind == "unigram":
        tokenizer = Tokenizer(models.Unigram())
        tokenizer.normalizer = normalizers.NFKC()
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
        tokenizer.decoder = decoders.Metaspace()
        tokenizer.train_from_iterator(load_corpus(), trainers.UnigramTrainer(
            vocab_size=4000, special_tokens=ordered, unk_token=roles["unk_token"], show_progress=False))
    else:
        raise ValueError(f"unknown tokenizer kind {kind!r}")
    first, last = (roles["cls_token"], roles["sep_token"])
    pair = f"{first} $A {last} {last} $B:1 {last}:1" if template == "roberta" else f"{first} $A {last} $B:1 {last}:1"
    tokenizer.post_processor = TemplateProcessing(
        single=f"{first} $A {last}", pair=pair,
        special_tokens=[(token, tokenizer.token_to_id(token)) for token in (first, last)])
    return tokenizer.to_str()
