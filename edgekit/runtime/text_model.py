"""A bundle's in-graph tokenizer: a small model in the runtime's own format that maps raw strings to token ids,
run before the bundle's model, so texts go in and answers come out with no Python tokenizer.

Needs the runtime's tokenizer extension (the graph-tokenizer extra): onnxruntime-extensions for ONNX Runtime,
openvino-tokenizers for OpenVINO. The chain returns the model's outputs plus the attention mask (for mean
pooling). The tokenizer model holds no weights of the model: a bundle stores each weight once.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.errors import BundleError, InvalidChoiceError, MissingDependencyError
from edgekit.runtime.sessions import compile_openvino, open_runner, ort_session, require_openvino

TEXT_INPUT = "text"
MASK_OUTPUT = "attention_mask"
# The package that registers the tokenizer's string ops with each runtime.
EXTENSIONS = {"onnxruntime": "onnxruntime-extensions", "openvino": "openvino-tokenizers"}

TextRunner = Callable[[list[str]], dict[str, np.ndarray]]


def require_extension(runtime: str, purpose: str, extra: str | None = None) -> Any:
    """The imported tokenizer extension of `runtime`, or a typed error naming the package to install."""
    if runtime not in EXTENSIONS:
        raise InvalidChoiceError("bundle runtime", runtime, tuple(EXTENSIONS))
    package = EXTENSIONS[runtime]
    try:
        if runtime == "onnxruntime":
            import onnxruntime_extensions as module
        else:
            import openvino_tokenizers as module
    except ImportError:
        raise MissingDependencyError(package, purpose, extra) from None
    if runtime == "openvino" and not module.is_openvino_tokenizers_compatible:
        raise BundleError(f"{package} {metadata.version(package)} is not binary compatible with openvino "
                          f"{require_openvino().get_version()}; install the {package} release of the same "
                          "major.minor version")
    return module


def open_tokenizer_model(path: Path, *, runtime: str, threads: int | None) -> TextRunner:
    """texts -> {input_ids, attention_mask[, token_type_ids]} of a tokenizer model file."""
    extension = require_extension(runtime, "the in-graph tokenizer of this bundle")
    if runtime == "onnxruntime":
        session = ort_session(path, threads=threads, custom_ops_library=extension.get_library_path())
        names = [o.name for o in session.get_outputs()]

        def run_ort(texts: list[str]) -> dict[str, np.ndarray]:
            return dict(zip(names, session.run(names, {TEXT_INPUT: np.array(texts, dtype=object)})))

        return run_ort
    # Importing openvino_tokenizers registered its string ops with every new Core.
    compiled = compile_openvino(path, threads=threads, core=require_openvino().Core())
    request = compiled.create_infer_request()
    names = [o.get_any_name() for o in compiled.outputs]

    def run_ov(texts: list[str]) -> dict[str, np.ndarray]:
        result = request.infer({TEXT_INPUT: np.array(texts, dtype=str)})
        return {name: np.array(result[compiled.output(name)]) for name in names}

    return run_ov


def open_text_model(tokenizer_path: Path, model_path: Path, *, runtime: str, threads: int | None,
                    precision: str | None = None) -> TextRunner:
    """texts -> the model's outputs and the attention mask: the tokenizer model, then the model (spinning on,
    as an app's back-to-back calls want). precision is OpenVINO's (None: the device default)."""
    tokenize = open_tokenizer_model(tokenizer_path, runtime=runtime, threads=threads)
    model = open_runner(model_path, threads=threads, precision=precision, spinning=True)

    def run(texts: list[str]) -> dict[str, np.ndarray]:
        feeds = {name: np.asarray(value, dtype=np.int64) for name, value in tokenize(list(texts)).items()}
        feeds.setdefault("token_type_ids", np.zeros_like(feeds["input_ids"]))  # one segment
        outputs = model(feeds)
        outputs[MASK_OUTPUT] = feeds[MASK_OUTPUT]
        return outputs

    return run


def open_text_runner(bundle: Path, manifest: dict, *, threads: int | None) -> TextRunner:
    """The in-graph tokenizer and the model of a bundle, as its manifest describes them."""
    graph = manifest.get("graph_tokenizer") or {}
    if not graph.get("built"):
        raise BundleError(f"bundle '{bundle}' has no in-graph tokenizer ({graph.get('reason', 'not built')})")
    return open_text_model(Path(bundle) / graph["file"], Path(bundle) / manifest["model_file"],
                           runtime=manifest["runtime"], threads=threads, precision=manifest.get("inference_precision"))
