"""edgekit compare on the committed fixture reports: verdicts, matching, accuracy, gates and exit codes."""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from edgekit.measure.compare import GATE_METRICS, check_gates, compare_reports, comparison_document, parse_gate
from edgekit.measure.compare import parse_noise
from edgekit.measure.result import load_report
from edgekit.errors import InputError, InvalidChoiceError, ReportError

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "reports"


def fixture(name: str) -> dict:
    return load_report(FIXTURES / name)


def path(name: str) -> str:
    return str(FIXTURES / name)


def verdicts(comparison: dict, metric: str = "p50") -> dict[str, str]:
    return {c["label"]: c["metrics"][metric]["verdict"] for c in comparison["configs"]}


def only_artefact(report: dict, name: str) -> dict:
    report = copy.deepcopy(report)
    report["configs"] = [c for c in report["configs"] if c["artefact"] == name]
    report["artefacts"] = [a for a in report["artefacts"] if a["name"] == name]
    report["accuracy"] = [a for a in report["accuracy"] if a["artefact"] == name]
    return report


def test_fixture_script_regenerates_identical_files(tmp_path):
    spec = importlib.util.spec_from_file_location("make_fixture_reports", ROOT / "tools" / "make_fixture_reports.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = module.main(tmp_path)
    assert sorted(p.name for p in written) == sorted(p.name for p in FIXTURES.glob("*.json"))
    for new in written:
        assert new.read_bytes() == (FIXTURES / new.name).read_bytes(), new.name


def test_same_report_is_ratio_one_within_noise():
    base = fixture("base.json")
    comparison = compare_reports(base, base)
    assert len(comparison["configs"]) == 8 and comparison["matched_by"] == "configuration"
    for config in comparison["configs"]:
        for figures in config["metrics"].values():
            assert figures["ratio"] == pytest.approx(1.0)
            assert figures["ci95"][0] <= 1.0 <= figures["ci95"][1] and figures["verdict"] == "within noise"
    assert comparison["overall"]["verdict"] == "within noise"
    assert not comparison["only_in_baseline"] and not comparison["only_in_other"]


def test_ratios_are_computed_from_raw_samples():
    base, slower = fixture("base.json"), fixture("slower.json")
    comparison = compare_reports(base, slower)
    for config, a, b in zip(comparison["configs"], base["configs"], slower["configs"]):
        metrics = config["metrics"]
        assert metrics["p50"]["ratio"] == pytest.approx(np.median(b["samples_ms"]) / np.median(a["samples_ms"]))
        assert metrics["p90"]["ratio"] == pytest.approx(np.percentile(b["samples_ms"], 90)
                                                        / np.percentile(a["samples_ms"], 90))
        assert metrics["mean"]["ratio"] == pytest.approx(np.mean(b["samples_ms"]) / np.mean(a["samples_ms"]))
        assert metrics["p50"]["a_ms"] == pytest.approx(a["stats"]["p50"], abs=1e-6)
        for figures in metrics.values():
            assert figures["ci95"][0] <= figures["ci95"][1]
    assert compare_reports(base, slower) == comparison  # seeded bootstrap


def test_faster_verdicts():
    comparison = compare_reports(fixture("base.json"), fixture("faster.json"))
    for label, result in verdicts(comparison).items():
        assert result == ("faster" if label.startswith("openvino-int8") else "within noise"), label
    assert comparison["overall"]["verdict"] == "faster"
    assert 0.85 < comparison["overall"]["ratio"] < 0.93  # sqrt(0.8) over half the configurations


def test_slower_verdicts():
    comparison = compare_reports(fixture("base.json"), fixture("slower.json"))
    assert set(verdicts(comparison).values()) == {"slower"}
    assert comparison["overall"]["verdict"] == "slower"
    assert comparison["overall"]["ratio"] == pytest.approx(1.10, abs=0.02)


def test_same_distribution_other_seed_is_within_noise():
    comparison = compare_reports(fixture("base.json"), fixture("same.json"))
    assert set(verdicts(comparison).values()) == {"within noise"}
    assert comparison["overall"]["verdict"] == "within noise"


def test_wider_noise_band_turns_slower_into_within_noise():
    comparison = compare_reports(fixture("base.json"), fixture("slower.json"), noise=0.2)
    assert set(verdicts(comparison).values()) == {"within noise"}
    with pytest.raises(InputError):
        compare_reports(fixture("base.json"), fixture("slower.json"), noise=1.5)


def test_disjoint_reports_are_a_report_error():
    with pytest.raises(ReportError) as error:
        compare_reports(fixture("base.json"), fixture("disjoint.json"), baseline_name="A", other_name="B")
    message = str(error.value)
    assert message.startswith("reports 'A' and 'B' have no configuration in common")
    assert "A has: onnx-fp32 b1 s16 t2" in message and "B has: onnx-fp32 b4 s64 t2" in message


def test_single_artefacts_of_different_targets_match_by_settings():
    base = only_artefact(fixture("base.json"), "onnx-fp32")
    other = only_artefact(fixture("faster.json"), "openvino-int8")
    comparison = compare_reports(base, other)
    assert comparison["matched_by"] == "settings" and len(comparison["configs"]) == 4
    assert comparison["configs"][0]["label"] == "onnx-fp32->openvino-int8 b1 s16 t2"
    assert set(verdicts(comparison).values()) == {"faster"}
    assert any("single artefacts onnx-fp32 and openvino-int8" in note for note in comparison["notes"])
    (row,) = comparison["accuracy"]
    assert row["figures"]["accuracy"]["delta_pp"] == pytest.approx(-0.9)


def test_single_artefacts_with_no_settings_in_common_still_fail():
    base = only_artefact(fixture("base.json"), "onnx-fp32")
    other = only_artefact(fixture("disjoint.json"), "openvino-int8")
    with pytest.raises(ReportError, match="no configuration in common"):
        compare_reports(base, other)


def test_unmatched_configurations_are_listed():
    other = fixture("same.json")
    other["configs"] = other["configs"][:3]
    comparison = compare_reports(fixture("base.json"), other)
    assert len(comparison["configs"]) == 3 and len(comparison["only_in_baseline"]) == 5
    assert not comparison["only_in_other"]


def test_accuracy_deltas_in_points():
    comparison = compare_reports(fixture("base.json"), fixture("accuracy_drop.json"))
    rows = {row["other_artefact"]: row["figures"] for row in comparison["accuracy"]}
    assert rows["openvino-int8"]["accuracy"]["delta_pp"] == pytest.approx(-1.0)
    assert rows["openvino-int8"]["top1_agreement"]["delta_pp"] == pytest.approx(0.0)
    assert rows["onnx-fp32"]["accuracy"]["delta_pp"] == pytest.approx(0.0)


@pytest.mark.parametrize("text, metric, threshold", [
    ("p50:5%", "p50", 5.0), ("P99:10", "p99", 10.0), ("mean: 2.5%", "mean", 2.5), ("accuracy:0.5", "accuracy", 0.5),
    ("accuracy:1pp", "accuracy", 1.0), ("p90:0", "p90", 0.0),
])
def test_parse_gate(text, metric, threshold):
    gate = parse_gate(text)
    assert (gate.metric, gate.threshold) == (metric, threshold)
    with pytest.raises(dataclasses.FrozenInstanceError):
        gate.threshold = 99


def test_unknown_gate_metric_names_the_valid_ones():
    with pytest.raises(InvalidChoiceError) as error:
        parse_gate("p75:5%")
    assert "'p75'" in str(error.value) and ", ".join(GATE_METRICS) in str(error.value)


@pytest.mark.parametrize("text", ["p50", "p50:", "p50:fast", "p50:-1", "p50:inf", "accuracy:1%", "p50:nan"])
def test_malformed_gates(text):
    with pytest.raises(InputError):
        parse_gate(text)


def test_parse_noise():
    assert parse_noise("2%") == pytest.approx(0.02) and parse_noise("0.05") == pytest.approx(0.05)
    for bad in ("5", "100%", "-1%", "lots"):
        with pytest.raises(InputError):
            parse_noise(bad)


def test_latency_gates():
    comparison = compare_reports(fixture("base.json"), fixture("slower.json"), other_name="slower.json")
    failures = check_gates(comparison, [parse_gate("p50:5%"), parse_gate("p50:15%"), parse_gate("mean:5")])
    assert [f["gate"] for f in failures] == ["p50:5%", "mean:5"]
    assert failures[0]["report"] == "slower.json" and "8 of 8 configurations" in failures[0]["message"]
    assert check_gates(compare_reports(fixture("base.json"), fixture("faster.json")), [parse_gate("p50:0")]) == []


def test_latency_gate_needs_a_slowdown_beyond_noise():
    """10% slower exceeds a 5% gate, but with a 20% noise band it is not shown to be slower: no failure."""
    comparison = compare_reports(fixture("base.json"), fixture("slower.json"), noise=0.2)
    assert check_gates(comparison, [parse_gate("p50:5%")]) == []


def test_accuracy_gates():
    comparison = compare_reports(fixture("base.json"), fixture("accuracy_drop.json"))
    (failure,) = check_gates(comparison, [parse_gate("accuracy:0.5")])
    assert "openvino-int8 accuracy dropped 1.00 points" in failure["message"]
    assert check_gates(comparison, [parse_gate("accuracy:1"), parse_gate("accuracy:2")]) == []


def test_accuracy_gate_falls_back_to_agreement_then_cosine():
    base, other = fixture("base.json"), fixture("base.json")
    for report in (base, other):
        for entry in report["accuracy"]:
            del entry["accuracy"]
    other["accuracy"][1]["top1_agreement"] -= 0.02
    gate = parse_gate("accuracy:1")
    (failure,) = check_gates(compare_reports(base, other), [gate])
    assert "top1_agreement dropped 2.00 points" in failure["message"]
    for report, cosine in ((base, 0.999), (other, 0.985)):
        for entry in report["accuracy"]:
            del entry["top1_agreement"]
            entry["cosine_mean"] = cosine
    failures = check_gates(compare_reports(base, other), [gate])
    assert len(failures) == 1 and "cosine_mean dropped 1.40 points" in failures[0]["message"]


def test_accuracy_gate_without_figures_fails():
    other = fixture("same.json")
    other["accuracy"] = []
    (failure,) = check_gates(compare_reports(fixture("base.json"), other), [parse_gate("accuracy:0.5")])
    assert "no accuracy figures in common" in failure["message"]


def test_comparison_document():
    comparison = compare_reports(fixture("base.json"), fixture("slower.json"), other_name="slower.json")
    gates = [parse_gate("p50:5%"), parse_gate("accuracy:0.5")]
    document = comparison_document([comparison], gates=gates, failures=check_gates(comparison, gates))
    assert document["schema"] == "edgekit.comparison" and document["schema_version"] == 1
    assert [(g["gate"], g["passed"]) for g in document["gates"]] == [("p50:5%", False), ("accuracy:0.5", True)]
    assert document["passed"] is False
    json.dumps(document, allow_nan=False)


# The command line, in-process.

def test_cli_gates_pass_exit_0(runner, cli):
    result = runner.invoke(cli, ["compare", path("base.json"), path("same.json"), "--fail-if", "p50:5%"])
    assert result.exit_code == 0, result.output
    assert "within noise" in result.output and "overall: geometric mean of 8 p50 ratios" in result.output
    assert "passed  p50:5%" in result.output and "FAILED" not in result.output


def test_cli_failed_gate_exit_1_after_the_table(runner, cli):
    result = runner.invoke(cli, ["compare", path("base.json"), path("slower.json"), "--fail-if", "p50:5%",
                                 "--fail-if", "accuracy:0.5"])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    table = next(i for i, line in enumerate(lines) if "onnx-fp32 b1 s16 t2" in line)
    failed = [i for i, line in enumerate(lines) if "FAILED" in line]
    assert len(failed) == 1 and failed[0] > table and "p50:5%" in lines[failed[0]]
    assert "passed  accuracy:0.5" in result.output


def test_cli_accuracy_gate_exit_1(runner, cli):
    result = runner.invoke(cli, ["compare", path("base.json"), path("accuracy_drop.json"), "--fail-if", "accuracy:0.5"])
    assert result.exit_code == 1 and "(-1.00 pp)" in result.output


def test_cli_several_reports_against_one_baseline(runner, cli):
    result = runner.invoke(cli, ["compare", path("base.json"), path("faster.json"), path("slower.json"),
                                 "--fail-if", "p50:5%", "--format", "json"])
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert [c["other"]["name"] for c in document["comparisons"]] == [path("faster.json"), path("slower.json")]
    assert [g["passed"] for g in document["gates"]] == [True, False]
    assert result.stderr.count("FAILED") == 1 and "slower.json" in result.stderr


def test_cli_markdown(runner, cli):
    result = runner.invoke(cli, ["compare", path("base.json"), path("faster.json"), "--format", "md"])
    assert result.exit_code == 0
    assert "| configuration | A p50 ms | B p50 ms | B/A p50 [95% CI] | verdict |" in result.output
    assert result.output.count("| faster |") == 4


@pytest.mark.parametrize("args, words", [
    (["base.json", "same.json", "--fail-if", "p75:5%"], ["unknown gate metric 'p75'", "p50, p90, p99, mean, accuracy"]),
    (["base.json", "same.json", "--fail-if", "p50"], ["METRIC:THRESHOLD", "p50, p90, p99, mean, accuracy"]),
    (["base.json", "same.json", "--fail-if", "p50:-3"], ["non-negative number"]),
    (["base.json", "same.json", "--noise", "5"], ["--noise"]),
    (["base.json", "disjoint.json"], ["no configuration in common"]),
    (["base.json", "not_a_report.json"], ["is not an edgekit report"]),
    (["base.json", "future_schema.json"], ["schema version 99"]),
    (["base.json", "missing.json"], ["does not exist"]),
    (["base.json"], ["at least one more"]),
    (["base.json", "same.json", "--format", "pdf"], ["--format"]),
])
def test_cli_bad_input_is_one_line_exit_2(runner, cli, args, words):
    args = [path(a) if a.endswith(".json") else a for a in args]
    result = runner.invoke(cli, ["compare", *args])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgekit: error: "), result.output
    for word in words:
        assert word in lines[0]


def test_few_samples_are_noted():
    base, other = fixture("base.json"), fixture("same.json")
    assert not compare_reports(base, other)["notes"]
    other["configs"][0]["samples_ms"] = other["configs"][0]["samples_ms"][:4]
    notes = compare_reports(base, other)["notes"]
    assert len(notes) == 1 and "fewer than 10 samples" in notes[0]


def test_different_cpus_are_noted():
    other = fixture("same.json")
    other["machine"]["cpu"] = "Another CPU"
    (note,) = compare_reports(fixture("base.json"), other)["notes"]
    assert "different CPUs" in note and "Another CPU" in note
