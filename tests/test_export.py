"""Integration: export real (tiny and MiniLM) checkpoints and check structure and agreement with PyTorch."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from edgekit import api
from edgekit.build.tasks import get_task, task_names


@pytest.mark.parametrize("task_name", task_names())
def test_tiny_export_every_task(tiny_checkpoints, tmp_path, task_name):
    out = tmp_path / "art"
    result = api.export(model=str(tiny_checkpoints[task_name]), target="onnx-fp32", out=out, quiet=True,
                        samples=16)
    task = get_task(task_name)
    graph = onnx.load(str(result.model_path))
    assert [i.name for i in graph.graph.input] == ["input_ids", "attention_mask"]
    assert tuple(o.name for o in graph.graph.output) == task.outputs
    # dynamic batch and sequence axes, not numbers baked in from the example
    dims = graph.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param for d in dims] == ["batch_size", "sequence_length"]
    record = json.loads(result.record_path.read_text())
    assert record["task"] == task_name, "default task comes from the checkpoint's architectures"
    assert record["validation"]["passed"] is True
    assert record["validation"]["samples"] == 16
    for name in task.outputs:
        assert record["validation"]["outputs"][name]["max_abs_diff"] <= 1e-4
    if task_name != "feature-extraction":
        assert record["validation"]["top1_agreement"] == 1.0
    assert set(record["files"]) >= {"model.onnx", "tokenizer.json", "config.json"}
    assert record["source"]["kind"] == "local" and len(record["source"]["sha256"]) == 64
    assert record["versions"]["onnxruntime"] and record["graph"]["opset"] == 17
    exporter = record["graph"]["exporter"]
    assert exporter["name"] == "optimum" and exporter["onnx_config"] == "RobertaOnnxConfig", exporter
    assert "optimum-onnx" in exporter["version"]


def test_torch_fallback_is_recorded_with_its_reason(tiny_checkpoints, tmp_path, monkeypatch):
    """Where Optimum has no config (simulated: its TasksManager refuses the model type), torch.onnx.export writes
    an equivalent graph and the record says why; with exporter = "optimum" the same case is a one-line error."""
    from optimum.exporters.tasks import TasksManager

    from edgekit.errors import ExportError

    def no_config(*args, **kwargs):
        raise KeyError("roberta is not supported yet for transformers")

    monkeypatch.setattr(TasksManager, "get_exporter_config_constructor", staticmethod(no_config))
    model = str(tiny_checkpoints["text-classification"])
    result = api.export(model=model, target="onnx-fp32", out=tmp_path / "fallback", quiet=True, samples=16)
    record = json.loads(result.record_path.read_text())
    exporter = record["graph"]["exporter"]
    assert exporter["name"] == "torch.onnx.export" and "Optimum has no ONNX config" in exporter["fallback_reason"]
    assert "roberta is not supported" in exporter["fallback_reason"]
    assert record["validation"]["passed"] and record["validation"]["outputs"]["logits"]["max_abs_diff"] <= 1e-4
    dims = onnx.load(str(result.model_path)).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param for d in dims] == ["batch_size", "sequence_length"]
    strict = tmp_path / "strict.toml"
    strict.write_text('target = "onnx-fp32"\n[export]\nexporter = "optimum"\n')
    with pytest.raises(ExportError, match='Optimum has no ONNX config.*exporter = "auto"'):
        api.export(model=model, recipe=strict, out=tmp_path / "strict", quiet=True, samples=16)
    assert not (tmp_path / "strict").exists()


def test_task_override_and_opset(tiny_checkpoints, tmp_path):
    result = api.export(model=str(tiny_checkpoints["fill-mask"]), task="feature-extraction", opset=14,
                        out=tmp_path / "o", quiet=True, samples=8)
    graph = onnx.load(str(result.model_path))
    assert [o.name for o in graph.graph.output] == ["last_hidden_state"]
    assert graph.opset_import[0].version == 14
    assert "cosine_mean" in result.record.data["validation"]


def test_minilm_real_weights_within_1e4(minilm_artefact):
    result = minilm_artefact("onnx-fp32")
    figures = result.record.data["validation"]
    assert figures["max_abs_diff"] <= 1e-4
    assert figures["cosine_min"] > 0.99999
    assert figures["neighbour_agreement"] == 1.0
    graph = onnx.load(str(result.model_path), load_external_data=False)
    # BERT segments: MiniLM has two token types, so the graph takes token_type_ids
    assert [i.name for i in graph.graph.input] == ["input_ids", "attention_mask", "token_type_ids"]
    assert result.record.data["source"]["random_weights"] is False


@pytest.mark.slow
def test_random_distilroberta_export(tmp_path):
    result = api.export(model="random:distilroberta-base", out=tmp_path / "d", quiet=True, samples=16)
    source = result.record.data["source"]
    assert round(source["parameters"] / 1e6, 1) == 82.1
    assert source["random_weights"] is True and "RANDOM WEIGHTS" in source["note"]
    assert result.record.data["task"] == "text-classification"
    graph = onnx.load(str(result.model_path))
    assert any(p.key == "edgekit.random_weights" for p in graph.metadata_props)
    assert result.record.data["validation"]["max_abs_diff"] <= 1e-4


def test_random_roberta_parameter_count():
    from edgekit.build.random_models import build_random

    model, tokenizer = build_random("random:roberta-base", "AutoModelForSequenceClassification")
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 1) == 124.6
    assert model.config.num_hidden_layers == 12 and model.config.vocab_size == 50265
    ids = tokenizer("A sentence of real English text.")["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2 and max(ids) < 50265


def test_random_weights_are_seeded():
    from edgekit.build.random_models import build_random

    first, _ = build_random("random:distilroberta-base", "AutoModel")
    second, _ = build_random("random:distilroberta-base", "AutoModel")
    a = first.embeddings.word_embeddings.weight.detach().numpy()
    b = second.embeddings.word_embeddings.weight.detach().numpy()
    assert np.array_equal(a, b)


def test_eager_attention_traces_a_constant_scale_with_the_same_outputs(tiny_classifier, tmp_path):
    from edgekit.build.passes.export import export_onnx
    from edgekit.build.sources import load_model, resolve_source

    source = resolve_source(str(tiny_classifier))
    task = source.default_task()
    graphs = {}
    for attention in ("sdpa", "eager"):
        model, tokenizer, _ = load_model(source, task, attention=attention)
        encoded = dict(tokenizer(["A short sentence.", "A second, somewhat longer sentence of text."],
                                 padding=True, return_tensors="np"))
        path = tmp_path / f"{attention}.onnx"
        export_onnx(model, encoded, task, path, opset=17)
        graphs[attention] = path
    ops = {name: {n.op_type for n in onnx.load(str(path)).graph.node} for name, path in graphs.items()}
    assert "Sqrt" in ops["sdpa"]  # SDPA's scale comes from the shape at run time
    assert "Sqrt" not in ops["eager"] and "Softmax" in ops["eager"]
    ort = pytest.importorskip("onnxruntime")
    outputs = [ort.InferenceSession(str(p)).run(None, encoded)[0] for p in graphs.values()]
    np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-5)
