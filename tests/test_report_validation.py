"""Reports are checked on read, `compare` cannot be fooled into a pass, JSON output is strict, and `--out`
never replaces a file edgekit did not write.

The reports are the synthetic ones of test_report_render, saved here; bad variants are written with plain
json.dumps (NaN allowed), as a damaged or hand-edited file would be.
"""

from __future__ import annotations

import copy
import json
import math

import pytest
from test_report_render import bench_report, claim_report

from edgekit.errors import ReportError
from edgekit.measure.compare import check_gates, compare_reports, parse_gate
from edgekit.measure.result import save_report


def write_raw(path, document) -> str:
    path.write_text(json.dumps(document, indent=1))  # allow_nan: NaN and Infinity literals, as found in the wild
    return str(path)


def one_error_line(result) -> str:
    """The result of an expected failure: exit 2, one `edgekit: error:` line, no traceback."""
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgekit: error: "), result.output
    return lines[0]


def strict_json(text: str):
    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


# --- bad reports ------------------------------------------------------------------------------------------------


def _set_sample(value):
    def mutate(report):
        report["configs"][0]["samples_ms"][3] = value
    return mutate


def _set(path: tuple, value):
    def mutate(report):
        target = report
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return mutate


def _delete(path: tuple):
    def mutate(report):
        target = report
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    return mutate


# (kind of report, how to damage it, what the error line must name)
BAD_REPORTS = {
    "nan-sample": ("bench", _set_sample(math.nan), "configs[0].samples_ms[3] is nan"),
    "inf-sample": ("bench", _set_sample(math.inf), "configs[0].samples_ms[3] is inf"),
    "negative-sample": ("bench", _set_sample(-4.2), "configs[0].samples_ms[3] is -4.2"),
    "zero-sample": ("bench", _set_sample(0), "configs[0].samples_ms[3] is 0"),
    "string-sample": ("bench", _set_sample("4.2"), "configs[0].samples_ms[3] is '4.2'"),
    "bool-sample": ("bench", _set_sample(True), "configs[0].samples_ms[3] is True"),
    "empty-samples": ("bench", _set(("configs", 0, "samples_ms"), []), "configs[0].samples_ms is []"),
    "samples-not-a-list": ("bench", _set(("configs", 0, "samples_ms"), 4.2), "configs[0].samples_ms is 4.2"),
    "machine-string": ("bench", _set(("machine",), "Intel Xeon"), "machine is 'Intel Xeon'"),
    "settings-list": ("bench", _set(("settings",), [1]), "settings is [1]"),
    "configs-dict": ("bench", _set(("configs",), {"onnx-fp32": [1.0]}), "configs is {'onnx-fp32': [1.0]}"),
    "config-string": ("bench", _set(("configs", 0), "onnx-fp32"), "configs[0] is 'onnx-fp32'"),
    "batch-string": ("bench", _set(("configs", 0, "batch"), "2"), "configs[0].batch is '2'"),
    "batch-bool": ("bench", _set(("configs", 0, "batch"), True), "configs[0].batch is True"),
    "threads-zero": ("bench", _set(("configs", 0, "threads"), 0), "configs[0].threads is 0"),
    "seq-len-missing": ("bench", _delete(("configs", 0, "seq_len")), "configs[0].seq_len is missing"),
    "artefact-name-missing": ("bench", _delete(("configs", 0, "artefact")), "configs[0].artefact is missing"),
    "stats-nan": ("bench", _set(("configs", 0, "stats", "p50"), math.nan), "configs[0].stats.p50 is nan"),
    "stats-string": ("bench", _set(("configs", 0, "stats"), "fast"), "configs[0].stats is 'fast'"),
    "efficiency-list": ("bench", _set(("configs", 0, "efficiency"), [0.5]), "configs[0].efficiency is [0.5]"),
    "artefacts-strings": ("bench", _set(("artefacts",), ["onnx-fp32"]), "artefacts[0] is 'onnx-fp32'"),
    "warnings-string": ("bench", _set(("warnings",), "slow CPU"), "warnings is 'slow CPU'"),
    "accuracy-nan": ("bench", _set(("accuracy", 0, "accuracy"), math.nan), "accuracy[0].accuracy is nan"),
    "accuracy-percent": ("bench", _set(("accuracy", 1, "accuracy"), 90.5), "accuracy[1].accuracy is 90.5"),
    "claim-string": ("claim", _set(("claim",), "holds"), "claim is 'holds'"),
    "claim-missing": ("claim", _delete(("claim",)), "claim is missing"),
    "claim-runtimes-list": ("claim", _set(("claim", "runtimes"), ["onnx-fp32"]), "claim.runtimes is ['onnx-fp32']"),
    "claim-pairs-string": ("claim", _set(("claim", "runtimes", "onnx-fp32", "pairs"), "none"),
                           "claim.runtimes['onnx-fp32'].pairs is 'none'"),
    "claim-pair-ratio-nan": ("claim", _set(("claim", "runtimes", "onnx-fp32", "pairs", 0, "ratio", "median"),
                                           math.nan), "claim.runtimes['onnx-fp32'].pairs[0].ratio.median is nan"),
    "claim-pair-batch-list": ("claim", _set(("claim", "runtimes", "onnx-fp32", "pairs", 0, "batch"), [1]),
                              "claim.runtimes['onnx-fp32'].pairs[0].batch is [1]"),
    "claim-overall-ci": ("claim", _set(("claim", "overall", "ci95"), [2.0]), "claim.overall.ci95 is [2.0]"),
    "claim-threshold-string": ("claim", _set(("claim", "threshold"), "2x"), "claim.threshold is '2x'"),
    "bench-with-claim-list": ("bench", _set(("claim",), [1]), "claim is [1]"),
}


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A saved bench and claim report, the baselines the damaged copies are compared with."""
    root = tmp_path_factory.mktemp("good")
    return {kind: save_report(make(), root / f"{kind}.json") for kind, make in
            (("bench", bench_report), ("claim", claim_report))}


def bad_report(tmp_path, case: str) -> str:
    kind, mutate, _ = BAD_REPORTS[case]
    report = bench_report() if kind == "bench" else claim_report()
    mutate(report)
    return write_raw(tmp_path / "bad.json", report)


@pytest.mark.parametrize("case", BAD_REPORTS)
def test_compare_refuses_a_bad_report(runner, cli, good, tmp_path, case):
    bad = bad_report(tmp_path, case)
    result = runner.invoke(cli, ["compare", str(good[BAD_REPORTS[case][0]]), bad, "--fail-if", "p50:5%"])
    line = one_error_line(result)
    assert bad in line and BAD_REPORTS[case][2] in line, line


@pytest.mark.parametrize("case", BAD_REPORTS)
def test_report_refuses_a_bad_report(runner, cli, tmp_path, case):
    bad = bad_report(tmp_path, case)
    line = one_error_line(runner.invoke(cli, ["report", bad, "--format", "json"]))
    assert bad in line and BAD_REPORTS[case][2] in line, line


@pytest.mark.parametrize("value", [True, 1.0, "1"], ids=["bool", "float", "string"])
def test_schema_version_must_be_the_integer_1(runner, cli, tmp_path, value):
    report = bench_report()
    report["schema_version"] = value
    line = one_error_line(runner.invoke(cli, ["report", write_raw(tmp_path / "r.json", report), "--format", "md"]))
    assert "schema version" in line and repr(value) in line


def test_a_report_directory_is_one_line(runner, cli, tmp_path):
    line = one_error_line(runner.invoke(cli, ["compare", str(tmp_path), str(tmp_path)]))
    assert "is a directory" in line


# --- compare cannot pass what it cannot judge -------------------------------------------------------------------


def _ten_times_slower_with(value) -> dict:
    report = bench_report()
    for config in report["configs"]:
        config["samples_ms"] = [v * 10 for v in config["samples_ms"]]
    report["configs"][0]["samples_ms"][0] = value
    return report


@pytest.mark.parametrize("value", [math.nan, -1.0, math.inf], ids=["nan", "negative", "inf"])
def test_ten_times_slower_with_one_bad_sample_is_refused_not_passed(runner, cli, good, tmp_path, value):
    slower = write_raw(tmp_path / "slower.json", _ten_times_slower_with(value))
    for fmt in ("table", "json"):
        result = runner.invoke(cli, ["compare", str(good["bench"]), slower, "--fail-if", "p50:5%", "--format", fmt])
        line = one_error_line(result)
        assert "configs[0].samples_ms[0]" in line and '"passed"' not in result.output


def test_ten_times_slower_fails_the_gate_once_the_bad_sample_is_gone(runner, cli, good, tmp_path):
    """The control for the test above: the same report, clean, is a gate failure (exit 1), not an error."""
    slower = write_raw(tmp_path / "slower.json", _ten_times_slower_with(50.0))
    result = runner.invoke(cli, ["compare", str(good["bench"]), slower, "--fail-if", "p50:5%", "--format", "json"])
    assert result.exit_code == 1, result.output
    assert strict_json(result.stdout)["passed"] is False


@pytest.mark.parametrize("value", [math.nan, -3.0, 0.0, "7"], ids=["nan", "negative", "zero", "string"])
def test_compare_reports_checks_documents_from_memory(value):
    other = bench_report()
    other["configs"][2]["samples_ms"][1] = value
    with pytest.raises(ReportError, match=r"'B': configs\[2\]\.samples_ms\[1\]"):
        compare_reports(bench_report(), other, baseline_name="A", other_name="B")


@pytest.mark.parametrize("field, value", [("ratio", math.nan), ("ratio", math.inf), ("ci95", [math.nan, 2.0]),
                                          ("ratio", -2.0)])
def test_a_gate_on_a_non_finite_ratio_is_an_error_never_a_pass(field, value):
    comparison = compare_reports(bench_report(), bench_report(), baseline_name="A", other_name="B")
    damaged = copy.deepcopy(comparison)
    damaged["configs"][0]["metrics"]["p50"][field] = value
    assert check_gates(comparison, [parse_gate("p50:5%")]) == []  # the intact comparison passes
    with pytest.raises(ReportError, match="not a finite positive figure"):
        check_gates(damaged, [parse_gate("p50:5%")])


# --- strict JSON out --------------------------------------------------------------------------------------------


def test_compare_json_is_strict_json_with_null_for_missing(runner, cli, good, tmp_path):
    other = bench_report()
    other["accuracy"][0]["n"] = math.nan  # an optional count nobody validates: shown as missing
    result = runner.invoke(cli, ["compare", str(good["bench"]), write_raw(tmp_path / "o.json", other),
                                 "--fail-if", "p50:5%", "--format", "json"])
    assert result.exit_code == 0, result.output
    document = strict_json(result.stdout)
    row = next(r for r in document["comparisons"][0]["accuracy"] if r["other_artefact"] == "onnx-fp32")
    assert row["n"] == [200, None] and document["passed"] is True


@pytest.mark.parametrize("field", ["load_s", "peak_rss_mb", "size_bytes"])
def test_report_json_is_strict_json_with_null_for_missing(runner, cli, tmp_path, field):
    report = bench_report()
    report["artefacts"][1][field] = math.inf
    result = runner.invoke(cli, ["report", write_raw(tmp_path / "r.json", report), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert strict_json(result.stdout)["artefacts"][1][field] is None


def test_saved_reports_are_strict_json(tmp_path):
    report = bench_report()
    report["artefacts"][0]["first_run_s"] = math.nan
    path = save_report(report, tmp_path / "r.json")
    assert strict_json(path.read_text())["artefacts"][0]["first_run_s"] is None


# --- --out: checked first, never replacing what edgekit did not write ------------------------------------------


FOREIGN = "my notes, not from edgekit\n"
EARLIER = "2000-01-01T00:00:00+00:00"  # the creation time of the edgekit report already at --out


def _existing(tmp_path, what: str):
    """An --out target of a kind, and the bytes it holds before the command (None for a directory)."""
    out = tmp_path / "out.json"
    if what == "directory":
        out.mkdir()
        return out, None
    if what == "foreign":
        out.write_text(FOREIGN)
    elif what == "foreign-png":
        out = tmp_path / "out.png"
        out.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)  # a PNG without edgekit's mark
    elif what == "edgekit-report":
        earlier = bench_report()
        earlier["created"] = EARLIER
        save_report(earlier, out)
    return out, out.read_bytes()


# (what is at --out, --force, replaced?, what the error names)
OUT_CASES = [
    ("directory", False, False, "is a directory"),
    ("directory", True, False, "is a directory"),
    ("foreign", False, False, "exists; use --force"),
    ("foreign", True, False, "--force refused"),
    ("foreign-png", True, False, "--force refused"),
    ("edgekit-report", False, False, "exists; use --force"),
    ("edgekit-report", True, True, None),
]
OUT_IDS = [f"{what}{'-force' if force else ''}" for what, force, *_ in OUT_CASES]


def _check_out(result, out, before, replaced: bool, words: str | None, made: dict) -> None:
    if replaced:
        assert result.exit_code == 0, result.output
        written = strict_json(out.read_text())
        assert written["schema"] == "edgekit.report" and written["created"] != EARLIER and made["calls"] == 1
        return
    line = one_error_line(result)
    assert words in line and str(out) in line, line
    if before is None:
        assert out.is_dir() and not any(out.iterdir())
    else:
        assert out.read_bytes() == before
    assert not made["calls"], "measured before checking --out"


@pytest.fixture
def fake_bench(monkeypatch):
    """edgekit.measure.runner.bench replaced: counts calls, returns a synthetic report at once."""
    made = {"calls": 0}

    def bench(**kwargs):
        made["calls"] += 1
        return bench_report()

    monkeypatch.setattr("edgekit.measure.runner.bench", bench)
    return made


@pytest.mark.parametrize("what, force, replaced, words", OUT_CASES, ids=OUT_IDS)
def test_bench_out(runner, cli, tmp_path, fake_bench, what, force, replaced, words):
    out, before = _existing(tmp_path, what)
    # The artefact does not exist: only a check of --out before any measuring gives an error about --out.
    result = runner.invoke(cli, ["bench", str(tmp_path / "no-such-artefact"), "-q", "--out", str(out),
                                 *(["--force"] if force else [])])
    _check_out(result, out, before, replaced, words, fake_bench)


@pytest.mark.parametrize("what, force, replaced, words", OUT_CASES, ids=OUT_IDS)
def test_claim_out(runner, cli, tmp_path, monkeypatch, what, force, replaced, words):
    made = {"calls": 0}

    def claim(**kwargs):
        made["calls"] += 1
        return claim_report()

    monkeypatch.setattr("edgekit.measure.claim.claim", claim)
    out, before = _existing(tmp_path, what)
    result = runner.invoke(cli, ["claim", "--runtimes", "onnx-fp32", "--work-dir", str(tmp_path / "work"),
                                 "--out", str(out), *(["--force"] if force else [])])
    _check_out(result, out, before, replaced, words, made)
    assert not (tmp_path / "work").exists()


def test_bench_out_foreign_file_with_a_real_artefact_fails_before_measuring(runner, cli, tiny_build, tmp_path,
                                                                             monkeypatch):
    import edgekit.measure.runner as runner_module

    calls = []
    real = runner_module.bench
    monkeypatch.setattr(runner_module, "bench", lambda **kw: calls.append(kw) or real(**kw))
    artefact = tiny_build("onnx-fp32").out_dir
    out = tmp_path / "bench.json"
    out.write_text(FOREIGN)
    args = ["bench", str(artefact), "-q", "--seq-lens", "8", "--threads", "1", "--runs", "2", "--warmup", "0",
            "--no-isolate", "--out", str(out)]
    for force in ([], ["--force"]):
        line = one_error_line(runner.invoke(cli, [*args, *force]))
        assert str(out) in line and out.read_text() == FOREIGN and not calls
    save_report(bench_report(), out)  # an earlier edgekit report: replaced by a real measurement with --force
    assert runner.invoke(cli, args).exit_code == 2
    result = runner.invoke(cli, [*args, "--force"])
    assert result.exit_code == 0, result.output
    report = strict_json(out.read_text())
    assert len(calls) == 1 and report["kind"] == "bench" and len(report["configs"]) == 1


# (what is at --out, --format, --force, replaced?, what the error names)
VIEW_CASES = [
    ("directory", "md", False, False, "is a directory"),
    ("foreign", "md", False, False, "exists; use --force"),
    ("foreign", "md", True, False, "--force refused"),
    ("foreign", "json", True, False, "--force refused"),
    ("foreign-png", "png", True, False, "--force refused"),
    ("edgekit-report", "md", False, False, "exists; use --force"),
    ("edgekit-report", "md", True, True, None),
    ("edgekit-view", "html", False, False, "exists; use --force"),
    ("edgekit-view", "html", True, True, None),
    ("source-report", "json", True, False, "overwrite the report"),
]


@pytest.mark.parametrize("what, fmt, force, replaced, words", VIEW_CASES,
                         ids=[f"{c[0]}-{c[1]}{'-force' if c[2] else ''}" for c in VIEW_CASES])
def test_report_out(runner, cli, tmp_path, what, fmt, force, replaced, words):
    source = save_report(bench_report(), tmp_path / "source.json")
    if what == "source-report":
        out, before = source, source.read_bytes()
    elif what == "edgekit-view":
        out = tmp_path / "view.md"
        assert runner.invoke(cli, ["report", str(source), "--format", "md", "--out", str(out)]).exit_code == 0
        before = out.read_bytes()
    else:
        out, before = _existing(tmp_path, what)
    result = runner.invoke(cli, ["report", str(source), "--format", fmt, "--out", str(out),
                                 *(["--force"] if force else [])])
    if replaced:
        assert result.exit_code == 0, result.output
        assert out.read_bytes() != before and result.stdout.strip() == f"wrote {out}"
    else:
        line = one_error_line(result)
        assert words in line and str(out) in line, line
        assert (out.is_dir() and not any(out.iterdir())) if before is None else out.read_bytes() == before


def test_default_view_beside_the_report_is_not_silently_replaced(runner, cli, tmp_path):
    """An earlier rendering beside the report is edgekit's: replaced with --force only."""
    source = save_report(bench_report(), tmp_path / "bench.json")
    html = source.with_suffix(".html")
    assert runner.invoke(cli, ["report", str(source), "--format", "html"]).exit_code == 0
    before = html.read_bytes()
    line = one_error_line(runner.invoke(cli, ["report", str(source), "--format", "html"]))
    assert str(html) in line and html.read_bytes() == before
    result = runner.invoke(cli, ["report", str(source), "--format", "html", "--force"])
    assert result.exit_code == 0, result.output
