"""Honest heads, limits, and one-line errors for damaged checkpoints and bad runtime inputs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from edgekit import runtime
from edgekit.build.bundle.package import package
from edgekit.errors import InputError
from edgekit.runtime.sessions import usable_cores
from tests.conftest import leftovers


def _one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("edgekit: error:")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


# -- heads ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("checkpoint, task", [("text-classification", "fill-mask"),
                                              ("fill-mask", "question-answering"),
                                              ("token-classification", "text-classification")])
def test_a_task_the_checkpoint_has_no_head_for_is_refused_before_loading(runner, cli, tiny_checkpoints, tmp_path,
                                                                           monkeypatch, checkpoint, task):
    import edgekit.build.sources as sources

    monkeypatch.setattr(sources, "load_model", lambda *a, **k: pytest.fail("loaded before the head check"))
    result = runner.invoke(cli, ["export", "--model", str(tiny_checkpoints[checkpoint]), "--task", task,
                                 "--out", str(tmp_path / "o")])
    _one_line_error(result, f"has no {task} head", f"--task {checkpoint}", "--new-head")
    assert leftovers(tmp_path) == []


def test_a_checkpoint_without_architectures_is_checked_at_load(runner, cli, tiny_checkpoints, tmp_path):
    model = tmp_path / "anon"
    shutil.copytree(tiny_checkpoints["text-classification"], model)
    config = json.loads((model / "config.json").read_text())
    del config["architectures"]
    (model / "config.json").write_text(json.dumps(config))
    result = runner.invoke(cli, ["export", "--model", str(model), "--task", "fill-mask", "--out", str(tmp_path / "o")])
    _one_line_error(result, "has no fill-mask head", "lm_head", "--new-head")
    assert leftovers(tmp_path) == ["anon"]


def test_new_head_builds_and_is_recorded_as_untrained(runner, cli, tiny_checkpoints, tmp_path):
    out = tmp_path / "o"
    result = runner.invoke(cli, ["export", "--model", str(tiny_checkpoints["text-classification"]), "--task",
                                 "fill-mask", "--new-head", "--out", str(out), "--samples", "8"])
    assert result.exit_code == 0, result.output
    assert "FRESH HEAD" in result.output
    record = json.loads((out / "edgekit.json").read_text())
    assert record["task"] == "fill-mask" and record["random_weights"] is True
    assert record["fresh_head"]["task"] == "fill-mask" and any("lm_head" in k for k in record["fresh_head"]["weights"])
    assert record["warning"].startswith("FRESH HEAD")


def test_the_checkpoints_own_head_and_feature_extraction_need_no_flag(tiny_build):
    for task in ("text-classification", "feature-extraction"):
        record = json.loads((tiny_build("onnx-fp32", task).out_dir / "edgekit.json").read_text())
        assert record["random_weights"] is False and "fresh_head" not in record


# -- damaged checkpoints ---------------------------------------------------------------------------------------
def _config_edit(key, value):
    def edit(model):
        config = json.loads((model / "config.json").read_text())
        config[key] = value
        (model / "config.json").write_text(json.dumps(config))
    return edit


def _malicious_pickle(model):
    import torch

    class Payload:
        def __reduce__(self):
            return (exec, ("open('PWNED', 'w').write('x')",))

    (model / "model.safetensors").unlink()
    torch.save({"weights": Payload()}, model / "pytorch_model.bin")


DAMAGE = [
    ("hidden_size text", _config_edit("hidden_size", "big"), ["hidden_size is 'big'", "whole number"]),
    ("heads zero", _config_edit("num_attention_heads", 0), ["num_attention_heads is 0"]),
    ("layers bool", _config_edit("num_hidden_layers", True), ["num_hidden_layers is True"]),
    ("hidden not divisible", _config_edit("hidden_size", 30), ["not a multiple of num_attention_heads 4"]),
    ("positions text", _config_edit("max_position_embeddings", "514"), ["max_position_embeddings is '514'"]),
    ("tokenizer truncated", lambda m: (m / "tokenizer.json").write_text((m / "tokenizer.json").read_text()[:500]),
     ["tokenizer.json", "damaged or truncated"]),
    ("tokenizer garbage", lambda m: (m / "tokenizer.json").write_bytes(b"\x00\xff garbage"),
     ["tokenizer.json", "damaged or truncated"]),
    ("malicious pickle", _malicious_pickle, ["pytorch_model.bin", "pickle that would run code", "never runs it"]),
]


@pytest.mark.parametrize("damage, fragments", [case[1:] for case in DAMAGE], ids=[case[0] for case in DAMAGE])
def test_damaged_checkpoints_are_one_line(runner, cli, tiny_classifier, tmp_path, monkeypatch, damage, fragments):
    model = tmp_path / "model"
    shutil.copytree(tiny_classifier, model)
    damage(model)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, ["export", "--model", str(model), "--out", str(tmp_path / "o")])
    _one_line_error(result, *fragments)
    assert leftovers(tmp_path) == ["model"]  # and no PWNED file: the pickle never ran


# -- limits and runtime inputs ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bundle(tiny_build, tmp_path_factory):
    return package(artefact_dir=tiny_build("onnx-fp32").out_dir, out=tmp_path_factory.mktemp("rel") / "b",
                   graph_tokenizer=False, quiet=True).bundle_dir


@pytest.mark.parametrize("threads, fragment", [
    ("too many", "more than this machine allows"), (0, "positive whole number"), ("2", "positive whole number"),
    (1.5, "positive whole number"), (True, "positive whole number"),
])
def test_runtime_threads_are_checked(bundle, threads, fragment):
    value = usable_cores() + 1 if threads == "too many" else threads
    with pytest.raises(InputError, match=fragment):
        runtime.load(bundle, threads=value)


@pytest.mark.parametrize("command", [["run", "{bundle}", "a text"], ["verify", "{bundle}"]])
@pytest.mark.parametrize("threads", ["100000", "4096"])
def test_cli_threads_beyond_the_cores_are_refused(runner, cli, bundle, command, threads):
    args = [a.format(bundle=bundle) for a in command] + ["--threads", threads]
    _one_line_error(runner.invoke(cli, args), f"threads {threads}", "at most")


def test_bench_threads_beyond_the_cores_are_refused_before_measuring(runner, cli, tiny_build, tmp_path):
    result = runner.invoke(cli, ["bench", str(tiny_build("onnx-fp32").out_dir), "--threads", "1,100000", "-q"])
    _one_line_error(result, "threads 100000", "at most")


@pytest.mark.parametrize("texts, fragment", [
    (["ok", "bad \udcff text"], "text 2 is not valid Unicode"),
    (["\ud800"], "text 1 is not valid Unicode"),
    ([b"bytes"], "text 1 is a bytes"),
    (["  "], "text 1 is empty"),
    ("one string", "not a single string"),
])
def test_bad_texts_are_typed_errors(bundle, texts, fragment):
    with pytest.raises(InputError, match=fragment):
        runtime.load(bundle)(texts)


def test_invalid_utf8_from_the_shell_is_one_line(runner, cli, bundle):
    _one_line_error(runner.invoke(cli, ["run", str(bundle), "caf\udce9"]), "not valid Unicode")


def test_a_batch_over_the_memory_budget_is_split_with_the_same_answers(bundle):
    texts = [("word " * n).strip() for n in (3, 40, 200, 7, 90, 120, 5, 60)]
    whole = runtime.load(bundle, max_padding=float("inf"))
    small = runtime.load(bundle, memory_budget_mb=0.05, max_padding=float("inf"))
    lengths = [len(e.ids) for e in whole.encode(texts)]
    assert len(whole._groups(lengths, 64)) == 1
    groups = small._groups(lengths, 64)
    assert len(groups) > 2 and sorted(i for g in groups for i in g) == list(range(len(texts)))
    for group in groups:  # each batch fits, unless it is a single text
        assert len(group) == 1 or small.activation_bytes(len(group), max(lengths[i] for i in group)) \
            <= small.memory_budget_bytes
    assert [a["label"] for a in small(texts)] == [a["label"] for a in whole(texts)]
    np.testing.assert_allclose([a["score"] for a in small(texts)], [a["score"] for a in whole(texts)], atol=1e-5)


def test_a_batch_is_cut_where_padding_would_exceed_its_share_with_the_same_answers(bundle):
    texts = [("word " * n).strip() for n in (3, 40, 200, 7, 90, 120, 5, 60, 41, 42)]
    padded = runtime.load(bundle, max_padding=float("inf"))
    model = runtime.load(bundle, max_padding=0.25)
    lengths = [len(e.ids) for e in model.encode(texts)]
    groups = model._groups(lengths, 64)
    assert 1 < len(groups) < len(texts) and sorted(i for g in groups for i in g) == list(range(len(texts)))
    for group in groups:
        longest = max(lengths[i] for i in group)
        assert len(group) * longest <= 1.25 * sum(lengths[i] for i in group)
    assert [len(g) for g in runtime.load(bundle, max_padding=0)._groups([5, 5, 6, 6, 6], 64)] == [2, 3]
    np.testing.assert_allclose([a["score"] for a in model(texts)], [a["score"] for a in padded(texts)], atol=1e-5)


@pytest.mark.parametrize("padding", [-0.1, "0.25", True, float("nan")])
def test_a_bad_max_padding_is_refused(bundle, padding):
    with pytest.raises(InputError, match="max_padding"):
        runtime.load(bundle, max_padding=padding)


@pytest.mark.parametrize("budget", [0, -1, "512", float("nan")])
def test_a_bad_memory_budget_is_refused(bundle, budget):
    with pytest.raises(InputError, match="memory_budget_mb"):
        runtime.load(bundle, memory_budget_mb=budget)


def test_oversubscribe_allows_more_threads_than_cores_within_a_hard_limit(runner, cli, tmp_path):
    missing = str(tmp_path / "no-artefact")
    more = str(usable_cores() + 1)
    _one_line_error(runner.invoke(cli, ["bench", missing, "--threads", more, "-q"]), f"threads {more}")
    # past the thread check: the next complaint is the missing artefact
    _one_line_error(runner.invoke(cli, ["bench", missing, "--threads", more, "--oversubscribe", "-q"]), "no-artefact")
    _one_line_error(runner.invoke(cli, ["bench", missing, "--threads", "100000", "--oversubscribe", "-q"]),
                    "threads 100000", "at most")
