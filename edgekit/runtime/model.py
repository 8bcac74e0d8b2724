"""BundleModel: tokenise (in Python or in the graph), batch with dynamic padding, run, post-process."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from edgekit.errors import BundleError, InputError, InvalidChoiceError, MissingDependencyError
from edgekit.runtime import postprocess
from edgekit.runtime.manifest import read_manifest, verify_files
from edgekit.runtime.sessions import check_threads, open_runner

TOKENIZER_MODES = ("python", "graph")
DEFAULT_MEMORY_BUDGET_MB = 512  # activations of one batch; a batch that would need more is split
# Padding a batch to its longest text costs CPU time in proportion to the padded tokens, and on a CPU a batch
# saves little per token over smaller ones: a batch is cut where its padded tokens would exceed its real tokens
# by more than this share. benchmarks/batching.py (32 and 128 real sentences, batch_size 32, both INT8 bundles,
# interleaved): 0.1 was the fastest of inf, 0.5, 0.25, 0.1 and 0.05, 1.7-3.9x faster than one padded batch.
DEFAULT_MAX_PADDING = 0.1
_RUNTIME_PACKAGES = {"onnxruntime": "onnxruntime", "openvino": "openvino"}


class TruncationWarning(UserWarning):
    """A text was longer than the model's max length and was cut."""


class CoreWarning(UserWarning):
    """This CPU lacks the instructions the bundle's INT8 kernels need to be fast."""


def load(bundle: Path | str, *, threads: int | None = None, tokenizer: str = "python", verify: bool = True,
         manifest_sha256: str | None = None, public_key: bytes | str | Path | None = None,
         memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB, max_padding: float = DEFAULT_MAX_PADDING) -> BundleModel:
    """Open a bundle directory: check its seal and every checksum, then load its model with `threads` intra-op
    threads.

    manifest_sha256: the manifest's sha256 the app pins (`edgekit package` prints it); public_key: the Ed25519
    public key (PEM bytes or a path) of a signed bundle. Either makes a bundle that was rewritten on the device
    fail to load, seal and all. verify=False skips the checksums of the files: you are then on your own.
    tokenizer "python" runs the bundle's tokenizer.json with the tokenizers library; "graph" runs the
    tokenizer compiled into the runtime's graph (needs openvino-tokenizers or onnxruntime-extensions).
    The graph tokenizer always truncates at the max length, without a warning; use "python" to be told.
    memory_budget_mb: batches whose activations would need more are split (the answers are the same).
    max_padding: a batch is also split where padding it to its longest text would add more than this share of
    its real tokens (float("inf"): batches of batch_size whatever their lengths; 0: equal lengths only).
    """
    bundle = Path(bundle)
    if tokenizer not in TOKENIZER_MODES:
        raise InvalidChoiceError("tokenizer mode", tokenizer, TOKENIZER_MODES)
    check_threads(threads, oversubscribe=False)
    if not (isinstance(memory_budget_mb, (int, float)) and not isinstance(memory_budget_mb, bool)
            and memory_budget_mb > 0):
        raise InputError(f"memory_budget_mb must be a positive number, got {memory_budget_mb!r}")
    if not (isinstance(max_padding, (int, float)) and not isinstance(max_padding, bool) and max_padding >= 0):
        raise InputError(f"max_padding must be a number >= 0 (a share of the real tokens), got {max_padding!r}")
    manifest = read_manifest(bundle, expected_sha256=manifest_sha256, public_key=public_key)
    if verify:
        verify_files(bundle, manifest)
    _require_runtime(manifest)
    _check_core(manifest)
    return BundleModel(bundle, manifest, threads=threads, tokenizer_mode=tokenizer, memory_budget_mb=memory_budget_mb,
                       max_padding=max_padding)


def _require_runtime(manifest: dict) -> None:
    import importlib.util

    package = _RUNTIME_PACKAGES.get(manifest["runtime"])
    if package is None:
        raise InvalidChoiceError("bundle runtime", manifest["runtime"], tuple(_RUNTIME_PACKAGES))
    if importlib.util.find_spec(package) is None:
        raise MissingDependencyError(package, f"this bundle (target {manifest['target']['name']})")


def _check_core(manifest: dict) -> None:
    """Warn where an INT8 bundle meets a core without the integer dot products it is fast with."""
    import platform

    from edgekit.runtime.cpu import cpu_model_and_flags, isa_family, summarise_isa

    target = manifest.get("target") or {}
    family = isa_family(platform.machine())
    if target.get("precision") != "int8" or family is None:
        return
    cpu, flags = cpu_model_and_flags()
    if not flags:
        return  # unknown features: no guess
    isa = summarise_isa(flags)
    if family == "arm64" and not isa["dotprod"]:
        warnings.warn(f"{cpu} has no dot-product extension (asimddp): this INT8 bundle runs slower here than an "
                      "FP32 one would (Cortex-A72, Raspberry Pi 4); build openvino-arm64 for this core", CoreWarning,
                      stacklevel=3)
    elif family == "x86-64" and not isa["vnni"]:
        warnings.warn(f"{cpu} has no VNNI: this INT8 bundle gains little over FP32 here", CoreWarning, stacklevel=3)


class BundleModel:
    def __init__(self, bundle: Path, manifest: dict, *, threads: int | None, tokenizer_mode: str,
                 memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB, max_padding: float = DEFAULT_MAX_PADDING) -> None:
        self.bundle = bundle
        self.memory_budget_bytes = memory_budget_mb * 2**20
        self.max_padding = max_padding
        self.manifest = manifest
        self.task = manifest["task"]
        self.max_length = int(manifest["max_length"])
        self.labels = {int(k): v for k, v in (manifest.get("labels") or {}).items()}
        self.tokenizer_mode = tokenizer_mode
        self._tokenizer = _load_tokenizer(bundle, manifest)
        self._input_names = [i["name"] for i in manifest["inputs"]]
        if tokenizer_mode == "graph":
            from edgekit.runtime.text_model import open_text_runner

            graph = manifest.get("graph_tokenizer") or {}
            if not graph.get("built"):
                raise InputError(f"bundle '{bundle}' has no in-graph tokenizer ({graph.get('reason', 'not built')}); "
                                 "use tokenizer='python'")
            self._text_runner = open_text_runner(bundle, manifest, threads=threads)
        else:
            self._runner = open_runner(bundle / manifest["model_file"], threads=threads,
                                       precision=manifest.get("inference_precision"), spinning=True)

    # -- inputs -------------------------------------------------------------------------------------
    def encode(self, texts: Sequence[str], *, truncate: bool = True) -> list:
        """Token encodings of the texts, cut to the max length (with a warning) or refused."""
        texts = _check_texts(texts)
        encodings = self._tokenizer.encode_batch(list(texts))
        too_long = [i for i, e in enumerate(encodings) if len(e.ids) > self.max_length]
        if too_long:
            if not truncate:
                raise InputError(f"text {too_long[0] + 1} has {len(encodings[too_long[0]].ids)} tokens, more than "
                                 f"the model's {self.max_length}; shorten it or allow truncation")
            warnings.warn(f"{len(too_long)} text(s) longer than {self.max_length} tokens were truncated",
                          TruncationWarning, stacklevel=3)
            self._tokenizer.enable_truncation(max_length=self.max_length)
            try:
                for i in too_long:
                    encodings[i] = self._tokenizer.encode(texts[i])
            finally:
                self._tokenizer.no_truncation()
        return encodings

    def activation_bytes(self, batch: int, length: int) -> float:
        """About the largest activation memory of one call on (batch, length) tokens: attention scores (and
        their softmax and mask) per head, hidden states and the feed-forward's wide activations, in fp32.
        MiniLM at 64 x 512: 3.1 GB estimated, 2.7 GB measured."""
        shape = self.manifest.get("architecture") or {}
        heads, hidden, wide = (int(shape.get(k) or v) for k, v in
                               (("heads", 12), ("hidden_size", 768), ("intermediate_size", 3072)))
        return 4.0 * batch * length * (3 * heads * length + 6 * hidden + 2 * wide)

    def _groups(self, lengths: list[int], batch_size: int) -> list[list[int]]:
        """Indices in ascending length, cut into batches of at most batch_size whose activations fit the budget
        and whose padding stays within max_padding of their real tokens (at least one text each)."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(f"batch_size must be a positive whole number, got {batch_size!r}")
        groups: list[list[int]] = []
        real_tokens = 0
        for i in sorted(range(len(lengths)), key=lambda k: lengths[k]):
            group = groups[-1] if groups else None
            # in ascending order the newcomer is the longest: the batch would be padded to its length
            if group is not None and len(group) < batch_size and \
                    self.activation_bytes(len(group) + 1, lengths[i]) <= self.memory_budget_bytes and \
                    (len(group) + 1) * lengths[i] <= (1 + self.max_padding) * (real_tokens + lengths[i]):
                group.append(i)
                real_tokens += lengths[i]
            else:
                groups.append([i])
                real_tokens = lengths[i]
        return groups

    def _batches(self, encodings: list, batch_size: int):
        """Dynamic padding: texts sorted by length, so each batch pads only to its own longest text."""
        pad_id = self._tokenizer.token_to_id(self.manifest["tokenizer"]["pad_token"]) or 0
        for picked in self._groups([len(e.ids) for e in encodings], batch_size):
            width = max(len(encodings[i].ids) for i in picked)
            ids = np.full((len(picked), width), pad_id, dtype=np.int64)
            mask = np.zeros((len(picked), width), dtype=np.int64)
            types = np.zeros((len(picked), width), dtype=np.int64)
            for row, i in enumerate(picked):
                n = len(encodings[i].ids)
                ids[row, :n], mask[row, :n], types[row, :n] = encodings[i].ids, 1, encodings[i].type_ids
            yield picked, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}

    def _run(self, texts: Sequence[str], *, batch_size: int, truncate: bool,
             per_row: Callable[[dict, int, object], object]) -> list:
        """Run every batch and turn each row's outputs into a result, in the caller's order."""
        if self.tokenizer_mode == "graph":
            if self.task in ("fill-mask", "token-classification"):
                raise InputError(f"{self.task} needs token positions: load the bundle with tokenizer='python'")
            texts = _check_texts(texts)
            results: list = [None] * len(texts)
            # Lengths as the bundle's tokenizer counts them, so that the budget holds here too.
            lengths = [min(len(e.ids), self.max_length) for e in self._tokenizer.encode_batch(list(texts))]
            for picked in self._groups(lengths, batch_size):
                outputs = self._text_runner([texts[i] for i in picked])
                for row, i in enumerate(picked):
                    results[i] = per_row(outputs, row, None)
            return results
        encodings = self.encode(texts, truncate=truncate)
        results = [None] * len(encodings)
        for picked, feeds in self._batches(encodings, batch_size):
            outputs = self._runner(feeds)
            outputs["attention_mask"] = feeds["attention_mask"]
            for row, i in enumerate(picked):
                results[i] = per_row(outputs, row, encodings[i])
        return results

    def _require(self, *tasks: str) -> None:
        if self.task not in tasks:
            raise InputError(f"this bundle's task is {self.task}; this call needs {' or '.join(tasks)}")

    # -- tasks ----------------------------------------------------------------------------------------
    def predict(self, texts: Sequence[str], *, batch_size: int = 32, truncate: bool = True) -> list[dict]:
        """text-classification: {"label", "score", "scores"} per text (scores: softmax over all labels)."""
        self._require("text-classification")
        return self._run(texts, batch_size=batch_size, truncate=truncate,
                         per_row=lambda out, row, _: postprocess.classification(out["logits"][row], self.labels))

    def embed(self, texts: Sequence[str], *, batch_size: int = 32, truncate: bool = True,
              normalize: bool = True) -> np.ndarray:
        """feature-extraction: one mean-pooled (and by default L2-normalised) vector per text."""
        self._require("feature-extraction")
        rows = self._run(texts, batch_size=batch_size, truncate=truncate,
                         per_row=lambda out, row, _: postprocess.mean_pool(
                             out["last_hidden_state"][row:row + 1], out["attention_mask"][row:row + 1],
                             normalize=normalize)[0])
        return np.stack(rows).astype(np.float32)

    def fill_mask(self, texts: Sequence[str], *, top_k: int = 5, batch_size: int = 32,
                  truncate: bool = True) -> list[list[dict]]:
        """fill-mask: for each text, the top_k tokens for its first mask token, with scores."""
        self._require("fill-mask")
        mask_id = self._tokenizer.token_to_id(self.manifest["tokenizer"].get("mask_token") or "<mask>")
        return self._run(texts, batch_size=batch_size, truncate=truncate,
                         per_row=lambda out, row, enc: postprocess.fill_mask(
                             out["logits"][row], enc, mask_id, self._tokenizer, top_k))

    def classify_tokens(self, texts: Sequence[str], *, batch_size: int = 32,
                        truncate: bool = True) -> list[list[dict]]:
        """token-classification: {"token", "label", "score", "start", "end"} for every real token."""
        self._require("token-classification")
        return self._run(texts, batch_size=batch_size, truncate=truncate,
                         per_row=lambda out, row, enc: postprocess.token_labels(out["logits"][row], enc, self.labels))

    def __call__(self, texts: Sequence[str], **options):
        """The task's natural call: predict, embed, fill_mask or classify_tokens."""
        method = {"text-classification": self.predict, "feature-extraction": self.embed,
                  "fill-mask": self.fill_mask, "token-classification": self.classify_tokens}.get(self.task)
        if method is None:
            raise InputError(f"edgekit.runtime has no text API for the task {self.task}")
        return method(texts, **options)


def _check_texts(texts: Sequence[str]) -> Sequence[str]:
    if isinstance(texts, str):
        raise InputError("give a list of texts, not a single string (wrap it: [text])")
    if len(texts) == 0:
        raise InputError("no texts were given")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputError(f"text {i + 1} is a {type(text).__name__}, not a string")
        if not text.strip():
            raise InputError(f"text {i + 1} is empty")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate, e.g. invalid UTF-8 bytes from a shell argument
            raise InputError(f"text {i + 1} is not valid Unicode (character {exc.start + 1} is a lone surrogate, "
                             "as invalid UTF-8 input gives); pass UTF-8 text") from None
    return texts


def _load_tokenizer(bundle: Path, manifest: dict):
    from tokenizers import Tokenizer

    path = bundle / manifest["tokenizer"]["file"]
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception for any parse error
        raise BundleError(f"bundle tokenizer '{path}' cannot be read ({str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__})") from None
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer
