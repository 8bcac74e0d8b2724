"""Every bad input: one line naming the problem and the fix, exit code 2, nothing left behind."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import leftovers


def _run(runner, cli, args):
    result = runner.invoke(cli, args)
    lines = [line for line in result.output.splitlines() if line.strip()]
    return result, lines


def _assert_one_line_error(result, lines, *fragments):
    assert result.exit_code == 2, result.output
    errors = [line for line in lines if line.startswith("edgekit: error:")]
    assert len(errors) == 1, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def test_missing_path(runner, cli, tmp_path):
    out = tmp_path / "out"
    result, lines = _run(runner, cli, ["export", "--model", str(tmp_path / "nope"), "--out", str(out), "-q"])
    _assert_one_line_error(result, lines, "does not exist", "random:distilroberta-base")
    assert leftovers(tmp_path) == []


def test_path_that_is_not_a_checkpoint(runner, cli, tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("hello")
    result, lines = _run(runner, cli, ["export", "--model", str(tmp_path / "notes"), "--out", str(tmp_path / "o")])
    _assert_one_line_error(result, lines, "not a Hugging Face checkpoint", "config.json")
    assert leftovers(tmp_path) == ["notes"]


def test_unsupported_architecture(runner, cli, tmp_path, tiny_classifier):
    model = tmp_path / "gpt"
    shutil.copytree(tiny_classifier, model)
    config = json.loads((model / "config.json").read_text())
    config["model_type"] = "gpt2"
    (model / "config.json").write_text(json.dumps(config))
    result, lines = _run(runner, cli, ["export", "--model", str(model), "--out", str(tmp_path / "o")])
    _assert_one_line_error(result, lines, "'gpt2'", "supported: roberta, xlm-roberta, camembert, bert, distilbert")
    assert leftovers(tmp_path) == ["gpt"]


def test_unknown_target(runner, cli, tmp_path, tiny_classifier):
    result, lines = _run(runner, cli, ["export", "--model", str(tiny_classifier), "--target", "tflite-int4",
                                       "--out", str(tmp_path / "o")])
    _assert_one_line_error(result, lines, "unknown target 'tflite-int4'", "valid: onnx-fp32")
    assert leftovers(tmp_path) == []


def test_unknown_task(runner, cli, tmp_path, tiny_classifier):
    result, lines = _run(runner, cli, ["export", "--model", str(tiny_classifier), "--task", "translation",
                                       "--out", str(tmp_path / "o")])
    _assert_one_line_error(result, lines, "unknown task 'translation'", "feature-extraction", "question-answering")
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_weights(runner, cli, tmp_path, tiny_classifier, damage):
    model = tmp_path / "broken"
    shutil.copytree(tiny_classifier, model)
    weights = model / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"\x00garbage" * 10)
    result, lines = _run(runner, cli, ["export", "--model", str(model), "--out", str(tmp_path / "o")])
    _assert_one_line_error(result, lines, "truncated or corrupt", "model.safetensors")
    assert leftovers(tmp_path) == ["broken"]


def test_corrupt_bin_weights(runner, cli, tmp_path, tiny_classifier):
    model = tmp_path / "broken"
    shutil.copytree(tiny_classifier, model)
    (model / "model.safetensors").unlink()
    (model / "pytorch_model.bin").write_bytes(b"PK\x03\x04 not really a zip")
    result, lines = _run(runner, cli, ["export", "--model", str(model), "--out", str(tmp_path / "o")])
    _assert_one_line_error(result, lines, "pytorch_model.bin", "corrupt")
    assert leftovers(tmp_path) == ["broken"]


def test_non_empty_output_dir_is_refused_and_kept(runner, cli, tmp_path, tiny_classifier):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("user data")
    result, lines = _run(runner, cli, ["export", "--model", str(tiny_classifier), "--out", str(out)])
    _assert_one_line_error(result, lines, "not empty", "--force")
    result, lines = _run(runner, cli, ["export", "--model", str(tiny_classifier), "--out", str(out), "--force"])
    _assert_one_line_error(result, lines, "did not write", "mine.txt")
    assert leftovers(out) == ["mine.txt"] and (out / "mine.txt").read_text() == "user data"
    assert leftovers(tmp_path) == ["out"]


def test_force_replaces_only_an_earlier_edgekit_artefact(runner, cli, tmp_path, tiny_classifier):
    out = tmp_path / "out"
    first = runner.invoke(cli, ["export", "--model", str(tiny_classifier), "--out", str(out), "-q", "--samples", "8"])
    assert first.exit_code == 0, first.output
    created = json.loads((out / "edgekit.json").read_text())["created"]
    again = runner.invoke(cli, ["export", "--model", str(tiny_classifier), "--out", str(out), "-q", "--samples", "8"])
    _assert_one_line_error(again, again.output.splitlines(), "--force")
    forced = runner.invoke(cli, ["export", "--model", str(tiny_classifier), "--out", str(out), "-q", "--samples", "8",
                                 "--force"])
    assert forced.exit_code == 0, forced.output
    assert json.loads((out / "edgekit.json").read_text())["created"] >= created
    assert leftovers(tmp_path) == ["out"], "no temp or backup dirs remain"


@pytest.mark.parametrize("where", ["under-a-file", "proc"])
def test_unwritable_output_dir(runner, cli, tmp_path, tiny_classifier, where):
    # Tests run as root, where permission bits do not stop writes: use places no one can write.
    if where == "under-a-file":
        (tmp_path / "file").write_text("x")
        out = tmp_path / "file" / "out"
    else:
        out = Path("/proc/edgekit-test-out")
    result, lines = _run(runner, cli, ["export", "--model", str(tiny_classifier), "--out", str(out)])
    _assert_one_line_error(result, lines, "cannot write to", str(out))
    assert not out.exists()
    if where == "under-a-file":
        assert leftovers(tmp_path) == ["file"]


def test_sequence_length_beyond_positions(runner, cli, tmp_path, tiny_classifier):
    result, lines = _run(runner, cli, ["export", "--model", str(tiny_classifier), "--max-length", "600",
                                       "--out", str(tmp_path / "o")])
    _assert_one_line_error(result, lines, "600", "512 positions", "--max-length 512")
    assert leftovers(tmp_path) == []


def test_validation_failure_is_typed_and_leaves_nothing(runner, cli, tmp_path, tiny_classifier):
    out = tmp_path / "deep" / "er" / "out"
    result, lines = _run(runner, cli, ["export", "--model", str(tiny_classifier), "--atol", "1e-12",
                                       "--out", str(out), "-q", "--samples", "8"])
    _assert_one_line_error(result, lines, "validation failed", "--atol 1e-12")
    assert leftovers(tmp_path) == [], "neither the artefact, the temp dir nor the created parents remain"


def test_hub_id_offline_fails_fast(runner, cli, tmp_path, monkeypatch):
    import time

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache
    start = time.monotonic()
    result, lines = _run(runner, cli, ["export", "--model", "distilroberta-base", "--out", str(tmp_path / "o")])
    _assert_one_line_error(result, lines, "'distilroberta-base'", "not in the local Hugging Face cache",
                           "random:distilroberta-base")
    assert time.monotonic() - start < 60  # a bound on hanging, not a timing claim
    assert not (tmp_path / "o").exists()


def test_hub_id_unreachable_without_offline_flag(runner, cli, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.invalid")  # reserved TLD: never resolves
    result, lines = _run(runner, cli, ["export", "--model", "someorg/some-model", "--out", str(tmp_path / "o")])
    _assert_one_line_error(result, lines, "'someorg/some-model'", "cannot be reached")
