"""The ARM tier: the ARM artefacts of a tiny RoBERTa, and a bundle, loaded and run by the light install inside an
emulated ARM64 Python (qemu user mode, tools/arm64/setup.sh), on a Graviton-class core (neoverse-n1: dotprod,
fp16) and a Raspberry Pi 4 class core (cortex-a72: neither), two cores each.

Outputs are checked against the x86 PyTorch FP32 reference within the targets' accuracy budget, and against
the same artefact run on x86 (ARM's integer and pinned-f32 kernels must give x86's answers). OpenVINO runs
pinned to f32 for that exact check; its default precision on each core is run and reported beside it. Wall
times are emulated, never device speed. `make test` builds the emulator first; without it this tier fails
with the command that builds it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgekit.build.budget import Budget
from edgekit.build.corpus import held_out_texts
from edgekit.build.fidelity import compare_outputs
from edgekit.build.tasks import get_task
from edgekit.runtime.sessions import open_runner

ROOT = Path(__file__).resolve().parent.parent
GUEST_PYTHON = ROOT / ".arm64" / "python"
CORES = ("neoverse-n1", "cortex-a72")
TEXTS = 24
TIMEOUT_S = 900


@pytest.fixture(scope="module")
def arm_job(tiny_build, tiny_classifier, tmp_path_factory):
    """The artefacts, inputs, x86 outputs and PyTorch reference the guest runs are judged against."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if not GUEST_PYTHON.is_file():
        pytest.fail(f"the emulated ARM64 Python is missing: run tools/arm64/setup.sh (make test does); "
                    f"expected {GUEST_PYTHON}")
    root = tmp_path_factory.mktemp("arm64")
    ort_arm, ov_arm = tiny_build("onnxruntime-int8-arm64").out_dir, tiny_build("openvino-arm64").out_dir
    from edgekit import api

    bundle = api.package(artefact=ort_arm, out=root / "bundle", graph_tokenizer=False, quiet=True).bundle_dir
    texts = held_out_texts(TEXTS)
    tokenizer = AutoTokenizer.from_pretrained(tiny_classifier)
    encoded = tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="np")
    feeds = {name: np.asarray(encoded[name], dtype=np.int64) for name in ("input_ids", "attention_mask")}
    np.savez(root / "inputs.npz", **feeds)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_classifier).eval()
    with torch.no_grad():
        reference = {"logits": model(**{k: torch.from_numpy(v) for k, v in feeds.items()}).logits.numpy()}
    models = [{"name": "ort-onnx", "path": str(ort_arm / "model.onnx"), "precision": None},
              {"name": "ort-mobile", "path": str(ort_arm / "model.ort"), "precision": None},
              {"name": "openvino-f32", "path": str(ov_arm / "model.xml"), "precision": "f32"},
              {"name": "openvino-default", "path": str(ov_arm / "model.xml"), "precision": None}]
    x86 = {m["name"]: open_runner(m["path"], threads=2, precision=m["precision"] or "f32")(feeds) for m in models}
    return {"root": root, "models": models, "feeds": feeds, "reference": reference, "x86": x86, "bundle": bundle,
            "texts": texts[:4], "bundle_answers": api_predict(bundle, texts[:4])}


def api_predict(bundle: Path, texts: list[str]) -> list[dict]:
    from edgekit import runtime

    return runtime.load(bundle, threads=2).predict(texts)


def _run_guest(job: dict, core: str) -> tuple[dict, dict]:
    out = job["root"] / core
    spec = {"inputs": str(job["root"] / "inputs.npz"), "threads": 2, "out": str(out), "models": job["models"],
            "bundles": [{"name": "ort", "path": str(job["bundle"]), "texts": job["texts"]}]}
    spec_path = job["root"] / f"{core}.json"
    spec_path.write_text(json.dumps(spec))
    env = {**os.environ, "QEMU_CPU": core, "EDGEKIT_SOURCE": str(ROOT)}
    result = subprocess.run([str(GUEST_PYTHON), str(ROOT / "tests" / "arm64" / "guest_check.py"), str(spec_path)],
                            capture_output=True, text=True, timeout=TIMEOUT_S, env=env, check=False)
    assert result.returncode == 0, f"the ARM64 guest failed on {core}:\n{result.stderr[-3000:]}"
    outputs = np.load(out / "outputs.npz")
    return json.loads((out / "result.json").read_text()), {k: outputs[k] for k in outputs.files}


@pytest.mark.parametrize("core", CORES)
def test_arm_artefacts_and_bundle_answer_on_emulated_arm64(arm_job, core):
    result, outputs = _run_guest(arm_job, core)
    assert result["machine"] == "aarch64"
    assert ("asimddp" in result["features"]) is (core == "neoverse-n1"), "the emulated core is the one asked for"
    task, mask = get_task("text-classification"), arm_job["feeds"]["attention_mask"]
    budget = Budget()  # the tiny model's build budget: top-1 disagreement <= 0.01
    for model in arm_job["models"]:
        logits = outputs[f"{model['name']}/logits"]
        figures = compare_outputs(task, [arm_job["reference"]], [{"logits": logits}], [mask])
        info = result["models"][model["name"]]
        if model["name"] == "openvino-default":
            assert info["precision_used"] in ("f32", "f16"), info  # reported, not held to the exact check
            continue
        assert budget.passes(figures), f"{model['name']} on {core}: {budget.failures(figures)}"
        x86 = arm_job["x86"][model["name"]]["logits"]
        tolerance = 1e-4 if model["precision"] == "f32" else 2e-3  # integer kernels differ in rounding only
        assert np.max(np.abs(logits - x86)) <= tolerance * max(1.0, float(np.max(np.abs(x86)))), model["name"]
        if model["precision"] == "f32":
            assert info["precision_used"] == "f32"
    bundle = result["bundles"]["ort"]
    assert bundle["verify_exit"] == 0 and any(line.startswith("checksums:") for line in bundle["verify"])
    arm_scores = np.array([list(a["scores"].values()) for a in bundle["answers"]])
    x86_scores = np.array([list(a["scores"].values()) for a in arm_job["bundle_answers"]])
    np.testing.assert_allclose(arm_scores, x86_scores, atol=1e-2)  # the same bundle, answered on ARM


def test_guests_of_two_cores_at_once_each_see_their_own_core():
    """The emulated /proc/cpuinfo is one file: a guest for another core waits instead of rewriting it under a
    running one (which would hand ONNX Runtime and OpenVINO the wrong core's features)."""
    if not GUEST_PYTHON.is_file():
        pytest.fail(f"the emulated ARM64 Python is missing: run tools/arm64/setup.sh; expected {GUEST_PYTHON}")
    code = ("import time; time.sleep(3); print('asimddp' in open('/proc/cpuinfo').read().split('Features')[1]"
            ".splitlines()[0])")
    started = {core: subprocess.Popen([str(GUEST_PYTHON), "-c", code], stdout=subprocess.PIPE, text=True,
                                      env={**os.environ, "QEMU_CPU": core}) for core in CORES}
    seen = {core: process.communicate(timeout=TIMEOUT_S)[0].strip() for core, process in started.items()}
    assert seen == {"neoverse-n1": "True", "cortex-a72": "False"}
