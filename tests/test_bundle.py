"""Bundles: packaging, the manifest's checksums, safe zips, and edgekit.runtime answers like PyTorch FP32."""

from __future__ import annotations

import json
import os
import stat
import zipfile

import numpy as np
import pytest

from edgekit import runtime
from edgekit.runtime.archive import extract_bundle
from edgekit.runtime.manifest import MANIFEST_NAME, read_manifest
from edgekit.build.bundle.package import package
from edgekit.build.corpus import held_out_texts
from edgekit.errors import BundleError, InputError, MissingDependencyError, OutputDirError
from edgekit.runtime.model import TruncationWarning


@pytest.fixture(scope="module")
def tiny_artefacts(tiny_build):
    return {(task, target): tiny_build(target, task).out_dir
            for task, target in (("text-classification", "onnx-fp32"), ("text-classification", "openvino-fp32"),
                                 ("text-classification", "onnxruntime-int8"), ("fill-mask", "onnx-fp32"),
                                 ("token-classification", "openvino-fp32"))}


@pytest.fixture(scope="module")
def classifier_bundle(tiny_artefacts, tmp_path_factory):
    out = tmp_path_factory.mktemp("bundles") / "clf"
    return package(artefact_dir=tiny_artefacts["text-classification", "onnx-fp32"], out=out, make_zip=True,
                   graph_tokenizer=False, quiet=True)


def _torch_top1(checkpoint, texts):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForSequenceClassification.from_pretrained(checkpoint).eval()
    with torch.no_grad():
        encoded = tokenizer(texts, padding=True, truncation=True, max_length=512, return_tensors="pt")
        return model(**encoded).logits.argmax(-1).tolist()


def test_manifest_describes_the_bundle(classifier_bundle):
    manifest = read_manifest(classifier_bundle.bundle_dir)
    assert manifest["task"] == "text-classification" and manifest["runtime"] == "onnxruntime"
    assert manifest["max_length"] == 512 and set(manifest["labels"].values()) == {"LABEL_0", "LABEL_1", "LABEL_2"}
    assert [i["name"] for i in manifest["inputs"]] == ["input_ids", "attention_mask"]
    assert manifest["outputs"][0]["name"] == "logits" and manifest["outputs"][0]["shape"][1] == 3
    assert manifest["fidelity"]["max_abs_diff"] < 1e-4 and manifest["tokenizer"]["type"] == "BPE"
    assert {"model.onnx", "tokenizer.json", "build-record.json"} <= set(manifest["files"])
    assert not {"vocab.json", "merges.txt"} & set(manifest["files"])  # tokenizer.json holds them
    for path in classifier_bundle.bundle_dir.iterdir():
        assert not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH), path
    umask = os.umask(0)
    os.umask(umask)
    # The directory itself is an ordinary one (the temp dir it was built in was private).
    assert stat.S_IMODE(classifier_bundle.bundle_dir.stat().st_mode) == 0o777 & ~umask


@pytest.mark.parametrize("target", ["onnx-fp32", "openvino-fp32", "onnxruntime-int8"])
def test_predict_agrees_with_pytorch_top1(tiny_checkpoints, tiny_artefacts, tmp_path, target):
    bundle = package(artefact_dir=tiny_artefacts["text-classification", target], out=tmp_path / "b",
                     graph_tokenizer=False, quiet=True).bundle_dir
    texts = held_out_texts(64)
    answers = runtime.load(bundle, threads=1).predict(texts, batch_size=8)
    expected = _torch_top1(tiny_checkpoints["text-classification"], texts)
    got = [int(a["label"].split("_")[1]) for a in answers]
    agreement = np.mean(np.asarray(got) == np.asarray(expected))
    assert agreement >= (1.0 if target != "onnxruntime-int8" else 0.95)
    assert all(abs(sum(a["scores"].values()) - 1) < 1e-6 for a in answers)


def test_fill_mask_and_token_classification(tiny_artefacts, tmp_path):
    fill = runtime.load(package(artefact_dir=tiny_artefacts["fill-mask", "onnx-fp32"], out=tmp_path / "fm",
                                graph_tokenizer=False, quiet=True).bundle_dir)
    candidates = fill.fill_mask(["The weather is <mask> today."], top_k=3)[0]
    assert len(candidates) == 3 and candidates[0]["score"] >= candidates[1]["score"] >= candidates[2]["score"]
    ner = runtime.load(package(artefact_dir=tiny_artefacts["token-classification", "openvino-fp32"],
                               out=tmp_path / "tc", graph_tokenizer=False, quiet=True).bundle_dir)
    tokens = ner.classify_tokens(["Paris is in France."])[0]
    assert tokens and all({"token", "label", "score", "start", "end"} <= set(t) for t in tokens)
    with pytest.raises(InputError, match="task is token-classification"):
        ner.predict(["x"])


@pytest.mark.parametrize("target", ["onnx-fp32", "openvino-fp32"])
def test_minilm_embeddings_match_sentence_transformers_recipe(minilm_dir, minilm_artefact, tmp_path, target):
    import torch
    from transformers import AutoModel, AutoTokenizer

    artefact = minilm_artefact(target).out_dir
    bundle = package(artefact_dir=artefact, out=tmp_path / "b", graph_tokenizer=False, quiet=True).bundle_dir
    texts = held_out_texts(40)
    vectors = runtime.load(bundle, threads=1).embed(texts, batch_size=16)
    tokenizer, model = AutoTokenizer.from_pretrained(minilm_dir), AutoModel.from_pretrained(minilm_dir).eval()
    with torch.no_grad():
        enc = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
        hidden = model(**enc).last_hidden_state
        mask = enc["attention_mask"][..., None].float()
        ref = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=1).numpy()
    assert vectors.shape == (40, 384)
    assert float((vectors * ref).sum(axis=1).min()) > 0.9999


def test_tampered_missing_or_extra_files_are_refused(classifier_bundle, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(classifier_bundle.bundle_dir, copy)
    os.chmod(copy / "model.onnx", 0o644)
    with (copy / "model.onnx").open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(BundleError, match="does not match its sha256"):
        runtime.load(copy)
    (copy / "model.onnx").unlink()
    with pytest.raises(BundleError, match="missing model.onnx"):
        runtime.load(copy)
    shutil.copyfile(classifier_bundle.bundle_dir / "model.onnx", copy / "model.onnx")
    (copy / "extra.py").write_text("print('hi')")
    with pytest.raises(BundleError, match="does not list"):
        runtime.load(copy)


def test_unknown_manifest_version_is_refused(classifier_bundle, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(classifier_bundle.bundle_dir, copy)
    manifest = json.loads((copy / MANIFEST_NAME).read_text())
    manifest["manifest_version"] = 99
    os.chmod(copy / MANIFEST_NAME, 0o644)
    (copy / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="manifest version 99"):
        runtime.load(copy)


def test_zip_round_trip_and_unsafe_zips(classifier_bundle, tmp_path):
    bundle_dir = extract_bundle(classifier_bundle.zip_path, tmp_path / "x")
    assert runtime.load(bundle_dir).predict(["A sentence."])[0]["label"].startswith("LABEL_")
    slip = tmp_path / "slip.zip"
    with zipfile.ZipFile(slip, "w") as archive:
        archive.writestr("bundle/manifest.json", "{}")
        archive.writestr("../../evil.txt", "owned")
    with pytest.raises(BundleError, match="outside the target directory"):
        extract_bundle(slip, tmp_path / "y")
    assert not (tmp_path / "y").exists() and not (tmp_path.parent / "evil.txt").exists()
    link = tmp_path / "link.zip"
    with zipfile.ZipFile(link, "w") as archive:
        info = zipfile.ZipInfo("bundle/model.onnx")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    with pytest.raises(BundleError, match="symbolic link"):
        extract_bundle(link, tmp_path / "z")


def test_missing_runtime_names_the_package(classifier_bundle, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    with pytest.raises(MissingDependencyError, match="pip install onnxruntime"):
        runtime.load(classifier_bundle.bundle_dir)


def test_long_and_empty_texts(classifier_bundle):
    model = runtime.load(classifier_bundle.bundle_dir)
    long_text = " ".join(held_out_texts(200))
    with pytest.warns(TruncationWarning, match="truncated"):
        assert len(model.predict([long_text, "short"])) == 2
    with pytest.raises(InputError, match="more than the model's 512"):
        model.predict([long_text], truncate=False)
    with pytest.raises(InputError, match="no texts"):
        model.predict([])
    with pytest.raises(InputError, match="text 2 is empty"):
        model.predict(["fine", "  "])


def test_dynamic_padding_keeps_answers_in_order(classifier_bundle):
    model = runtime.load(classifier_bundle.bundle_dir)
    texts = held_out_texts(30)
    one_by_one = [model.predict([t])[0]["scores"] for t in texts]
    batched = [a["scores"] for a in model.predict(texts, batch_size=7)]
    for single, together in zip(one_by_one, batched):
        assert max(abs(single[k] - together[k]) for k in single) < 1e-5


def test_cli_package_verify_run(runner, cli, tiny_artefacts, classifier_bundle, tmp_path):
    out = tmp_path / "b"
    result = runner.invoke(cli, ["package", str(tiny_artefacts["text-classification", "openvino-fp32"]), "--out",
                                 str(out), "--no-graph-tokenizer", "--zip", "-q"])
    assert result.exit_code == 0, result.output
    assert "bundle:" in result.output and (tmp_path / "b.zip").is_file()
    for target in (out, tmp_path / "b.zip"):
        result = runner.invoke(cli, ["verify", str(target)])
        assert result.exit_code == 0, result.output
        assert "checksums:" in result.output and "smoke run" in result.output
    result = runner.invoke(cli, ["run", str(out), "A first text.", "A second one.", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["text"] for r in rows] == ["A first text.", "A second one."] and "label" in rows[0]["result"]
    long_text = " ".join(held_out_texts(200))
    result = runner.invoke(cli, ["run", str(out), long_text, "--no-truncate"])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1


def test_cli_verify_refuses_tampered_bundle(runner, cli, classifier_bundle, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(classifier_bundle.bundle_dir, copy)
    os.chmod(copy / "tokenizer.json", 0o644)
    (copy / "tokenizer.json").write_text("{}")
    result = runner.invoke(cli, ["verify", str(copy)])
    assert result.exit_code == 2 and "does not match its sha256" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_bundle_holds_no_code_or_pickle(classifier_bundle, tiny_artefacts, tmp_path):
    allowed = {".onnx", ".ort", ".xml", ".bin", ".json", ".config", ".txt", ".data", ".sha256", ".sig"}
    ov = package(artefact_dir=tiny_artefacts["text-classification", "openvino-fp32"], out=tmp_path / "ov",
                 graph_tokenizer=False, quiet=True).bundle_dir
    for bundle in (classifier_bundle.bundle_dir, ov):
        for path in bundle.rglob("*"):
            assert path.suffix in allowed, path
            if path.suffix == ".bin":  # OpenVINO weights, only beside their .xml; never a pickle
                assert path.with_suffix(".xml").is_file()
                assert not path.read_bytes()[:2].startswith(b"\x80")
            if path.suffix == ".data":  # ONNX external weights, only beside their model; never a pickle
                assert path.with_suffix("").suffix == ".onnx" and path.with_suffix("").is_file()
                assert not path.read_bytes()[:2].startswith(b"\x80")


def test_export_with_bundle_flag_writes_artefact_and_bundle(runner, cli, tiny_classifier, tmp_path):
    out = tmp_path / "art"
    result = runner.invoke(cli, ["export", "--model", str(tiny_classifier), "--target", "onnx-fp32", "--out", str(out),
                                 "--samples", "8", "--bundle", "-q"])
    assert result.exit_code == 0, result.output
    bundle = tmp_path / "art-bundle"
    assert "bundle:" in result.output and (bundle / MANIFEST_NAME).is_file()
    assert read_manifest(bundle)["target"]["name"] == "onnx-fp32"
    assert runtime.load(bundle).predict(["It works."])[0]["label"].startswith("LABEL_")


def test_force_replaces_an_earlier_bundle_but_never_foreign_files(tiny_artefacts, tmp_path):
    artefact = tiny_artefacts["text-classification", "onnx-fp32"]
    out = tmp_path / "b"
    package(artefact_dir=artefact, out=out, graph_tokenizer=False, quiet=True)
    with pytest.raises(OutputDirError, match="exists and is not empty"):
        package(artefact_dir=artefact, out=out, graph_tokenizer=False, quiet=True)
    again = package(artefact_dir=artefact, out=out, graph_tokenizer=False, quiet=True, force=True)
    assert runtime.load(again.bundle_dir).predict(["still answers"])[0]["label"]
    (out / "my-notes.txt").write_text("not edgekit's")
    with pytest.raises(OutputDirError, match="holds files edgekit did not write \\(my-notes.txt\\)"):
        package(artefact_dir=artefact, out=out, graph_tokenizer=False, quiet=True, force=True)
    assert (out / "my-notes.txt").read_text() == "not edgekit's"


@pytest.mark.parametrize("machine, flags, warned", [
    ("aarch64", ["asimd"], "no dot-product extension"), ("aarch64", ["asimd", "asimddp"], None),
    ("x86_64", ["avx2"], "no VNNI"), ("x86_64", ["avx2", "avx512_vnni"], None)])
def test_an_int8_bundle_says_when_the_core_lacks_its_instructions(monkeypatch, machine, flags, warned):
    import platform
    import warnings

    from edgekit.runtime import cpu
    from edgekit.runtime.model import CoreWarning, _check_core

    monkeypatch.setattr(platform, "machine", lambda: machine)
    monkeypatch.setattr(cpu, "cpu_model_and_flags", lambda: ("Some CPU", flags))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _check_core({"target": {"precision": "int8"}})
        _check_core({"target": {"precision": "fp32"}})  # float bundles never warn
    messages = [str(w.message) for w in caught if issubclass(w.category, CoreWarning)]
    assert (len(messages) == 1 and warned in messages[0]) if warned else messages == []
