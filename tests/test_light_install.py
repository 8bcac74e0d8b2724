"""The light install (numpy, onnxruntime, openvino, tokenizers): artefacts load and run with no torch.

A subprocess makes every import of the build-side packages fail, as on a device without them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest


BLOCKER = textwrap.dedent("""
    import sys
    BLOCKED = {"torch", "transformers", "optimum", "nncf", "neural_compressor", "onnx"}
    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} is blocked: light install")
    sys.meta_path.insert(0, Blocker())
""")


def _run_light(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCKER + textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def tiny_artefact(tiny_build):
    return tiny_build("onnx-fp32")


def test_blocker_really_blocks():
    result = _run_light("import torch")
    assert result.returncode != 0 and "blocked: light install" in result.stderr


def test_light_modules_import_and_run_an_artefact(tiny_artefact):
    result = _run_light(f"""
        import json, sys
        import numpy as np
        from tokenizers import Tokenizer
        import edgekit, edgekit.cli, edgekit.api, edgekit.runtime.sessions, edgekit.build.fidelity, edgekit.build.record
        import edgekit.build.targets, edgekit.build.tasks, edgekit.build.corpus, edgekit.build.recipes, edgekit.runtime.hashing
        from edgekit.runtime.sessions import ort_session, run_onnx
        out = {str(tiny_artefact.out_dir)!r}
        record = edgekit.build.record.read_record(__import__("pathlib").Path(out))
        tok = Tokenizer.from_file(out + "/tokenizer.json")
        enc = tok.encode("A short real sentence.")
        feeds = {{"input_ids": np.array([enc.ids]), "attention_mask": np.array([enc.attention_mask])}}
        logits = run_onnx(ort_session(out + "/" + record.model_file), feeds)["logits"]
        heavy = sorted(m for m in ("torch", "transformers", "onnx") if m in sys.modules)
        print(json.dumps({{"shape": list(logits.shape), "heavy": heavy}}))
    """)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"shape": [1, 3], "heavy": []}


def test_light_cli_lists_targets_and_explains_missing_extra():
    result = _run_light("""
        import sys
        from edgekit.cli import cli
        try:
            cli.main(["targets"])
        except SystemExit as exc:
            print("exit", exc.code)
        try:
            cli.main(["export", "--model", "random:distilroberta-base", "--out", "/tmp/edgekit-never-written", "-q"])
        except SystemExit as exc:
            print("exit", exc.code)
    """)
    assert "onnx-fp32" in result.stdout and result.stdout.count("exit") == 2
    assert "exit 0" in result.stdout and "exit 2" in result.stdout
    assert "pip install \"edgekit[export]\"" in result.stderr


def test_light_bench_runs_and_reference_explains_missing_extra(tiny_artefact, tmp_path):
    out = tmp_path / "report.json"
    result = _run_light(f"""
        import sys
        from edgekit.cli import cli
        for extra in ([], ["--reference", "--force"]):
            try:
                cli.main(["bench", {str(tiny_artefact.out_dir)!r}, "--seq-lens", "8", "--threads", "1", "--runs", "2",
                          "--warmup", "0", "-q", "--out", {str(out)!r}, *extra])
            except SystemExit as exc:
                print("exit", exc.code)
        print("heavy", sorted(m for m in ("torch", "transformers", "onnx") if m in sys.modules))
    """)
    assert "exit 0" in result.stdout and "exit 2" in result.stdout, result.stderr
    assert "heavy []" in result.stdout
    assert 'pip install "edgekit[export]"' in result.stderr
    report = json.loads(out.read_text())
    assert report["schema"] == "edgekit.report" and len(report["configs"]) == 1
    assert report["artefacts"][0]["peak_rss_mb"] > 0


def test_light_runtime_loads_a_bundle_with_only_its_runtime(tiny_artefact, tmp_path):
    from edgekit.build.bundle.package import package

    bundle = package(artefact_dir=tiny_artefact.out_dir, out=tmp_path / "bundle", graph_tokenizer=False,
                     quiet=True).bundle_dir
    result = _run_light(f"""
        import json, sys
        from edgekit import runtime
        answers = runtime.load({str(bundle)!r}, threads=1).predict(["A short real sentence.", "Another one."])
        loaded = sorted(m for m in ("torch", "transformers", "onnx", "openvino", "matplotlib") if m in sys.modules)
        layers = sorted({{m.split(".")[1] for m in sys.modules if m.startswith("edgekit.") and m.count(".") > 0}})
        print(json.dumps({{"labels": [a["label"] for a in answers], "loaded": loaded, "layers": layers}}))
    """)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(report["labels"]) == 2 and report["loaded"] == []
    assert report["layers"] == ["errors", "runtime"], "the device runtime loads nothing of the build side"
