"""OpenVINO passes on a tiny random RoBERTa: structure of each artefact, and agreement with ONNX FP32."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("openvino")
pytest.importorskip("nncf")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
ort = pytest.importorskip("onnxruntime")

from edgekit.errors import InputError, InvalidChoiceError, MissingDependencyError  # noqa: E402
from edgekit.build.passes import openvino_ir as ovc  # noqa: E402
from edgekit.build.passes.compress_weights import compress_weights_int8  # noqa: E402
from edgekit.build.passes.quantize_nncf.nncf_int8 import (  # noqa: E402
    FFN_OUTPUT_PATTERN,
    float_weight_matmuls,
    RECOMMENDED_SMOOTH_QUANT_ALPHA,
    quantize_nncf_int8,
)
from edgekit.runtime import sessions  # noqa: E402
from edgekit.build.passes.quantize_nncf.unsigned import unsign_weight_matmul_activations  # noqa: E402

VOCAB, SEQ = 200, 16


def _feeds(n: int, seed: int) -> list[dict[str, np.ndarray]]:
    """Right-padded batches of random token ids, like real tokenised text."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        ids = rng.integers(3, VOCAB, size=(2, SEQ), dtype=np.int64)
        mask = np.ones_like(ids)
        mask[1, rng.integers(4, SEQ):] = 0
        ids[mask == 0] = 1  # RoBERTa's pad id
        ids[:, 0] = 0
        out.append({"input_ids": ids, "attention_mask": mask})
    return out


@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = transformers.RobertaConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2,
                                        num_attention_heads=4, intermediate_size=64,
                                        max_position_embeddings=64, type_vocab_size=1)
    torch.manual_seed(0)
    model = transformers.RobertaModel(config, add_pooling_layer=False).eval()
    path = tmp_path_factory.mktemp("tiny") / "model.onnx"
    x = torch.ones(1, 8, dtype=torch.long)
    axes = {n: {0: "batch", 1: "sequence"} for n in ("input_ids", "attention_mask", "last_hidden_state")}
    torch.onnx.export(model, (x, x), str(path), input_names=["input_ids", "attention_mask"],
                      output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=17, dynamo=False)
    return path


@pytest.fixture(scope="module")
def reference(onnx_path: Path) -> tuple[list[dict[str, np.ndarray]], list[np.ndarray]]:
    feeds = _feeds(4, seed=1)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    return feeds, [session.run(None, f)[0] for f in feeds]


def _run(xml: str | Path, feeds: list[dict[str, np.ndarray]], precision: str | None = "f32") -> list[np.ndarray]:
    compiled = sessions.compile_openvino(Path(xml), threads=1, precision=precision)
    return [compiled(f)[compiled.output(0)] for f in feeds]


def _min_cosine(ref: list[np.ndarray], got: list[np.ndarray], feeds: list[dict[str, np.ndarray]]) -> float:
    """Smallest per-token cosine over the real (unpadded) tokens."""
    worst = 1.0
    for r, g, f in zip(ref, got, feeds):
        keep = f["attention_mask"].astype(bool)
        r, g = r[keep], g[keep]
        cos = (r * g).sum(-1) / (np.linalg.norm(r, axis=-1) * np.linalg.norm(g, axis=-1))
        worst = min(worst, float(cos.min()))
    return worst


def test_fp32_ir_matches_onnx(onnx_path, reference, tmp_path):
    info = ovc.convert_to_ir(onnx_path, tmp_path, compress_to_fp16=False)
    assert Path(info["xml"]).is_file() and info["bin_bytes"] > 0
    assert info["weights"] == "f32" and "f16" not in info["constant_types"]
    assert info["runtime_precision"] in sessions.OPENVINO_PRECISIONS
    feeds, ref = reference
    for r, g in zip(ref, _run(info["xml"], feeds)):
        np.testing.assert_allclose(g, r, atol=1e-4, rtol=1e-4)


def test_fp16_ir_has_f16_weights_and_stays_close(onnx_path, reference, tmp_path):
    info = ovc.convert_to_ir(onnx_path, tmp_path, compress_to_fp16=True)
    assert info["constant_types"].get("f16", 0) > 0
    assert info["ops"].get("Convert", 0) > 0  # f16 weights are decompressed to f32 at load
    feeds, ref = reference
    got = _run(info["xml"], feeds)
    assert _min_cosine(ref, got, feeds) > 0.99999
    for r, g in zip(ref, got):
        np.testing.assert_allclose(g, r, atol=5e-3)  # measured 1.1e-3


def test_compile_pins_precision_and_static_shapes(onnx_path, reference, tmp_path):
    xml = ovc.convert_to_ir(onnx_path, tmp_path, compress_to_fp16=False)["xml"]
    compiled = sessions.compile_openvino(Path(xml), threads=1, precision="f32")
    assert sessions.compiled_precision(compiled) == "f32"
    default = sessions.compile_openvino(Path(xml), threads=1)
    assert sessions.compiled_precision(default) == sessions.openvino_default_precision("CPU")
    feeds, ref = reference
    shapes = {name: [2, SEQ] for name in feeds[0]}
    static = sessions.compile_openvino(Path(xml), threads=1, precision="f32", static_shapes=shapes)
    np.testing.assert_allclose(static(feeds[0])[static.output(0)], ref[0], atol=1e-4, rtol=1e-4)


def test_int8_quantize_inserts_fake_quantize_and_agrees(onnx_path, reference, tmp_path):
    info = quantize_nncf_int8(onnx_path, tmp_path, calibration_feeds=_feeds(16, seed=2),
                              smooth_quant_alpha=RECOMMENDED_SMOOTH_QUANT_ALPHA, subset_size=16,
                              show_progress=False)
    assert info["fake_quantize"] > 0
    assert info["constant_types"].get("i8", 0) > 0  # weights stored as int8
    assert info["recipe"]["calibration_samples"] == 16
    # TRANSFORMER makes the first layer's QKV input symmetric (signed); edgekit hands those MatMuls u8.
    assert info["activations_made_unsigned"] > 0
    assert unsign_weight_matmul_activations(ovc.read_model(Path(info["xml"]))) == []
    feeds, ref = reference
    assert _min_cosine(ref, _run(info["xml"], feeds), feeds) > 0.998  # measured 0.99997


def test_int8_quantize_ignored_scope_keeps_op_in_float(onnx_path, reference, tmp_path):
    feeds = _feeds(8, seed=3)
    plain = quantize_nncf_int8(onnx_path, tmp_path / "a", calibration_feeds=feeds, smooth_quant_alpha=-1,
                               subset_size=8, show_progress=False)
    kept = quantize_nncf_int8(onnx_path, tmp_path / "b", calibration_feeds=feeds, smooth_quant_alpha=-1,
                              ignored_patterns=[FFN_OUTPUT_PATTERN], subset_size=8, show_progress=False)
    assert kept["fake_quantize"] < plain["fake_quantize"]
    assert kept["recipe"]["ignored_patterns"] == [FFN_OUTPUT_PATTERN]
    # The ops kept float still store int8 weights (weight-only), so keeping them float costs no bytes.
    assert kept["float_weights_compressed_int8"] > 0
    assert float_weight_matmuls(ovc.read_model(Path(kept["xml"]))) == []
    assert Path(kept["bin"]).stat().st_size <= Path(plain["bin"]).stat().st_size * 1.05
    loose = quantize_nncf_int8(onnx_path, tmp_path / "c", calibration_feeds=feeds, smooth_quant_alpha=-1,
                               ignored_patterns=[FFN_OUTPUT_PATTERN], subset_size=8, show_progress=False,
                               compress_float_weights=False)
    assert loose["float_weights_compressed_int8"] == 0
    assert len(float_weight_matmuls(ovc.read_model(Path(loose["xml"])))) == kept["float_weights_compressed_int8"]
    assert Path(loose["bin"]).stat().st_size > Path(kept["bin"]).stat().st_size
    ref_feeds, ref = reference
    assert _min_cosine(ref, _run(kept["xml"], ref_feeds), ref_feeds) > 0.998


def test_weight_compression_has_int8_weights_and_agrees(onnx_path, reference, tmp_path):
    info = compress_weights_int8(onnx_path, tmp_path)
    assert info["int8_constants"] > 0 and info["constant_types"].get("u8", 0) > 0
    assert info["ops"].get("FakeQuantize", 0) == 0  # activations stay float
    feeds, ref = reference
    assert _min_cosine(ref, _run(info["xml"], feeds), feeds) > 0.9995  # measured 0.99997
    # Without the x86 plugin's dynamic activation quantisation, as the ARM plugin runs it.
    plain = sessions.compile_openvino(Path(info["xml"]), threads=1, precision="f32", dynamic_quantization_group_size=0)
    assert plain.get_property("DYNAMIC_QUANTIZATION_GROUP_SIZE") == 0
    assert _min_cosine(ref, [plain(f)[plain.output(0)] for f in feeds], feeds) > 0.9995


def test_bad_choices_are_typed_errors(onnx_path, tmp_path):
    with pytest.raises(InvalidChoiceError):
        sessions.compile_openvino(onnx_path, threads=1, precision="int4")
    with pytest.raises(InvalidChoiceError):
        quantize_nncf_int8(onnx_path, tmp_path, calibration_feeds=_feeds(1, 0), smooth_quant_alpha=None,
                           preset="fastest")
    with pytest.raises(InvalidChoiceError):
        compress_weights_int8(onnx_path, tmp_path, mode="int4")
    with pytest.raises(InputError):
        quantize_nncf_int8(onnx_path, tmp_path, calibration_feeds=[], smooth_quant_alpha=None)
    with pytest.raises(InputError):
        quantize_nncf_int8(onnx_path, tmp_path, calibration_feeds=[{"input_ids": np.ones((1, 4), np.int64)}],
                           smooth_quant_alpha=None)
    with pytest.raises(InputError):
        quantize_nncf_int8(onnx_path, tmp_path, calibration_feeds=_feeds(1, 0), smooth_quant_alpha=None,
                           ignored_scope=["no/such/op"])
    with pytest.raises(InputError):
        ovc.convert_to_ir(tmp_path / "missing.onnx", tmp_path, compress_to_fp16=False)
    with pytest.raises(InputError):
        sessions.compile_openvino(onnx_path, threads=0)
    with pytest.raises(InputError):
        sessions.compile_openvino(onnx_path, threads=1, dynamic_quantization_group_size=-1)
    with pytest.raises(InvalidChoiceError):
        ovc.read_model(_touch(tmp_path / "m.txt"))


def _touch(path: Path) -> Path:
    path.write_text("")
    return path


def test_missing_openvino_is_a_typed_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)
    with pytest.raises(MissingDependencyError):
        ovc.require_openvino()
