"""The state a build's passes share: inputs, the model file so far, the record, cached reference outputs."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.corpus import CALIBRATION_RESERVE, load_corpus, read_text_file, split_corpus
from edgekit.progress import Progress
from edgekit.recipes import Recipe
from edgekit.sources import ModelSource
from edgekit.targets import Target
from edgekit.tasks import Task

LATENCY_RUNS = 15


@dataclass
class BuildState:
    source: ModelSource
    task: Task
    target: Target
    recipe: Recipe
    work_dir: Path  # becomes the artefact directory
    out_dir: Path  # where it will be renamed to
    scratch: Path  # intermediate files; never shipped
    progress: Progress
    model: Any = None
    tokenizer: Any = None
    current: Path | None = None
    companions: dict[str, Path] = field(default_factory=dict)  # shipped name -> file, beside the model file
    record: dict = field(default_factory=dict)
    cache: dict = field(default_factory=dict)  # results passes may share within one build

    @cached_property
    def _corpus_split(self) -> tuple[list[str], list[str]]:
        return split_corpus(load_corpus(), calibration=CALIBRATION_RESERVE, validation=self.recipe.validate.samples)

    def validation_texts(self) -> list[str]:
        return self._corpus_split[1]

    def calibration_texts(self) -> list[str]:
        """Calibration text, never overlapping the validation text."""
        wanted = self.recipe.quantize.calibration_samples
        data = self.recipe.quantize.calibration_data
        texts = read_text_file(Path(data)) if data else self._corpus_split[0]
        held_out = set(self.validation_texts())
        return [t for t in texts if t not in held_out][:wanted]

    @cached_property
    def input_names(self) -> list[str]:
        from edgekit.export import model_input_names

        return model_input_names(self.model)

    def tokenize(self, texts: list[str], *, batch_size: int | None = None) -> list[dict[str, np.ndarray]]:
        from edgekit.validate import tokenize_batches

        v = self.recipe.validate
        return tokenize_batches(self.tokenizer, texts, input_names=self.input_names,
                                batch_size=batch_size or v.batch_size, max_length=v.max_length)

    @cached_property
    def validation_batches(self) -> list[dict[str, np.ndarray]]:
        return self.tokenize(self.validation_texts())

    @cached_property
    def reference(self) -> list[dict[str, np.ndarray]]:
        from edgekit.validate import reference_outputs

        return reference_outputs(self.model, self.task, self.validation_batches)

    def evaluate(self, model_path: Path, *, precision: str | None = None) -> dict:
        """Fidelity of a model file to the PyTorch FP32 reference on the held-out batches."""
        from edgekit.fidelity import compare_outputs
        from edgekit.inference import open_runner

        run = open_runner(model_path, precision=precision or self.target.inference_precision)
        candidate = [run(feeds) for feeds in self.validation_batches]
        return compare_outputs(self.task, self.reference, candidate,
                               [b["attention_mask"] for b in self.validation_batches])

    def latencies_ms(self, model_paths: list[Path]) -> list[float]:
        """Median batch-1 latency of each model on the longest held-out text, timed interleaved round by
        round so machine noise hits all alike: enough to rank candidates, not a benchmark."""
        from edgekit.inference import open_runner

        longest = max(self.validation_texts(), key=len)
        feeds = self.tokenize([longest], batch_size=1)[0]
        runners = [open_runner(p, precision=self.target.inference_precision) for p in model_paths]
        for run in runners:
            for _ in range(3):
                run(feeds)
        samples: list[list[float]] = [[] for _ in runners]
        for _ in range(LATENCY_RUNS):
            for run, times in zip(runners, samples):
                start = time.perf_counter()
                run(feeds)
                times.append((time.perf_counter() - start) * 1e3)
        return [statistics.median(times) for times in samples]
