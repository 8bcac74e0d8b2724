"""`edgekit bench`, `claim`, `compare` and `report`: parse options, call edgekit.api, print the result."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from edgekit import api
from edgekit.errors import InputError
from edgekit.views import comparison as comparison_views
from edgekit.views.formats import FORMATS
from edgekit.views.text import print_table


def int_list(text: str, *, option: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError(f"{option} takes comma-separated whole numbers such as 1,8; got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise InputError(f"{option} takes positive whole numbers; got {text!r}")
    return values


def _print_report(report: api.Report) -> None:
    print_table(report.document)
    if report.path is not None:
        click.echo(f"report: {report.path}  (render it with: edgekit report {report.path} --format md|png|html)")


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
@click.option("--oversubscribe", is_flag=True, help="Allow --threads above this machine's cores (to study it).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Write the JSON report here (checked before measuring).")
@click.option("--force", is_flag=True, help="Replace an earlier edgekit report at --out (nothing else).")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def bench(artefacts, batch_sizes, seq_lens, lengths_from, threads, runs, duration, warmup, settle_ms, no_spinning,
          calls_per_turn, reference, eval_data, no_isolate, oversubscribe, out, force, quiet) -> None:
    """Measure latency, throughput, load time, memory and accuracy of artefact directories."""
    report = api.bench(
        artefacts=list(artefacts), batch_sizes=int_list(batch_sizes, option="--batch-sizes"),
        seq_lens=None if lengths_from else int_list(seq_lens, option="--seq-lens"), lengths_from=lengths_from,
        threads=int_list(threads, option="--threads"),
        timing=api.Timing(warmup=warmup, runs=runs, duration_s=duration, settle_ms=settle_ms,
                          spinning=not no_spinning, calls_per_turn=calls_per_turn),
        reference=reference, eval_data=eval_data, isolate=not no_isolate, oversubscribe=oversubscribe, out=out,
        force=force, quiet=quiet)
    _print_report(report)


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
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Write the JSON report here (checked before any build or measurement).")
@click.option("--force", is_flag=True, help="Replace an earlier edgekit report at --out (nothing else).")
@click.option("--quiet", "-q", is_flag=True)
def claim(fast_model, slow_model, runtimes, batch_sizes, seq_lens, threads, runs, duration, warmup, settle_ms,
          threshold, work_dir, out, force, quiet) -> None:
    """Check "DistilRoBERTa is twice as fast as RoBERTa-base" in the same runtime, with 95% CIs."""
    report = api.claim(
        fast_model=fast_model, slow_model=slow_model,
        runtimes=[part.strip() for part in runtimes.split(",") if part.strip()] or [runtimes],
        batch_sizes=int_list(batch_sizes, option="--batch-sizes"), seq_lens=int_list(seq_lens, option="--seq-lens"),
        threads=threads, timing=api.Timing(warmup=warmup, runs=runs if runs or duration else 10, duration_s=duration,
                                           settle_ms=settle_ms),
        work_dir=work_dir, threshold=threshold, out=out, force=force, quiet=quiet)
    _print_report(report)


COMPARE_FORMATS = ("table", "md", "json")


@click.command()
@click.argument("reports", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--noise", default="2%", show_default=True,
              help="Changes smaller than this (a fraction like 0.02 or a percentage like 2%) count as noise: a "
                   "configuration is 'faster' or 'slower' only when the whole 95% CI of its ratio lies beyond it.")
@click.option("--fail-if", "gates", multiple=True, metavar="METRIC:THRESHOLD",
              help="Exit with code 1 when a gate fails; repeatable. METRIC is one of p50, p90, p99, mean, accuracy. "
                   "Latency gates (p50:5% or p50:5, both five percent) fail when a configuration's ratio B/A exceeds "
                   "1 + threshold AND its verdict is 'slower', i.e. the whole CI is beyond the noise band, so a "
                   "noisy run does not fail the build. accuracy:0.5 fails when task accuracy (else top-1 "
                   "agreement, else mean cosine x100) drops by more than 0.5 percentage points, or when the "
                   "reports have no accuracy figures in common.")
@click.option("--format", "output_format", type=click.Choice(COMPARE_FORMATS), default="table", show_default=True,
              help="table for the terminal, md for Markdown, json for a machine-readable comparison.")
def compare(reports, noise, gates, output_format) -> None:
    """Compare reports with the first one (the baseline): latency B/A per configuration with a 95% CI,
    an overall geometric mean, accuracy deltas, and optional gates.

    Exit code 0: all gates pass; 1: a gate failed; 2: bad input (a file that is no report, a malformed gate,
    reports with no configuration in common)."""
    if len(reports) < 2:
        raise InputError(f"compare needs a baseline report and at least one more; got {len(reports)}")
    result = api.compare(baseline=reports[0], others=list(reports[1:]), noise=noise, gates=gates)
    if output_format == "json":
        click.echo(comparison_views.render_json(result.document))
        for failure in result.failures:
            click.echo(comparison_views.failure_line(failure), err=True)
    else:
        render = comparison_views.render_markdown if output_format == "md" else comparison_views.render_text
        click.echo(render(result.document), nl=False)
    if not result.passed:
        click.get_current_context().exit(1)


@click.command("report")
@click.argument("report_path", metavar="REPORT.json", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="table prints to the terminal; md and json print to stdout unless --out; png and html write "
                   "a file (default: beside the report, with their suffix).")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="The file to write the view to.")
@click.option("--force", is_flag=True,
              help="Replace an existing file that edgekit wrote (a report or a view); never the report itself.")
def report(report_path: Path, fmt: str, out: Path | None, force: bool) -> None:
    """Render a saved bench or claim report."""
    if fmt == "table" and out is None and sys.stdout.isatty():
        print_table(api.Report.load(report_path).document)  # colour, at the terminal's width
        return
    view = api.report(report_path, format=fmt, out=out, force=force)
    if view.text is not None:
        click.echo(view.text, nl=False)
    for path in view.paths:
        click.echo(f"wrote {path}")


COMMANDS = (bench, claim, compare, report)
