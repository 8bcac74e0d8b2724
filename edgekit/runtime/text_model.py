"""A bundle's text-in model: the tokenizer compiled into the runtime's own graph, run on raw strings.

Needs the runtime's tokenizer extension (the graph-tokenizer extra): onnxruntime-extensions for ONNX Runtime,
openvino-tokenizers for OpenVINO. The model maps a string tensor [batch] to the model's outputs plus the
attention mask (for mean pooling).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.errors import BundleError, InvalidChoiceError, MissingDependencyError
from edgekit.runtime.sessions import compile_openvino, ort_session, require_openvino

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


def open_text_model(path: Path, *, runtime: str, threads: int | None, precision: str | None = None) -> TextRunner:
    """texts -> {output name: array} of a text-in model file. precision is OpenVINO's (None: device default)."""
    extension = require_extension(runtime, "the in-graph tokenizer of this bundle")
    if runtime == "onnxruntime":
        # Spinning on, as BundleModel runs the token-in model: an app's back-to-back calls.
        session = ort_session(path, threads=threads, spinning=True, custom_ops_library=extension.get_library_path())
        names = [o.name for o in session.get_outputs()]

        def run_ort(texts: list[str]) -> dict[str, np.ndarray]:
            return dict(zip(names, session.run(names, {TEXT_INPUT: np.array(texts, dtype=object)})))

        return run_ort
    # Importing openvino_tokenizers registered its string ops with every new Core.
    compiled = compile_openvino(path, threads=threads, precision=precision, core=require_openvino().Core())
    request = compiled.create_infer_request()
    names = [o.get_any_name() for o in compiled.outputs]

    def run_ov(texts: list[str]) -> dict[str, np.ndarray]:
        result = request.infer({TEXT_INPUT: np.array(texts, dtype=str)})
        return {name: np.array(result[compiled.output(name)]) for name in names}

    return run_ov


def open_text_runner(bundle: Path, manifest: dict, *, threads: int | None) -> TextRunner:
    """The text-in model of a bundle, as its manifest describes it."""
    graph = manifest.get("graph_tokenizer") or {}
    if not graph.get("built"):
        raise BundleError(f"bundle '{bundle}' has no in-graph tokenizer ({graph.get('reason', 'not built')})")
    return open_text_model(Path(bundle) / graph["file"], runtime=manifest["runtime"], threads=threads,
                           precision=manifest.get("inference_precision"))
