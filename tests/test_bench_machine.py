"""The machine side of edgekit bench: machine record, preflight warnings, matmul peaks, FLOPs, isolated load.

No test asserts a timing or a speed ratio: only that measurements were taken and are consistent.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from edgekit.build.artefact import Artefact
from edgekit.measure.flops import flops_per_sequence, skipped_by_record
from edgekit.measure.isolate import measure_isolated
from edgekit.build.record import Record
from edgekit.measure.machine import machine_record, openvino_default_precision
from edgekit.runtime.cpu import ARM_FLAGS, X86_FLAGS, isa_family, summarise_isa
from edgekit.measure.preflight import preflight_warnings
from edgekit.measure.probe import (
    PROBE_FILES,
    SHAPE,
    measure_peaks,
    probe_feeds,
    probe_session,
)
from edgekit.errors import ArtefactIntegrityError, BenchError, EdgekitError, InputError
from edgekit.build.targets import get_target

DISTILROBERTA = {"num_hidden_layers": 6, "hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12}


def fake_artefact(target_name: str, *, pinned: str | None = "from-target") -> Artefact:
    target = get_target(target_name)
    record = {"target": {"name": target.name, "runtime": target.runtime, "precision": target.precision,
                         "isa": target.isa}}
    precision = target.inference_precision if pinned == "from-target" else pinned
    if target.runtime == "openvino":
        record["openvino"] = {"inference_precision": precision}
    return Artefact(Path("unused"), Record(record))


def fake_machine(arch: str, flags: list[str], cores: int = 8) -> dict:
    return {"arch": arch, "isa": sorted(flags), "isa_summary": summarise_isa(flags),
            "cores": {"logical": cores, "available": cores}}


X86_VNNI = fake_machine("x86_64", ["avx2", "avx512f", "avx512_vnni", "fma"])
X86_PLAIN = fake_machine("x86_64", ["avx2", "fma", "f16c"])
ARM_DOTPROD = fake_machine("aarch64", ["asimd", "asimddp", "i8mm"])
ARM_PLAIN = fake_machine("aarch64", ["asimd"])


def warnings_for(target: str, machine: dict, *, threads=(2,), ov: str | None = "f32", **kwargs) -> list[str]:
    return preflight_warnings(artefact=fake_artefact(target, **kwargs), machine=machine, threads=list(threads),
                              openvino_precision=ov)


# ---- machine record ----

def test_machine_record_has_every_field_and_the_cpuinfo_flags():
    record = machine_record(threads_used=[1, 2])
    for key in ("cpu", "arch", "cores", "threads_used", "isa", "isa_summary", "os", "python", "packages",
                "edgekit", "git_commit"):
        assert key in record, key
    assert record["threads_used"] == [1, 2] and record["cpu"]
    assert 1 <= record["cores"]["available"] <= record["cores"]["logical"]
    assert record["isa"] == sorted(record["isa"])
    assert record["isa_summary"] == summarise_isa(record["isa"])
    assert record["packages"]["onnxruntime"] and record["packages"]["numpy"]
    assert record["git_commit"] is None or re.fullmatch(r"[0-9a-f]{4,40}(\+dirty)?", record["git_commit"])
    json.dumps(record)  # goes into a JSON report as is
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():  # Linux: every flag that matters is reported exactly when the kernel lists it
        line = next(ln for ln in cpuinfo.read_text().splitlines() if ln.lower().startswith(("flags", "features")))
        present = set(line.partition(":")[2].split())
        wanted = X86_FLAGS if isa_family(record["arch"]) == "x86-64" else ARM_FLAGS
        assert record["isa"] == sorted(f for f in wanted if f in present)


def test_isa_summary_and_family_names():
    assert summarise_isa(["avx_vnni", "avx2"])["vnni"] and not summarise_isa(["avx2"])["vnni"]
    assert summarise_isa(["amx_tile", "amx_bf16"]) == {"vnni": False, "bf16": True, "amx": True, "avx512": False,
                                                       "dotprod": False, "i8mm": False, "sve": False}
    assert summarise_isa(["asimddp", "sve2"])["dotprod"] and summarise_isa(["sve2"])["sve"]
    assert [isa_family(a) for a in ("x86_64", "AMD64", "aarch64", "arm64", "riscv64")] == \
        ["x86-64", "x86-64", "arm64", "arm64", None]


def test_openvino_default_precision_is_a_known_lowercase_name():
    assert openvino_default_precision() in ("f32", "bf16", "f16")  # openvino is part of the light install


# ---- preflight ----

def test_int8_on_x86_without_vnni_warns_and_with_vnni_does_not():
    (message,) = warnings_for("onnxruntime-int8", X86_PLAIN)
    assert "VNNI" in message and "saturate" in message
    assert warnings_for("onnxruntime-int8", X86_VNNI) == []
    assert warnings_for("onnx-fp32", X86_PLAIN) == []  # FP32 does not need VNNI


def test_int8_on_arm_without_dotprod_warns():
    (message,) = warnings_for("onnxruntime-int8-arm64", ARM_PLAIN)
    assert "dot-product" in message
    assert warnings_for("onnxruntime-int8-arm64", ARM_DOTPROD) == []


def test_openvino_fp32_on_a_bf16_default_says_which_precision_runs():
    (pinned,) = warnings_for("openvino-fp32", X86_VNNI, ov="bf16")
    assert "pins f32" in pinned and "bf16" in pinned
    (unpinned,) = warnings_for("openvino-fp32", X86_VNNI, ov="bf16", pinned=None)
    assert "default inference precision bf16" in unpinned and "openvino-fp32" in unpinned
    assert warnings_for("openvino-fp32", X86_VNNI, ov="f32") == []
    assert warnings_for("openvino-fp16", X86_VNNI, ov="bf16") == []  # fp16 means the device default


def test_artefact_built_for_another_isa_is_not_representative():
    (on_x86,) = warnings_for("onnxruntime-int8-arm64", X86_VNNI)
    assert "built for arm64" in on_x86 and "not representative" in on_x86
    on_arm = warnings_for("onnxruntime-int8", ARM_DOTPROD)
    assert len(on_arm) == 1 and "built for x86-64" in on_arm[0]
    assert warnings_for("onnx-fp32", ARM_PLAIN) == []  # isa "any"


def test_more_threads_than_cores_warns():
    machine = fake_machine("x86_64", ["avx512_vnni"], cores=2)
    (message,) = warnings_for("onnx-fp32", machine, threads=[1, 4])
    assert "4 threads" in message and "at most 2" in message
    assert warnings_for("onnx-fp32", machine, threads=[1, 2]) == []


# ---- FLOPs ----

def test_flops_match_a_hand_computation_for_distilroberta():
    d, ff, n = 768, 3072, 128
    per_layer = 2 * n * (4 * d * d + 2 * d * ff) + 2 * 2 * n * n * d
    assert flops_per_sequence(config=DISTILROBERTA, seq_len=128) == 6 * per_layer == 11_173_625_856
    assert flops_per_sequence(config=DISTILROBERTA, seq_len=128) == pytest.approx(11.2e9, rel=0.01)
    # attention grows with n squared: doubling n more than doubles the work
    assert flops_per_sequence(config=DISTILROBERTA, seq_len=256) > 2 * flops_per_sequence(config=DISTILROBERTA,
                                                                                          seq_len=128)
    assert flops_per_sequence(config={**DISTILROBERTA, "num_hidden_layers": 12}, seq_len=128) == 2 * 6 * per_layer


def test_flops_leave_out_what_prune_rows_skips():
    d, ff, n = 768, 3072, 128
    full = flops_per_sequence(config=DISTILROBERTA, seq_len=n)
    pruned = flops_per_sequence(config=DISTILROBERTA, seq_len=n, first_row_tail=True)
    assert full - pruned == 2 * (n - 1) * (d * d + 2 * d * ff)  # last layer: output projection and feed-forward
    assert pruned == pytest.approx(9.83e9, rel=0.01)
    one_query = flops_per_sequence(config=DISTILROBERTA, seq_len=n, first_row_tail=True, one_query_attention=True)
    # and its query projection on one row; one query against n + 1 keys instead of n against n
    assert pruned - one_query == 2 * (n - 1) * d * d + 2 * 2 * d * (n * n - (n + 1))
    assert one_query == pytest.approx(9.63e9, rel=0.01)


def test_flops_skipped_follow_the_record():
    assert skipped_by_record(Record({})) == {"first_row_tail": False, "one_query_attention": False}
    tail_only = Record({"rows": {"applied": True, "pruned_ops": {"MatMul": 3}}})
    assert skipped_by_record(tail_only) == {"first_row_tail": True, "one_query_attention": False}
    with_attention = Record({"rows": {"applied": True, "pruned_ops": {"MatMul": 3, "Attention": 1}}})
    assert skipped_by_record(with_attention) == {"first_row_tail": True, "one_query_attention": True}


def test_flops_are_none_without_the_sizes():
    assert flops_per_sequence(config={}, seq_len=128) is None
    assert flops_per_sequence(config={k: v for k, v in DISTILROBERTA.items() if k != "intermediate_size"},
                              seq_len=128) is None


# ---- matmul probe ----

def test_probe_graphs_compute_the_matrix_products():
    shape = (4, 8, 5)
    fp32 = probe_feeds("fp32", shape)
    (out,) = probe_session("fp32", threads=1).run(None, fp32)
    np.testing.assert_allclose(out, fp32["A"] @ fp32["B"], rtol=1e-5, atol=1e-5)
    int8 = probe_feeds("int8", shape)
    # Halved operand ranges: on x86 without VNNI, U8S8 kernels add product pairs in int16 (VPMADDUBSW), which
    # saturates for full-range operands. The graph is what is checked here, not this CPU's kernel.
    int8 = {**int8, "A": int8["A"] // 2, "B": int8["B"] // 2}
    (out,) = probe_session("int8", threads=1).run(None, int8)
    expected = (int8["A"].astype(np.int32) - int(int8["a_zero_point"])) @ int8["B"].astype(np.int32)
    assert out.dtype == np.int32 and np.array_equal(out, expected)
    probes = Path(__file__).resolve().parent.parent / "edgekit" / "data" / "probes"
    assert all((probes / name).stat().st_size < 1000 for name in PROBE_FILES.values())


def test_measure_peaks_returns_positive_rates_and_caches_them():
    peaks = measure_peaks(threads=1, seconds=0.2)
    assert peaks["fp32_gflops"] > 0 and peaks["int8_gops"] > 0
    assert peaks["shape"] == list(SHAPE) == [128, 768, 3072] and peaks["threads"] == 1
    assert "MatMulInteger" in peaks["method"]
    peaks["fp32_gflops"] = -1.0  # callers get a copy
    assert measure_peaks(threads=1)["fp32_gflops"] > 0
    with pytest.raises(InputError, match="threads"):
        measure_peaks(threads=0)


# ---- isolated load time and memory ----

@pytest.fixture(scope="module")
def tiny_artefact(tiny_build) -> Path:
    return tiny_build("onnx-fp32").out_dir


def test_measure_isolated_reports_load_time_and_memory(tiny_artefact):
    measured = measure_isolated(artefact_dir=tiny_artefact, batch=2, seq_len=16, threads=1, precision=None)
    assert measured["runtime"] == "onnxruntime"
    assert measured["load_s"] > 0 and measured["first_run_s"] > 0
    assert measured["peak_rss_mb"] > measured["baseline_rss_mb"] > 0
    assert measured["model_rss_mb"] == pytest.approx(measured["peak_rss_mb"] - measured["baseline_rss_mb"])


def test_measure_isolated_on_a_bogus_path_is_one_clear_error(tmp_path):
    with pytest.raises(EdgekitError) as caught:
        measure_isolated(artefact_dir=tmp_path / "nothing", batch=1, seq_len=8, threads=1, precision=None)
    assert isinstance(caught.value, ArtefactIntegrityError)
    assert "nothing" in str(caught.value) and "\n" not in str(caught.value)


def test_a_failing_child_becomes_a_bench_error_with_its_last_stderr_line(tiny_artefact, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_artefact, broken)
    (broken / "model.onnx").write_bytes(b"not an onnx model")
    with pytest.raises(BenchError) as caught:
        measure_isolated(artefact_dir=broken, batch=1, seq_len=8, threads=1, precision=None)
    message = str(caught.value)
    assert "fresh process failed" in message and "broken" in message and "\n" not in message
    assert "Traceback" not in message  # the error itself, not the traceback's first line


def test_the_child_runs_without_torch_transformers_or_onnx(tiny_artefact):
    code = textwrap.dedent(f"""
        import json, runpy, sys
        BLOCKED = {{"torch", "transformers", "optimum", "nncf", "onnx"}}
        class Blocker:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(name + " is blocked: light install")
        sys.meta_path.insert(0, Blocker())
        import edgekit.measure.machine, edgekit.measure.preflight, edgekit.measure.probe, edgekit.measure.flops
        sys.argv = ["isolate", "--artefact-dir", {str(tiny_artefact)!r}, "--batch", "1", "--seq-len", "8",
                    "--threads", "1"]
        try:
            runpy.run_module("edgekit.measure.isolate", run_name="__main__")
        except SystemExit as done:
            assert done.code == 0, done.code
    """)
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1])["load_s"] > 0
