"""Model inputs for benchmarks, from real text and the artefact's own tokenizer (tokenizers library only).

Timed inputs are exactly (batch, seq_len) real tokens, no padding: each row is a different stretch of the
shipped corpus, so the model sees text like a user's, not repeated or random ids.
"""

from __future__ import annotations

import numpy as np

from edgekit.build.artefact import Artefact
from edgekit.build.checkpoint import max_sequence_length
from edgekit.build.tokenizer_files import special_tokens
from edgekit.errors import InputError

_ROW_SENTENCES = 60  # far more than 512 tokens per row


def load_tokenizer(artefact: Artefact):
    from tokenizers import Tokenizer

    path = artefact.directory / "tokenizer.json"
    if not path.is_file():
        raise InputError(f"artefact '{artefact.directory}' has no tokenizer.json; re-export it with edgekit")
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def max_positions(artefact: Artefact) -> int:
    return max_sequence_length(artefact.config())


def check_seq_lens(artefact: Artefact, seq_lens: list[int]) -> None:
    limit = max_positions(artefact)
    too_long = [n for n in seq_lens if n > limit or n < 2]
    if too_long:
        raise InputError(f"sequence length {too_long[0]} is outside 2..{limit}, the positions of "
                         f"'{artefact.directory}'; use --seq-lens between 2 and {limit}")


def fixed_length_feeds(tokenizer, texts: list[str], *, batch: int, seq_len: int) -> dict[str, np.ndarray]:
    """(batch, seq_len) ids of real text, special tokens included, every position a real token."""
    tokenizer.enable_truncation(max_length=seq_len)
    try:
        rows = []
        for row in range(batch):
            start = (row * _ROW_SENTENCES) % max(1, len(texts) - _ROW_SENTENCES)
            ids = tokenizer.encode(" ".join(texts[start:start + _ROW_SENTENCES])).ids
            if len(ids) != seq_len:
                raise InputError(f"could not make {seq_len} tokens of text for row {row}; give longer texts")
            rows.append(ids)
    finally:
        tokenizer.no_truncation()
    input_ids = np.asarray(rows, dtype=np.int64)
    return {"input_ids": input_ids, "attention_mask": np.ones_like(input_ids),
            "token_type_ids": np.zeros_like(input_ids)}


def padded_batches(artefact: Artefact, tokenizer, texts: list[str], *, batch_size: int,
                   max_length: int) -> list[dict[str, np.ndarray]]:
    """Right-padded batches in text order (fused attention kernels assume right padding)."""
    pad_token = special_tokens(artefact.directory)["pad_token"]
    pad_id = tokenizer.token_to_id(pad_token)
    if pad_id is None:
        raise InputError(f"the tokenizer of '{artefact.directory}' has no pad token {pad_token!r}")
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.enable_padding(direction="right", pad_id=pad_id, pad_token=pad_token)
    try:
        batches = []
        for start in range(0, len(texts), batch_size):
            encoded = tokenizer.encode_batch(texts[start:start + batch_size])
            ids = np.asarray([e.ids for e in encoded], dtype=np.int64)
            batches.append({"input_ids": ids,
                            "attention_mask": np.asarray([e.attention_mask for e in encoded], dtype=np.int64),
                            "token_type_ids": np.asarray([e.type_ids for e in encoded], dtype=np.int64)})
    finally:
        tokenizer.no_truncation()
        tokenizer.no_padding()
    return batches


def lengths_to_seq_lens(lengths: list[int], *, limit: int) -> tuple[list[int], dict]:
    """Sequence lengths that represent a real length distribution: its median, p90 and p99 (capped at the
    model's positions), plus the figures they came from."""
    if not lengths:
        raise InputError("--lengths-from has no texts")
    array = np.asarray(lengths)
    points = {f"p{q}": int(np.ceil(np.percentile(array, q))) for q in (50, 90, 99)}
    seq_lens = sorted({min(max(2, v), limit) for v in points.values()})
    return seq_lens, {"texts": len(lengths), **points, "max": int(array.max())}
