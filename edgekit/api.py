"""The library API. The CLI only parses options and calls these functions."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edgekit.atomic import RECORD_NAME, atomic_output_dir, check_output_dir
from edgekit.errors import InputError
from edgekit.progress import Progress
from edgekit.random_models import RANDOM_WEIGHTS_NOTE
from edgekit.recipes import Recipe, resolve_recipe
from edgekit.record import build_versions
from edgekit.sources import DEFAULT_MODEL, ModelSource, resolve_source
from edgekit.targets import get_target
from edgekit.tasks import get_task

DEFAULT_OUT_ROOT = Path("edgekit-out")


@dataclass(frozen=True)
class ExportResult:
    out_dir: Path
    model_path: Path
    record_path: Path
    record: dict


def default_out_dir(source: ModelSource, target: str) -> Path:
    return DEFAULT_OUT_ROOT / f"{source.slug}-{target}"


def plan_export(*, model: str = DEFAULT_MODEL, target: str | None = None, task: str | None = None,
                recipe: Path | None = None, opset: int | None = None, atol: float | None = None,
                max_length: int | None = None, samples: int | None = None, max_drop: float | None = None,
                calibration_data: Path | str | None = None) -> tuple[ModelSource, Recipe]:
    """Resolve the source and the recipe and check them against each other; loads no weights."""
    recipe_obj = resolve_recipe(target=target, recipe_path=recipe, task=task, overrides={
        "export": {"opset": opset},
        "validate": {"atol": atol, "max_length": max_length, "samples": samples, "max_drop": max_drop},
        "quantize": {"calibration_data": str(calibration_data) if calibration_data else None},
    })
    get_target(recipe_obj.target)
    if recipe_obj.task:
        get_task(recipe_obj.task)
    source = resolve_source(model)
    limit = source.max_sequence_length()
    if recipe_obj.validate.max_length > limit:
        raise InputError(f"max length {recipe_obj.validate.max_length} exceeds the {limit} positions of "
                         f"{model!r}; use --max-length {limit} or less")
    return source, recipe_obj


def export(*, model: str = DEFAULT_MODEL, target: str | None = None, task: str | None = None,
           out: Path | str | None = None, recipe: Path | None = None, opset: int | None = None,
           atol: float | None = None, max_length: int | None = None, samples: int | None = None,
           max_drop: float | None = None, calibration_data: Path | str | None = None,
           force: bool = False, quiet: bool = False) -> ExportResult:
    """Build one artefact: run the recipe's passes and write the directory and its edgekit.json atomically."""
    from edgekit.build_state import BuildState
    from edgekit.pipeline import check_passes, run_passes
    from edgekit.record import write_record
    from edgekit.sources import load_model

    source, recipe_obj = plan_export(model=model, target=target, task=task, recipe=recipe, opset=opset,
                                     atol=atol, max_length=max_length, samples=samples, max_drop=max_drop,
                                     calibration_data=calibration_data)
    check_passes(recipe_obj.passes)
    target_obj = get_target(recipe_obj.target)
    task_obj = get_task(recipe_obj.task) if recipe_obj.task else source.default_task()
    out_dir = Path(out) if out else default_out_dir(source, target_obj.name)
    check_output_dir(out_dir, force=force)  # fail before the slow model load
    progress = Progress(quiet=quiet)
    if source.random_weights:
        progress.warn(RANDOM_WEIGHTS_NOTE)
    with progress.step(f"loading {model} ({task_obj.name})"):
        model_obj, tokenizer = load_model(source, task_obj, attention=recipe_obj.export.attention)
    with atomic_output_dir(out_dir, force=force) as work:
        scratch = Path(tempfile.mkdtemp(prefix=".scratch-", dir=work))
        state = BuildState(source=source, task=task_obj, target=target_obj, recipe=recipe_obj, work_dir=work,
                           out_dir=out_dir,
                           scratch=scratch, progress=progress, model=model_obj, tokenizer=tokenizer)
        run_passes(state)
        shutil.rmtree(scratch)
        tokenizer.save_pretrained(str(work))
        model_obj.config.to_json_file(str(work / "config.json"))
        record = write_record(work, {
            "random_weights": source.random_weights,
            **({"warning": RANDOM_WEIGHTS_NOTE} if source.random_weights else {}),
            "source": _source_record(source, model_obj),
            "task": task_obj.name,
            "target": {"name": target_obj.name, "runtime": target_obj.runtime, "precision": target_obj.precision,
                       "isa": target_obj.isa, "reason": target_obj.reason},
            "model_file": target_obj.model_file,
            "recipe": recipe_obj.to_toml(),
            **state.record,
        })
    return ExportResult(out_dir, out_dir / target_obj.model_file, out_dir / RECORD_NAME, record)


def _source_record(source: ModelSource, model_obj) -> dict:
    entry = {
        "spec": source.spec,
        "kind": source.kind,
        "path": str(source.path) if source.path else None,
        "model_type": source.config.get("model_type"),
        "parameters": int(sum(p.numel() for p in model_obj.parameters())),
        "random_weights": source.random_weights,
    }
    if source.random_weights:
        entry["note"] = RANDOM_WEIGHTS_NOTE
        entry["weights_sha256"] = _state_dict_hash(model_obj)
    else:
        entry["sha256"] = source.content_hash()
    return entry


def _state_dict_hash(model_obj) -> str:
    """Random weights have no file: hash the tensors, so a record still pins exactly what was exported."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in sorted(model_obj.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().contiguous().numpy().tobytes())
    return digest.hexdigest()


def export_or_reuse(*, model: str, target: str, out: Path | str, task: str | None = None,
                    quiet: bool = False) -> Path:
    """The artefact for (model, target) at `out`: reused when its edgekit.json names the source, target and
    recipe a build would use now, the same edgekit code and package versions built it, the checkpoint's
    files are unchanged and every file passes its checksum; otherwise built there (replacing only
    edgekit's own files)."""
    from edgekit.artefact import open_artefact
    from edgekit.errors import ArtefactIntegrityError

    out = Path(out)
    progress = Progress(quiet=quiet)
    if (out / RECORD_NAME).is_file():
        try:
            stale = _why_not_reusable(open_artefact(out).record, model=model, target=target, task=task)
        except ArtefactIntegrityError as exc:
            stale = str(exc)
        if stale is None:
            progress.note(f"reusing {out}")
            return out
        progress.warn(f"rebuilding {out}: {stale}")
    export(model=model, target=target, task=task, out=out, force=True, quiet=quiet)
    return out


def _why_not_reusable(record: dict, *, model: str, target: str, task: str | None) -> str | None:
    """Why an artefact differs from what export(model, target, task) would build now; None when it does not."""
    built_from, built_for = record.get("source", {}), record.get("target", {}).get("name")
    if built_from.get("spec") != model or built_for != target:
        return f"it was built from {built_from.get('spec')!r} for {built_for!r}"
    if task is not None and record.get("task") != task:
        return f"it was built for task {record.get('task')!r}"
    source, recipe_now = plan_export(model=model, target=target, task=task)
    if record.get("recipe") != recipe_now.to_toml():
        return f"it was built by another recipe than the {target} recipe this edgekit resolves now"
    checkpoint_hash = source.content_hash()
    if checkpoint_hash is not None and built_from.get("sha256") != checkpoint_hash:
        return f"the checkpoint's files changed since it was built ({model})"
    built_with, now = record.get("versions", {}), build_versions()
    changed = [f"{name} {built_with.get(name)} -> {version}" for name, version in now.items()
               if built_with.get(name) != version]
    if changed:
        return f"it was built by other code ({', '.join(changed)})"
    return None
