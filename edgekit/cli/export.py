"""`edgekit targets` and `edgekit export`: parse, call edgekit.api, print a summary."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit import api
from edgekit.cli.bundle import print_bundle_summary, print_seal


@click.command()
def targets() -> None:
    """List the targets edgekit can build."""
    width = max(len(t.name) for t in api.targets())
    for target in api.targets():
        click.echo(f"{target.name:<{width}}  {target.description}")


@click.command()
@click.option("--model", "model", default="distilroberta-base", show_default=True,
              help="Local checkpoint directory, hub id, or random:distilroberta-base / random:roberta-base.")
@click.option("--target", default=None, metavar="TARGET",
              help="One of: " + ", ".join(t.name for t in api.targets()) + " (default onnx-fp32).")
@click.option("--task", default=None, metavar="TASK",
              help="One of: " + ", ".join(api.task_names()) + " (default: from the checkpoint's architectures).")
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
@click.option("--new-head", is_flag=True,
              help="Export a fresh, untrained head for a --task the checkpoint was not trained for (recorded).")
@click.option("--force", is_flag=True, help="Replace an earlier edgekit artefact in --out.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@click.option("--verbose", "-v", is_flag=True, help="Also show the output of the libraries edgekit calls (NNCF, ORT).")
@click.option("--print-recipe", is_flag=True, help="Print the resolved recipe and exit without building.")
@click.option("--bundle", is_flag=True, help="Also package the artefact as an app bundle in OUT-bundle/.")
def export(out, force, quiet, verbose, print_recipe, bundle, **options) -> None:
    """Export a model to a validated artefact for a target."""
    if print_recipe:
        click.echo(api.plan_export(**options).recipe.to_toml(), nl=False)
        return
    result = api.export(**options, out=out, bundle=bundle, force=force, quiet=quiet, verbose=verbose)
    print_export_summary(result)
    if result.bundle:
        print_bundle_summary(result.bundle.bundle_dir, result.bundle.manifest)
        print_seal(result.bundle.manifest_sha256, signed=result.bundle.signed)


def print_export_summary(result: api.ExportResult) -> None:
    record = result.record
    click.echo(f"artefact: {result.model_path} ({record.size_bytes / 1e6:.1f} MB with its files)")
    click.echo(f"record:   {result.record_path}")
    figures = record.validation
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
    if record.openvino:
        click.echo(f"OpenVINO inference precision: {record.openvino['inference_precision']} "
                   f"(device default {record.openvino['device_default_precision']})")
    if record.quantization:
        q = record.quantization
        click.echo(f"quantisation: {q['chosen']} ({len(q['kept_float'])} ops kept float by the search), "
                   f"chosen from {len(q['candidates'])} candidates")
    if record.random_weights:
        click.echo("note: " + (record.data.get("warning") or record.random_weights_note or "random weights"))


COMMANDS = (targets, export)
