"""The goals of benchmarks/vs_anchors.py, evaluated from its raw samples, and the Markdown view of its result."""

from __future__ import annotations

TITLE = "edgekit against the anchors (Optimum, OpenVINO + NNCF, Neural Compressor, PyTorch), side by side"
INT8_TARGETS = ("onnxruntime-int8", "openvino-int8", "pytorch-int8")
INT8_ANCHORS = ("optimum-ort-int8", "nncf-ov-int8", "inc-int8")
OWN_ANCHOR = {"onnxruntime-int8": "optimum-ort-int8", "openvino-int8": "nncf-ov-int8"}
FIDELITY_KEYS = ("cosine_mean", "cosine_min", "neighbour_agreement")
GOALS = {"headline_latency_ratio": 0.80, "e2e_vs_best_anchor": 1.3, "e2e_vs_pytorch_pipeline": 10.0,
         "int8_peak_fraction": 0.85}
HEADLINE = {"batch": 1, "seq_len": 128, "threads": 2}


def _headline(result: dict) -> dict:
    return next(c for c in result["configs"] if all(c[k] == v for k, v in HEADLINE.items()))


def _fastest(config: dict, names) -> str:
    return min((n for n in names if n in config["stats"]), key=lambda n: config["stats"][n]["p50"])


def evaluate(result: dict) -> dict:
    from edgekit.measure.stats import paired_ratio

    head = _headline(result)
    fidelity = result["fidelity"]["figures"]
    anchor = _fastest(head, INT8_ANCHORS)
    per_target = {}
    for ours in (t for t in INT8_TARGETS if t in head["stats"]):
        ratio = paired_ratio(head["samples_ms"][ours], head["samples_ms"][anchor])
        per_target[ours] = {"latency_ratio": ratio, "fidelity_at_least_anchor": all(
            fidelity[ours][k] >= fidelity[anchor][k] for k in FIDELITY_KEYS)}
    best = _fastest(head, INT8_TARGETS)
    headline = {"ours": best, "anchor": anchor, "goal": GOALS["headline_latency_ratio"], **per_target[best],
                "per_target": per_target}
    headline["met"] = headline["latency_ratio"]["median"] <= headline["goal"] and headline["fidelity_at_least_anchor"]

    own = []
    for config in result["configs"]:
        for ours, rival in OWN_ANCHOR.items():
            ratio = paired_ratio(config["samples_ms"][ours], config["samples_ms"][rival])
            own.append({"batch": config["batch"], "seq_len": config["seq_len"], "threads": config["threads"],
                        "ours": ours, "anchor": rival, "latency_ratio": ratio, "no_slower": ratio["ci95"][0] <= 1.0})

    e2e = result["end_to_end"]
    end_to_end = {}
    for mode in ("one at a time", "batch of 32"):
        names = [n for n in e2e["stats"] if n.endswith(mode)]
        best_ours = min((n for n in names if n.startswith("edgekit")), key=lambda n: e2e["stats"][n]["p50"])
        rivals = [n for n in names if not n.startswith("edgekit") and "PyTorch" not in n]
        best_rival = min(rivals, key=lambda n: e2e["stats"][n]["p50"])
        pytorch = next(n for n in names if "PyTorch" in n)
        vs_rival = paired_ratio(e2e["samples_ms"][best_rival], e2e["samples_ms"][best_ours])
        vs_pytorch = paired_ratio(e2e["samples_ms"][pytorch], e2e["samples_ms"][best_ours])
        end_to_end[mode] = {"ours": best_ours, "best_anchor": best_rival, "speedup_vs_best_anchor": vs_rival,
                            "speedup_vs_pytorch_pipeline": vs_pytorch,
                            "met": vs_rival["median"] >= GOALS["e2e_vs_best_anchor"]
                            and vs_pytorch["median"] >= GOALS["e2e_vs_pytorch_pipeline"]}

    p50_s = head["stats"][best]["p50"] / 1e3
    fraction = result["flops_per_sequence_128"][best] / p50_s / 1e9 / result["peaks"]["int8_gops"]
    efficiency = {"artefact": best, "fraction_of_int8_peak": fraction, "int8_peak_gops": result["peaks"]["int8_gops"],
                  "goal": GOALS["int8_peak_fraction"], "met": fraction >= GOALS["int8_peak_fraction"]}
    return {"headline": headline, "own_runtime": own, "own_runtime_met": all(r["no_slower"] for r in own),
            "end_to_end": end_to_end, "efficiency": efficiency}


def _ratio(r: dict) -> str:
    return f"{r['median']:.2f}x [{r['ci95'][0]:.2f}, {r['ci95'][1]:.2f}]"


def _yes(flag: bool) -> str:
    return "yes" if flag else "NO"


def machine_line(result: dict) -> str:
    m = result["machine"]
    return (f"Machine: {m['cpu']}, ISA {' '.join(m['isa'])}; commit {m['git_commit']}; created {result['created']}. "
            f"Speed model: {result['model']} ({result['task']}; RANDOM WEIGHTS: speed only); fidelity: "
            f"{result['fidelity']['model']}. Every figure comes from this one run; ratios are medians of per-round "
            "paired ratios with bootstrap 95% CIs.")


def goals_table(result: dict) -> str:
    """The goals and their figures (also the README's summary of this result)."""
    goals = result["goals"]
    h = goals["headline"]
    lines = ["| goal | figure | met |", "|---|---|---|",
             f"| best edgekit INT8 ({h['ours']}) latency <= {h['goal']:.2f}x the best INT8 anchor ({h['anchor']}) at "
             f"batch 1, seq 128, 2 threads, fidelity at least the anchor's | {_ratio(h['latency_ratio'])}; fidelity "
             f"of its MiniLM build {'at least' if h['fidelity_at_least_anchor'] else 'BELOW'} the anchor's (speed "
             "on random weights, where the gate keeps no op float: speed and fidelity of one model are judged in "
             f"same_model.md) | {_yes(h['met'])} |"]
    slower = [r for r in goals["own_runtime"] if not r["no_slower"]]
    lines.append(f"| onnxruntime-int8 and openvino-int8 no slower than their runtime's anchor in every configuration "
                 f"(CI) | {len(goals['own_runtime']) - len(slower)} of {len(goals['own_runtime'])} comparisons"
                 + ("; slower: " + "; ".join(f"{r['ours']} b{r['batch']} s{r['seq_len']} t{r['threads']} "
                                              f"{_ratio(r['latency_ratio'])}" for r in slower) if slower else "")
                 + f" | {_yes(goals['own_runtime_met'])} |")
    for mode, e in goals["end_to_end"].items():
        ours, rival = (name.split(" | ")[0] for name in (e["ours"], e["best_anchor"]))
        lines.append(f"| end to end, {mode}: >= {GOALS['e2e_vs_best_anchor']:g}x the best anchor, "
                     f">= {GOALS['e2e_vs_pytorch_pipeline']:g}x the PyTorch pipeline | {ours}: "
                     f"{_ratio(e['speedup_vs_best_anchor'])} vs {rival}; "
                     f"{_ratio(e['speedup_vs_pytorch_pipeline'])} vs PyTorch | {_yes(e['met'])} |")
    eff = goals["efficiency"]
    above = " (above the probed peak: a noisy probe)" if eff["fraction_of_int8_peak"] > 1 else ""
    lines += [f"| {eff['artefact']} reaches >= {eff['goal']:.0%} of the INT8 matmul peak ({eff['int8_peak_gops']:.0f} "
              f"GOP/s, ONNX Runtime MatMulInteger probe) | {eff['fraction_of_int8_peak']:.0%}{above} | "
              f"{_yes(eff['met'])} |"]
    return "\n".join(lines) + "\n"


def render(result: dict) -> str:
    from edgekit.measure.stats import paired_ratio

    goals = result["goals"]
    head = _headline(result)
    h = goals["headline"]
    lines = [f"# {TITLE}", "", machine_line(result), "", "## Goals", "", goals_table(result)]

    fidelity, footprint = result["fidelity"]["figures"], result["footprint"]
    anchor = h["anchor"]
    lines += ["## Batch 1, sequence 128, 2 threads", "",
              f"{head['runs']} rounds. Ratios are latency / latency of the best INT8 anchor ({anchor}); below 1 is "
              "faster. Fidelity: MiniLM-L6, mean cosine / min cosine / nearest-neighbour agreement against PyTorch "
              "FP32. Size, load and peak RSS: a fresh process, batch 1, sequence 128.", "",
              "| variant | kind | p50 ms | p90 ms | vs best INT8 anchor | size MB | load s | peak RSS MB | fidelity |",
              "|---|---|--:|--:|--:|--:|--:|--:|---|"]
    for name, stats in sorted(head["stats"].items(), key=lambda item: item[1]["p50"]):
        kind = result["variants"][name]["kind"]
        ratio = paired_ratio(head["samples_ms"][name], head["samples_ms"][anchor])
        f, fp = fidelity.get(name), footprint.get(name, {})
        fid = f"{f['cosine_mean']:.5f} / {f['cosine_min']:.5f} / {f['neighbour_agreement']:.3f}" if f else "—"
        lines.append(f"| {name} | {kind} | {stats['p50']:.1f} | {stats['p90']:.1f} | {_ratio(ratio)} | "
                     f"{_num(fp.get('size_mb'), 1)} | {_num(fp.get('load_s'), 2)} | {_num(fp.get('peak_rss_mb'), 0)} "
                     f"| {fid} |")

    names = list(head["stats"])
    lines += ["", "## The grid: p50 ms per call (real lengths: the sum over "
              f"{next((c['sentences'] for c in result['configs'] if c['sentences']), 0)} held-out sentences)", "",
              "Beyond batch 1, sequence 128, 2 threads and the real lengths, only the INT8 variants and PyTorch FP32 "
              "are timed (—).", "",
              "| batch | seq | threads | " + " | ".join(names) + " | ort-int8 / Optimum | ov-int8 / NNCF |",
              "|--:|--:|--:|" + "--:|" * (len(names) + 2)]
    own = {(r["batch"], r["seq_len"], r["threads"], r["ours"]): r for r in goals["own_runtime"]}
    for c in result["configs"]:
        key = (c["batch"], c["seq_len"], c["threads"])
        cells = " | ".join(f"{c['stats'][n]['p50']:.1f}" if n in c["stats"] else "—" for n in names)
        ratios = " | ".join(_ratio(own[(*key, t)]["latency_ratio"]) for t in OWN_ANCHOR)
        lines.append(f"| {c['batch']} | {c['seq_len']} | {c['threads']} | {cells} | {ratios} |")

    e2e = result["end_to_end"]
    lines += ["", f"## End to end: {e2e['texts']} held-out sentences, text in, label out, {e2e['threads']} threads, "
              f"{e2e['runs']} rounds", "", "| path | mode | p50 ms | p90 ms | labels agreeing with PyTorch |",
              "|---|---|--:|--:|--:|"]
    for name, stats in e2e["stats"].items():
        path, mode = name.split(" | ")
        lines.append(f"| {path} | {mode} | {stats['p50']:.1f} | {stats['p90']:.1f} | "
                     f"{e2e['label_agreement_with_pytorch'][path]:.0%} |")

    prof = result["profiles"]
    lines += ["", f"## Where the time goes ({prof['input']})", ""]
    for name in ("onnxruntime-int8", "optimum-ort-int8", "openvino-int8", "nncf-ov-int8"):
        p = prof[name]
        lines.append(f"- **{name}** ({p['tool']}, {p['total_ms']:.1f} ms profiled): " + "; ".join(
            f"{t['op']} {t['share']:.0%}" for t in p["top"]))
    lines += work_table(prof, result["peaks"]["int8_gops"])
    lines += ["", "## The anchors, as built in this run", ""]
    for name, v in result["variants"].items():
        if v["kind"] == "anchor":
            lines.append(f"- **{name}** ({v['runtime']}, build {v['build_s']:.0f} s): " + "; ".join(v["notes"]))
    for name, f in fidelity.items():
        if f.get("note"):
            lines.append(f"- fidelity of {name}: {f['note']}")
    return "\n".join(lines) + "\n"


def work_table(prof: dict, peak_gops: float | None = None,
               pair: tuple[str, str] = ("onnxruntime-int8", "optimum-ort-int8")) -> list[str]:
    """The integer MatMul work of an ONNX Runtime pair (edgekit's, then the anchor) and their kernels' rate;
    empty for results that predate it. peak_gops: the run's probe, if it took one."""
    found = [(name, prof[name]["int8_matmuls"]) for name in pair if "int8_matmuls" in prof.get(name, {})]
    if len(found) < 2:
        return []
    probe = peak_gops is not None
    lines = ["", "Integer MatMul work in the same profiles (2 x M x K x N per node; QAttention's time includes the "
             "FP32 attention around its INT8 projection):", "",
             "| variant | integer MatMul nodes | GOP | their ms | GOP/s |" + (" of the probe |" if probe else "")
             + " other ops ms |", "|---|--:|--:|--:|--:|" + ("--:|" if probe else "") + "--:|"]
    for name, w in found:
        lines.append(f"| {name} | {w['nodes']} | {w['gop']:.2f} | {w['ms']:.1f} | {w['gops_per_s']:.0f} | "
                     + (f"{w['gops_per_s'] / peak_gops:.0%} | " if probe else "") + f"{w['other_ms']:.1f} |")
    (ours_name, ours), (anchor_name, anchor) = found
    lines += ["", f"{ours_name} does {ours['gop'] / anchor['gop']:.2f}x {anchor_name}'s integer work at "
              f"{ours['gops_per_s'] / anchor['gops_per_s']:.2f}x its rate, and its other ops take "
              f"{ours['other_ms']:.1f} ms against {anchor['other_ms']:.1f}: profiled totals "
              f"{ours['ms'] + ours['other_ms']:.1f} and {anchor['ms'] + anchor['other_ms']:.1f} ms "
              f"({(ours['ms'] + ours['other_ms']) / (anchor['ms'] + anchor['other_ms']):.2f}x)."]
    return lines


def _num(value, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def summary(result: dict) -> str:
    g = result["goals"]
    h = g["headline"]
    e = g["end_to_end"]
    return (f"{h['ours']} / {h['anchor']} latency {h['latency_ratio']['median']:.2f}x (goal <= 0.80); end to end "
            f"{e['one at a time']['speedup_vs_best_anchor']['median']:.2f}x / "
            f"{e['batch of 32']['speedup_vs_best_anchor']['median']:.2f}x the best anchor (one / 32 sentences)")
