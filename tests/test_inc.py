"""The pytorch-int8 target (Intel Neural Compressor, PT2E static INT8): a tiny RoBERTa and a tiny BERT build and
validate; the saved program runs compiled and as saved with the same answers; the light install refuses it with
the reason; the recipe's checks hold."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit import api
from edgekit.build.passes import check_pass_list
from edgekit.build.tiny_checkpoints import save_tiny_checkpoint
from edgekit.errors import RecipeError
from tests.test_light_install import _run_light

FAST = '[quantize]\ncalibration_samples = 32\ncandidates = ["inc-static-ffn-out-float"]\n'


@pytest.fixture(scope="module")
def inc_roberta(tiny_build):
    return tiny_build("pytorch-int8")


def _feeds(batch: int, length: int) -> dict:
    rng = np.random.default_rng(length)
    return {"input_ids": rng.integers(3, 200, (batch, length)).astype(np.int64),
            "attention_mask": np.ones((batch, length), np.int64)}


def test_program_runs_compiled_and_as_saved_alike(inc_roberta):
    from edgekit.runtime.torch_program import torch_program_runner

    compiled = torch_program_runner(inc_roberta.model_path, threads=2)
    as_saved = torch_program_runner(inc_roberta.model_path, compiled=False)
    for batch, length in ((2, 9), (3, 21)):  # one compile serves every batch > 1 and every length
        feeds = _feeds(batch, length)
        fast, reference = compiled(feeds)["logits"], as_saved(feeds)["logits"]
        assert fast.shape == (batch, 3)
        # int8 kernels against the float reference ops of the same program: the validated agreement
        assert np.abs(fast - reference).max() <= 2e-2


def test_record_names_neural_compressor_and_the_choice(inc_roberta):
    record = inc_roberta.record.data
    details = record["quantization"]["details"]
    assert details["recipe"]["method"].startswith("neural_compressor.torch StaticQuantConfig")
    assert details["neural_compressor_version"]
    assert record["quantization"]["chosen"] == "inc-static" and record["quantization"]["passed"]
    assert record["target"]["runtime"] == "torch"


def test_bert_embeddings_with_ffn_output_linears_float(tmp_path):
    # feature extraction leaves BERT's pooler unused: it must be dropped before INC prepares the graph
    checkpoint = save_tiny_checkpoint(tmp_path / "bert", "bert", "feature-extraction")
    recipe = tmp_path / "fast.toml"
    recipe.write_text(FAST)
    result = api.export(model=str(checkpoint), task="feature-extraction", target="pytorch-int8", out=tmp_path / "a",
                        quiet=True, samples=16, recipe=recipe)
    details = result.record.data["quantization"]["details"]
    assert result.record.data["validation"]["passed"]
    floats = details["recipe"]["float_modules"]
    assert len(floats) == 2 and all(name.endswith("output.dense") for name in floats)  # one per layer
    # one quantize per distinct activation and layer: the q/k/v input, the attention output, the FFN input; the
    # FFN output Linear takes float, and the unused pooler is gone
    assert details["quantized_ops"]["quantize_per_tensor"] == 3 * 2


def test_light_install_refuses_the_program_with_its_reason(inc_roberta):
    result = _run_light(f"""
        from edgekit.runtime.sessions import open_runner
        from edgekit.errors import MissingDependencyError
        try:
            open_runner({str(inc_roberta.model_path)!r})
        except MissingDependencyError as error:
            print("refused:", error)
    """)
    assert result.returncode == 0, result.stderr
    assert "refused:" in result.stdout and "torch" in result.stdout and "pytorch-int8" in result.stdout


def test_inc_pass_has_no_per_op_search(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text('[quantize]\nsearch = true\n')
    with pytest.raises(RecipeError, match="no per-op search"):
        api.plan_export(model="random:distilroberta-base", target="pytorch-int8", recipe=recipe)


def test_inc_pass_may_start_a_pass_list_but_not_follow_export():
    check_pass_list(("quantize-inc", "validate"))
    with pytest.raises(RecipeError, match="quantize-inc"):
        check_pass_list(("export", "quantize-inc", "validate"))
    with pytest.raises(RecipeError, match="must start with one of export, quantize-inc"):
        check_pass_list(("validate",))


def test_targets_cli_lists_pytorch_int8(runner, cli):
    result = runner.invoke(cli, ["targets"])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if line.startswith("pytorch-int8"))
    assert "Neural Compressor" in line


def test_package_refuses_a_torch_artefact(inc_roberta, tmp_path):
    from edgekit.errors import BundleError

    with pytest.raises(BundleError, match="needs torch: ship onnxruntime-int8 or openvino-int8"):
        api.package(artefact=inc_roberta.out_dir, out=tmp_path / "bundle", quiet=True)
    assert not (tmp_path / "bundle").exists()
