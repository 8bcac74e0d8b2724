"""ONNX Runtime passes on a tiny random RoBERTa: fusion, INT8 (dynamic, static QDQ), outlier split,
ORT format, and the gated search (the latter with stand-in callables, no models)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from edgekit.errors import InputError, InvalidChoiceError, PassError

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

LAYERS, HEADS, HIDDEN = 2, 4, 32


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory) -> Path:
    import torch
    from transformers import RobertaConfig, RobertaModel

    class LastHidden(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    config = RobertaConfig(vocab_size=300, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                           intermediate_size=37, max_position_embeddings=514, type_vocab_size=1, pad_token_id=1)
    torch.manual_seed(0)
    model = RobertaModel(config, add_pooling_layer=False).eval()
    path = tmp_path_factory.mktemp("tiny_ort") / "model.onnx"
    ids = torch.randint(3, 300, (2, 16))
    names = ["input_ids", "attention_mask", "last_hidden_state"]
    torch.onnx.export(LastHidden(model), (ids, torch.ones_like(ids)), str(path), input_names=names[:2],
                      output_names=names[2:], dynamic_axes={n: {0: "batch", 1: "sequence"} for n in names},
                      opset_version=17, dynamo=False)
    return path


@pytest.fixture(scope="module")
def tiny_fused(tiny_onnx) -> Path:
    from edgekit.build.passes.fuse import fuse_transformer

    dst = tiny_onnx.with_name("fused.onnx")
    fuse_transformer(tiny_onnx, dst, num_heads=HEADS, hidden_size=HIDDEN)
    return dst


def feeds(seed: int = 0, batch: int = 4) -> dict[str, np.ndarray]:
    """Right-padded batch (fused Attention assumes right padding), lengths 5..20, pad id 1."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(5, 21, batch)
    ids = np.ones((batch, lengths.max()), np.int64)
    mask = np.zeros_like(ids)
    for row, n in enumerate(lengths):
        ids[row, :n] = np.concatenate([[0], rng.integers(5, 300, n - 2), [2]])
        mask[row, :n] = 1
    return {"input_ids": ids, "attention_mask": mask}


def run(path: Path, feed: dict[str, np.ndarray]) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, feed)[0]


def pooled_cosine(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> np.ndarray:
    def pool(h):
        e = (h * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        return e / np.linalg.norm(e, axis=1, keepdims=True)

    return (pool(a) * pool(b)).sum(1)


def op_counts(path: Path) -> Counter:
    return Counter(n.op_type for n in onnx.load(str(path), load_external_data=False).graph.node)


# -- fusion ---------------------------------------------------------------------------------------

def test_fuse_counts_and_numerics(tiny_onnx, tiny_fused):
    counts = op_counts(tiny_fused)
    assert counts["Attention"] == LAYERS
    assert counts["SkipLayerNormalization"] == 2 * LAYERS  # after attention and after the FFN
    assert counts["BiasGelu"] == LAYERS
    assert counts["MatMul"] == 3 * LAYERS  # attention output, FFN in, FFN out; QKV live inside Attention
    feed = feeds()
    real = feed["attention_mask"].astype(bool)
    diff = np.abs(run(tiny_onnx, feed) - run(tiny_fused, feed))[real]
    assert diff.max() < 1e-4


def test_fuse_returns_counts_and_checks_expected(tiny_onnx, tmp_path):
    from edgekit.build.passes.fuse import fuse_transformer

    counts = fuse_transformer(tiny_onnx, tmp_path / "ok.onnx", num_heads=HEADS, hidden_size=HIDDEN,
                              expected={"Attention": LAYERS, "SkipLayerNormalization": 2 * LAYERS})
    assert counts["Attention"] == LAYERS and counts["EmbedLayerNormalization"] == 0
    dst = tmp_path / "bad.onnx"
    with pytest.raises(PassError, match=r"Attention: found 2, expected at least 3"):
        fuse_transformer(tiny_onnx, dst, num_heads=HEADS, hidden_size=HIDDEN, expected={"Attention": 3})
    assert not dst.exists()  # an incomplete fusion is not written


def test_fuse_rejects_bad_arguments(tiny_onnx, tmp_path):
    from edgekit.build.passes.fuse import fuse_transformer

    with pytest.raises(InvalidChoiceError):
        fuse_transformer(tiny_onnx, tmp_path / "x.onnx", num_heads=HEADS, hidden_size=HIDDEN, model_type="gpt2")
    with pytest.raises(InvalidChoiceError):
        fuse_transformer(tiny_onnx, tmp_path / "x.onnx", num_heads=HEADS, hidden_size=HIDDEN,
                         expected={"Attenshun": 1})
    with pytest.raises(InputError):
        fuse_transformer(tiny_onnx, tmp_path / "x.onnx", num_heads=5, hidden_size=HIDDEN)
    with pytest.raises(InputError):
        fuse_transformer(tmp_path / "missing.onnx", tmp_path / "x.onnx", num_heads=HEADS, hidden_size=HIDDEN)


# -- dynamic INT8 ---------------------------------------------------------------------------------

def test_dynamic_on_fused_graph(tiny_onnx, tiny_fused, tmp_path):
    from edgekit.build.passes.quantize_ort.int8 import quantize_dynamic_int8

    dst = tmp_path / "dyn.onnx"
    info = quantize_dynamic_int8(tiny_fused, dst, per_channel=True, reduce_range=False)
    counts = op_counts(dst)
    assert counts["QAttention"] == LAYERS and counts["MatMulInteger"] == 3 * LAYERS
    assert counts["MatMul"] == 0 and counts["Attention"] == 0
    assert info["quantized_matmuls"] == 4 * LAYERS and info["per_channel"] and info["mode"] == "dynamic"
    feed = feeds(1)
    cos = pooled_cosine(run(tiny_onnx, feed), run(dst, feed), feed["attention_mask"])
    assert cos.min() > 0.99


def test_dynamic_excluded_nodes_stay_float(tiny_fused, tmp_path):
    from edgekit.build.passes.quantize_ort.int8 import quantize_dynamic_int8, weight_matmuls

    candidates = weight_matmuls(tiny_fused)
    assert len(candidates) == 4 * LAYERS
    keep = [n for n in candidates if n.endswith("output/dense/MatMul") and "attention" not in n] + ["Attention_0"]
    dst = tmp_path / "dyn_excl.onnx"
    info = quantize_dynamic_int8(tiny_fused, dst, per_channel=False, reduce_range=False, nodes_to_exclude=keep)
    graph = onnx.load(str(dst)).graph
    by_name = {n.name: n for n in graph.node}
    floats = {t.name: t.data_type for t in graph.initializer}
    for name in keep:
        assert by_name[name].op_type in ("MatMul", "Attention")
        assert floats[by_name[name].input[1]] == onnx.TensorProto.FLOAT
    assert info["quantized_matmuls"] == 4 * LAYERS - len(keep) and info["excluded"] == keep
    with pytest.raises(InputError, match="not in the graph"):
        quantize_dynamic_int8(tiny_fused, tmp_path / "typo.onnx", per_channel=True, nodes_to_exclude=["nope"])


def test_dynamic_reduce_range_follows_cpu(tiny_fused, tmp_path, monkeypatch):
    from edgekit.build.passes.quantize_ort import int8 as ort_quantize

    monkeypatch.setattr(ort_quantize.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(ort_quantize, "has_vnni", lambda: False)
    info = ort_quantize.quantize_dynamic_int8(tiny_fused, tmp_path / "rr.onnx", per_channel=True)
    assert info["reduce_range"] is True and "VNNI" in info["reduce_range_reason"]
    monkeypatch.setattr(ort_quantize, "has_vnni", lambda: True)
    assert ort_quantize.quantize_dynamic_int8(tiny_fused, tmp_path / "rr2.onnx", per_channel=True)["reduce_range"] is False


def test_cpu_has_vnni_reads_flags(tmp_path):
    from edgekit.runtime.cpu import has_vnni as cpu_has_vnni

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_vnni\n")
    assert cpu_has_vnni(info) is True
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f\n")
    assert cpu_has_vnni(info) is False
    info.write_text("processor\t: 0\nFeatures\t: fp asimd asimddp\n")  # ARM: not applicable
    assert cpu_has_vnni(info) is None
    assert cpu_has_vnni(tmp_path / "absent") is None


# -- static QDQ -----------------------------------------------------------------------------------

def calibration() -> list[dict[str, np.ndarray]]:
    return [feeds(seed) for seed in range(10, 14)]  # lengths differ between batches on purpose


@pytest.mark.parametrize("method", ["minmax", "entropy", "percentile"])
def test_static_qdq_methods(tiny_onnx, tmp_path, method):
    from edgekit.build.passes.quantize_ort.int8 import quantize_static_qdq

    dst = tmp_path / f"qdq_{method}.onnx"
    info = quantize_static_qdq(tiny_onnx, dst, calibration_feeds=calibration(), method=method, per_channel=True,
                               pad_values={"input_ids": 1})
    graph = onnx.load(str(dst)).graph
    producers = {o: n.op_type for n in graph.node for o in n.output}
    matmuls = [n for n in graph.node if n.op_type == "MatMul"]
    weighted = [n for n in matmuls if producers.get(n.input[1]) == "DequantizeLinear"]
    activation_only = [n for n in matmuls if producers.get(n.input[1]) != "DequantizeLinear"]
    assert info["quantized_matmuls"] == len(weighted) == 6 * LAYERS  # Q, K, V, out, FFN in, FFN out
    assert len(activation_only) == 2 * LAYERS  # Q.K^T and P.V stay float
    assert all(producers.get(n.input[0]) != "DequantizeLinear" for n in activation_only)
    assert op_counts(dst)["QuantizeLinear"] > 0
    feed = feeds(2)
    cos = pooled_cosine(run(tiny_onnx, feed), run(dst, feed), feed["attention_mask"])
    assert cos.min() > 0.95


def test_static_qdq_s8s8_on_fused_graph_with_exclusion(tiny_fused, tmp_path):
    from edgekit.build.passes.quantize_ort.int8 import quantize_static_qdq, weight_matmuls

    excluded = weight_matmuls(tiny_fused)[1:2]
    dst = tmp_path / "s8s8.onnx"
    info = quantize_static_qdq(tiny_fused, dst, calibration_feeds=calibration(), method="minmax", per_channel=True,
                               activation_type="s8", weight_type="s8", nodes_to_exclude=excluded)
    assert info["reduce_range"] is False  # S8S8 cannot saturate
    graph = onnx.load(str(dst)).graph
    producers = {o: n.op_type for n in graph.node for o in n.output}
    node = next(n for n in graph.node if n.name == excluded[0])
    assert producers.get(node.input[0]) != "DequantizeLinear"
    # Activations after com.microsoft ops are quantised too (both MatMul inputs dequantised), not weights only.
    both = [n for n in graph.node if n.op_type == "MatMul"
            and all(producers.get(i) == "DequantizeLinear" for i in n.input)]
    assert info["quantized_matmuls"] == len(both) == 3 * LAYERS - 1  # QKV stay in the float Attention op


def test_static_qdq_refuses_weight_only_result(tiny_fused, tmp_path, monkeypatch):
    from edgekit.build.passes.quantize_ort import int8 as ort_quantize

    # Without symbolic typing the quantiser cannot type activations after com.microsoft ops and would
    # silently round the weights only; the pass must say so instead.
    monkeypatch.setattr(ort_quantize, "_typed", lambda onnx_module, src: str(src))
    dst = tmp_path / "weights_only.onnx"
    with pytest.raises(PassError, match="left the activations"):
        ort_quantize.quantize_static_qdq(tiny_fused, dst, calibration_feeds=calibration(), method="minmax",
                                         per_channel=True)
    assert not dst.exists()


def test_static_qdq_calibration_cache_is_reused(tiny_onnx, tmp_path):
    from edgekit.build.passes.quantize_ort.int8 import quantize_static_qdq

    cache = tmp_path / "ranges.json"
    first, second = tmp_path / "a.onnx", tmp_path / "b.onnx"
    quantize_static_qdq(tiny_onnx, first, calibration_feeds=calibration(), method="percentile", per_channel=True,
                        calibration_cache=cache)
    assert cache.is_file()
    # Different feeds, same cache: the cached ranges are used, so the models are identical.
    quantize_static_qdq(tiny_onnx, second, calibration_feeds=[feeds(99)], method="percentile", per_channel=True,
                        calibration_cache=cache)
    assert first.read_bytes() == second.read_bytes()


def test_static_qdq_validates_choices(tiny_onnx, tmp_path):
    from edgekit.build.passes.quantize_ort.int8 import quantize_static_qdq

    with pytest.raises(InvalidChoiceError, match="calibration method"):
        quantize_static_qdq(tiny_onnx, tmp_path / "x.onnx", calibration_feeds=calibration(), method="kl",
                            per_channel=True)
    with pytest.raises(InvalidChoiceError, match="activation type"):
        quantize_static_qdq(tiny_onnx, tmp_path / "x.onnx", calibration_feeds=calibration(), method="minmax",
                            per_channel=True, activation_type="int4")
    with pytest.raises(InputError, match="empty"):
        quantize_static_qdq(tiny_onnx, tmp_path / "x.onnx", calibration_feeds=[], method="minmax", per_channel=True)


def test_uniform_feeds_pads_rows():
    from edgekit.build.passes.quantize_ort.int8 import uniform_feeds

    rows = uniform_feeds([feeds(0, 2), feeds(1, 3)], pad_values={"input_ids": 1})
    assert len(rows) == 5 and len({r["input_ids"].shape for r in rows}) == 1
    longest = rows[0]["input_ids"].shape[1]
    short = min(rows, key=lambda r: r["attention_mask"].sum())
    n = int(short["attention_mask"].sum())
    assert n < longest and (short["input_ids"][0, n:] == 1).all() and (short["attention_mask"][0, n:] == 0).all()


# -- fused kernels split back into standard ops ----------------------------------------------------

def test_split_fused_ops_is_exact_and_survives_load(tiny_fused, tmp_path):
    from edgekit.build.passes.split_kernels.forms import loaded_op_counts, split_fused_ops

    ln_split, both_split = tmp_path / "split_ln.onnx", tmp_path / "split_both.onnx"
    assert split_fused_ops(tiny_fused, ln_split, op_type="SkipLayerNormalization") == 2 * LAYERS
    assert split_fused_ops(ln_split, both_split, op_type="BiasGelu") == LAYERS
    before, counts = op_counts(tiny_fused), op_counts(both_split)
    assert counts["SkipLayerNormalization"] == 0 and counts["BiasGelu"] == 0
    assert counts["LayerNormalization"] == before["LayerNormalization"] + 2 * LAYERS
    assert counts["Gelu"] == LAYERS and counts["Attention"] == LAYERS, "other fusions untouched"
    feed = feeds(5)
    real = feed["attention_mask"].astype(bool)
    assert np.abs(run(tiny_fused, feed) - run(both_split, feed))[real].max() < 1e-5
    # The residual-first Add chain stays split at load. A float graph's Add + Gelu is fused back into
    # BiasGelu, which is why the pass checks the graph ORT actually runs before keeping a split.
    loaded = loaded_op_counts(both_split)
    assert loaded["SkipLayerNormalization"] == 0 and loaded["LayerNormalization"] >= 2 * LAYERS
    assert loaded["BiasGelu"] == LAYERS
    assert loaded_op_counts(tiny_fused)["SkipLayerNormalization"] == 2 * LAYERS


def test_splits_survive_dynamic_int8(tiny_fused, tmp_path):
    from edgekit.build.passes.quantize_ort.int8 import quantize_dynamic_int8
    from edgekit.build.passes.split_kernels.forms import loaded_op_counts, split_fused_ops

    ln_split, both_split, dst = tmp_path / "ln.onnx", tmp_path / "both.onnx", tmp_path / "int8.onnx"
    split_fused_ops(tiny_fused, ln_split, op_type="SkipLayerNormalization")
    split_fused_ops(ln_split, both_split, op_type="BiasGelu")
    quantize_dynamic_int8(both_split, dst, per_channel=True, reduce_range=False)
    loaded = loaded_op_counts(dst)
    assert loaded["SkipLayerNormalization"] == 0 and loaded["BiasGelu"] == 0 and loaded["QAttention"] == LAYERS
    # The Gelu's bias Add joins the INT8 MatMul before it: only the residual and LayerNorm-bias Adds stay.
    assert loaded["DynamicQuantizeMatMul"] == 3 * LAYERS and loaded["Gelu"] == LAYERS


def _skip_layernorm_graph(tmp_path, *, use_mean: bool) -> Path:
    from onnx import TensorProto, helper, numpy_helper

    hidden = 8
    weights = [numpy_helper.from_array(np.full(hidden, 1.0, np.float32), "gamma"),
               numpy_helper.from_array(np.zeros(hidden, np.float32), "beta")]
    outputs = ["y", "mean"] if use_mean else ["y"]
    nodes = [helper.make_node("SkipLayerNormalization", ["x", "skip", "gamma", "beta"], outputs, name="sln",
                              domain="com.microsoft", epsilon=1e-5)]
    if use_mean:
        nodes.append(helper.make_node("Identity", ["mean"], ["m"]))
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 4, hidden]) for n in ("x", "skip")]
    graph_outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ["y", "m"][:1 + use_mean]]
    model = helper.make_model(helper.make_graph(nodes, "g", inputs, graph_outputs, initializer=weights),
                              opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    path = tmp_path / f"sln_{use_mean}.onnx"
    onnx.save(model, str(path))
    return path


def test_split_without_bias_matches_and_refuses_used_statistics(tmp_path):
    from edgekit.build.passes.split_kernels.forms import split_fused_ops

    src, dst = _skip_layernorm_graph(tmp_path, use_mean=False), tmp_path / "split.onnx"
    assert split_fused_ops(src, dst, op_type="SkipLayerNormalization") == 1
    assert op_counts(dst) == Counter({"Add": 1, "LayerNormalization": 1}), "no bias input: one Add"
    rng = np.random.default_rng(0)
    feed = {n: rng.standard_normal((1, 4, 8), dtype=np.float32) for n in ("x", "skip")}
    assert np.abs(run(src, feed) - run(dst, feed)).max() < 1e-5
    with pytest.raises(PassError, match="sln: its mean/inv_std_var outputs are used"):
        split_fused_ops(_skip_layernorm_graph(tmp_path, use_mean=True), tmp_path / "x.onnx",
                        op_type="SkipLayerNormalization")
    with pytest.raises(InputError, match="not found"):
        split_fused_ops(tmp_path / "missing.onnx", tmp_path / "x.onnx", op_type="BiasGelu")
    with pytest.raises(InvalidChoiceError, match="'Attention'.*SkipLayerNormalization, BiasGelu"):
        split_fused_ops(src, tmp_path / "x.onnx", op_type="Attention")


@pytest.mark.parametrize("op_type, absorbed", [("SkipLayerNormalization", False), ("BiasGelu", False),
                                               ("BiasGelu", True)])
def test_time_fused_and_split_reports_both_forms(op_type, absorbed):
    from edgekit.build.passes.split_kernels.forms import _kernel_model, time_fused_and_split

    timing = time_fused_and_split(op_type, 16, tokens=8, rounds=5, bias_absorbed=absorbed)
    assert set(timing) == {"fused_ms", "split_ms"} and all(v > 0 for v in timing.values())
    split = onnx.load_from_string(_kernel_model(onnx, op_type, 16, fused=False, bias_absorbed=absorbed))
    ops = [n.op_type for n in split.graph.node]
    expected = {"SkipLayerNormalization": ["Add", "Add", "LayerNormalization"], "BiasGelu": ["Add", "Gelu"]}[op_type]
    assert ops == (["Gelu"] if absorbed else expected)


# -- outlier split --------------------------------------------------------------------------------

def test_outlier_split_is_exact_and_kept_float(tiny_onnx, tiny_fused, tmp_path):
    from edgekit.build.passes.quantize_ort.outliers import split_outlier_channels
    from edgekit.build.passes.quantize_ort.int8 import quantize_dynamic_int8

    split = tmp_path / "split.onnx"
    # Random weights have no real outliers: a low threshold forces a few channels per MatMul.
    info = split_outlier_channels(tiny_fused, split, calibration_feeds=calibration(), threshold=1.5, max_channels=3)
    assert info["channels"] and all(1 <= k <= 3 for k in info["channels"].values())
    feed = feeds(3)
    real = feed["attention_mask"].astype(bool)
    assert np.abs(run(tiny_fused, feed) - run(split, feed))[real].max() < 1e-4
    dst = tmp_path / "split_int8.onnx"
    quantize_dynamic_int8(split, dst, per_channel=True, reduce_range=False, nodes_to_exclude=info["float_nodes"])
    types = {n.name: n.op_type for n in onnx.load(str(dst)).graph.node}
    assert all(types[name] == "MatMul" for name in info["float_nodes"])
    assert Counter(types.values())["MatMulInteger"] == 3 * LAYERS
    cos = pooled_cosine(run(tiny_onnx, feed), run(dst, feed), feed["attention_mask"])
    assert cos.min() > 0.99


# -- ORT format (ARM) -----------------------------------------------------------------------------

def test_ort_format_arm_s8s8(tiny_onnx, tmp_path):
    from edgekit.build.passes.ort_format import convert_to_ort_format
    from edgekit.build.passes.quantize_ort.int8 import quantize_static_qdq

    qdq = tmp_path / "arm" / "model.onnx"
    quantize_static_qdq(tiny_onnx, qdq, calibration_feeds=calibration(), method="minmax", per_channel=True,
                        activation_type="s8", weight_type="s8")
    paths = convert_to_ort_format(qdq, tmp_path / "ort", target_platform="arm")
    assert paths["ort"].suffix == ".ort" and paths["ort"].stat().st_size > 0
    config = paths["config"].read_text()
    assert "ai.onnx" in config and "MatMul" in config
    feed = feeds(4)
    cos = pooled_cosine(run(tiny_onnx, feed), run(paths["ort"], feed), feed["attention_mask"])
    assert cos.min() > 0.95
    with pytest.raises(InvalidChoiceError):
        convert_to_ort_format(qdq, tmp_path / "ort2", target_platform="riscv")


# -- sensitivity and gated search (stand-in callables: no ONNX involved) ----------------------------

DAMAGE = {"a": 0.004, "b": 0.0005, "c": 0.002, "d": 0.0001}


def fake_build(excluded, dst: Path) -> None:
    dst.write_text(",".join(sorted(excluded)))


def fake_evaluate(path: Path) -> dict[str, float]:
    kept = set(filter(None, path.read_text().split(",")))
    return {"cos": 1.0 - sum(v for k, v in DAMAGE.items() if k not in kept), "float": len(kept)}


def test_rank_sensitivity_orders_by_damage(tmp_path):
    from edgekit.build.search import rank_sensitivity

    ranking = rank_sensitivity(candidates=list(DAMAGE), build=fake_build, evaluate=fake_evaluate,
                               score=lambda f: f["cos"], work_dir=tmp_path)
    assert [n for n, _ in ranking] == ["a", "c", "b", "d"]
    assert ranking[0][1] == pytest.approx(1 - DAMAGE["a"])
    assert not list(tmp_path.iterdir())  # the probe model is cleaned up


def test_gated_search_picks_fastest_passing(tmp_path):
    from edgekit.build.search import exclusion_candidates, gated_search

    candidates = exclusion_candidates(ranking=["a", "c", "b", "d"], build=fake_build, sizes=(0, 1, 2, 3, 4))
    # Passing needs cos >= 0.997: k=1 (a float) already passes; k=2 passes too but is timed faster here.
    times = {"int8-float1": 30.0, "int8-float2": 20.0, "int8-float3": 25.0, "int8-float4": 40.0}
    result = gated_search(candidates, evaluate=fake_evaluate, passes=lambda f: f["cos"] >= 0.997,
                          score=lambda f: f["cos"], work_dir=tmp_path,
                          latency=lambda paths: [noisy(times[p.stem]) for p in paths])
    assert result.passed and result.chosen.label == "int8-float2" and result.choice == "the fastest"
    assert result.chosen.latency_ms == pytest.approx(20.0, rel=0.02)
    assert result.chosen.excluded == ("a", "c")
    assert [o.label for o in result.outcomes if o.passed] == ["int8-float1", "int8-float2", "int8-float3",
                                                               "int8-float4"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["int8-float2.onnx"]  # losers deleted
    assert sum(row["chosen"] for row in result.summary()) == 1


def noisy(ms: float, rounds: int = 15, spread: float = 0.03) -> list[float]:
    """Per-round samples around ms, the same noise pattern for every model (as paired rounds give)."""
    return [ms * (1 + spread * ((7 * i) % 5 - 2) / 2) for i in range(rounds)]


@pytest.mark.parametrize("earlier_ms, spread, chosen, why", [
    (20.6, 0.04, "int8-float1", "tied"),  # 3% slower, and rounds where it was faster: a tie
    (21.6, 0.10, "int8-float2", "fastest"),  # 8% slower: beyond TIE_WITHIN however noisy
    (20.6, 0.01, "int8-float2", "fastest"),  # 3% slower in every round: outside the noise
])
def test_gated_search_breaks_ties_toward_the_earlier_candidate(tmp_path, earlier_ms, spread, chosen, why):
    from edgekit.build.search import exclusion_candidates, gated_search

    candidates = exclusion_candidates(ranking=["a", "c", "b", "d"], build=fake_build, sizes=(1, 2))
    jitter = [1 - spread, 1.0, 1 + spread] * 5  # the earlier candidate's rounds against the later one's steady 20 ms
    latency = lambda paths: [[earlier_ms * j for j in jitter] if p.stem == "int8-float1" else [20.0] * 15
                             for p in paths]  # noqa: E731
    result = gated_search(candidates, evaluate=fake_evaluate, passes=lambda f: f["cos"] >= 0.997,
                          score=lambda f: f["cos"], work_dir=tmp_path, latency=latency)
    assert result.chosen.label == chosen and why in result.choice
    earlier = result.outcomes[0]
    assert earlier.vs_fastest["median"] == pytest.approx(earlier_ms / 20.0, rel=1e-3)
    assert result.summary()[0]["vs_fastest"] == earlier.vs_fastest


def test_gated_search_without_latency_takes_the_first_passing(tmp_path):
    from edgekit.build.search import exclusion_candidates, gated_search

    candidates = exclusion_candidates(ranking=["a", "c", "b", "d"], build=fake_build, sizes=(0, 1, 2, 3))
    result = gated_search(candidates, evaluate=fake_evaluate, passes=lambda f: f["cos"] >= 0.997,
                          score=lambda f: f["cos"], work_dir=tmp_path, latency=None)
    assert result.chosen.label == "int8-float1" and result.choice == "the first passing candidate"
    assert all(o.latency_ms is None for o in result.outcomes)


def test_gated_search_rejects_unpaired_samples(tmp_path):
    from edgekit.build.search import exclusion_candidates, gated_search

    candidates = exclusion_candidates(ranking=["a", "c", "b", "d"], build=fake_build, sizes=(1, 2))
    with pytest.raises(InputError, match="paired samples"):
        gated_search(candidates, evaluate=fake_evaluate, passes=lambda f: True, score=lambda f: 0.0,
                     latency=lambda paths: [[1.0, 2.0], [1.0]], work_dir=tmp_path)


def test_gated_search_keeps_best_when_none_passes(tmp_path):
    from edgekit.build.search import exclusion_candidates, gated_search

    candidates = exclusion_candidates(ranking=["a", "c", "b", "d"], build=fake_build, sizes=(0, 1, 2))
    timed = []
    result = gated_search(candidates, evaluate=fake_evaluate, passes=lambda f: f["cos"] >= 0.9999,
                          score=lambda f: f["cos"], work_dir=tmp_path, keep_all=True,
                          latency=lambda paths: timed.extend(paths) or [[12.5]] * len(paths))
    assert not result.passed and result.chosen.label == "int8-float2"
    assert result.chosen.figures["cos"] == pytest.approx(1 - DAMAGE["b"] - DAMAGE["d"])
    assert result.chosen.latency_ms is None and timed == []  # the only one kept: nothing to choose by time
    assert result.choice == "none passed: the best-scoring candidate"
    assert len(list(tmp_path.iterdir())) == 3  # keep_all


def test_gated_search_rejects_duplicate_labels(tmp_path):
    from edgekit.build.search import Candidate, gated_search

    same = [Candidate("x", lambda dst: fake_build((), dst)), Candidate("x", lambda dst: fake_build((), dst))]
    with pytest.raises(InputError):
        gated_search(same, evaluate=fake_evaluate, passes=lambda f: True, score=lambda f: 0.0,
                     latency=lambda paths: [[1.0]] * len(paths), work_dir=tmp_path)


@pytest.mark.parametrize("float_ms, int8_ms, warned", [(20.0, 10.0, False), (20.0, 25.0, True), (20.0, 19.0, True)])
def test_speed_vs_float_warns_when_int8_gains_too_little(tmp_path, float_ms, int8_ms, warned):
    from types import SimpleNamespace

    from edgekit.build.search import Outcome, speed_vs_float

    warnings: list[str] = []
    state = SimpleNamespace(timing_samples=lambda paths: [noisy(float_ms), noisy(int8_ms)],
                            timing_measure=lambda: "ms per sequence", progress=SimpleNamespace(warn=warnings.append))
    chosen = Outcome("dynamic-pc-float2", tmp_path / "q.onnx", ("a", "b"), {}, True, 0.0)
    entry = speed_vs_float(state, tmp_path / "f.onnx", chosen)
    assert entry["speedup"] == round(float_ms / int8_ms, 3)
    assert ("warning" in entry) is warned and len(warnings) == int(warned)
    if warned:
        assert "dynamic-pc-float2, 2 ops kept float" in warnings[0]
        assert f"{int8_ms:.3g} ms per sequence against 20 ms" in warnings[0]
