"""Write the report fixtures of tests/fixtures/reports/ from seeded synthetic latency samples.

    .venv/bin/python tools/make_fixture_reports.py [OUT_DIR]

The samples are synthetic (a log-normal spread with occasional slow outliers), not measurements; each report
says so in its warnings. tests/test_compare.py checks that this script regenerates the committed files
byte for byte.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from edgekit.measure.result import config_entry, new_report, save_report

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "reports"
CREATED = "2026-01-01T00:00:00+00:00"
THREADS = 2
RUNS = 30
SPREAD = 0.03  # log-normal sigma: about 3% run-to-run noise
OUTLIER_RATE = 0.07
# p50 latency in ms of each artefact per (batch, seq_len) before any fixture's scaling
BASE_MS = {
    "onnx-fp32": {(1, 16): 4.2, (1, 128): 14.5, (8, 16): 19.0, (8, 128): 96.0},
    "openvino-int8": {(1, 16): 2.6, (1, 128): 8.1, (8, 16): 10.5, (8, 128): 49.0},
}
ACCURACY = {"onnx-fp32": {"accuracy": 0.915, "top1_agreement": 1.0},
            "openvino-int8": {"accuracy": 0.906, "top1_agreement": 0.985}}


def _machine() -> dict:
    return {"cpu": "Synthetic fixture CPU @ 2.0GHz", "arch": "x86_64", "cores": 4, "threads_used": THREADS,
            "isa": ["avx2", "avx512_vnni"], "os": "Linux", "python": "3.11", "packages": {"numpy": "2"},
            "edgekit": "0.1.0", "git_commit": None, "peaks": None}


def _settings() -> dict:
    return {"warmup": 5, "runs": RUNS, "duration_s": None, "settle_ms": 50.0, "ort_spinning": True,
            "order": "round-robin, shuffled", "text_source": "synthetic"}


def _artefact(name: str) -> dict:
    target, precision = name.split("-")
    return {"name": name, "path": f"artefacts/{name}/model", "target": name,
            "runtime": "onnxruntime" if target == "onnx" else "openvino", "precision": precision,
            "inference_precision": precision, "task": "text-classification", "source": "distilroberta-base",
            "random_weights": False, "size_bytes": 328_000_000 if precision == "fp32" else 84_000_000,
            "load_s": 0.41, "first_run_s": 0.052, "peak_rss_mb": 610.0, "flops_per_token": 170_000_000}


def _samples(rng: np.random.Generator, p50_ms: float) -> list[float]:
    values = p50_ms * np.exp(rng.normal(0.0, SPREAD, RUNS))
    values *= np.where(rng.random(RUNS) < OUTLIER_RATE, rng.uniform(1.1, 1.4, RUNS), 1.0)
    return [round(float(v), 3) for v in values]


def _rounded(value):
    """Derived figures to 6 decimals: small files, and the same bytes whatever the last bit of a float."""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    return value


def synthetic_report(*, seed: int, scale: dict[str, float], shapes=((1, 16), (1, 128), (8, 16), (8, 128)),
                     accuracy_shift: dict[str, float] | None = None) -> dict:
    """A bench report of the artefacts in `scale` (latency multiplier each), seeded."""
    rng = np.random.default_rng(seed)
    report = new_report("bench", machine=_machine(), settings=_settings())
    report["created"] = CREATED
    report["warnings"].append({"artefact": None, "message": "synthetic samples for tests, not a measurement"})
    for name, factor in scale.items():
        report["artefacts"].append(_artefact(name))
        for batch, seq_len in shapes:
            samples = _samples(rng, BASE_MS[name].get((batch, seq_len), 0.9 * batch * seq_len ** 0.5) * factor)
            report["configs"].append(config_entry(artefact=name, batch=batch, seq_len=seq_len, threads=THREADS,
                                                  samples_ms=samples))
        figures = {key: value + (accuracy_shift or {}).get(name, 0.0) for key, value in ACCURACY[name].items()}
        figures["top1_agreement"] = ACCURACY[name]["top1_agreement"]
        report["accuracy"].append({"artefact": name, "data": "sst2-validation.jsonl", "n": 1000,
                                   "reference": "onnx-fp32", **figures,
                                   "accuracy_delta": figures["accuracy"] - ACCURACY["onnx-fp32"]["accuracy"]})
    return _rounded(report)


def fixtures() -> dict[str, dict]:
    both = {"onnx-fp32": 1.0, "openvino-int8": 1.0}
    future = synthetic_report(seed=8, scale={"onnx-fp32": 1.0}, shapes=((1, 16),))
    future["schema_version"] = 99
    return {
        "base.json": synthetic_report(seed=1, scale=both),
        "faster.json": synthetic_report(seed=2, scale={"onnx-fp32": 1.0, "openvino-int8": 0.8}),
        "slower.json": synthetic_report(seed=3, scale={"onnx-fp32": 1.1, "openvino-int8": 1.1}),
        "same.json": synthetic_report(seed=4, scale=both),
        "accuracy_drop.json": synthetic_report(seed=5, scale=both, accuracy_shift={"openvino-int8": -0.01}),
        "disjoint.json": synthetic_report(seed=6, scale=both, shapes=((4, 64),)),
        "not_a_report.json": {"name": "a JSON file that is not an edgekit report", "configs": []},
        "future_schema.json": future,
    }


def main(out_dir: Path = FIXTURES) -> list[Path]:
    return [save_report(report, Path(out_dir) / name) for name, report in fixtures().items()]


if __name__ == "__main__":
    for path in main(Path(sys.argv[1]) if len(sys.argv) > 1 else FIXTURES):
        print(f"wrote {path}")
