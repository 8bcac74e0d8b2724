"""Every supported encoder architecture on a tiny random checkpoint: exported through Optimum for every task, in
parity with PyTorch; every target built and validated (or refused before loading, with its reason); ORT's
fusions checked by count against the architecture registry. RoBERTa's own matrix is tests/test_targets.py."""

from __future__ import annotations

import json

import onnx
import pytest

from edgekit import api
from edgekit.build.architectures import get_architecture, model_types
from edgekit.build.targets import get_target, target_names
from edgekit.build.tasks import task_names
from edgekit.build.tiny_checkpoints import save_tiny_checkpoint
from edgekit.errors import UnsupportedArchitectureError

OTHERS = [t for t in model_types() if t != "roberta"]
# One candidate per INT8 search keeps the matrix quick; tests/test_targets.py runs the full searches on RoBERTa.
FAST = {
    "onnxruntime-int8": '[quantize]\ncandidates = ["dynamic-pc-u8u8"]\ncalibration_samples = 32\nsearch = false\n'
                        '[embeddings]\nprecisions = ["float", "int8"]\n',
    "onnxruntime-int8-arm64": '[quantize]\ncandidates = ["static-s8s8-minmax-pc"]\ncalibration_samples = 32\n'
                              'search = false\n[embeddings]\nprecisions = ["float", "int8"]\n',
    "openvino-int8": '[quantize]\ncandidates = ["nncf"]\ncalibration_samples = 32\nsearch = false\n',
}


@pytest.fixture(scope="session")
def tiny_arch(tmp_path_factory):
    """tiny_arch(model_type, task): a tiny checkpoint directory, made once per session."""
    root = tmp_path_factory.mktemp("tiny-arch")
    made = {}

    def get(model_type: str, task: str = "text-classification"):
        if (model_type, task) not in made:
            made[model_type, task] = save_tiny_checkpoint(root / f"{model_type}-{task}", model_type, task)
        return made[model_type, task]

    return get


@pytest.mark.parametrize("task", task_names())
@pytest.mark.parametrize("model_type", OTHERS)
def test_optimum_export_every_task(tiny_arch, tmp_path, model_type, task):
    result = api.export(model=str(tiny_arch(model_type, task)), target="onnx-fp32", out=tmp_path / "a", quiet=True,
                        samples=16)
    record = json.loads(result.record_path.read_text())
    assert record["task"] == task and record["source"]["model_type"] == model_type
    assert record["graph"]["exporter"]["name"] == "optimum", record["graph"]["exporter"]
    assert record["validation"]["passed"]
    for name, figures in record["validation"]["outputs"].items():
        assert figures["max_abs_diff"] <= 1e-4, (name, figures)
    ops = {n.op_type for n in onnx.load(str(result.model_path)).graph.node}
    assert "Attention" not in ops  # the plain export keeps standard ONNX ops


# onnx-fp32 is the export above; the other targets start from it. pytorch-int8 compiles each build with
# TorchInductor (one to two minutes each here), too slow for eight more types in `make test`: tests/test_inc.py
# builds it on RoBERTa and BERT, and benchmarks/architectures.py on every type.
@pytest.mark.parametrize("target", [t for t in target_names() if t not in ("onnx-fp32", "pytorch-int8")])
@pytest.mark.parametrize("model_type", OTHERS)
def test_every_target_on_every_architecture(tiny_arch, tmp_path, model_type, target):
    arch = get_architecture(model_type)
    recipe = tmp_path / "fast.toml"
    recipe.write_text(FAST.get(target, ""))
    options = dict(model=str(tiny_arch(model_type)), target=target, out=tmp_path / "a", quiet=True, samples=16,
                   recipe=recipe)
    if target in arch.unsupported_targets:
        with pytest.raises(UnsupportedArchitectureError, match=f"cannot be built for {model_type}"):
            api.export(**options)
        assert not (tmp_path / "a").exists()
        return
    record = api.export(**options).record.data
    assert record["validation"]["passed"] is True and record["target"]["name"] == target
    if "fuse" in get_target(target).passes:
        counts, layers = record["fusion"]["counts"], 2
        assert counts["Attention"] == arch.expected_attention(layers), counts
        assert counts["SkipLayerNormalization"] >= 2 * layers
        assert ("attention_not_fused" in record["fusion"]) == (arch.attention_fusion != "every layer")


def test_unsupported_model_type_lists_the_supported_ones(tmp_path):
    from edgekit.errors import UnsupportedArchitectureError as Unsupported

    checkpoint = tmp_path / "gpt"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text(json.dumps({"model_type": "gpt2", "architectures": ["GPT2Model"]}))
    with pytest.raises(Unsupported) as error:
        api.plan_export(model=str(checkpoint), target="onnx-fp32")
    assert "'gpt2'" in str(error.value) and all(t in str(error.value) for t in model_types())
