"""The state a build's passes share: inputs, the model file so far, the record, cached reference outputs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.build.corpus import CALIBRATION_RESERVE, load_corpus, read_calibration_file, split_corpus
from edgekit.build.passes.validate import ValidateSettings
from edgekit.build.progress import Progress
from edgekit.build.recipes import Recipe
from edgekit.build.search import QuantizeSettings
from edgekit.build.sources import ModelSource
from edgekit.build.targets import Target
from edgekit.build.tasks import Task
from edgekit.build.timing import Timing, interleave

# Enough to rank candidates, not a benchmark: a few warm-up calls, then interleaved rounds.
CANDIDATE_TIMING = Timing(warmup=3, runs=15, settle_ms=0, spinning=False)
CANDIDATE_BATCH = 8  # the compute-bound shape candidates are also timed at


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
    fresh_head: tuple[str, ...] = ()  # head weights the checkpoint lacked, initialised fresh (--new-head)
    current: Path | None = None  # the model file so far
    unfused: Path | None = None  # the graph as exported (pruned like `current`), for INT8 that quantises unfused
    companions: dict[str, Path] = field(default_factory=dict)  # shipped name -> file, beside the model file
    record: dict = field(default_factory=dict)
    cache: dict = field(default_factory=dict)  # results passes may share within one build
    checks_before_validation: list[Callable[[BuildState], None]] = field(default_factory=list)

    @property
    def validate_settings(self) -> ValidateSettings:
        return self.recipe.section("validate")

    @property
    def quantize_settings(self) -> QuantizeSettings:
        return self.recipe.section("quantize")

    @cached_property
    def _corpus_split(self) -> tuple[list[str], list[str]]:
        return split_corpus(load_corpus(), calibration=CALIBRATION_RESERVE, validation=self.validate_settings.samples)

    def validation_texts(self) -> list[str]:
        return self._corpus_split[1]

    def calibration_texts(self) -> list[str]:
        """Calibration text, never overlapping the validation text."""
        settings = self.quantize_settings
        texts = read_calibration_file(settings.calibration_data) if settings.calibration_data else self._corpus_split[0]
        held_out = set(self.validation_texts())
        return [t for t in texts if t not in held_out][:settings.calibration_samples]

    def calibration_feeds(self, *, batch_size: int | None = None) -> list[dict[str, np.ndarray]]:
        """The calibration texts tokenised; the record says where they came from."""
        texts = self.calibration_texts()
        self.record.setdefault("calibration", {
            "texts": len(texts),
            "source": self.quantize_settings.calibration_data
            or "edgekit corpus (calibration split, disjoint from validation)"})
        return self.tokenize(texts, batch_size=batch_size)

    @cached_property
    def input_names(self) -> list[str]:
        from edgekit.build.passes.export import model_input_names

        return model_input_names(self.model)

    def tokenize(self, texts: list[str], *, batch_size: int | None = None) -> list[dict[str, np.ndarray]]:
        from edgekit.build.reference import tokenize_batches

        v = self.validate_settings
        return tokenize_batches(self.tokenizer, texts, input_names=self.input_names,
                                batch_size=batch_size or v.batch_size, max_length=v.max_length)

    @cached_property
    def validation_batches(self) -> list[dict[str, np.ndarray]]:
        return self.tokenize(self.validation_texts())

    @cached_property
    def reference(self) -> list[dict[str, np.ndarray]]:
        from edgekit.build.reference import reference_outputs

        return reference_outputs(self.model, self.task, self.validation_batches)

    def evaluate(self, model_path: Path, *, precision: str | None = None) -> dict:
        """Fidelity of a model file to the PyTorch FP32 reference on the held-out batches. The figures of a file
        are kept for the build, so validating the candidate a search chose (the same unchanged file) does not
        run it again; for pytorch-int8 that second run is a second TorchInductor compile."""
        import copy

        from edgekit.build.fidelity import compare_outputs
        from edgekit.runtime.sessions import open_runner

        precision = precision or self.target.inference_precision
        stat = Path(model_path).stat()
        key = ("evaluate", str(Path(model_path).resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns, precision)
        if key not in self.cache:
            run = open_runner(model_path, precision=precision)
            candidate = [run(feeds) for feeds in self.validation_batches]
            self.cache[key] = compare_outputs(self.task, self.reference, candidate,
                                              [b["attention_mask"] for b in self.validation_batches])
        return copy.deepcopy(self.cache[key])

    @cached_property
    def _timing_feeds(self) -> list[dict[str, np.ndarray]]:
        """The longest held-out text alone (an app's call), and the CANDIDATE_BATCH longest padded together
        (compute-bound: where integer kernels pay most)."""
        longest_first = sorted(self.validation_texts(), key=len, reverse=True)
        return [self.tokenize(longest_first[:size], batch_size=size)[0] for size in (1, CANDIDATE_BATCH)]

    def _shapes_timed(self, compute_bound: bool) -> list[dict[str, np.ndarray]]:
        return self._timing_feeds if compute_bound else self._timing_feeds[:1]

    def timing_measure(self, *, compute_bound: bool = True) -> str:
        shapes = " and ".join("batch {} x {} tokens".format(*feed["input_ids"].shape)
                              for feed in self._shapes_timed(compute_bound))
        return (f"ms per sequence, geometric mean over {shapes} (the longest held-out texts), median of "
                f"{CANDIDATE_TIMING.runs} interleaved rounds on the build machine")

    def timing_samples(self, model_paths: list[Path], *, compute_bound: bool = True) -> list[list[float]]:
        """Per-round cost of each model, paired across models (round i of each was timed in the same round):
        milliseconds per sequence, the geometric mean over the shapes of _timing_feeds. One shape alone misleads:
        on a Zen 3 core, NNCF's INT8 weights alone timed 4% faster than full INT8 at batch 1, then ran 1.12x
        NNCF defaults' latency at batch 8 x 256 tokens. compute_bound=False: batch 1 only, for choices whose cost
        is the same per token at any batch (the embedding table's precision)."""
        from edgekit.runtime.sessions import open_runner

        feeds = self._shapes_timed(compute_bound)
        runners = {str(i): open_runner(p, precision=self.target.inference_precision) for i, p in enumerate(model_paths)}
        logs = np.zeros((len(model_paths), CANDIDATE_TIMING.runs))
        for feed in feeds:
            samples = interleave(runners, {name: feed for name in runners}, CANDIDATE_TIMING)
            logs += np.log(np.array([samples[str(i)] for i in range(len(model_paths))]) / len(feed["input_ids"]))
        return np.exp(logs / len(feeds)).tolist()
