"""The prune-rows pass: ops that only feed a first-token head compute that row alone.

A sequence-classification head reads <s>/[CLS] only, so the last layer's output projection and feed-forward
(and, in a fused graph, the last attention's query) need one row instead of every token's; graph.py plans and
rewrites (exactly: every op it touches works row by row), attention.py takes the last fused Attention to one
query. A per-token head keeps every row and the record says why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgekit.build.passes.base import ONNX, Pass
from edgekit.build.passes.prune_rows.graph import plan_pruning, prune_unread_rows

if TYPE_CHECKING:
    from edgekit.build.state import BuildState

__all__ = ["PASS", "plan_pruning", "prune_unread_rows"]


def run(state: BuildState, settings: None) -> None:
    feeds = state.tokenize(state.validation_texts()[:8], batch_size=4)
    src, dst = state.current, state.scratch / f"{state.current.stem}-rows.onnx"
    with state.progress.step("pruning rows no output reads"):
        info = prune_unread_rows(src, dst, check_feeds=feeds)
        unfused = state.unfused
        if info["applied"] and unfused not in (None, src):  # unfused INT8 candidates start from it
            state.unfused = state.scratch / "exported-rows.onnx"
            prune_unread_rows(unfused, state.unfused, check_feeds=feeds)
    if info["applied"]:
        if unfused == src:
            state.unfused = dst
        state.current = dst
        attention = " and the last attention its query" if info["pruned_ops"].get("Attention") else ""
        state.progress.note(f"{info['pruned_matmuls']} MatMuls after the last attention{attention} now compute "
                            f"the first token's row only (outputs differ by {info['check_max_abs_diff']:.2g})")
    else:
        state.progress.note(f"prune-rows: nothing pruned: {info['reason']}")
    state.record["rows"] = info


PASS = Pass(name="prune-rows", description="rows no output reads are not computed (first-token heads; exact)",
            run=run, accepts=(ONNX,))
