"""Accuracy loss of artefacts: task accuracy against labels where the data has them, and always fidelity
to an FP32 reference (top-1 agreement, cosine of pooled embeddings)."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgekit.build.artefact import Artefact
from edgekit.build.corpus import read_jsonl_rows
from edgekit.build.fidelity import compare_outputs
from edgekit.build.tasks import get_task
from edgekit.errors import InputError
from edgekit.measure.feeds import load_tokenizer, padded_batches

TEXT_FIELDS = ("text", "sentence", "sentence1", "question")
LABEL_FIELDS = ("label", "labels", "gold")


def read_eval_data(spec: str) -> tuple[list[str], list | None, str]:
    """(texts, labels or None, description) from a .jsonl/.csv/.txt file, `corpus[:N]` (N held-out
    sentences of edgekit's corpus, never used for calibration; fidelity only), or a `datasets` spec such
    as glue/sst2 where that library and the network exist."""
    if spec == "corpus" or spec.startswith("corpus:"):
        from edgekit.build.corpus import held_out_texts

        count = spec.partition(":")[2] or "256"
        if not count.isdigit() or int(count) < 2:
            raise InputError(f"--eval-data {spec!r}: give corpus or corpus:N with N a whole number >= 2")
        return held_out_texts(int(count)), None, f"edgekit corpus, {count} held-out sentences"
    path = Path(spec)
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".jsonl":
            rows = read_jsonl_rows(path)
        elif suffix == ".csv":
            with path.open(encoding="utf-8", newline="") as handle:
                rows = list(csv.DictReader(handle))
        elif suffix == ".txt":
            rows = [{"text": line.strip()} for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        else:
            raise InputError(f"unsupported --eval-data file type {path.suffix!r}; use .jsonl, .csv or .txt")
        return (*_texts_and_labels(rows, str(path)), str(path))
    if "/" in spec and not path.exists() and not spec.startswith((".", "/")):
        return _from_datasets(spec)
    raise InputError(f"--eval-data {spec!r} is neither a file nor a datasets spec such as glue/sst2")


def _texts_and_labels(rows: list[dict], where: str) -> tuple[list[str], list | None]:
    if not rows:
        raise InputError(f"{where} holds no rows")
    text_field = next((f for f in TEXT_FIELDS if f in rows[0]), None)
    if text_field is None:
        raise InputError(f"{where}: no text field; expected one of {', '.join(TEXT_FIELDS)}, found "
                         f"{', '.join(rows[0]) or '(none)'}")
    label_field = next((f for f in LABEL_FIELDS if f in rows[0]), None)
    texts = [str(row.get(text_field) or "") for row in rows]
    if any(not t.strip() for t in texts):
        raise InputError(f"{where}: row {next(i for i, t in enumerate(texts) if not t.strip()) + 1} has empty text")
    labels = [row.get(label_field) for row in rows] if label_field else None
    return texts, labels


def _from_datasets(spec: str) -> tuple[list[str], list | None, str]:
    try:
        import datasets
    except ImportError:
        raise InputError(f"--eval-data {spec!r} needs the 'datasets' package and the network; "
                         "give a .jsonl or .csv file instead") from None
    name, _, config = spec.partition("/")
    try:
        split = datasets.load_dataset(name, config or None, split="validation")
    except Exception as exc:  # the hub is unreachable offline: say so in one line
        raise InputError(f"could not load datasets spec {spec!r} ({exc.__class__.__name__}); "
                         "give a .jsonl or .csv file instead") from None
    texts, labels = _texts_and_labels([dict(row) for row in split], spec)
    return texts, labels, f"datasets:{spec}/validation"


def label_ids(artefact: Artefact, labels: list) -> np.ndarray:
    """Labels as class ids: ints as they are, names through the model's label2id."""
    label2id = {str(k).lower(): int(v) for k, v in (artefact.config().get("label2id") or {}).items()}
    ids = []
    for label in labels:
        if isinstance(label, bool) or label is None:
            raise InputError(f"label {label!r} is not a class id or a label name")
        text = str(label).strip()
        if text.lstrip("-").isdigit():
            ids.append(int(text))
        elif text.lower() in label2id:
            ids.append(label2id[text.lower()])
        else:
            raise InputError(f"unknown label {label!r}; valid: {', '.join(label2id) or 'class ids'}")
    return np.asarray(ids)


Runner = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


def evaluate(*, artefact: Artefact, runner: Runner, batches: list[dict[str, np.ndarray]],
             reference_outputs: list[dict[str, np.ndarray]], labels: list | None) -> dict:
    """Fidelity of `runner` to the reference outputs on the batches, and task accuracy when labels are given."""
    task = get_task(artefact.record.task)
    outputs = [runner(feeds) for feeds in batches]
    masks = [b["attention_mask"] for b in batches]
    figures = compare_outputs(task, reference_outputs, outputs, masks)
    entry = {"n": int(sum(len(m) for m in masks)), "max_abs_diff": figures["max_abs_diff"]}
    for key in ("top1_agreement", "cosine_mean", "cosine_min", "neighbour_agreement"):
        if key in figures:
            entry[key] = figures[key]
    if labels is not None:
        if task.name != "text-classification":
            raise InputError(f"labels are only scored for text-classification, not {task.name}")
        gold = label_ids(artefact, labels)
        predicted = np.concatenate([o["logits"].argmax(-1) for o in outputs])
        reference_predicted = np.concatenate([o["logits"].argmax(-1) for o in reference_outputs])
        entry["accuracy"] = float((predicted == gold).mean())
        entry["reference_accuracy"] = float((reference_predicted == gold).mean())
        entry["accuracy_delta"] = entry["accuracy"] - entry["reference_accuracy"]
    return entry


def accuracy_entries(opened: list[Artefact], labels: list[str], *, eval_data: tuple[list[str], list | None, str],
                     threads: int, max_length: int, progress, spinning: bool = False) -> list[dict]:
    """One accuracy entry per artefact. The FP32 reference is the PyTorch source model where torch is
    installed, otherwise an fp32 artefact of the same source among those benchmarked."""
    from edgekit.runtime.sessions import open_runner

    texts, gold, description = eval_data
    references: dict[str, tuple[str, list, list]] = {}  # source -> (reference name, batches, its outputs)
    entries = []
    with progress.bar(f"accuracy on {len(texts)} texts from {description}", len(opened)) as advance:
        for label, artefact in zip(labels, opened):
            spec = artefact.record.source_spec
            if spec not in references:
                name, reference = _fp32_reference(artefact, opened, labels, threads)
                batches = padded_batches(artefact, load_tokenizer(artefact), texts, batch_size=8,
                                         max_length=max_length)
                references[spec] = (name, batches, [reference(feeds) for feeds in batches])
            name, batches, reference_outputs = references[spec]
            runner = open_runner(artefact.model_path, threads=threads, precision=artefact.inference_precision,
                                 spinning=spinning)
            entry = evaluate(artefact=artefact, runner=runner, batches=batches, reference_outputs=reference_outputs,
                             labels=gold)
            entries.append({"artefact": label, "data": description, "reference": name, **entry})
            advance(1)
    return entries


def _fp32_reference(artefact: Artefact, opened: list[Artefact], labels: list[str], threads: int) -> tuple[str, Runner]:
    import importlib.util

    from edgekit.runtime.sessions import open_runner

    if importlib.util.find_spec("torch") and importlib.util.find_spec("transformers"):
        import torch

        from edgekit.measure.reference import pytorch_runner, reference_name

        torch.set_num_threads(threads)
        return reference_name(artefact), pytorch_runner(artefact)
    spec = artefact.record.source_spec
    for label, other in zip(labels, opened):
        if other.record.source_spec == spec and other.precision == "fp32":
            return label, open_runner(other.model_path, threads=threads, precision="f32")
    raise InputError(f"accuracy needs an FP32 reference for {spec!r}: install edgekit[export] (PyTorch), or "
                     "include an fp32 artefact of the same model (e.g. onnx-fp32) in the bench")
