"""edgekit bench and edgekit claim on tiny real artefacts: report structure, options, bad input.

No test asserts a timing: only that samples were taken and that the figures derive from them.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from edgekit import api
from edgekit.measure.result import load_report, save_report
from edgekit.measure.runner import Timing, bench, interleave
from edgekit.errors import ArtefactIntegrityError, InputError
from edgekit.build.record import code_fingerprint, source_fingerprint

FAST = Timing(warmup=1, runs=3, settle_ms=0)


@pytest.fixture(scope="module")
def artefacts(tiny_build):
    return {target: tiny_build(target).out_dir for target in ("onnx-fp32", "openvino-fp32", "onnxruntime-int8")}


def test_bench_measures_every_artefact_and_configuration(artefacts, tmp_path):
    report = bench(artefacts=list(artefacts.values()), batch_sizes=[1, 2], seq_lens=[8, 16], threads=[1],
                   timing=FAST, quiet=True)
    assert report["kind"] == "bench" and len(report["artefacts"]) == 3
    assert len(report["configs"]) == 3 * 2 * 2
    for entry in report["configs"]:
        assert len(entry["samples_ms"]) == 3
        assert entry["stats"]["p50"] == pytest.approx(float(np.median(entry["samples_ms"])), rel=1e-3)
        assert entry["efficiency"] is not None and entry["efficiency"]["fraction"] > 0
        assert entry["efficiency"]["peak"] == ("int8" if entry["artefact"] == "onnxruntime-int8" else "fp32")
    for described in report["artefacts"]:
        assert described["load_s"] > 0 and described["peak_rss_mb"] > 0 and described["size_bytes"] > 0
    assert report["machine"]["peaks"]["1"]["int8_gops"] > 0
    assert report["settings"]["ort_spinning"] is True
    path = save_report(report, tmp_path / "r.json")
    assert load_report(path) == json.loads(path.read_text())


def test_lengths_from_a_file_pick_real_percentiles(artefacts, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(["short one."] * 50 + ["a much longer sentence " * 6] * 5), encoding="utf-8")
    report = bench(artefacts=[artefacts["onnx-fp32"]], lengths_from=texts, seq_lens=None, threads=[1],
                   timing=FAST, isolate=False, probe_peaks=False, quiet=True)
    lengths = report["settings"]["lengths_from"]
    assert lengths["texts"] == 55 and lengths["p50"] < lengths["p99"]
    assert report["settings"]["seq_lens"] == sorted({lengths["p50"], lengths["p90"], lengths["p99"]})


def test_eval_data_gives_accuracy_and_fidelity(artefacts, tmp_path):
    data = tmp_path / "eval.jsonl"
    rows = [{"text": f"Sentence number {i} about the weather.", "label": i % 3} for i in range(20)]
    data.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    report = bench(artefacts=[artefacts["onnx-fp32"], artefacts["onnxruntime-int8"]], seq_lens=[8], threads=[1],
                   timing=FAST, isolate=False, probe_peaks=False, eval_data=str(data), quiet=True)
    by_name = {e["artefact"]: e for e in report["accuracy"]}
    assert set(by_name) == {"onnx-fp32", "onnxruntime-int8"}
    fp32 = by_name["onnx-fp32"]
    assert fp32["n"] == 20 and fp32["top1_agreement"] == 1.0 and abs(fp32["accuracy_delta"]) < 1e-9
    assert fp32["reference"].startswith("pytorch-fp32")
    assert 0 <= by_name["onnxruntime-int8"]["accuracy"] <= 1


def test_reference_adds_pytorch(artefacts):
    report = bench(artefacts=[artefacts["onnx-fp32"]], seq_lens=[8], threads=[1], timing=FAST, isolate=False,
                   probe_peaks=False, reference=True, quiet=True)
    names = {c["artefact"] for c in report["configs"]}
    assert any(n.startswith("pytorch-fp32") for n in names) and "onnx-fp32" in names


def test_tampered_or_incomplete_artefact_is_refused(artefacts, tmp_path):
    copy = shutil.copytree(artefacts["onnx-fp32"], tmp_path / "copy")
    with (copy / "model.onnx").open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ArtefactIntegrityError, match="does not match the sha256"):
        bench(artefacts=[copy], timing=FAST, quiet=True)
    (copy / "model.onnx").unlink()
    with pytest.raises(ArtefactIntegrityError, match="missing 1 file"):
        bench(artefacts=[copy], timing=FAST, quiet=True)


@pytest.mark.parametrize("args, message", [
    (["--batch-sizes", "0"], "--batch-sizes takes positive"),
    (["--seq-lens", "8,x"], "--seq-lens takes comma-separated"),
    (["--runs", "3", "--duration", "1"], "not both"),
    (["--seq-lens", "9999"], "outside 2..512"),
    (["--eval-data", "nope.jsonl"], "neither a file nor a datasets spec"),
    (["--calls-per-turn", "0"], "--calls-per-turn must be at least 1, got 0"),
])
def test_bad_bench_options_are_one_line(runner, cli, artefacts, args, message):
    result = runner.invoke(cli, ["bench", str(artefacts["onnx-fp32"]), "-q", "--no-isolate", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_bench_cli_prints_and_saves(runner, cli, artefacts, tmp_path):
    out = tmp_path / "report.json"
    result = runner.invoke(cli, ["bench", str(artefacts["onnx-fp32"]), str(artefacts["openvino-fp32"]), "-q",
                                 "--seq-lens", "8", "--threads", "1", "--runs", "2", "--warmup", "0",
                                 "--calls-per-turn", "3", "--no-isolate", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "onnx-fp32" in result.output and "openvino-fp32" in result.output
    report = load_report(out)
    assert len(report["configs"]) == 2 and report["settings"]["calls_per_turn"] == 3
    assert all(len(c["samples_ms"]) == 2 * 3 for c in report["configs"])


def test_turns_of_back_to_back_calls_in_a_shuffled_order():
    calls = []
    runners = {name: (lambda feeds, name=name: calls.append(name)) for name in "abc"}
    samples = interleave(runners, {name: {} for name in runners},
                         Timing(warmup=1, runs=4, settle_ms=0, calls_per_turn=2), seed=3)
    assert calls[:3] == ["a", "b", "c"]  # one warm-up call each, then the timed turns
    timed = calls[3:]
    turns = [timed[i:i + 2] for i in range(0, len(timed), 2)]
    assert all(turn[0] == turn[1] for turn in turns), "a turn's calls are back to back"
    rounds = [sorted(t[0] for t in turns[i:i + 3]) for i in range(0, len(turns), 3)]
    assert rounds == [["a", "b", "c"]] * 4, "every runner has one turn per round"
    assert len({tuple(t[0] for t in turns[i:i + 3]) for i in range(0, len(turns), 3)}) > 1, "order is shuffled"
    assert {name: len(values) for name, values in samples.items()} == {"a": 8, "b": 8, "c": 8}


def test_claim_on_tiny_checkpoints(tiny_classifier, tmp_path):
    from conftest import _save_tiny_roberta

    from edgekit.measure.claim import claim
    from edgekit.measure.stats import verdict

    slow = _save_tiny_roberta(tmp_path / "slow", "text-classification", num_hidden_layers=4)
    report = claim(fast_model=str(tiny_classifier), slow_model=str(slow), runtimes=["pytorch-fp32", "onnx-fp32"],
                   batch_sizes=[1], seq_lens=[8, 16], threads=1, timing=FAST, work_dir=tmp_path / "work",
                   quiet=True)
    result = report["claim"]
    assert report["kind"] == "claim" and set(result["runtimes"]) == {"pytorch-fp32", "onnx-fp32"}
    for runtime in result["runtimes"].values():
        assert len(runtime["pairs"]) == 2
        for pair in runtime["pairs"]:
            low, high = pair["ratio"]["ci95"]
            assert low <= pair["ratio"]["median"] <= high
        assert runtime["verdict"] == verdict(runtime["overall"]["ci95"], 2.0)
    assert len(report["configs"]) == 2 * 2 * 2  # runtimes x models x sequence lengths
    assert all(a["first_run_s"] > 0 for a in report["artefacts"])  # shown apart from the steady latency
    # A second claim reuses the built artefacts instead of rebuilding them.
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "work").rglob("model.onnx")}
    claim(fast_model=str(tiny_classifier), slow_model=str(slow), runtimes=["onnx-fp32"], batch_sizes=[1],
          seq_lens=[8], threads=1, timing=FAST, work_dir=tmp_path / "work", quiet=True)
    assert before == {p: p.stat().st_mtime_ns for p in (tmp_path / "work").rglob("model.onnx")}


def test_unknown_claim_runtime_is_one_line(runner, cli):
    result = runner.invoke(cli, ["claim", "--runtimes", "onnx-fp32,tflite"])
    assert result.exit_code == 2
    assert "unknown claim runtime 'tflite'; valid: pytorch-fp32" in result.output


def test_bench_needs_existing_artefact(tmp_path):
    with pytest.raises(ArtefactIntegrityError, match="does not exist"):
        bench(artefacts=[tmp_path / "none"], quiet=True)
    with pytest.raises(InputError):
        bench(artefacts=[], quiet=True)


def test_corpus_eval_data_is_held_out_from_calibration():
    from edgekit.measure.accuracy import read_eval_data
    from edgekit.build.corpus import CALIBRATION_RESERVE, load_corpus, split_corpus

    texts, labels, description = read_eval_data("corpus:300")
    assert len(texts) == 300 and labels is None and "held-out" in description
    for validation in (64, 256):  # the targets' validation sizes: their calibration reserve is the same
        calibration, _ = split_corpus(load_corpus(), calibration=CALIBRATION_RESERVE, validation=validation)
        assert not set(calibration) & set(texts)
    with pytest.raises(InputError, match="corpus:N"):
        read_eval_data("corpus:x")


def test_export_or_reuse_rebuilds_only_a_changed_artefact(tiny_classifier, tmp_path):
    out = tmp_path / "art"
    api.export_or_reuse(model=str(tiny_classifier), target="onnx-fp32", out=out, quiet=True)
    first = (out / "model.onnx").stat().st_mtime_ns
    api.export_or_reuse(model=str(tiny_classifier), target="onnx-fp32", out=out, quiet=True)
    assert (out / "model.onnx").stat().st_mtime_ns == first  # reused: same source, target, checksums
    (out / "tokenizer.json").write_text("{}")
    api.export_or_reuse(model=str(tiny_classifier), target="onnx-fp32", out=out, quiet=True)
    assert (out / "model.onnx").stat().st_mtime_ns != first  # a file failed its checksum: rebuilt
    assert json.loads((out / "tokenizer.json").read_text()) != {}


def test_export_or_reuse_rebuilds_what_another_recipe_or_checkpoint_built(tiny_classifier, tmp_path):
    checkpoint = tmp_path / "checkpoint"
    shutil.copytree(tiny_classifier, checkpoint)
    out = tmp_path / "art"
    api.export_or_reuse(model=str(checkpoint), target="onnx-fp32", out=out, quiet=True)
    built = (out / "model.onnx").stat().st_mtime_ns

    record = json.loads((out / "edgekit.json").read_text())
    record["recipe"] = record["recipe"].replace("opset = 17", "opset = 18")  # as if the target's recipe changed
    (out / "edgekit.json").write_text(json.dumps(record))
    api.export_or_reuse(model=str(checkpoint), target="onnx-fp32", out=out, quiet=True)
    rebuilt = (out / "model.onnx").stat().st_mtime_ns
    assert rebuilt != built
    assert json.loads((out / "edgekit.json").read_text())["recipe"] == api.plan_export(
        model=str(checkpoint), target="onnx-fp32").recipe.to_toml()

    (checkpoint / "notes.txt").write_text("fine-tuned again")  # the checkpoint's files changed
    api.export_or_reuse(model=str(checkpoint), target="onnx-fp32", out=out, quiet=True)
    assert (out / "model.onnx").stat().st_mtime_ns != rebuilt


def test_export_or_reuse_with_a_recipe_reuses_only_that_recipe(tiny_classifier, tmp_path):
    out, recipe = tmp_path / "art", tmp_path / "tight.toml"
    recipe.write_text("[validate]\natol = 0.001\n")
    api.export_or_reuse(model=str(tiny_classifier), target="onnx-fp32", out=out, recipe=recipe, quiet=True)
    built = (out / "model.onnx").stat().st_mtime_ns
    assert "atol = 0.001" in json.loads((out / "edgekit.json").read_text())["recipe"]
    api.export_or_reuse(model=str(tiny_classifier), target="onnx-fp32", out=out, recipe=recipe, quiet=True)
    assert (out / "model.onnx").stat().st_mtime_ns == built  # the same recipe: reused
    api.export_or_reuse(model=str(tiny_classifier), target="onnx-fp32", out=out, quiet=True)
    assert (out / "model.onnx").stat().st_mtime_ns != built  # the default recipe now: rebuilt
    assert "atol = 0.001" not in json.loads((out / "edgekit.json").read_text())["recipe"]


@pytest.mark.parametrize("package", ["edgekit_code", "openvino"])
def test_export_or_reuse_rebuilds_what_other_code_built(tiny_classifier, tmp_path, package):
    out = tmp_path / "art"
    api.export_or_reuse(model=str(tiny_classifier), target="onnx-fp32", out=out, quiet=True)
    built = (out / "model.onnx").stat().st_mtime_ns
    record = json.loads((out / "edgekit.json").read_text())
    assert record["versions"]["edgekit_code"] == code_fingerprint()
    record["versions"][package] = "0.0.1"  # as if an older edgekit, or another OpenVINO, had built it
    (out / "edgekit.json").write_text(json.dumps(record))
    api.export_or_reuse(model=str(tiny_classifier), target="onnx-fp32", out=out, quiet=True)
    assert (out / "model.onnx").stat().st_mtime_ns != built
    assert json.loads((out / "edgekit.json").read_text())["versions"][package] != "0.0.1"


def test_source_fingerprint_follows_build_code_not_the_bench_harness(tmp_path):
    (tmp_path / "measure").mkdir()
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "passes.py").write_text("x = 1\n")
    (tmp_path / "measure" / "runner.py").write_text("y = 1\n")
    first = source_fingerprint(tmp_path)
    (tmp_path / "measure" / "runner.py").write_text("y = 2\n")
    (tmp_path / "__pycache__" / "passes.cpython-311.pyc").write_bytes(b"\0")
    assert source_fingerprint(tmp_path) == first
    (tmp_path / "passes.py").write_text("x = 2\n")
    assert source_fingerprint(tmp_path) != first


def test_a_model_above_the_probed_peak_reprobes_and_is_flagged(monkeypatch):
    """A probe that met a noisy moment sits below what a model reaches: it is probed again, the higher peak
    kept, and a figure still above it is flagged, never shown as a share above 100%."""
    from edgekit.build.progress import Progress
    from edgekit.measure import probe, runner
    from edgekit.measure.result import config_entry
    from edgekit.views.tables import latency_table

    def config(name, peak_gops):
        # 1e9 ops at 1 ms p50: 1000 GOP/s achieved
        return config_entry(artefact=name, batch=1, seq_len=8, threads=2, samples_ms=[1.0, 1.0, 1.0],
                            flops_per_sequence=1e9, peak_ops=peak_gops * 1e9, peak_name="int8")

    def report_with(peak_gops):
        return {"machine": {"peaks": {"2": {"fp32_gflops": 100.0, "int8_gops": peak_gops}}},
                "configs": [config("a", peak_gops)], "artefacts": []}

    monkeypatch.setattr(probe, "measure_peaks", lambda **_: {"fp32_gflops": 100.0, "int8_gops": 2000.0})
    report = report_with(800.0)
    runner._recheck_peaks(report, Progress(quiet=True))
    assert report["machine"]["peaks"]["2"]["int8_gops"] == 2000.0 and report["machine"]["peaks"]["2"]["probes"] == 2
    assert report["configs"][0]["efficiency"]["fraction"] == pytest.approx(0.5)
    assert "above_peak" not in report["configs"][0]["efficiency"]
    assert latency_table(report).rows[0][-2] == "50.0% of int8"

    monkeypatch.setattr(probe, "measure_peaks", lambda **_: {"fp32_gflops": 100.0, "int8_gops": 700.0})
    report = report_with(800.0)
    runner._recheck_peaks(report, Progress(quiet=True))
    assert report["machine"]["peaks"]["2"]["int8_gops"] == 800.0, "the higher of both probes is kept"
    assert report["configs"][0]["efficiency"]["above_peak"] is True
    assert latency_table(report).rows[0][-2] == "over the probed peak: noisy probe"


def test_labels_tell_artefacts_of_one_target_apart(tmp_path):
    from edgekit.build.artefact import Artefact
    from edgekit.build.record import Record
    from edgekit.errors import InputError
    from edgekit.measure.runner import _labels

    def artefact(path, target):
        return Artefact(tmp_path / path, Record({"target": {"name": target}}))

    labels = _labels([artefact("before/int8", "t"), artefact("after/int8", "t"), artefact("x/other", "u")])
    assert labels == ["t (before/int8)", "t (after/int8)", "u"]
    with pytest.raises(InputError, match="given twice"):
        _labels([artefact("a", "t"), artefact("a", "t")])
