"""edgekit package: an artefact directory -> a self-contained bundle directory (and optionally a .zip).

A bundle holds the model file(s), the tokenizer (tokenizer.json and its config), the labels, the max
sequence length, input and output names and shapes, the target, the fidelity figures, and a manifest with
the sha256 of every file. Where the build side has the package for it, the tokenizer is also compiled into
the runtime's own graph (a second model that takes raw strings), verified token for token first.
Bundle files are written read-only; nothing in a bundle is code or pickle.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from edgekit import __version__
from edgekit.build.artefact import open_artefact
from edgekit.build.atomic import atomic_output_dir, check_output_dir
from edgekit.build.checkpoint import encoder_shape, max_sequence_length
from edgekit.build.progress import Progress
from edgekit.build.record import RECORD_NAME
from edgekit.build.tasks import get_task
from edgekit.build.tokenizer_files import special_tokens
from edgekit.errors import BundleError, OutputDirError
from edgekit.runtime.manifest import check_signing_key, manifest_sha256, write_manifest
from edgekit.runtime.sessions import openvino_core, ort_session

BUILD_RECORD = "build-record.json"  # the artefact's edgekit.json, kept for provenance
SLOW_TOKENIZER_FILES = {"vocab.json", "merges.txt", "vocab.txt"}  # tokenizer.json already holds them
GRAPH_TOKENIZER_TEXTS = 500  # corpus sentences the in-graph tokenizer must match exactly
LIGHT_RUNTIMES = ("onnxruntime", "openvino")  # what the light install runs; torch is not one


@dataclass(frozen=True)
class PackageResult:
    bundle_dir: Path
    zip_path: Path | None
    manifest: dict
    manifest_sha256: str  # what an app pins: edgekit.runtime.load(..., manifest_sha256=...)
    signed: bool = False


def default_bundle_dir(artefact_dir: Path) -> Path:
    return artefact_dir.parent / f"{artefact_dir.name}-bundle"


def check_bundle_outputs(artefact_dir: Path, out_dir: Path, *, make_zip: bool, force: bool) -> None:
    """Every output of a packaging, checked before anything is written: the bundle dir (never the artefact
    itself, nor inside it or around it) and the zip beside it."""
    from edgekit.runtime.archive import check_zip_path

    artefact, bundle = Path(artefact_dir).resolve(), Path(out_dir).resolve()
    if bundle == artefact or artefact in bundle.parents or bundle in artefact.parents:
        raise OutputDirError(f"bundle directory {str(out_dir)!r} would replace or sit inside the artefact "
                             f"{str(artefact_dir)!r}; give a directory beside it (default {artefact.name}-bundle)")
    check_output_dir(out_dir, force=force)
    if make_zip:
        check_zip_path(Path(out_dir).with_suffix(".zip"), force=force)


def package(*, artefact_dir: Path | str, out: Path | str | None = None, make_zip: bool = False,
            graph_tokenizer: bool = True, signing_key: bytes | str | Path | None = None, force: bool = False,
            quiet: bool = False) -> PackageResult:
    """Write a bundle for a built artefact (checked against its checksums first); signed with an Ed25519
    private key (PEM bytes or a path) when given."""
    artefact = open_artefact(artefact_dir)
    if artefact.runtime not in LIGHT_RUNTIMES:
        raise BundleError(f"bundles are for the light runtime ({', '.join(LIGHT_RUNTIMES)}); "
                          f"{artefact.directory} is a {artefact.record.target_name} artefact, which needs "
                          f"{artefact.runtime}: ship onnxruntime-int8 or openvino-int8 instead, or load its "
                          f"{artefact.record.model_file} in an app that has {artefact.runtime}")
    out_dir = Path(out) if out else default_bundle_dir(artefact.directory)
    check_bundle_outputs(artefact.directory, out_dir, make_zip=make_zip, force=force)
    if signing_key is not None:
        check_signing_key(signing_key)  # a bad key fails now, not after the graph tokenizer is built
    progress = Progress(quiet=quiet)
    with atomic_output_dir(out_dir, force=force, announce=progress.warn) as work:
        for name in artefact.record.files:
            if Path(name).name not in SLOW_TOKENIZER_FILES:
                (work / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(artefact.directory / name, work / name)
        shutil.copyfile(artefact.directory / RECORD_NAME, work / BUILD_RECORD)
        fields = describe(artefact, work)
        fields["graph_tokenizer"] = _graph_tokenizer(artefact, work, fields, graph_tokenizer, progress)
        manifest = write_manifest(work, fields, signing_key=signing_key)
        _make_read_only(work)
    zip_path = None
    if make_zip:
        from edgekit.runtime.archive import make_zip as write_zip

        zip_path = write_zip(out_dir, out_dir.with_suffix(".zip"), force=force)
    return PackageResult(out_dir, zip_path, manifest, manifest_sha256(out_dir), signed=signing_key is not None)


def describe(artefact, work: Path) -> dict:
    """The manifest fields apart from the file table: what an app needs to call the model right."""
    record, config = artefact.record, artefact.config()
    task = get_task(record.task)
    inputs, outputs = _signature(work / record.model_file)
    tokenizer = json.loads((work / "tokenizer.json").read_text(encoding="utf-8"))
    labels = None
    if task.name in ("text-classification", "token-classification") and config.get("id2label"):
        labels = {str(k): v for k, v in config["id2label"].items()}
    validation = record.validation
    fidelity = {k: validation[k] for k in ("samples", "max_abs_diff", "top1_agreement", "cosine_mean",
                                             "cosine_min", "neighbour_agreement", "drop", "drop_measure",
                                             "max_drop", "passed", "texts") if k in validation}
    return {
        "edgekit_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "name": artefact.directory.name,
        "target": {k: record.target[k] for k in ("name", "runtime", "precision", "isa", "reason", "cores")
                   if k in record.target},
        "runtime": record.runtime,
        "inference_precision": record.inference_precision,
        "task": task.name,
        "model_file": record.model_file,
        "mobile_model_file": "model.ort" if (work / "model.ort").is_file() else None,
        "inputs": inputs, "outputs": outputs,
        "max_length": max_sequence_length(config),
        "architecture": _architecture(config),
        "labels": labels,
        "tokenizer": {"file": "tokenizer.json", "type": tokenizer.get("model", {}).get("type"),
                      "lowercase": _lowercases(tokenizer), **special_tokens(work)},
        "fidelity": fidelity,
        "source": {k: record.source.get(k) for k in ("spec", "model_type", "parameters", "random_weights",
                                                    "sha256", "weights_sha256") if k in record.source},
        "random_weights": record.random_weights,
        **({"warning": record.data["warning"]} if record.data.get("warning") else {}),
    }


def _architecture(config: dict) -> dict:
    """The shape figures the runtime sizes its batches by (activation memory per token)."""
    shape = encoder_shape(config)
    names = (("layers", "num_hidden_layers"), ("hidden_size", "hidden_size"), ("heads", "num_attention_heads"),
             ("intermediate_size", "intermediate_size"))
    return {name: shape[key] for name, key in names if key in shape}


def _signature(model_path: Path) -> tuple[list[dict], list[dict]]:
    """Input and output names, element types and shapes, read from the runtime that will run the model."""
    if model_path.suffix == ".xml":
        model = openvino_core().read_model(str(model_path))

        def port(p):
            return {"name": p.get_any_name(), "dtype": p.get_element_type().get_type_name(),
                    "shape": [d.get_length() if d.is_static else None for d in p.get_partial_shape()]}

        return [port(p) for p in model.inputs], [port(p) for p in model.outputs]
    session = ort_session(model_path)

    def arg(a):
        return {"name": a.name, "dtype": a.type.removeprefix("tensor(").removesuffix(")"),
                "shape": [d if isinstance(d, int) else None for d in a.shape]}

    return [arg(a) for a in session.get_inputs()], [arg(a) for a in session.get_outputs()]


def _lowercases(tokenizer: dict) -> bool:
    normalizer = tokenizer.get("normalizer") or {}
    return bool(normalizer.get("lowercase")) or any(n.get("type") == "Lowercase"
                                                    for n in normalizer.get("normalizers", []) or [])


def _graph_tokenizer(artefact, work: Path, fields: dict, wanted: bool, progress: Progress) -> dict | None:
    """Build the in-graph tokenizer model where possible; otherwise record why not."""
    if not wanted:
        return {"built": False, "reason": "not requested (--no-graph-tokenizer)"}
    from edgekit.build.bundle.graph_tokenizer import build_graph_tokenizer
    from edgekit.build.corpus import held_out_texts
    from edgekit.errors import EdgekitError

    try:
        with progress.step("compiling the tokenizer into the runtime's graph and checking it token for token"):
            return {"built": True, **build_graph_tokenizer(
                artefact_dir=artefact.directory, model_file=fields["model_file"], runtime=fields["runtime"],
                out_dir=work, max_length=fields["max_length"], verify_texts=held_out_texts(GRAPH_TOKENIZER_TEXTS))}
    except EdgekitError as exc:
        progress.warn(f"bundle has no in-graph tokenizer: {exc}")
        return {"built": False, "reason": str(exc)}


def _make_read_only(directory: Path) -> None:
    for path in directory.rglob("*"):
        if path.is_file():
            os.chmod(path, 0o444)
