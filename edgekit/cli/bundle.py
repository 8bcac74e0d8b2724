"""`edgekit package`, `edgekit verify` and `edgekit run`: parse, call the library, print."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import click

from edgekit import api


def print_bundle_summary(bundle_dir: Path, manifest: dict) -> None:
    size = sum(entry["bytes"] for entry in manifest["files"].values())
    graph = manifest.get("graph_tokenizer") or {}
    click.echo(f"bundle:    {bundle_dir} ({len(manifest['files'])} files, {size / 1e6:.1f} MB)")
    click.echo(f"target:    {manifest['target']['name']} ({manifest['runtime']}, {manifest['target']['precision']}, "
               f"{manifest['target']['isa']}); task {manifest['task']}; max length {manifest['max_length']}")
    click.echo(f"inputs:    {', '.join(i['name'] for i in manifest['inputs'])}; outputs: "
               f"{', '.join(o['name'] for o in manifest['outputs'])}")
    click.echo("tokenizer: tokenizer.json (" + str(manifest["tokenizer"].get("type")) + ")" +
               (f"; in the graph: {graph['file']} (needs {graph['package']}; verified on "
                f"{graph['verified']['texts']} texts)" if graph.get("built") else
                f"; not in the graph ({graph.get('reason', 'not built')})"))
    fidelity = manifest.get("fidelity") or {}
    figures = [f"{k} {fidelity[k]:.4g}" for k in ("top1_agreement", "cosine_mean", "cosine_min", "max_abs_diff")
               if isinstance(fidelity.get(k), (int, float))]
    if figures:
        click.echo(f"fidelity:  {', '.join(figures)} (vs FP32 on {fidelity.get('samples', '?')} held-out texts)")
    if manifest.get("labels"):
        click.echo(f"labels:    {', '.join(manifest['labels'].values())}")
    if manifest.get("random_weights"):
        click.echo("note:      RANDOM WEIGHTS: outputs are meaningless; built to measure speed and size")


@click.command()
@click.argument("artefact", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Bundle directory (default ARTEFACT-bundle).")
@click.option("--zip", "make_zip", is_flag=True, help="Also write BUNDLE.zip.")
@click.option("--no-graph-tokenizer", is_flag=True, help="Do not compile the tokenizer into the runtime's graph.")
@click.option("--sign-key", type=click.Path(path_type=Path), default=None,
              help="Sign the manifest with this Ed25519 private key (PEM; openssl genpkey -algorithm ed25519).")
@click.option("--force", is_flag=True, help="Replace an earlier edgekit bundle at --out.")
@click.option("--quiet", "-q", is_flag=True)
def package(artefact, out, make_zip, no_graph_tokenizer, sign_key, force, quiet) -> None:
    """Package a built artefact as a self-contained, sealed bundle for apps."""
    result = api.package(artefact=artefact, out=out, zip=make_zip, graph_tokenizer=not no_graph_tokenizer,
                         signing_key=sign_key, force=force, quiet=quiet)
    print_bundle_summary(result.bundle_dir, result.manifest)
    print_seal(result.manifest_sha256, signed=result.signed)
    if result.zip_path:
        click.echo(f"zip:       {result.zip_path} ({result.zip_path.stat().st_size / 1e6:.1f} MB)")


def print_seal(digest: str, *, signed: bool) -> None:
    click.echo(f"manifest:  sha256 {digest} (pin it: edgekit.runtime.load(..., manifest_sha256=...))"
               + ("; signed (manifest.sig)" if signed else ""))


@click.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--threads", type=int, default=None)
@click.option("--sha256", "manifest_sha256", default=None, metavar="HEX",
              help="The manifest sha256 the bundle must have (as printed by edgekit package).")
@click.option("--public-key", type=click.Path(path_type=Path), default=None,
              help="Ed25519 public key (PEM) the bundle's signature must verify against.")
def verify(bundle, threads, manifest_sha256, public_key) -> None:
    """Check a bundle's seal and checksums, load it, run a smoke inference and print its manifest."""
    result = api.verify(bundle, threads=threads, manifest_sha256=manifest_sha256, public_key=public_key)
    click.echo(f"checksums: {result.files_checked} files match {result.bundle_dir / 'manifest.json'}, "
               f"sealed by manifest.sha256" + (", pinned sha256 matches" if manifest_sha256 else "")
               + (", signature verified" if result.signature_checked else ""))
    click.echo(f"smoke run: loaded in {result.load_s:.2f}s, answered in {result.answer_ms:.1f} ms")
    print_bundle_summary(result.bundle_dir, result.manifest)
    print_seal(result.manifest_sha256, signed=result.signed)


@click.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.argument("texts", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--no-truncate", is_flag=True, help="Refuse texts longer than the model's max length.")
@click.option("--threads", type=int, default=None)
@click.option("--tokenizer", type=click.Choice(["python", "graph"]), default="python", show_default=True)
@click.option("--top-k", type=int, default=5, show_default=True, help="fill-mask: tokens to show.")
def run(bundle, texts, as_json, no_truncate, threads, tokenizer, top_k) -> None:
    """Run a bundle on TEXTS from the shell."""
    from edgekit import runtime
    from edgekit.runtime.archive import opened_bundle

    with opened_bundle(bundle) as directory:
        model = runtime.load(directory, threads=threads, tokenizer=tokenizer)
        options = {"truncate": not no_truncate} if tokenizer == "python" else {}
        if model.task == "fill-mask":
            options["top_k"] = top_k
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = model(list(texts), **options)
    for warning in caught:
        click.echo(f"edgekit: warning: {warning.message}", err=True)
    rows = result.tolist() if hasattr(result, "tolist") else result
    if as_json:
        click.echo(json.dumps([{"text": t, "result": r} for t, r in zip(texts, rows)], indent=1))
        return
    for text, row in zip(texts, rows):
        click.echo(f"{text!r}: {_short(model.task, row)}")


def _short(task: str, row) -> str:
    if task == "text-classification":
        return f"{row['label']} ({row['score']:.3f})"
    if task == "feature-extraction":
        return f"embedding[{len(row)}] = [{', '.join(f'{v:.4f}' for v in row[:4])}, ...]"
    if task == "fill-mask":
        return ", ".join(f"{c['token']} ({c['score']:.3f})" for c in row) or "(no mask token in the text)"
    if task == "token-classification":
        return " ".join(f"{t['token']}/{t['label']}" for t in row)
    return json.dumps(row)


COMMANDS = (package, verify, run)
