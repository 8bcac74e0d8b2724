"""Floating-point operations one sequence costs a transformer encoder, from its config.json.

Per layer, for a sequence of n tokens, hidden size d and feed-forward size ff (a multiply-add = 2 ops):

    dense projections   2 * n * (4*d*d + 2*d*ff)    Q, K, V and the output projection (4 d x d), and the
                                                    feed-forward's d x ff and ff x d
    attention           2 * 2 * n*n * d             the n x n scores Q K^T, and the scores times V
                                                    (summed over all heads: heads split d, not multiply it)

times the number of layers. Embeddings (a lookup), LayerNorm, softmax, GELU, biases and the task head are
left out: together they are a few percent at n >= 32 (the head: one d x d or d x labels matrix). So the
figure is a slight underestimate of the work, and an efficiency computed from it errs low, never high.
DistilRoBERTa (6 layers, d 768, ff 3072) at n = 128: 6 * (2*128*7,077,888 + 4*128*128*768) = 11.17e9.

An artefact whose record says prune-rows applied runs its last layer's output projection and
feed-forward on one row: 2 * (n - 1) * (d*d + 2*d*ff) fewer (9.83e9 in all for DistilRoBERTa at n = 128), so its
efficiency is not inflated by work it skips. Where prune-rows also gave the last fused Attention one query,
that layer's query projection runs on one row and its attention takes one query against n + 1 keys (the
first token's key twice, once masked): 2 * (n - 1) * d*d + 2 * 2 * (n*n - (n + 1)) * d fewer again (9.63e9).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edgekit.build.record import Record

REQUIRED_KEYS = ("num_hidden_layers", "hidden_size", "intermediate_size", "num_attention_heads")


def flops_per_sequence(*, config: dict, seq_len: int, first_row_tail: bool = False,
                       one_query_attention: bool = False) -> float | None:
    """FLOPs of one forward pass over one sequence of seq_len tokens; None if config lacks the sizes.
    first_row_tail: the last layer after attention computes the first token's row only (prune-rows);
    one_query_attention: its attention, too, computes the first token's query only."""
    from edgekit.build.checkpoint import encoder_shape

    try:
        layers, d, ff, heads = (int(encoder_shape(config)[key]) for key in REQUIRED_KEYS)
    except (KeyError, TypeError, ValueError):
        return None
    if min(layers, d, ff, heads, seq_len) < 1:
        return None
    n = seq_len
    dense = 2 * n * (4 * d * d + 2 * d * ff)
    attention = 2 * 2 * n * n * d
    skipped = 2 * (n - 1) * (d * d + 2 * d * ff) if first_row_tail else 0
    if one_query_attention:
        skipped += 2 * (n - 1) * d * d + 2 * 2 * (n * n - (n + 1)) * d
    return float(layers * (dense + attention) - skipped)


def skipped_by_record(record: Record) -> dict[str, bool]:
    """flops_per_sequence's keyword arguments for what an artefact's record says prune-rows skipped."""
    rows = record.rows
    return {"first_row_tail": bool(rows.get("applied")),
            "one_query_attention": bool((rows.get("pruned_ops") or {}).get("Attention"))}
