"""`edgekit bench` and `edgekit claim`: parse options, call the library, print the table, save the report."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit.errors import InputError


def int_list(text: str, *, option: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError(f"{option} takes comma-separated whole numbers such as 1,8; got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise InputError(f"{option} takes positive whole numbers; got {text!r}")
    return values


def _print_and_save(report: dict, out: Path | None) -> None:
    from edgekit.bench.render import print_table
    from edgekit.bench.report import save_report

    print_table(report)
    if out is not None:
        save_report(report, out)
        click.echo(f"report: {out}  (render it with: edgekit report {out} --format md|png|html)")


@click.command()
@click.argument("artefacts", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--batch-sizes", default="1", show_default=True, help="Comma-separated batch sizes, e.g. 1,8.")
@click.option("--seq-lens", default="128", show_default=True, help="Comma-separated sequence lengths, e.g. 16,64,128,256.")
@click.option("--lengths-from", type=click.Path(path_type=Path), default=None,
              help="A .txt/.jsonl/.csv of real texts: use its median, p90 and p99 token lengths instead of --seq-lens.")
@click.option("--threads", default="2", show_default=True, help="Comma-separated thread counts, e.g. 1,2.")
@click.option("--runs", type=int, default=None, help="Timed rounds per configuration (default 20).")
@click.option("--duration", type=float, default=None, help="Or: seconds of rounds per configuration.")
@click.option("--warmup", type=int, default=5, show_default=True, help="Untimed calls per artefact and configuration.")
@click.option("--settle-ms", type=float, default=50.0, show_default=True,
              help="Pause after each timed call so spinning threads stop before the next artefact runs.")
@click.option("--no-spinning", is_flag=True, help="Switch ONNX Runtime thread spinning off (default: on, as in apps).")
@click.option("--calls-per-turn", type=int, default=1, show_default=True,
              help="Back-to-back calls per artefact in each round; more than 1 shows warm, steady-state latency.")
@click.option("--reference", is_flag=True, help="Also time PyTorch FP32 eager (needs edgekit[export]).")
@click.option("--eval-data", default=None,
              help="JSONL/CSV with text and optional label; corpus[:N] for held-out corpus text; or a datasets spec (glue/sst2).")
@click.option("--no-isolate", is_flag=True, help="Skip the fresh-process load-time and memory measurement.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Write the JSON report here.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def bench(artefacts, batch_sizes, seq_lens, lengths_from, threads, runs, duration, warmup, settle_ms, no_spinning,
          calls_per_turn, reference, eval_data, no_isolate, out, quiet) -> None:
    """Measure latency, throughput, load time, memory and accuracy of artefact directories."""
    from edgekit.bench.runner import Timing, bench as run_bench

    report = run_bench(
        artefacts=list(artefacts), batch_sizes=int_list(batch_sizes, option="--batch-sizes"),
        seq_lens=None if lengths_from else int_list(seq_lens, option="--seq-lens"), lengths_from=lengths_from,
        threads=int_list(threads, option="--threads"),
        timing=Timing(warmup=warmup, runs=runs, duration_s=duration, settle_ms=settle_ms, spinning=not no_spinning,
                      calls_per_turn=calls_per_turn),
        reference=reference, eval_data=eval_data, isolate=not no_isolate, quiet=quiet)
    _print_and_save(report, out)


def _runtime_list(text: str) -> list[str]:
    from edgekit.bench.claim import CLAIM_RUNTIMES
    from edgekit.errors import InvalidChoiceError

    runtimes = [part.strip() for part in text.split(",") if part.strip()]
    for runtime in runtimes or [text]:
        if runtime not in CLAIM_RUNTIMES:
            raise InvalidChoiceError("claim runtime", runtime, CLAIM_RUNTIMES)
    return runtimes


@click.command()
@click.option("--fast", "fast_model", default="random:distilroberta-base", show_default=True,
              help="The distilled model: checkpoint directory, hub id or random:distilroberta-base.")
@click.option("--slow", "slow_model", default="random:roberta-base", show_default=True,
              help="The teacher-size model: checkpoint directory, hub id or random:roberta-base.")
@click.option("--runtimes", default="pytorch-fp32,onnx-fp32,onnxruntime-int8,openvino-int8", show_default=True,
              help="Comma-separated: pytorch-fp32 and edgekit targets built for both models.")
@click.option("--batch-sizes", default="1,8", show_default=True)
@click.option("--seq-lens", default="16,32,64,128,256,512", show_default=True)
@click.option("--threads", type=int, default=2, show_default=True)
@click.option("--runs", type=int, default=None, help="Timed rounds per configuration (default 10).")
@click.option("--duration", type=float, default=None, help="Or: seconds of rounds per configuration.")
@click.option("--warmup", type=int, default=3, show_default=True)
@click.option("--settle-ms", type=float, default=50.0, show_default=True)
@click.option("--threshold", type=float, default=2.0, show_default=True, help="The claimed speed-up.")
@click.option("--work-dir", type=click.Path(path_type=Path), default=Path("edgekit-out/claim"), show_default=True,
              help="Where artefacts are built, or reused when this edgekit built them with the same recipe.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Write the JSON report here.")
@click.option("--quiet", "-q", is_flag=True)
def claim(fast_model, slow_model, runtimes, batch_sizes, seq_lens, threads, runs, duration, warmup, settle_ms,
          threshold, work_dir, out, quiet) -> None:
    """Check "DistilRoBERTa is twice as fast as RoBERTa-base" in the same runtime, with 95% CIs."""
    from edgekit.bench.claim import claim as run_claim
    from edgekit.bench.runner import Timing

    report = run_claim(
        fast_model=fast_model, slow_model=slow_model, runtimes=_runtime_list(runtimes),
        batch_sizes=int_list(batch_sizes, option="--batch-sizes"), seq_lens=int_list(seq_lens, option="--seq-lens"),
        threads=threads, timing=Timing(warmup=warmup, runs=runs if runs or duration else 10, duration_s=duration,
                                       settle_ms=settle_ms),
        work_dir=work_dir, threshold=threshold, quiet=quiet)
    _print_and_save(report, out)
