"""The command line: parses options and calls edgekit.api. Errors become one line and exit code 2."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click

from edgekit import __version__
from edgekit.errors import EdgekitError
from edgekit.targets import all_targets, target_names
from edgekit.tasks import task_names


class EdgekitGroup(click.Group):
    """Turns every expected failure into `edgekit: error: ...` on one line."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)  # kill: clean up temp dirs too
        try:
            result = super().main(args, prog_name or "edgekit", complete_var, standalone_mode=False, **extra)
        except EdgekitError as exc:
            click.echo(f"edgekit: error: {exc}", err=True)
            sys.exit(2)
        except click.ClickException as exc:
            click.echo(f"edgekit: error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except (KeyboardInterrupt, click.exceptions.Abort):
            click.echo("edgekit: interrupted; no artefact was written", err=True)
            sys.exit(130)
        finally:
            signal.signal(signal.SIGTERM, previous)
        if standalone_mode:
            sys.exit(result if isinstance(result, int) else 0)
        return result


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


@click.group(cls=EdgekitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="edgekit", message="%(prog)s %(version)s")
def cli() -> None:
    """Export, optimise, validate and measure DistilRoBERTa-family models for edge devices."""


@cli.command()
def targets() -> None:
    """List the targets edgekit can build."""
    width = max(len(t.name) for t in all_targets())
    for target in all_targets():
        click.echo(f"{target.name:<{width}}  {target.description}")


@cli.command()
@click.option("--model", "model", default="distilroberta-base", show_default=True,
              help="Local checkpoint directory, hub id, or random:distilroberta-base / random:roberta-base.")
@click.option("--target", default=None, metavar="TARGET",
              help="One of: " + ", ".join(target_names()) + " (default onnx-fp32).")
@click.option("--task", default=None, metavar="TASK",
              help="One of: " + ", ".join(task_names()) + " (default: from the checkpoint's architectures).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output directory (default ./edgekit-out/<model>-<target>/).")
@click.option("--recipe", type=click.Path(path_type=Path), default=None, help="A TOML recipe (see recipes/).")
@click.option("--opset", type=int, default=None, help="ONNX opset (default 17).")
@click.option("--atol", type=float, default=None, help="Max abs diff allowed against PyTorch (default 1e-4).")
@click.option("--max-length", type=int, default=None, help="Longest tokenised validation text (default 128).")
@click.option("--samples", type=int, default=None, help="Held-out texts to validate on (default 64).")
@click.option("--max-drop", type=float, default=None,
              help="Fidelity a reduced-precision build may lose: top-1 disagreement, or 1 - mean cosine for "
                   "embeddings (default 0.01).")
@click.option("--calibration-data", type=click.Path(path_type=Path), default=None,
              help="Calibration texts (.txt, .jsonl or .csv) instead of edgekit's shipped corpus.")
@click.option("--force", is_flag=True, help="Replace an earlier edgekit artefact in --out.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@click.option("--print-recipe", is_flag=True, help="Print the resolved recipe and exit without building.")
@click.option("--bundle", is_flag=True, help="Also package the artefact as an app bundle in OUT-bundle/.")
def export(model, target, task, out, recipe, opset, atol, max_length, samples, max_drop, calibration_data, force, quiet,
           print_recipe, bundle) -> None:
    """Export a model to a validated artefact for a target."""
    from edgekit import api

    options = dict(model=model, target=target, task=task, recipe=recipe, opset=opset, atol=atol,
                   max_length=max_length, samples=samples, max_drop=max_drop, calibration_data=calibration_data)
    if print_recipe:
        _, resolved = api.plan_export(**options)
        click.echo(resolved.to_toml(), nl=False)
        return
    result = api.export(**options, out=out, force=force, quiet=quiet)
    _print_export_summary(result)
    if bundle:
        from edgekit.bundle.cli_bundle import print_bundle_summary
        from edgekit.bundle.package import package

        packaged = package(artefact_dir=result.out_dir, force=force, quiet=quiet)
        print_bundle_summary(packaged.bundle_dir, packaged.manifest)


def _print_export_summary(result) -> None:
    record = result.record
    size_mb = sum(entry["bytes"] for entry in record["files"].values()) / 1e6
    click.echo(f"artefact: {result.model_path} ({size_mb:.1f} MB with its files)")
    click.echo(f"record:   {result.record_path}")
    figures = record["validation"]
    gate = (f"atol {figures['atol']:g}" if "atol" in figures
            else f"{figures['drop_measure']} {figures['drop']:.4f} <= max-drop {figures['max_drop']:g}")
    click.echo(f"validation on {figures['samples']} held-out real texts (right-padded, max length "
               f"{figures['max_length']}), {gate}:")
    for name, entry in figures["outputs"].items():
        line = f"  {name}: max abs diff {entry['max_abs_diff']:.2e}"
        if "top1_agreement" in entry:
            line += f", top-1 agreement {entry['top1_agreement']:.2%}"
        click.echo(line)
    if "cosine_mean" in figures:
        click.echo(f"  pooled embeddings: cosine mean {figures['cosine_mean']:.6f}, min {figures['cosine_min']:.6f}, "
                   f"nearest-neighbour agreement {figures['neighbour_agreement']:.2%}")
    if "openvino" in record:
        click.echo(f"OpenVINO inference precision: {record['openvino']['inference_precision']} "
                   f"(device default {record['openvino']['device_default_precision']})")
    if "quantization" in record:
        q = record["quantization"]
        click.echo(f"quantisation: {q['chosen']} ({len(q['kept_float'])} ops kept float by the search), "
                   f"chosen from {len(q['candidates'])} candidates")
    if record["source"]["random_weights"]:
        click.echo("note: " + record["source"]["note"])


from edgekit.bench.cli_bench import bench as _bench_command, claim as _claim_command  # noqa: E402

cli.add_command(_bench_command)
cli.add_command(_claim_command)


from edgekit.bench.cli_compare import compare as _compare_command; cli.add_command(_compare_command)  # noqa: E402,E702
from edgekit.bench.cli_report import report as _report_command; cli.add_command(_report_command)  # noqa: E402,E702
from edgekit.bundle.cli_bundle import package as _package, run as _run, verify as _verify  # noqa: E402

for _command in (_package, _verify, _run):
    cli.add_command(_command)


def main() -> None:
    cli.main()


if __name__ == "__main__":
    main()
