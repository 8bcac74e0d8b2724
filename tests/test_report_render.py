"""Rendering a report: Markdown, the terminal table, PNG plots and `edgekit report`, from synthetic reports.

The reports are built with edgekit.measure.result's own constructors from samples made here, so every figure
the views show can be recomputed independently (numpy/statistics) and compared.
"""

from __future__ import annotations

import io
import json
import math
import statistics
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from rich.console import Console

from edgekit.views.plots import pareto_data, pareto_front, render_png
from edgekit.views.text import print_table, render_markdown
from edgekit.measure.result import config_entry, load_report, new_report, save_report
from edgekit.views.tables import format_ms
from edgekit.measure.stats import geometric_mean_ratio, paired_ratio, verdict

MACHINE = {"cpu": "Synthetic CPU 9000", "arch": "x86_64", "cores": 8, "threads_used": [4],
           "isa": ["avx2", "avx512_vnni"], "os": "Linux 6.1", "python": "3.11.2",
           "packages": {"onnxruntime": "1.22.0", "openvino": "2025.3"}, "edgekit": "0.1.0",
           "git_commit": "abc1234", "peaks": {"4": {"fp32_gflops": 1500.0, "int8_gops": 6000.0}}}
SETTINGS = {"warmup": 5, "runs": 25, "duration_s": None, "settle_ms": 200, "ort_spinning": False,
            "order": "round-robin, shuffled each round", "batch_sizes": [1, 8], "seq_lens": [16, 64, 128],
            "threads": [4], "text_source": "edgekit's shipped English corpus"}
# name, runtime, precision, inference precision, speed factor
ARTEFACTS = [("onnx-fp32", "onnxruntime", "fp32", "fp32", 1.0), ("onnx-int8", "onnxruntime", "int8", "int8", 0.6),
             ("openvino-int8", "openvino", "int8", "i8", 0.45)]
BATCHES, SEQ_LENS, THREADS = (1, 8), (16, 64, 128), 4
FLOPS_PER_TOKEN = 1.7e8
PEAK_FP32 = 1500e9
PREFLIGHT = "the CPU has no VNNI; INT8 runs on a slow path"


def synthetic_samples(factor: float, batch: int, seq_len: int, *, seed: int, n: int = 25) -> list[float]:
    rng = np.random.default_rng(seed)
    base = factor * (3.0 + 0.2 * batch * seq_len)
    # rounded as the report stores them, so the stats and the stored samples agree to the digit
    return [round(float(v), 4) for v in base * (1 + rng.gamma(2.0, 0.03, n))]


def bench_report(*, random_weights: bool = False, accuracy: bool = True) -> dict:
    report = new_report("bench", machine=MACHINE, settings=SETTINGS)
    report["warnings"].append({"artefact": "openvino-int8", "message": PREFLIGHT})
    for index, (name, runtime, precision, inference, factor) in enumerate(ARTEFACTS):
        report["artefacts"].append({
            "name": name, "path": f"/models/{name}", "target": name, "runtime": runtime, "precision": precision,
            "inference_precision": inference, "task": "text-classification", "source": "distilroberta-base",
            "random_weights": random_weights, "size_bytes": int(330e6 * (0.25 if precision == "int8" else 1)),
            "load_s": 0.41 + index, "first_run_s": 0.052, "peak_rss_mb": 512.0, "flops_per_token": FLOPS_PER_TOKEN})
        for batch in BATCHES:
            for seq_len in SEQ_LENS:
                fp32 = precision == "fp32"
                report["configs"].append(config_entry(
                    artefact=name, batch=batch, seq_len=seq_len, threads=THREADS,
                    samples_ms=synthetic_samples(factor, batch, seq_len, seed=index * 1000 + batch * 100 + seq_len),
                    flops_per_sequence=FLOPS_PER_TOKEN * seq_len if fp32 else None,
                    peak_ops=PEAK_FP32 if fp32 else None, peak_name="fp32" if fp32 else None))
    if accuracy:
        report["accuracy"] = [
            {"artefact": "onnx-fp32", "data": "sst2.jsonl", "n": 200, "reference": "pytorch", "accuracy": 0.91,
             "top1_agreement": 1.0, "cosine_mean": 0.999999, "cosine_min": 0.99999},
            {"artefact": "onnx-int8", "data": "sst2.jsonl", "n": 200, "reference": "onnx-fp32", "accuracy": 0.905,
             "accuracy_delta": -0.005, "top1_agreement": 0.985, "cosine_mean": 0.99812, "cosine_min": 0.98731},
            {"artefact": "openvino-int8", "data": "sst2.jsonl", "n": 200, "reference": "onnx-fp32", "accuracy": 0.88,
             "accuracy_delta": -0.03, "top1_agreement": 0.95, "cosine_mean": 0.99203, "cosine_min": 0.95011}]
    return report


CLAIM_RUNTIMES = {"onnx-fp32": 2.4, "openvino-int8": 1.5}  # true slow/fast ratio per runtime


def claim_report() -> dict:
    """Two runtimes, both models timed in the same rounds: one ratio clearly above 2, one clearly below."""
    report = new_report("claim", machine=MACHINE, settings=SETTINGS)
    pairs = {}
    for rt_index, (runtime, true_ratio) in enumerate(CLAIM_RUNTIMES.items()):
        slow_name, fast_name = f"{runtime} (random:roberta-base)", f"{runtime} (random:distilroberta-base)"
        for name, role in ((slow_name, "slow"), (fast_name, "fast")):
            report["artefacts"].append({"name": name, "role": role, "runtime": runtime, "precision": runtime[-4:],
                                        "inference_precision": None, "random_weights": True, "size_bytes": None})
        pairs[runtime] = []
        for batch in BATCHES:
            for seq_len in SEQ_LENS:
                seed = rt_index * 1000 + batch * 100 + seq_len
                fast = synthetic_samples(1.0, batch, seq_len, seed=seed)
                noise = np.random.default_rng(seed + 7).normal(1.0, 0.02, len(fast))
                slow = [round(f * true_ratio * e, 4) for f, e in zip(fast, noise)]
                for name, values in ((slow_name, slow), (fast_name, fast)):
                    report["configs"].append(config_entry(artefact=name, batch=batch, seq_len=seq_len,
                                                          threads=THREADS, samples_ms=values))
                pairs[runtime].append({"batch": batch, "seq_len": seq_len, "threads": THREADS,
                                       "slow_artefact": slow_name, "fast_artefact": fast_name,
                                       "ratio": paired_ratio(slow, fast, seed=seq_len)})
    runtimes = {}
    for runtime, entries in pairs.items():
        overall = geometric_mean_ratio([e["ratio"] for e in entries])
        runtimes[runtime] = {"pairs": entries, "overall": overall, "verdict": verdict(overall["ci95"], 2.0)}
    everything = geometric_mean_ratio([e["ratio"] for entries in pairs.values() for e in entries])
    report["claim"] = {"threshold": 2.0, "fast_model": "random:distilroberta-base",
                       "slow_model": "random:roberta-base", "random_weights": True, "runtimes": runtimes,
                       "overall": everything, "verdict": verdict(everything["ci95"], 2.0)}
    return report


def markdown_table_rows(markdown: str, heading: str) -> list[dict[str, str]]:
    """The rows of the Markdown table under `heading`, as header -> cell dicts."""
    lines = markdown.split(heading + "\n", 1)[1].strip().splitlines()
    table = [line for line in _leading_table(lines)]
    headers = [h.strip() for h in table[0].strip("|").split("|")]
    return [dict(zip(headers, (c.strip() for c in line.strip("|").split(" | ")))) for line in table[2:]]


def _leading_table(lines: list[str]):
    for line in lines:
        if not line.startswith("|"):
            return
        yield line


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


# --- Markdown -------------------------------------------------------------------------------------------------


def test_markdown_header_names_machine_and_settings():
    markdown = render_markdown(bench_report())
    assert markdown.startswith("# edgekit bench report\n")
    for text in ("**CPU**: Synthetic CPU 9000", "**cores**: 8", "**threads used**: 4", "**ISA**: avx2, avx512_vnni",
                 "**OS**: Linux 6.1", "**edgekit**: 0.1.0", "**git commit**: abc1234", "FP32 1500.0 GFLOP/s",
                 "**warmup runs**: 5", "**runs**: 25", "**settle ms**: 200", "**ORT spinning**: off",
                 "**order**: round-robin, shuffled each round"):
        assert text in markdown, text


def test_markdown_latency_rows_are_the_statistics_of_the_samples():
    report = bench_report()
    rows = markdown_table_rows(render_markdown(report), "## Latency per configuration")
    assert len(rows) == len(ARTEFACTS) * len(BATCHES) * len(SEQ_LENS)
    by_key = {(r["artefact"], int(r["batch"]), int(r["seq"]), int(r["threads"])): r for r in rows}
    t_24 = 2.064  # Student t, 97.5%, 24 degrees of freedom
    for entry in report["configs"]:
        samples = entry["samples_ms"]
        row = by_key[(entry["artefact"], entry["batch"], entry["seq_len"], entry["threads"])]
        median = statistics.median(samples)
        assert row["p50 ms"] == format_ms(median)
        assert row["p90 ms"] == format_ms(np.percentile(samples, 90))
        assert row["min ms"] == format_ms(min(samples))
        half = t_24 * statistics.stdev(samples) / math.sqrt(len(samples))
        assert row["mean ± CI ms"] == f"{format_ms(statistics.fmean(samples))} ± {format_ms(half)}"
        assert row["seq/s"] == f"{entry['batch'] / (median / 1e3):.1f}"
        q1, q3 = np.percentile(samples, [25, 75])
        assert row["spread"] == f"{(q3 - q1) / median:.1%}"
        if entry["artefact"] == "onnx-fp32":
            fraction = FLOPS_PER_TOKEN * entry["seq_len"] * entry["batch"] / (median / 1e3) / PEAK_FP32
            assert row["efficiency"] == f"{fraction:.1%} of fp32"
        else:
            assert row["efficiency"] == "—"


def test_markdown_artefacts_and_accuracy_tables():
    markdown = render_markdown(bench_report())
    artefacts = markdown_table_rows(markdown, "## Artefacts")
    assert [a["artefact"] for a in artefacts] == [name for name, *_ in ARTEFACTS]
    assert artefacts[0]["size MB"] == "330.0" and artefacts[1]["size MB"] == "82.5"
    assert artefacts[2]["runtime"] == "openvino" and artefacts[2]["inference precision"] == "i8"
    assert artefacts[1]["load s"] == "1.41" and artefacts[0]["peak RSS MB"] == "512"
    accuracy = {r["artefact"]: r for r in markdown_table_rows(markdown, "## Accuracy and fidelity")}
    assert accuracy["onnx-int8"]["accuracy"] == "90.50%" and accuracy["onnx-int8"]["accuracy Δ"] == "-0.50 pp"
    assert accuracy["openvino-int8"]["top-1 agreement"] == "95.00%"
    assert accuracy["openvino-int8"]["cosine min"] == "0.95011"
    assert accuracy["onnx-fp32"]["accuracy Δ"] == "—"


def test_markdown_without_accuracy_has_no_accuracy_section():
    markdown = render_markdown(bench_report(accuracy=False))
    assert "Accuracy" not in markdown and "## Latency per configuration" in markdown


def test_markdown_warns_about_random_weights_and_preflight():
    trained = render_markdown(bench_report(random_weights=False))
    random = render_markdown(bench_report(random_weights=True))
    assert "Random weights" not in trained
    assert "> **Warning:** Random weights: onnx-fp32, onnx-int8, openvino-int8 hold random weights" in random
    assert f"> **Warning:** openvino-int8: {PREFLIGHT}" in trained


def test_markdown_claim_tables_show_ratios_cis_and_verdicts():
    report = claim_report()
    markdown = render_markdown(report)
    assert "# edgekit claim report" in markdown and "Random weights" in markdown
    claim = report["claim"]
    assert f"Verdict: {claim['verdict']}." in markdown
    assert f"Overall ratio {claim['overall']['median']:.2f}" in markdown
    expected = {"onnx-fp32": "holds", "openvino-int8": "does not hold"}
    for runtime, result in claim["runtimes"].items():
        assert result["verdict"] == expected[runtime]  # the synthetic data is built to decide clearly
        rows = markdown_table_rows(markdown, f"### Claim on {runtime}")
        assert len(rows) == len(result["pairs"]) + 1
        for pair, row in zip(result["pairs"], rows):
            low, high = pair["ratio"]["ci95"]
            assert row["ratio slow/fast"] == f"{pair['ratio']['median']:.2f}"
            assert row["ratio CI95"] == f"[{low:.2f}, {high:.2f}]"
            slow = next(c for c in report["configs"] if c["artefact"] == pair["slow_artefact"]
                        and (c["batch"], c["seq_len"]) == (pair["batch"], pair["seq_len"]))
            assert row["slow p50 ms"] == format_ms(statistics.median(slow["samples_ms"]))
            assert row["verdict"] == verdict(pair["ratio"]["ci95"], 2.0)
        overall = rows[-1]
        assert overall["batch"] == f"overall ({len(result['pairs'])} configs)"
        assert overall["ratio slow/fast"] == f"{result['overall']['median']:.2f}"
        assert overall["verdict"] == expected[runtime]
        assert f"verdict on {runtime}: {expected[runtime]}" in markdown


def test_claim_with_missing_optional_fields_still_renders(tmp_path):
    report = claim_report()
    report["claim"] = {"runtimes": {"onnx-fp32": {"pairs": [{"batch": 1, "seq_len": 16, "ratio": {"median": 2.5}},
                                                            {"seq_len": 64}]},
                                    "openvino-int8": None}}
    markdown = render_markdown(report)
    rows = markdown_table_rows(markdown, "### Claim on onnx-fp32")
    assert rows[0]["ratio slow/fast"] == "2.50" and rows[0]["ratio CI95"] == "—" and rows[0]["verdict"] == "—"
    assert rows[1]["batch"] == "—" and rows[1]["ratio slow/fast"] == "—"
    assert "### Claim on openvino-int8" in markdown and "Verdict: —." in markdown
    assert png_size(render_png(report, tmp_path / "c.png")[0].read_bytes())[0] > 600


# --- terminal --------------------------------------------------------------------------------------------------


def test_terminal_table_shows_the_essentials():
    report = bench_report(random_weights=True)
    console = Console(file=io.StringIO(), width=160, color_system=None, record=True)
    print_table(report, console)
    text = console.export_text()
    assert "Synthetic CPU 9000" in text and "warning: Random weights" in text and PREFLIGHT in text
    for entry in report["configs"]:
        assert format_ms(entry["stats"]["p50"]) in text
    assert "p50 ms" in text and "p99 ms" not in text  # compact: p99 is for Markdown and HTML
    assert "90.50%" in text


# --- JSON and PNG ----------------------------------------------------------------------------------------------


def test_json_round_trip(tmp_path):
    for report in (bench_report(), claim_report()):
        path = save_report(report, tmp_path / f"{report['kind']}.json")
        assert load_report(path) == json.loads(json.dumps(report))


def test_pareto_front_keeps_only_undominated_points():
    points = [(1.0, 0.90), (2.0, 0.95), (3.0, 0.94), (2.0, 0.95), (0.5, 0.80), (4.0, 0.99), (1.5, 0.85)]
    assert pareto_front(points) == [True, True, False, True, True, True, False]


def test_pareto_data_uses_task_accuracy_at_the_most_common_configuration():
    data = pareto_data(bench_report())
    assert data["measure"] == "task accuracy" and data["config"] == (1, 128, THREADS)
    p50 = {c["artefact"]: c["stats"]["p50"] for c in bench_report()["configs"]
           if (c["batch"], c["seq_len"]) == (1, 128)}
    assert data["points"] == [("onnx-fp32", p50["onnx-fp32"], 0.91), ("onnx-int8", p50["onnx-int8"], 0.905),
                              ("openvino-int8", p50["openvino-int8"], 0.88)]
    without_task = bench_report()
    for entry in without_task["accuracy"]:
        entry.pop("accuracy")
    data = pareto_data(without_task)
    assert data["measure"].startswith("top-1 agreement") and [p[2] for p in data["points"]] == [1.0, 0.985, 0.95]
    assert pareto_data(bench_report(accuracy=False)) is None


@pytest.mark.parametrize("make", [bench_report, lambda: bench_report(accuracy=False), claim_report],
                         ids=["bench", "bench-without-accuracy", "claim"])
def test_png_is_a_real_image(tmp_path, make):
    written = render_png(make(), tmp_path / "plots" / "report.png")
    assert written == [tmp_path / "plots" / "report.png"]
    data = written[0].read_bytes()
    width, height = png_size(data)
    assert width >= 1000 and height >= 400 and len(data) > 20_000
    assert sorted(p.name for p in written[0].parent.iterdir()) == ["report.png"]  # no temp file left


def test_png_without_matplotlib_names_the_extra(tmp_path, monkeypatch):
    from edgekit.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import now fails as if not installed
    with pytest.raises(MissingDependencyError, match=r'edgekit\[report\]'):
        render_png(bench_report(), tmp_path / "r.png")
    assert not (tmp_path / "r.png").exists()


# --- the CLI ---------------------------------------------------------------------------------------------------


@pytest.fixture
def saved(tmp_path):
    return save_report(bench_report(), tmp_path / "bench.json")


def test_cli_table_is_the_default(runner, cli, saved):
    result = runner.invoke(cli, ["report", str(saved)])
    assert result.exit_code == 0, result.output
    assert "Synthetic CPU 9000" in result.output and "openvino-int8" in result.output
    assert format_ms(load_report(saved)["configs"][0]["stats"]["p50"]) in result.output


def test_cli_markdown_and_json_to_stdout(runner, cli, saved):
    md = runner.invoke(cli, ["report", str(saved), "--format", "md"])
    assert md.exit_code == 0 and md.stdout == render_markdown(load_report(saved))
    js = runner.invoke(cli, ["report", str(saved), "--format", "json"])
    assert js.exit_code == 0 and json.loads(js.stdout) == load_report(saved)


def test_cli_writes_files_beside_the_report_or_to_out(runner, cli, saved, tmp_path):
    original = saved.read_bytes()
    png = runner.invoke(cli, ["report", str(saved), "--format", "png"])
    assert png.exit_code == 0, png.output
    assert png.stdout.strip() == f"wrote {saved.with_suffix('.png')}"
    png_size(saved.with_suffix(".png").read_bytes())
    md = runner.invoke(cli, ["report", str(saved), "--format", "md", "--out", str(tmp_path / "out" / "r.md")])
    assert md.exit_code == 0 and (tmp_path / "out" / "r.md").read_text() == render_markdown(load_report(saved))
    table = runner.invoke(cli, ["report", str(saved), "--out", str(tmp_path / "t.txt")])
    assert table.exit_code == 0 and "Synthetic CPU 9000" in (tmp_path / "t.txt").read_text()
    assert saved.read_bytes() == original


def test_cli_refuses_to_overwrite_the_report(runner, cli, saved):
    original = saved.read_bytes()
    result = runner.invoke(cli, ["report", str(saved), "--format", "md", "--out", str(saved)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgekit: error:") and "overwrite the report" in lines[0]
    assert saved.read_bytes() == original


def test_cli_unknown_format_is_one_line(runner, cli, saved):
    result = runner.invoke(cli, ["report", str(saved), "--format", "pdf"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgekit: error:") and "'pdf'" in lines[0] and "html" in lines[0]


@pytest.mark.parametrize("content, message", [
    ("this is not json {", "is not JSON"),
    (json.dumps({"kind": "bench", "configs": []}), 'no "schema": "edgekit.report" field'),
    (json.dumps({"schema": "edgekit.report", "schema_version": 99, "kind": "bench"}), "schema version 99"),
], ids=["not-json", "no-schema", "schema-99"])
def test_cli_bad_report_is_one_line(runner, cli, tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    result = runner.invoke(cli, ["report", str(path), "--format", "png"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgekit: error:") and message in lines[0], result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json"]


def test_light_install_renders_text_and_explains_the_plot_extra(saved):
    """Without matplotlib (or torch), tables and Markdown still render; PNG names the extra to install."""
    code = textwrap.dedent(f"""
        import sys
        BLOCKED = {{"torch", "transformers", "optimum", "nncf", "onnx", "matplotlib"}}
        class Blocker:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(name + " is blocked")
        sys.meta_path.insert(0, Blocker())
        from edgekit.cli import cli
        import edgekit.views.plots, edgekit.views.html
        for fmt in ("md", "png"):
            out = {str(saved.with_suffix(""))!r} + "." + fmt
            try:
                cli.main(["report", {str(saved)!r}, "--format", fmt, "--out", out])
            except SystemExit as exc:
                print("exit", exc.code)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert "exit 0" in result.stdout and "exit 2" in result.stdout, result.stderr
    assert saved.with_suffix(".md").is_file() and not saved.with_suffix(".png").exists()
    assert 'pip install "edgekit[report]"' in result.stderr
