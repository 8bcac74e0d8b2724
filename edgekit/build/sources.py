"""Model sources behind the one --model option: a local checkpoint directory, a hub id, or random:NAME."""

from __future__ import annotations

import os
import re
import socket
import threading
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from edgekit.build import random_models
from edgekit.build.checkpoint import (
    check_checkpoint,
    check_weights,
    explain_pickle_refusal,
    max_sequence_length,
    weight_files,
)
from edgekit.errors import CorruptCheckpointError, MissingDependencyError, MissingHeadError, ModelSourceError
from edgekit.runtime.hashing import sha256_tree
from edgekit.build.tasks import Task, get_task, task_from_architectures

DEFAULT_MODEL = "distilroberta-base"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")
_HUB_FILES = ["*.json", "*.safetensors", "*.txt", "*.model", "pytorch_model.bin"]
ALTERNATIVES = ("a local checkpoint directory (--model ./my-checkpoint) or "
                + " / ".join(random_models.random_names()))


@dataclass(frozen=True)
class ModelSource:
    spec: str
    kind: str  # "local", "hub" or "random"
    config: dict
    path: Path | None = None  # checkpoint directory (local, or the hub cache snapshot)
    random_weights: bool = False
    weights: tuple[Path, ...] = field(default=())

    @property
    def slug(self) -> str:
        """A file-name-safe short name, used for default output directories."""
        name = self.path.name if self.kind == "local" and self.path else self.spec
        return re.sub(r"[^\w.-]+", "-", name.replace("/", "--")).strip("-") or "model"

    def default_task(self) -> Task:
        return task_from_architectures(self.config.get("architectures")) or get_task("feature-extraction")

    def max_sequence_length(self) -> int:
        return max_sequence_length(self.config)

    def content_hash(self) -> str | None:
        """sha256 over the checkpoint's files; None for random models (their record hashes weights instead)."""
        if self.path is None:
            return None
        files = [p for p in self.path.iterdir() if p.is_file() and not p.name.startswith(".")]
        return sha256_tree(files, self.path)


def resolve_source(spec: str) -> ModelSource:
    """Check a --model value and find its checkpoint, without loading any weights."""
    if not spec or not spec.strip():
        raise ModelSourceError(f"--model is empty; give {ALTERNATIVES}, or a hub id")
    if random_models.is_random_spec(spec):
        arch = random_models.get_architecture(spec)
        return ModelSource(spec, "random", random_models.roberta_config(arch), random_weights=True)
    path = Path(spec).expanduser()
    if path.exists() or _looks_like_path(spec) or not _HUB_ID.match(spec):
        config, weights = check_checkpoint(path)
        return ModelSource(spec, "local", config, path=path.resolve(), weights=tuple(weights))
    return _resolve_hub(spec)


def _looks_like_path(spec: str) -> bool:
    # "org/name" is a hub id; "a/b/c", "./x" and "/x" are paths.
    return spec.startswith((".", "/", "~")) or spec.count("/") > 1


def _resolve_hub(repo_id: str) -> ModelSource:
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise MissingDependencyError("huggingface_hub", f"loading {repo_id!r} from the hub", "export") from None
    directory = _cached_snapshot(snapshot_download, repo_id)
    if directory is None:
        if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False") or not _hub_reachable():
            raise ModelSourceError(
                f"model {repo_id!r} is not in the local Hugging Face cache and the hub cannot be reached; "
                f"use {ALTERNATIVES}")
        try:
            directory = Path(snapshot_download(repo_id, allow_patterns=_HUB_FILES, etag_timeout=10))
        except Exception as exc:  # the hub client raises many types; the user needs one line
            raise ModelSourceError(f"could not download {repo_id!r} from the hub ({type(exc).__name__}: "
                                   f"{str(exc).splitlines()[0] if str(exc) else ''}); use {ALTERNATIVES}") from None
    config, weights = check_checkpoint(directory)
    return ModelSource(repo_id, "hub", config, path=directory, weights=tuple(weights))


def _cached_snapshot(snapshot_download, repo_id: str) -> Path | None:
    try:
        directory = Path(snapshot_download(repo_id, allow_patterns=_HUB_FILES, local_files_only=True))
    except Exception:  # not cached: any of several hub exceptions
        return None
    try:
        weight_files(directory)
    except ModelSourceError:
        return None  # a partial cache (config only) is as good as none
    return directory


def _hub_reachable(timeout: float = 3.0) -> bool:
    """A quick TCP check, bounded even when DNS would hang: an offline user must not wait."""
    host = urllib.parse.urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or ""
    result: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 1)
    return bool(result and result[0])


def check_head(source: ModelSource, task: Task, *, new_head: bool) -> None:
    """Refuse, before loading, a task whose head the checkpoint's `architectures` says it was not trained with:
    its head would be random. Every checkpoint has the encoder (feature-extraction); random:NAME is random
    throughout. Checkpoints that name no architecture are checked at load (missing weights)."""
    implied = task_from_architectures(source.config.get("architectures"))
    if new_head or source.random_weights or task.name == "feature-extraction" or implied is None \
            or implied.name == task.name:
        return
    raise MissingHeadError(
        f"{source.spec!r} was trained as {', '.join(source.config['architectures'])} ({implied.name}) and has no "
        f"{task.name} head: exporting it would give a randomly initialised head; use --task {implied.name} or "
        "feature-extraction, or --new-head to export a fresh, untrained head (recorded as such)")


def load_model(source: ModelSource, task: Task, *, attention: str = "sdpa", new_head: bool = False):
    """(model in eval mode, tokenizer, fresh head weights). Needs the export extra. attention: the transformers
    attention implementation ("sdpa" or "eager"); it decides the attention pattern an export traces.
    Weights the task's model needs but the checkpoint lacks are an error, unless new_head and they are all in
    the head: then they are initialised from a fixed seed and their names returned."""
    try:
        import torch
        import transformers
    except ImportError:
        raise MissingDependencyError("transformers", "loading a model for export", "export") from None
    if source.kind == "random":
        return (*random_models.build_random(source.spec, task.auto_class, attention=attention), [])
    for path in source.weights:
        check_weights(path)
    try:
        torch.manual_seed(0)  # a fresh head is the same in every build
        # trust_remote_code stays off: loading a checkpoint must never run code from it.
        model, info = _from_pretrained(getattr(transformers, task.auto_class), source.path, attention)
        tokenizer = transformers.AutoTokenizer.from_pretrained(source.path, trust_remote_code=False)
    except (OSError, RuntimeError, ValueError, TypeError, AttributeError, KeyError) as exc:
        unsafe = explain_pickle_refusal(source.weights)
        if unsafe:
            raise CorruptCheckpointError(unsafe) from None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CorruptCheckpointError(f"could not load the checkpoint {str(source.path)!r}: {first}") from None
    return model.eval(), tokenizer, _fresh_head(model, info, source, task, new_head=new_head)


def _from_pretrained(auto_class, path: Path, attention: str):
    try:
        return auto_class.from_pretrained(path, trust_remote_code=False, attn_implementation=attention,
                                          output_loading_info=True)
    except ValueError as exc:
        # ELECTRA, MPNet, DeBERTa-v2 have no SDPA attention in transformers: they trace their eager attention
        # (the record's graph.attention says which was used).
        if attention != "sdpa" or "scaled_dot_product_attention" not in str(exc):
            raise
        return auto_class.from_pretrained(path, trust_remote_code=False, attn_implementation="eager",
                                          output_loading_info=True)


def _fresh_head(model, info: dict, source: ModelSource, task: Task, *, new_head: bool) -> list[str]:
    # The pooler is not part of any exported graph; a checkpoint without one loses nothing.
    missing = sorted(k for k in info.get("missing_keys", ()) if "pooler." not in k)
    if not missing:
        return []
    prefix = getattr(model, "base_model_prefix", "") + "."
    encoder = [k for k in missing if task.name == "feature-extraction" or k.startswith(prefix)]
    if encoder:
        raise CorruptCheckpointError(f"checkpoint {str(source.path)!r} lacks encoder weights "
                                     f"({', '.join(encoder[:3])}{' ...' if len(encoder) > 3 else ''})")
    if not new_head:
        raise MissingHeadError(f"checkpoint {str(source.path)!r} has no {task.name} head (missing "
                               f"{', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}); exporting it would "
                               "give a randomly initialised head; use --new-head to export a fresh, untrained one")
    return missing
