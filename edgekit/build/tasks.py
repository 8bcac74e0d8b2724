"""The task registry: which head a model has, how it is loaded, and what its ONNX graph outputs.

Standard library only, so the light install can read records and describe artefacts.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgekit.errors import InvalidChoiceError


@dataclass(frozen=True)
class Task:
    name: str
    auto_class: str  # transformers class that loads a checkpoint with this head
    outputs: tuple[str, ...]
    architecture_suffix: str  # how the checkpoint's `architectures` entry ends for this head
    per_token: bool  # outputs carry a sequence axis (compare only real, non-padded tokens)
    description: str


_TASKS: dict[str, Task] = {}


def _register(task: Task) -> None:
    if task.name in _TASKS:
        raise ValueError(f"duplicate task name {task.name!r}")
    _TASKS[task.name] = task


_register(Task("feature-extraction", "AutoModel", ("last_hidden_state",), "Model", True,
               "hidden states; sentence embeddings by mean pooling"))
_register(Task("text-classification", "AutoModelForSequenceClassification", ("logits",),
               "ForSequenceClassification", False, "one label per text"))
_register(Task("fill-mask", "AutoModelForMaskedLM", ("logits",), "ForMaskedLM", True,
               "vocabulary scores for every token (masked-word prediction)"))
_register(Task("token-classification", "AutoModelForTokenClassification", ("logits",),
               "ForTokenClassification", True, "one label per token (e.g. NER)"))
_register(Task("question-answering", "AutoModelForQuestionAnswering", ("start_logits", "end_logits"),
               "ForQuestionAnswering", True, "answer span start and end scores"))


def task_names() -> tuple[str, ...]:
    return tuple(_TASKS)


def get_task(name: str) -> Task:
    try:
        return _TASKS[name]
    except KeyError:
        raise InvalidChoiceError("task", name, task_names()) from None


def task_from_architectures(architectures: list[str] | None) -> Task | None:
    """The task implied by a checkpoint's `architectures` field, or None if it names none we know."""
    for arch in architectures or []:
        # Longest suffix first: "ForMaskedLM" must not match the bare "Model" suffix.
        for task in sorted(_TASKS.values(), key=lambda t: -len(t.architecture_suffix)):
            if arch.endswith(task.architecture_suffix):
                return task
    return None
