"""The anchors: the same model built the ways a user would without edgekit, each through its library's own public
API and defaults. benchmarks/vs_anchors.py times and scores them beside edgekit's targets.

- optimum-ort-int8: Optimum's ORTOptimizer (O2), then ORTQuantizer with
  AutoQuantizationConfig.avx512_vnni(is_static=False, per_channel=True). Where quantising the O2 graph fails (it
  does with ORT's com.microsoft ops), the unoptimised export is quantised instead and the error is recorded.
- nncf-ov-int8: openvino.convert_model (of Optimum's plain ONNX export), then nncf.quantize(model_type=TRANSFORMER) with its
  defaults, calibrated on the texts edgekit calibrates on; saved with ov.save_model's defaults.
- inc-int8: Intel Neural Compressor 3.x's documented PyTorch static INT8 path: export -> prepare(StaticQuantConfig())
  -> calibrate -> convert -> torch.compile with Inductor freezing (its docs' setting for INT8 kernels).
- pytorch-fp32: the transformers model in eager mode (also the fidelity reference).

Every anchor is built from a Hugging Face checkpoint directory, as a user's would be: random:distilroberta-base
is saved as one first (same seeded weights and tokenizer as edgekit's build).
Also a child mode, `python benchmarks/anchors.py measure KIND PATH ...`, that loads one anchor in a fresh
process and prints its load time, first call and peak memory as JSON.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

Runner = Callable[[dict[str, np.ndarray]], object]
AUTO_CLASSES = {"text-classification": "AutoModelForSequenceClassification", "feature-extraction": "AutoModel"}
OPTIMUM_CLASSES = {"text-classification": "ORTModelForSequenceClassification",
                   "feature-extraction": "ORTModelForFeatureExtraction"}


@dataclass
class Anchor:
    name: str
    runtime: str  # onnxruntime, openvino, pytorch
    precision: str
    path: Path | None  # the saved model file; None for what lives only in memory (INC's compiled program)
    size_bytes: int | None
    build_s: float
    notes: list[str] = field(default_factory=list)
    module: object = None  # in-memory model (torch anchors)

    def describe(self) -> dict:
        return {"name": self.name, "runtime": self.runtime, "precision": self.precision,
                "path": str(self.path) if self.path else None, "size_mb": _mb(self.size_bytes),
                "build_s": round(self.build_s, 1), "notes": self.notes}


def _mb(size: int | None) -> float | None:
    return None if size is None else size / 1e6


def file_bytes(path: Path) -> int:
    """A model's bytes on disk: the file, plus OpenVINO's .bin or ONNX's external data beside it."""
    companions = [path.with_suffix(".bin")] if path.suffix == ".xml" else list(path.parent.glob(path.name + "_data"))
    return sum(p.stat().st_size for p in [path, *companions] if p.is_file())


def save_random_checkpoint(spec: str, task: str, out: Path) -> Path:
    """random:... as a Hugging Face directory (model + tokenizer), the way the anchors' users start."""
    from edgekit.build.random_models import build_random

    if (out / "config.json").is_file():
        return out
    model, tokenizer = build_random(spec, AUTO_CLASSES[task])
    tmp = out.with_name(out.name + ".tmp")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    tmp.rename(out)
    return out


def load_transformers(checkpoint: Path, task: str):
    import transformers

    return getattr(transformers, AUTO_CLASSES[task]).from_pretrained(checkpoint).eval()


def optimum_ort_int8(checkpoint: Path, task: str, out: Path) -> Anchor:
    import optimum.onnxruntime as optimum_ort
    from optimum.onnxruntime import ORTOptimizer, ORTQuantizer
    from optimum.onnxruntime.configuration import AutoOptimizationConfig, AutoQuantizationConfig

    start = time.perf_counter()
    notes = []
    model = getattr(optimum_ort, OPTIMUM_CLASSES[task]).from_pretrained(checkpoint, export=True)
    model.save_pretrained(out / "export")
    ORTOptimizer.from_pretrained(model).optimize(save_dir=out / "o2", optimization_config=AutoOptimizationConfig.O2())
    config = AutoQuantizationConfig.avx512_vnni(is_static=False, per_channel=True)
    try:
        ORTQuantizer.from_pretrained(out / "o2").quantize(save_dir=out / "int8", quantization_config=config)
        notes.append("O2 graph quantised")
    except Exception as error:  # Optimum's own failure is the finding; fall back as the issue asks
        notes.append(f"quantising the O2 graph failed ({type(error).__name__}: {str(error).splitlines()[0][:160]});"
                     " the unoptimised export was quantised instead")
        ORTQuantizer.from_pretrained(out / "export").quantize(save_dir=out / "int8", quantization_config=config)
    path = next((out / "int8").glob("*_quantized.onnx"))
    return Anchor("optimum-ort-int8", "onnxruntime", "int8", path, file_bytes(path), time.perf_counter() - start, notes)


def nncf_ov_int8(onnx_export: Path, out: Path, calibration: list[dict[str, np.ndarray]]) -> Anchor:
    """From Optimum's plain ONNX export: convert_model of the transformers model itself traced a fixed mask
    shape here (an Add in the attention mask failed on other lengths)."""
    import nncf
    import openvino as ov

    start = time.perf_counter()
    ov_model = ov.convert_model(str(onnx_export))
    inputs = [p.get_any_name() for p in ov_model.inputs]
    dataset = nncf.Dataset(calibration, lambda feeds: {name: feeds[name] for name in inputs})
    quantized = nncf.quantize(ov_model, dataset, model_type=nncf.ModelType.TRANSFORMER, subset_size=len(calibration))
    path = out / "openvino_model.xml"
    out.mkdir(parents=True, exist_ok=True)
    ov.save_model(quantized, str(path))  # defaults: float weights that stay float are stored in f16
    return Anchor("nncf-ov-int8", "openvino", "int8", path, file_bytes(path), time.perf_counter() - start,
                  [f"convert_model of Optimum's ONNX export, inputs {inputs}",
                   "ov.save_model defaults (compress_to_fp16=True)"])


def _forward_args(model) -> set[str]:
    import inspect

    return set(inspect.signature(model.forward).parameters)


def inc_int8(checkpoint: Path, task: str, calibration: list[dict[str, np.ndarray]]) -> Anchor:
    """INC's documented path; nothing is saved (INC 3.x's PT2E path has no save), so size is the program's
    tensors in memory."""
    import torch
    import torch._inductor.config as inductor_config
    from neural_compressor.torch.export import export
    from neural_compressor.torch.quantization import StaticQuantConfig, convert, prepare
    from torch.export import Dim

    start = time.perf_counter()
    model = load_transformers(checkpoint, task)
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if model.config.type_vocab_size > 1 else [])
    example = tuple(torch.from_numpy(np.repeat(calibration[0][n], 2, axis=0)) for n in names)
    batch, length = Dim("batch", min=1, max=1024), Dim("length", min=2, max=model.config.max_position_embeddings - 2)
    exported = export(model, example, dynamic_shapes=tuple({0: batch, 1: length} for _ in names))
    prepared = prepare(exported, StaticQuantConfig())
    with torch.no_grad():
        for feeds in calibration:
            prepared(*(torch.from_numpy(feeds[n]) for n in names))
    converted = convert(prepared)
    inductor_config.freezing = True  # INC's docs: TORCHINDUCTOR_FREEZING=1 for the int8 kernels
    compiled = torch.compile(converted)
    size = sum(t.numel() * t.element_size() for t in list(converted.parameters()) + list(converted.buffers()))
    anchor = Anchor("inc-int8", "pytorch", "int8", None, size, time.perf_counter() - start,
                    ["INC StaticQuantConfig() defaults (x86 quantizer, u8 activations)",
                     "nothing saved; size = the converted program's tensors in memory",
                     f"inputs {names}"])
    anchor.module = (compiled, names)
    return anchor


def pytorch_fp32(checkpoint: Path, task: str) -> Anchor:
    start = time.perf_counter()
    model = load_transformers(checkpoint, task)
    weights = sum(p.stat().st_size for p in checkpoint.glob("*.safetensors"))
    anchor = Anchor("pytorch-fp32", "pytorch", "fp32", None, weights, time.perf_counter() - start,
                    ["transformers eager, torch.inference_mode"])
    anchor.module = (model, sorted(_forward_args(model) & {"input_ids", "attention_mask", "token_type_ids"}))
    return anchor


def open_anchor(anchor: Anchor, *, threads: int) -> Runner:
    """feeds -> outputs, with the same thread count and ONNX Runtime session settings as edgekit's artefacts get in
    the same run; OpenVINO at the device's default precision, as a user's compile_model gets."""
    from edgekit.runtime.sessions import compile_openvino, openvino_runner, ort_session, run_onnx

    if anchor.runtime == "onnxruntime":
        session = ort_session(anchor.path, threads=threads, spinning=True)
        return lambda feeds: run_onnx(session, feeds)
    if anchor.runtime == "openvino":
        return openvino_runner(compile_openvino(anchor.path, threads=threads))
    import torch

    torch.set_num_threads(threads)
    module, names = anchor.module

    def run(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            if anchor.name == "inc-int8":
                out = module(*(torch.from_numpy(feeds[n]) for n in names))
            else:
                out = module(**{n: torch.from_numpy(feeds[n]) for n in names})
        return {key: value.numpy() for key, value in out.items()}

    return run


def measure_in_child(kind: str, path: Path, *, threads: int, batch: int = 1, seq_len: int = 128,
                     task: str = "text-classification") -> dict:
    """Load time, first call and peak RSS of one saved anchor (ort, openvino or a transformers checkpoint) in a
    fresh process that imported only its runtime."""
    import subprocess

    command = [sys.executable, __file__, "measure", kind, str(path), str(threads), str(batch), str(seq_len), task]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["(no output)"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _measure_here(kind: str, path: str, threads: int, batch: int, seq_len: int, task: str) -> dict:
    import importlib

    importlib.import_module({"ort": "onnxruntime", "openvino": "openvino", "pytorch": "torch"}[kind])
    if kind == "pytorch":
        import transformers  # noqa: F401  (the user's import, before the model loads)
    from edgekit.measure.isolate import peak_rss_mb

    ids = np.random.default_rng(0).integers(5, 100, size=(batch, seq_len), dtype=np.int64)
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    baseline, source = peak_rss_mb()
    start = time.perf_counter()
    if kind == "ort":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        wanted = {i.name for i in session.get_inputs()}
        run = lambda: session.run(None, {k: v for k, v in feeds.items() if k in wanted})  # noqa: E731
    elif kind == "openvino":
        import openvino as ov

        compiled = ov.Core().compile_model(path, "CPU", {"INFERENCE_NUM_THREADS": threads})
        wanted = {p.get_any_name() for p in compiled.inputs}
        run = lambda: compiled({k: v for k, v in feeds.items() if k in wanted})  # noqa: E731
    else:
        import torch

        torch.set_num_threads(threads)
        model = load_transformers(Path(path), task)
        wanted = _forward_args(model)

        def run():
            with torch.inference_mode():
                return model(**{k: torch.from_numpy(v) for k, v in feeds.items() if k in wanted
                                and (k != "token_type_ids" or model.config.type_vocab_size > 1)})
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    run()
    first_run_s = time.perf_counter() - start
    for _ in range(3):
        run()
    peak, _ = peak_rss_mb()
    return {"load_s": load_s, "first_run_s": first_run_s, "baseline_rss_mb": baseline, "peak_rss_mb": peak,
            "model_rss_mb": peak - baseline if peak and baseline else None, "memory_source": source}


if __name__ == "__main__" and len(sys.argv) == 8 and sys.argv[1] == "measure":
    try:
        print(json.dumps(_measure_here(sys.argv[2], sys.argv[3], *map(int, sys.argv[4:7]), sys.argv[7])))
    except Exception:
        traceback.print_exc()
        sys.exit(1)
