"""The tokenizer compiled into the runtime's graph: token-for-token equal to Hugging Face's, and chained before
the model equal to the model on Hugging Face tokens, for both runtimes and both tokenizer kinds; a bundle
stores each weight once."""

from __future__ import annotations

import json
import re
import shutil
import sys

import numpy as np
import pytest

from edgekit import api
from edgekit.build.bundle import graph_tokenizer as gt
from edgekit.runtime.text_model import open_text_runner
from edgekit.build.corpus import held_out_texts
from edgekit.errors import BundleError, InputError, InvalidChoiceError, MissingDependencyError

TARGETS = {"onnxruntime": "onnx-fp32", "openvino": "openvino-fp32"}
CASES = [(runtime, kind) for runtime in TARGETS for kind in ("bpe", "wordpiece")]
VERIFY_TEXTS = 500
CHECKED = VERIFY_TEXTS + 2 + len(gt.PROBE_TEXTS)  # corpus, two long texts, the probes
# onnxruntime-extensions' BertTokenizer lowercases and strips accents for Latin letters only, so Greek,
# Turkish, Devanagari and Thai text tokenise differently: that in-graph tokenizer is refused, not shipped.
REFUSED = {("onnxruntime", "wordpiece"): rf"differs from the Hugging Face tokenizer on \d+ of {CHECKED} texts "
                                         r"\(first: 'Ωmega"}


@pytest.fixture(scope="module")
def artefact(tiny_checkpoints, minilm_artefact, tmp_path_factory):
    """artefact(runtime, kind): a built fp32 artefact (tiny RoBERTa classifier or MiniLM), built once."""
    root = tmp_path_factory.mktemp("graph-tokenizer")
    built = {}

    def get(runtime: str, kind: str):
        if (runtime, kind) not in built:
            out = root / f"{kind}-{runtime}"
            if kind == "bpe":
                result = api.export(model=str(tiny_checkpoints["text-classification"]), target=TARGETS[runtime],
                                    out=out, quiet=True, samples=8)
            else:
                result = minilm_artefact(TARGETS[runtime])
            built[(runtime, kind)] = result.out_dir
        return built[(runtime, kind)]

    return get


def _max_length(artefact_dir) -> int:
    from edgekit.build.artefact import open_artefact
    from edgekit.measure.feeds import max_positions

    return max_positions(open_artefact(artefact_dir, verify=False))


def _copy_model(artefact_dir, out_dir) -> str:
    """A bundle directory holding the artefact's model file(s), as package() has it when it builds."""
    record = json.loads((artefact_dir / "edgekit.json").read_text(encoding="utf-8"))
    out_dir.mkdir()
    for name in record["files"]:
        if name.startswith("model."):
            shutil.copyfile(artefact_dir / name, out_dir / name)
    return record["model_file"]


def _mixed_texts() -> list[str]:
    """Eight texts of different lengths, one far longer than the model's 512 positions."""
    texts = held_out_texts(400)
    return [texts[0], texts[1] + " " + texts[2], "Short.", " ".join(texts[3:300]), texts[4],
            " ".join(texts[5:9]), "A tiny café in Zürich — naïve résumé!", texts[10]]


def _reference(artefact_dir, model_file, texts, max_length, precision):
    from transformers import AutoTokenizer

    from edgekit.runtime.sessions import open_runner

    feeds = gt.reference_encode(AutoTokenizer.from_pretrained(str(artefact_dir)), texts, max_length)
    return feeds, open_runner(artefact_dir / model_file, precision=precision)(feeds)


@pytest.mark.parametrize("runtime,kind", CASES)
def test_in_graph_tokenizer_equals_hugging_face_and_the_model(artefact, tmp_path, runtime, kind):
    source = artefact(runtime, kind)
    out = tmp_path / "bundle"
    model_file = _copy_model(source, out)
    max_length = _max_length(source)
    build = {"artefact_dir": source, "model_file": model_file, "runtime": runtime, "out_dir": out,
             "max_length": max_length, "verify_texts": held_out_texts(VERIFY_TEXTS)}
    if (runtime, kind) in REFUSED:
        before = sorted(p.name for p in out.iterdir())
        with pytest.raises(BundleError, match=REFUSED[runtime, kind]):
            gt.build_graph_tokenizer(**build)
        assert sorted(p.name for p in out.iterdir()) == before
        return
    entry = gt.build_graph_tokenizer(**build)

    assert entry["verified"]["texts"] == VERIFY_TEXTS and entry["verified"]["mismatches"] == 0
    assert entry["verified"]["long_texts"] >= 1  # truncation was checked, not only short texts
    assert entry["verified"]["probe_texts"] == len(gt.PROBE_TEXTS)
    assert entry["truncates_at"] == max_length
    assert entry["input"] == {"name": "text", "dtype": "string", "shape": [None]}
    assert entry["outputs"][-1] == "attention_mask"
    assert entry["package"] == {"openvino": "openvino-tokenizers", "onnxruntime": "onnxruntime-extensions"}[runtime]
    assert (out / entry["file"]).is_file()
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no scratch left behind

    precision = "f32" if runtime == "openvino" else None
    run = open_text_runner(out, {"runtime": runtime, "inference_precision": precision, "model_file": model_file,
                                    "graph_tokenizer": {"built": True, **entry}}, threads=1)
    texts = _mixed_texts()
    got = run(texts)
    feeds, want = _reference(source, model_file, texts, max_length, precision)
    assert feeds["attention_mask"].shape == (8, max_length)  # the long text was cut, the rest padded
    np.testing.assert_array_equal(got["attention_mask"], feeds["attention_mask"])
    main = entry["outputs"][0]
    real = feeds["attention_mask"].astype(bool)
    expected, actual = want[main], got[main]
    if expected.ndim == 3:  # per-token outputs: only real tokens carry meaning
        expected, actual = expected[real], actual[real]
    np.testing.assert_allclose(actual, expected, atol=1e-4, rtol=1e-4)


def test_a_tokenizer_that_disagrees_is_refused_and_nothing_is_written(artefact, tmp_path, monkeypatch):
    source = artefact("onnxruntime", "bpe")
    out = tmp_path / "bundle"
    model_file = _copy_model(source, out)
    before = sorted(p.name for p in out.iterdir())
    reference = gt.reference_encode
    # A reference that cuts 8 tokens earlier: only the long texts differ, so the check must see truncation.
    monkeypatch.setattr(gt, "reference_encode", lambda hf, texts, max_length: reference(hf, texts, max_length - 8))
    with pytest.raises(BundleError, match=rf"differs from the Hugging Face tokenizer on 2 of {CHECKED} texts"):
        gt.build_graph_tokenizer(artefact_dir=source, model_file=model_file, runtime="onnxruntime", out_dir=out,
                                 max_length=_max_length(source), verify_texts=held_out_texts(VERIFY_TEXTS))
    assert sorted(p.name for p in out.iterdir()) == before


@pytest.mark.parametrize("runtime,module,package", [("openvino", "openvino_tokenizers", "openvino-tokenizers"),
                                                    ("onnxruntime", "onnxruntime_extensions",
                                                     "onnxruntime-extensions")])
def test_missing_package_names_it(tmp_path, monkeypatch, runtime, module, package):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(MissingDependencyError, match=rf"'{package}'.*edgekit\[export\]"):
        gt.build_graph_tokenizer(artefact_dir=tmp_path, model_file="model.onnx", runtime=runtime, out_dir=tmp_path,
                                 max_length=16, verify_texts=["A text."])
    manifest = {"runtime": runtime, "model_file": "model.onnx",
                "graph_tokenizer": {"built": True, "file": "tokenizer.onnx"}}
    with pytest.raises(MissingDependencyError, match=rf"in-graph tokenizer.*pip install {package}"):
        open_text_runner(tmp_path, manifest, threads=1)


def test_unknown_runtime_and_unbuilt_tokenizer_are_refused(tmp_path):
    with pytest.raises(InvalidChoiceError, match="'tflite'.*onnxruntime, openvino"):
        gt.build_graph_tokenizer(artefact_dir=tmp_path, model_file="model.tflite", runtime="tflite",
                                 out_dir=tmp_path, max_length=16, verify_texts=["A text."])
    manifest = {"runtime": "onnxruntime", "graph_tokenizer": {"built": False, "reason": "not requested"}}
    with pytest.raises(BundleError, match="no in-graph tokenizer.*not requested"):
        open_text_runner(tmp_path, manifest, threads=1)


@pytest.mark.parametrize("runtime,kind", CASES)
def test_bundle_answers_the_same_with_either_tokenizer(artefact, tmp_path, runtime, kind):
    from edgekit import runtime as edge_runtime
    from edgekit.build.bundle.package import package
    from edgekit.runtime.model import TruncationWarning

    bundle = package(artefact_dir=artefact(runtime, kind), out=tmp_path / "bundle", quiet=True)
    graph_entry = bundle.manifest["graph_tokenizer"]
    if (runtime, kind) in REFUSED:  # the bundle ships without it and says why
        assert graph_entry["built"] is False and re.search(REFUSED[runtime, kind], graph_entry["reason"])
        assert not [name for name in bundle.manifest["files"] if name.startswith("tokenizer.") and
                    not name.endswith(".json")]
        with pytest.raises(InputError, match="no in-graph tokenizer"):
            edge_runtime.load(bundle.bundle_dir, tokenizer="graph")
        return
    assert graph_entry["built"] is True, graph_entry.get("reason")
    assert graph_entry["file"] in bundle.manifest["files"]  # checksummed like every other file
    assert graph_entry["runs_before"] == bundle.manifest["model_file"]
    model_bytes = sum(e["bytes"] for n, e in bundle.manifest["files"].items() if n.startswith("model."))
    tokenizer_bytes = sum(bundle.manifest["files"][name]["bytes"] for name in graph_entry["files"])
    assert tokenizer_bytes < model_bytes, "the tokenizer model holds no copy of the weights"
    texts = _mixed_texts()
    by_graph = edge_runtime.load(bundle.bundle_dir, tokenizer="graph", threads=1)
    by_python = edge_runtime.load(bundle.bundle_dir, tokenizer="python", threads=1)
    graph_answer = by_graph(texts, batch_size=3)
    with pytest.warns(TruncationWarning):
        python_answer = by_python(texts, batch_size=3)
    if kind == "bpe":
        graph_scores = np.array([list(a["scores"].values()) for a in graph_answer])
        python_scores = np.array([list(a["scores"].values()) for a in python_answer])
        np.testing.assert_allclose(graph_scores, python_scores, atol=1e-5)
        top2 = np.sort(python_scores, axis=1)[:, -2:]
        clear = top2[:, 1] - top2[:, 0] > 1e-4  # a random tiny classifier can all but tie; ties may flip
        assert clear.any()
        assert [a["label"] for a, c in zip(graph_answer, clear) if c] == \
            [a["label"] for a, c in zip(python_answer, clear) if c]
    else:
        cosines = np.sum(graph_answer * python_answer, axis=1)  # both L2-normalised
        assert cosines.min() > 0.9999, cosines


@pytest.mark.parametrize("runtime", list(TARGETS))
def test_light_install_runs_the_in_graph_tokenizer(artefact, tmp_path, runtime):
    """On a device: numpy, the runtime and its tokenizer extension; no torch, transformers or onnx."""
    from test_light_install import _run_light

    from edgekit.build.bundle.package import package

    bundle = package(artefact_dir=artefact(runtime, "bpe"), out=tmp_path / "bundle", quiet=True).bundle_dir
    result = _run_light(f"""
        import json, sys
        from edgekit import runtime
        answers = runtime.load({str(bundle)!r}, threads=1, tokenizer="graph").predict(["A short text.", "Another."])
        loaded = sorted(m for m in ("torch", "transformers", "onnx") if m in sys.modules)
        print(json.dumps({{"answers": len(answers), "loaded": loaded}}))
    """)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"answers": 2, "loaded": []}
