"""Building one artefact: plan (resolve and check everything, load no weights), then load the model, run the
recipe's passes in a temp directory beside the output, write the record and rename the directory into place.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edgekit.build.architectures import check_target
from edgekit.build.atomic import atomic_output_dir, check_output_dir
from edgekit.build.onnx_files import save_for_shipping
from edgekit.build.passes import get_pass
from edgekit.build.progress import Progress
from edgekit.build.random_models import RANDOM_WEIGHTS_NOTE
from edgekit.build.recipes import Recipe, resolve_recipe
from edgekit.build.record import RECORD_NAME, Record, build_versions, write_record
from edgekit.build.bundle.package import PackageResult
from edgekit.build.sources import ModelSource, check_head, resolve_source
from edgekit.build.state import BuildState
from edgekit.build.targets import Target, get_target, target_names
from edgekit.build.tasks import Task, get_task
from edgekit.errors import InputError

DEFAULT_OUT_ROOT = Path("edgekit-out")


@dataclass(frozen=True)
class ExportPlan:
    """Everything a build needs that can be known without loading weights."""
    model: str
    source: ModelSource
    recipe: Recipe
    target: Target
    task: Task
    new_head: bool = False  # the user asked for a fresh head where the checkpoint has none

    def default_out_dir(self) -> Path:
        return DEFAULT_OUT_ROOT / f"{self.source.slug}-{self.target.name}"


@dataclass(frozen=True)
class ExportResult:
    out_dir: Path
    model_path: Path
    record_path: Path
    record: Record
    bundle: PackageResult | None = None  # when packaged in the same call (api.export(bundle=True))


def plan_export(*, model: str, target: str | None = None, task: str | None = None, recipe: Path | None = None,
                overrides: dict[str, dict] | None = None, new_head: bool = False) -> ExportPlan:
    """Resolve the source and the recipe and check them against each other; loads no weights.
    overrides: recipe settings given as options, per section ({"validate": {"atol": 1e-3}})."""
    recipe_obj = resolve_recipe(target=target, recipe_path=recipe, task=task, overrides=overrides)
    target_obj = get_target(recipe_obj.target)
    task_obj = get_task(recipe_obj.task) if recipe_obj.task else None
    source = resolve_source(model)
    limit = source.max_sequence_length()
    max_length = recipe_obj.section("validate").max_length
    if max_length > limit:
        raise InputError(f"max length {max_length} exceeds the {limit} positions of {model!r}; use --max-length "
                         f"{limit} or less")
    task_obj = task_obj or source.default_task()
    check_head(source, task_obj, new_head=new_head)
    check_target(source.config.get("model_type"), target_obj.name, target_names())
    return ExportPlan(model, source, recipe_obj, target_obj, task_obj, new_head)


def build_artefact(plan: ExportPlan, *, out: Path | None = None, force: bool = False,
                   progress: Progress | None = None) -> ExportResult:
    """Build the planned artefact into `out` (default ./edgekit-out/<model>-<target>/), atomically."""
    from edgekit.build.sources import load_model

    progress = progress or Progress()
    out_dir = Path(out) if out else plan.default_out_dir()
    check_output_dir(out_dir, force=force)  # fail before the slow model load
    if plan.source.random_weights:
        progress.warn(RANDOM_WEIGHTS_NOTE)
    with progress.step(f"loading {plan.model} ({plan.task.name})"):
        model_obj, tokenizer, fresh_head = load_model(plan.source, plan.task, new_head=plan.new_head,
                                                      attention=plan.recipe.section("export").attention)
    if fresh_head:
        progress.warn(fresh_head_note(plan.task))
    with atomic_output_dir(out_dir, force=force, announce=progress.warn) as work:
        scratch = Path(tempfile.mkdtemp(prefix=".scratch-", dir=work))
        state = BuildState(source=plan.source, task=plan.task, target=plan.target, recipe=plan.recipe, work_dir=work,
                           out_dir=out_dir, scratch=scratch, progress=progress, model=model_obj, tokenizer=tokenizer,
                           fresh_head=tuple(fresh_head))
        for name in plan.recipe.passes:
            step = get_pass(name)
            step.run(state, plan.recipe.section(step.section) if step.section else None)
        _ship(state)
        shutil.rmtree(scratch)
        tokenizer.save_pretrained(str(work))
        model_obj.config.to_json_file(str(work / "config.json"))
        record = write_record(work, record_fields(state))
    return ExportResult(out_dir, out_dir / plan.target.model_file, out_dir / RECORD_NAME, record)


def _ship(state: BuildState) -> None:
    """Copy the final model file and its companions into the artefact directory under their shipped names; an
    ONNX model ships with its weights in a data file beside it, which ONNX Runtime maps instead of copying."""
    if state.current.suffix == ".onnx":
        save_for_shipping(state.current, state.work_dir / state.target.model_file)
    else:
        shutil.copy2(state.current, state.work_dir / state.target.model_file)
    for name, path in state.companions.items():
        shutil.copy2(path, state.work_dir / name)


def record_fields(state: BuildState) -> dict:
    """What a build records beside its model: source, task, target and its reasons, recipe, and every pass's
    entry (state.record). write_record adds versions and hashes."""
    target = state.target
    warning = RANDOM_WEIGHTS_NOTE if state.source.random_weights else \
        fresh_head_note(state.task) if state.fresh_head else None
    return {
        # a fresh head makes the outputs as meaningless as random weights do
        "random_weights": state.source.random_weights or bool(state.fresh_head),
        **({"warning": warning} if warning else {}),
        **({"fresh_head": {"task": state.task.name, "weights": list(state.fresh_head)}} if state.fresh_head else {}),
        "source": _source_entry(state.source, state.model),
        "task": state.task.name,
        "target": {"name": target.name, "runtime": target.runtime, "precision": target.precision,
                   "isa": target.isa, "reason": target.reason, **({"cores": target.cores} if target.cores else {})},
        "model_file": target.model_file,
        "recipe": state.recipe.to_toml(),
        **state.record,
    }


def fresh_head_note(task: Task) -> str:
    return (f"FRESH HEAD: the checkpoint has no {task.name} head; this one is freshly initialised (seed 0, "
            "untrained): its outputs are meaningless until it is fine-tuned")


def _source_entry(source: ModelSource, model_obj) -> dict:
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
    digest = hashlib.sha256()
    for name, tensor in sorted(model_obj.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().contiguous().numpy().tobytes())
    return digest.hexdigest()


def save_rejected(state: BuildState, model_path: Path, *, reason: str) -> Path:
    """Keep the best failing candidate beside the output, with a record of the usual format and status
    "rejected": users need its figures to decide what to relax."""
    base = state.out_dir.with_name(state.out_dir.name + ".rejected")
    out, n = base, 1
    while out.exists():  # never overwrite: an earlier one may hold the user's notes
        n += 1
        out = base.with_name(f"{base.name}-{n}")
    out.mkdir(parents=True)
    for path in model_path.parent.glob(model_path.stem + ".*"):
        shutil.copy2(path, out / ("model" + path.suffix))
    write_record(out, {**record_fields(state), "rejected_because": reason}, status="rejected")
    return out


def why_not_reusable(record: Record, plan: ExportPlan) -> str | None:
    """Why an artefact differs from what this edgekit would build for `plan`; None when it does not."""
    if record.status != "built":
        return f"it is a {record.status} build"
    if record.source_spec != plan.model or record.target_name != plan.target.name:
        return f"it was built from {record.source_spec!r} for {record.target_name!r}"
    if record.task != plan.task.name:
        return f"it was built for task {record.task!r}"
    if record.recipe_toml != plan.recipe.to_toml():
        return f"it was built by another recipe than the {plan.target.name} recipe this edgekit resolves now"
    checkpoint_hash = plan.source.content_hash()
    if checkpoint_hash is not None and record.source.get("sha256") != checkpoint_hash:
        return f"the checkpoint's files changed since it was built ({plan.model})"
    built_with, now = record.versions, build_versions()
    changed = [f"{name} {built_with.get(name)} -> {version}" for name, version in now.items()
               if built_with.get(name) != version]
    if changed:
        return f"it was built by other code ({', '.join(changed)})"
    return None


def export_or_reuse(*, model: str, target: str, out: Path | str, task: str | None = None,
                    recipe: Path | str | None = None, progress: Progress | None = None) -> Path:
    """The artefact for (model, target) at `out`: reused when its edgekit.json names the source, target and
    recipe a build would use now, the same edgekit code and package versions built it, the checkpoint's
    files are unchanged and every file passes its checksum; otherwise built there (replacing only
    edgekit's own files)."""
    from edgekit.build.artefact import open_artefact
    from edgekit.errors import ArtefactIntegrityError

    out, progress = Path(out), progress or Progress()
    plan = plan_export(model=model, target=target, task=task, recipe=Path(recipe) if recipe else None)
    if (out / RECORD_NAME).is_file():
        try:
            stale = why_not_reusable(open_artefact(out).record, plan)
        except ArtefactIntegrityError as exc:
            stale = str(exc)
        if stale is None:
            progress.note(f"reusing {out}")
            return out
        progress.warn(f"rebuilding {out}: {stale}")
    build_artefact(plan, out=out, force=True, progress=progress)
    return out
