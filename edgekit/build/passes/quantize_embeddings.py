"""The quantize-embeddings pass: the word-embedding table in fewer bits, the smallest that keeps the budget.

DistilRoBERTa's word embeddings are 50,265 x 768 floats, 154 MB: 47% of its parameters. ONNX Runtime's INT8
quantisers leave that Gather in float (and where they do quantise it, with one scale for the whole table), so
the ONNX Runtime INT8 artefacts carried it at full size. This pass rewrites the Gather that reads the table:

- "float": as exported (the reference the others are measured against);
- "fp16": the table in float16, gathered rows cast back to float (half the bytes);
- "int8": symmetric int8 with one float scale per row; the rows and their scales are gathered, cast and
  multiplied (Gather, Cast, Mul: standard ops every ONNX Runtime build runs, mobile ones included);
- "int4": ONNX Runtime's GatherBlockQuantized (com.microsoft): 4-bit values in blocks along each row, one
  scale per block (an eighth of the bytes, plus the scales).

Only the table's values change, and only the rows a text uses are read, so each variant costs a gather of a
few rows. Every precision the recipe lists is built and validated; among those inside the budget and
within `within` of the fastest, the smallest file wins. The record keeps every candidate, the bytes saved
against float and the fidelity change. Recipe section [embeddings].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgekit.build.budget import fidelity_drop
from edgekit.build.onnx_files import check_model_file, require_onnx, save_model
from edgekit.build.passes.base import ONNX, Pass
from edgekit.errors import PassError, RecipeError

if TYPE_CHECKING:
    from edgekit.build.state import BuildState

PRECISIONS = ("float", "fp16", "int8", "int4")
INT4_BLOCK = 32  # GatherBlockQuantized's block along a row: one fp32 scale per 32 values
_PREFIX = "edgekit_embeddings"


@dataclass(frozen=True)
class EmbeddingSettings:
    # candidates; the smallest passing one within `within` wins
    precisions: tuple[str, ...] = field(default=PRECISIONS, metadata={"choices": PRECISIONS})
    within: float = 0.03  # latency slack against the fastest passing candidate (3%: below machine noise)

    def check(self) -> None:
        if not isinstance(self.precisions, tuple) or not self.precisions:
            raise RecipeError(f"[embeddings] precisions must be a non-empty list of {', '.join(PRECISIONS)}")
        unknown = [p for p in self.precisions if p not in PRECISIONS]
        if unknown:
            raise RecipeError(f"unknown embedding precision {unknown[0]!r}; valid: {', '.join(PRECISIONS)}")
        if not (isinstance(self.within, (int, float)) and not isinstance(self.within, bool) and 0 <= self.within < 1):
            raise RecipeError(f"[embeddings] within must be a fraction in [0, 1), got {self.within!r}")


def find_word_embeddings(model: Any, vocab_size: int | None = None) -> tuple[Any, Any]:
    """(the Gather node, the table initializer) of the word embeddings: a Gather on axis 0 of a 2-D float
    initializer whose indices are a graph input, the largest such table (with vocab_size rows if given)."""
    onnx = require_onnx("embedding quantisation")
    inits = {t.name: t for t in model.graph.initializer}
    inputs = {i.name for i in model.graph.input}
    found = []
    for node in model.graph.node:
        if node.op_type != "Gather" or node.input[0] not in inits or node.input[1] not in inputs:
            continue
        axis = next((onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == "axis"), 0)
        table = inits[node.input[0]]
        if axis == 0 and len(table.dims) == 2 and table.data_type == onnx.TensorProto.FLOAT:
            if vocab_size is None or table.dims[0] == vocab_size:
                found.append((node, table))
    if not found:
        fused = [n.op_type for n in model.graph.node if n.op_type in ("EmbedLayerNormalization",)]
        hint = (" (the fused EmbedLayerNormalization holds it: fuse with embed_layer_norm = false)" if fused else "")
        raise PassError(f"no word-embedding Gather on the token ids was found{hint}")
    return max(found, key=lambda item: item[1].dims[0] * item[1].dims[1])


def quantize_word_embeddings(src: Path, dst: Path, *, precision: str, vocab_size: int | None = None) -> dict:
    """Write dst with the word-embedding table of src in `precision`; returns the table's bytes before and
    after, and the largest absolute rounding error of a table value."""
    if precision not in PRECISIONS:
        raise RecipeError(f"unknown embedding precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    onnx = require_onnx("embedding quantisation")
    model = onnx.load(str(check_model_file(src)))
    gather, table = find_word_embeddings(model, vocab_size)
    weights = onnx.numpy_helper.to_array(table)
    info = {"precision": precision, "table": table.name, "shape": list(weights.shape),
            "float_bytes": int(weights.nbytes)}
    if precision == "float":
        save_model(model, dst)
        return {**info, "bytes": int(weights.nbytes), "max_abs_error": 0.0}
    nodes, initializers, restored = _REWRITES[precision](onnx, gather, weights)
    nodes[-1].output[0] = gather.output[0]  # the last new node writes what the Gather wrote
    _replace(model, gather, nodes, table, initializers)
    save_model(model, dst)
    return {**info, "bytes": int(sum(a.nbytes for a in initializers.values())),
            "max_abs_error": float(np.max(np.abs(restored - weights)))}


def _replace(model: Any, gather: Any, nodes: list, table: Any, initializers: dict[str, np.ndarray]) -> None:
    onnx = require_onnx("embedding quantisation")
    index = list(model.graph.node).index(gather)
    del model.graph.node[index]
    for offset, node in enumerate(nodes):
        model.graph.node.insert(index + offset, node)
    if not any(table.name in n.input for n in model.graph.node):
        model.graph.initializer.remove(table)
    model.graph.initializer.extend(onnx.numpy_helper.from_array(value, name) for name, value in initializers.items())


def _fp16(onnx: Any, gather: Any, weights: np.ndarray):
    helper, ids = onnx.helper, gather.input[1]
    half = weights.astype(np.float16)
    nodes = [helper.make_node("Gather", [f"{_PREFIX}/table_fp16", ids], [f"{_PREFIX}/rows_fp16"],
                              name=f"{_PREFIX}/Gather", axis=0),
             helper.make_node("Cast", [f"{_PREFIX}/rows_fp16"], ["_"], name=f"{_PREFIX}/Cast",
                              to=onnx.TensorProto.FLOAT)]
    return nodes, {f"{_PREFIX}/table_fp16": half}, half.astype(np.float32)


def _int8(onnx: Any, gather: Any, weights: np.ndarray):
    helper, ids = onnx.helper, gather.input[1]
    scale = np.maximum(np.abs(weights).max(axis=1, keepdims=True), 1e-12) / 127.0
    values = np.clip(np.rint(weights / scale), -127, 127).astype(np.int8)
    nodes = [helper.make_node("Gather", [f"{_PREFIX}/table_int8", ids], [f"{_PREFIX}/rows_int8"],
                              name=f"{_PREFIX}/Gather", axis=0),
             helper.make_node("Gather", [f"{_PREFIX}/row_scales", ids], [f"{_PREFIX}/scales"],
                              name=f"{_PREFIX}/GatherScales", axis=0),
             helper.make_node("Cast", [f"{_PREFIX}/rows_int8"], [f"{_PREFIX}/rows"], name=f"{_PREFIX}/Cast",
                              to=onnx.TensorProto.FLOAT),
             helper.make_node("Mul", [f"{_PREFIX}/rows", f"{_PREFIX}/scales"], ["_"], name=f"{_PREFIX}/Mul")]
    restored = values.astype(np.float32) * scale.astype(np.float32)
    return nodes, {f"{_PREFIX}/table_int8": values, f"{_PREFIX}/row_scales": scale.astype(np.float32)}, restored


def _int4(onnx: Any, gather: Any, weights: np.ndarray):
    """Symmetric 4-bit blocks: values -8..7 stored as unsigned nibbles with zero point 8, low nibble first."""
    helper, ids = onnx.helper, gather.input[1]
    rows, width = weights.shape
    if width % INT4_BLOCK or width % 2:
        raise PassError(f"int4 embeddings need a width divisible by {INT4_BLOCK}, got {width}")
    blocks = weights.reshape(rows, width // INT4_BLOCK, INT4_BLOCK)
    scale = np.maximum(np.abs(blocks).max(axis=2), 1e-12) / 7.0
    values = np.clip(np.rint(blocks / scale[..., None]), -8, 7).astype(np.int8).reshape(rows, width)
    nibbles = (values + 8).astype(np.uint8)
    packed = (nibbles[:, 0::2] | (nibbles[:, 1::2] << 4)).astype(np.uint8)
    node = helper.make_node("GatherBlockQuantized", [f"{_PREFIX}/table_int4", ids, f"{_PREFIX}/block_scales"],
                            ["_"], name=f"{_PREFIX}/GatherBlockQuantized", domain="com.microsoft",
                            gather_axis=0, quantize_axis=1, block_size=INT4_BLOCK, bits=4)
    restored = (values.reshape(rows, width // INT4_BLOCK, INT4_BLOCK) * scale[..., None]).reshape(rows, width)
    return [node], {f"{_PREFIX}/table_int4": packed, f"{_PREFIX}/block_scales": scale.astype(np.float32)}, \
        restored.astype(np.float32)


_REWRITES = {"fp16": _fp16, "int8": _int8, "int4": _int4}


def run(state: BuildState, settings: EmbeddingSettings) -> None:
    from edgekit.build.search import Candidate, gated_search

    budget = state.validate_settings.budget
    vocab = getattr(state.model.config, "vocab_size", None)
    infos: dict[str, dict] = {}

    def builder(precision: str):
        def build(dst: Path) -> None:
            infos[precision] = quantize_word_embeddings(state.current, dst, precision=precision, vocab_size=vocab)
            infos[precision]["file_bytes"] = dst.stat().st_size
        return build

    width = _table_width(state.current, vocab)
    skipped = {p: why for p in settings.precisions if (why := not_applicable(p, width))}
    candidates = [Candidate(label=p, build=builder(p)) for p in settings.precisions if p not in skipped]
    with state.progress.bar(f"building and validating {len(candidates)} embedding precisions", len(candidates)) as tick:
        result = gated_search(candidates, evaluate=lambda path: _ticked(state.evaluate(path), tick),
                              passes=budget.passes, score=budget.score, work_dir=state.scratch / "embeddings",
                              latency=lambda paths: state.timing_samples(paths, compute_bound=False),
                              keep_all=True)
    passing = [o for o in result.outcomes if o.passed]
    if not passing:
        raise PassError("no embedding precision met the accuracy budget, float included: "
                        + "; ".join(budget.failures(result.chosen.figures)))
    fastest = min(o.latency_ms or 0.0 for o in passing)  # one passing precision is not timed
    near = [o for o in passing if (o.latency_ms or 0.0) <= fastest * (1 + settings.within)]
    chosen = min(near, key=lambda o: infos[o.label]["file_bytes"])
    reference = next((o for o in result.outcomes if o.label == "float"), None)
    state.record["embeddings"] = {
        "chosen": chosen.label, "table": infos[chosen.label]["table"], "shape": infos[chosen.label]["shape"],
        "float_bytes": infos[chosen.label]["float_bytes"], "bytes": infos[chosen.label]["bytes"],
        "bytes_saved": infos[chosen.label]["float_bytes"] - infos[chosen.label]["bytes"],
        "fidelity_change": None if reference is None else fidelity_drop(chosen.figures) - fidelity_drop(reference.figures),
        "rule": f"the smallest passing precision within {settings.within:.0%} of the fastest passing one",
        "timing": state.timing_measure(compute_bound=False),
        "not_applicable": skipped,
        "candidates": [{"precision": o.label, "passed": o.passed, "latency_ms": o.latency_ms,
                        "file_bytes": infos[o.label]["file_bytes"], "max_abs_error": infos[o.label]["max_abs_error"],
                        "figures": dict(o.figures)} for o in result.outcomes],
    }
    state.current = chosen.path


def not_applicable(precision: str, width: int) -> str | None:
    """Why `precision` cannot hold a table `width` values wide, or None."""
    if precision == "int4" and (width % INT4_BLOCK or width % 2):
        return f"int4 blocks are {INT4_BLOCK} values; the table is {width} wide"
    return None


def _table_width(path: Path, vocab_size: int | None) -> int:
    onnx = require_onnx("embedding quantisation")
    _, table = find_word_embeddings(onnx.load(str(path), load_external_data=False), vocab_size)
    return int(table.dims[1])


def _ticked(figures: dict, tick) -> dict:
    tick(1)
    return figures


PASS = Pass(name="quantize-embeddings", description="the word-embedding table in the fewest bits that keep the budget",
            run=run, accepts=(ONNX,), section="embeddings", settings=EmbeddingSettings)
