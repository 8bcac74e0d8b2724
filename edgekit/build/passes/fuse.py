"""The fuse pass: ONNX Runtime's transformer fusions (Attention, SkipLayerNormalization, BiasGelu, ...).

Recipe section [fuse]: embed_layer_norm fuses a BERT embedding block into EmbedLayerNormalization; targets that
quantise the word-embedding table turn it off, since the fused op holds the table where no pass can reach it.

The fused graph uses com.microsoft operators, which only ONNX Runtime runs. Its fused Attention assumes
right-padded batches, so validate it on real, right-padded text (random masks give false mismatches).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from edgekit.build.architectures import get_architecture
from edgekit.build.checkpoint import encoder_shape
from edgekit.build.onnx_files import check_model_file, needs_external_data
from edgekit.build.passes.base import ONNX, Pass
from edgekit.errors import (
    InputError,
    InvalidChoiceError,
    MissingDependencyError,
    PassError,
    RecipeError,
)

if TYPE_CHECKING:
    from edgekit.build.state import BuildState

# Fusions the optimizer can report for encoder models; every count is returned, zeros included,
# so that callers can tell "not fused" from "not asked".
FUSED_OPS = (
    "EmbedLayerNormalization",
    "Attention",
    "MultiHeadAttention",
    "Gelu",
    "FastGelu",
    "BiasGelu",
    "SkipLayerNormalization",
    "LayerNormalization",
)
MODEL_TYPES = ("bert", "bert_tf", "bert_keras")


def _require_optimizer():
    try:
        from onnxruntime.transformers.fusion_options import FusionOptions
        from onnxruntime.transformers.optimizer import optimize_model
    except ImportError as exc:  # onnxruntime.transformers needs onnx, which is in the export extra
        raise MissingDependencyError("onnx", "transformer fusion", "export") from exc
    return optimize_model, FusionOptions


def fuse_transformer(src: Path, dst: Path, *, num_heads: int, hidden_size: int, model_type: str = "bert",
                     expected: Mapping[str, int] | None = None, embed_layer_norm: bool = True) -> dict[str, int]:
    """Fuse `src` with ORT's transformer optimizer into `dst`; return the fused-op counts.

    `expected` maps op types to minimum counts (e.g. {"Attention": 6}); if any is not met, PassError is
    raised and `dst` is not written, rather than shipping a silently unfused graph.
    Python fusions only (opt_level 0): the ORT-level graph rewrites are left to session load, so the saved
    graph stays portable across execution providers.
    """
    src, dst = check_model_file(src), Path(dst)
    if model_type not in MODEL_TYPES:
        raise InvalidChoiceError("model type", model_type, MODEL_TYPES)
    if num_heads <= 0 or hidden_size <= 0 or hidden_size % num_heads:
        raise InputError(f"hidden_size ({hidden_size}) must be a positive multiple of num_heads ({num_heads})")
    unknown = sorted(set(expected or {}) - set(FUSED_OPS))
    if unknown:
        raise InvalidChoiceError("fused op", unknown[0], FUSED_OPS)

    optimize_model, FusionOptions = _require_optimizer()
    options = FusionOptions(model_type)
    options.enable_embed_layer_norm = embed_layer_norm
    optimizer = optimize_model(str(src), model_type=model_type, num_heads=num_heads,
                               hidden_size=hidden_size, opt_level=0, optimization_options=options)

    node_types = [n.op_type for n in optimizer.model.graph.node]
    counts = {op: node_types.count(op) for op in FUSED_OPS}
    missing = [(op, counts[op], want) for op, want in (expected or {}).items() if counts[op] < want]
    if missing:
        detail = "; ".join(f"{op}: found {got}, expected at least {want}" for op, got, want in missing)
        raise PassError(f"transformer fusion of {src.name} is incomplete ({detail})")

    dst.parent.mkdir(parents=True, exist_ok=True)
    optimizer.save_model_to_file(str(dst), use_external_data_format=needs_external_data(optimizer.model))
    return counts


@dataclass(frozen=True)
class FuseSettings:
    embed_layer_norm: bool = True  # EmbedLayerNormalization for BERT-style embedding blocks

    def check(self) -> None:
        if not isinstance(self.embed_layer_norm, bool):
            raise RecipeError(f"[fuse] embed_layer_norm must be true or false, got {self.embed_layer_norm!r}")


def run(state: BuildState, settings: FuseSettings) -> None:
    """An incomplete fusion is an error, never a silent pass-through."""
    shape = encoder_shape(state.model.config.to_dict())
    layers = shape["num_hidden_layers"]
    arch = get_architecture(state.model.config.model_type)
    attention = arch.expected_attention(layers)
    dst = state.scratch / "fused.onnx"
    with state.progress.step("fusing transformer ops (ONNX Runtime)"):
        counts = fuse_transformer(state.current, dst, num_heads=shape["num_attention_heads"],
                                  hidden_size=shape["hidden_size"], embed_layer_norm=settings.embed_layer_norm,
                                  expected={"Attention": attention, "SkipLayerNormalization": 2 * layers})
    gelus = counts["BiasGelu"] + counts["FastGelu"] + counts["Gelu"]
    if gelus < layers:
        raise PassError(f"transformer fusion is incomplete: {gelus} Gelu-family ops for {layers} layers")
    state.record["fusion"] = {"counts": counts, "expected": {"Attention": attention, "Gelu-family": layers,
                                                             "SkipLayerNormalization": 2 * layers}}
    if attention < layers:  # said, never silent: the record and the progress line name what stays unfused
        state.record["fusion"]["attention_not_fused"] = arch.attention_note
        state.progress.note(f"attention fused in {attention} of {layers} layers: {arch.attention_note}")
    state.current = dst


PASS = Pass(name="fuse", description="ONNX Runtime transformer fusions (com.microsoft ops); incomplete is an error",
            run=run, accepts=(ONNX,), section="fuse", settings=FuseSettings)
