"""Checks on a local Hugging Face checkpoint directory that need no torch: layout, architecture, weights.

Catching a truncated weights file here gives the user one clear line instead of a loader traceback.
"""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

from edgekit.build.architectures import get_architecture, model_types
from edgekit.errors import CorruptCheckpointError, ModelSourceError, UnsupportedArchitectureError

# model_type values whose graphs edgekit exports (through Optimum), optimises and validates.
SUPPORTED_MODEL_TYPES = model_types()
# DistilBERT's config names the shape fields its own way.
_SHAPE_ALIASES = {"num_hidden_layers": "n_layers", "hidden_size": "dim", "num_attention_heads": "n_heads",
                  "intermediate_size": "hidden_dim"}

_TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "vocab.txt", "sentencepiece.bpe.model")


def read_config(directory: Path) -> dict:
    if not directory.exists():
        raise ModelSourceError(f"model path {str(directory)!r} does not exist; give a checkpoint directory, "
                               "a hub id, or random:distilroberta-base")
    if not directory.is_dir():
        raise ModelSourceError(f"model path {str(directory)!r} is a file, not a checkpoint directory "
                               "(expected a directory holding config.json and weights)")
    config_path = directory / "config.json"
    if not config_path.is_file():
        raise ModelSourceError(f"{str(directory)!r} is not a Hugging Face checkpoint: it has no config.json")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptCheckpointError(f"{str(config_path)!r} is not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise CorruptCheckpointError(f"{str(config_path)!r} does not hold a JSON object")
    return config


def check_architecture(config: dict, where: str) -> str:
    model_type = config.get("model_type")
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise UnsupportedArchitectureError(
            f"{where} has model_type {model_type!r}, which edgekit does not support; "
            f"supported: {', '.join(SUPPORTED_MODEL_TYPES)}")
    return model_type


def encoder_shape(config: dict) -> dict[str, int]:
    """layers, hidden size, heads and FFN width of a config.json, whatever the architecture calls them."""
    shape = {}
    for key, alias in _SHAPE_ALIASES.items():
        value = config.get(key, config.get(alias))
        if isinstance(value, int) and not isinstance(value, bool):
            shape[key] = value
    return shape


def weight_files(directory: Path) -> list[Path]:
    """The weights a loader would read, preferring safetensors; raises when there are none."""
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index = directory / index_name
        if index.is_file():
            try:
                shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
                raise CorruptCheckpointError(f"weights index {str(index)!r} is damaged") from None
            missing = [s for s in shards if not (directory / s).is_file()]
            if missing:
                raise CorruptCheckpointError(f"weights shard(s) missing from {str(directory)!r}: {', '.join(missing)}")
            return [directory / s for s in shards]
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (directory / name).is_file():
            return [directory / name]
    raise ModelSourceError(f"{str(directory)!r} has no weights (model.safetensors or pytorch_model.bin)")


def explain_pickle_refusal(paths: list[Path] | tuple[Path, ...]) -> str | None:
    """Why torch's safe loader refuses a pytorch_model.bin, when it does: a pickle that would import code."""
    try:
        import pickle

        import torch
    except ImportError:
        return None
    for path in paths:
        if path.suffix != ".bin":
            continue
        try:
            torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except pickle.UnpicklingError as exc:
            detail = next((line.strip() for line in str(exc).splitlines() if "GLOBAL" in line or "global" in line),
                          str(exc).strip().splitlines()[0] if str(exc).strip() else "unsafe pickle")
            return (f"weights file {str(path)!r} is a pickle that would run code when loaded ({detail[:160]}); "
                    "edgekit never runs it: save the checkpoint as safetensors from a trusted copy")
        except Exception:  # any other failure: not the question asked here
            continue
    return None


def check_weights(path: Path) -> None:
    """Raise CorruptCheckpointError when a weights file is truncated or not what its name says."""
    if path.suffix == ".safetensors":
        _check_safetensors(path)
    elif path.suffix == ".bin" and not zipfile.is_zipfile(path):
        raise CorruptCheckpointError(f"weights file {str(path)!r} is truncated or corrupt (not a torch zip archive); "
                                     "re-download or re-save the checkpoint")


def _check_safetensors(path: Path) -> None:
    size = path.stat().st_size
    bad = f"weights file {str(path)!r} is truncated or corrupt"
    fix = "re-download or re-save the checkpoint"
    with open(path, "rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise CorruptCheckpointError(f"{bad} ({size} bytes); {fix}")
        (header_len,) = struct.unpack("<Q", head)
        if header_len > size - 8:
            raise CorruptCheckpointError(f"{bad} (header longer than the file); {fix}")
        try:
            header = json.loads(handle.read(header_len))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise CorruptCheckpointError(f"{bad} (unreadable header); {fix}") from None
    ends = [entry["data_offsets"][1] for key, entry in header.items()
            if key != "__metadata__" and isinstance(entry, dict) and "data_offsets" in entry]
    expected = 8 + header_len + max(ends, default=0)
    if size != expected:
        raise CorruptCheckpointError(f"{bad} (expected {expected} bytes, found {size}); {fix}")


# Shape fields a loader sizes tensors by: whole numbers, at least this large.
# type_vocab_size may be 0: DeBERTa-v2 has no segment table. DistilBERT's aliases are checked too.
_SHAPE_FIELDS = {"hidden_size": 1, "num_hidden_layers": 1, "num_attention_heads": 1, "intermediate_size": 1,
                 "max_position_embeddings": 2, "vocab_size": 1, "type_vocab_size": 0, "pad_token_id": 0,
                 "dim": 1, "n_layers": 1, "n_heads": 1, "hidden_dim": 1}


def check_shape_fields(config: dict, where: str) -> None:
    for key, least in _SHAPE_FIELDS.items():
        value = config.get(key)
        if key in config and (isinstance(value, bool) or not isinstance(value, int) or value < least):
            raise CorruptCheckpointError(f"{where}: config.json's {key} is {value!r}; expected a whole number of at "
                                         f"least {least}")
    shape = encoder_shape(config)
    hidden, heads = shape.get("hidden_size"), shape.get("num_attention_heads")
    if isinstance(hidden, int) and isinstance(heads, int) and hidden % heads:
        raise CorruptCheckpointError(f"{where}: config.json's hidden_size {hidden} is not a multiple of "
                                     f"num_attention_heads {heads}")


def check_tokenizer(directory: Path) -> None:
    if not any((directory / name).is_file() for name in _TOKENIZER_FILES):
        raise ModelSourceError(f"{str(directory)!r} has no tokenizer files ({', '.join(_TOKENIZER_FILES)}); "
                               "save the tokenizer beside the model (tokenizer.save_pretrained)")
    path = directory / "tokenizer.json"
    if path.is_file():
        try:
            from tokenizers import Tokenizer
        except ImportError:
            return
        try:
            Tokenizer.from_file(str(path))
        except Exception as exc:  # the Rust side raises plain Exception for any parse error
            first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
            raise CorruptCheckpointError(f"tokenizer file {str(path)!r} is damaged or truncated ({first}); "
                                         "re-save the tokenizer (tokenizer.save_pretrained)") from None


def check_checkpoint(directory: Path) -> tuple[dict, list[Path]]:
    """Everything that can be checked before loading: returns (config, weight files)."""
    config = read_config(directory)
    check_architecture(config, repr(str(directory)))
    check_shape_fields(config, repr(str(directory)))
    weights = weight_files(directory)
    for path in weights:
        check_weights(path)
    check_tokenizer(directory)
    return config, weights


def max_sequence_length(config: dict) -> int:
    """Longest input a config's position table allows (RoBERTa offsets positions by pad_token_id + 1)."""
    positions = int(config.get("max_position_embeddings", 512))
    model_type = config.get("model_type")
    if model_type in SUPPORTED_MODEL_TYPES and get_architecture(model_type).offset_positions:
        positions -= int(config.get("pad_token_id", 1)) + 1
    return positions
