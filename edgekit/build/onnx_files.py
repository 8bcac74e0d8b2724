"""Loading and saving ONNX graphs on the build side (the onnx package comes with the export extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit.errors import InputError, MissingDependencyError

_PROTOBUF_LIMIT = 2 * 1024**3


def require_onnx(purpose: str) -> Any:
    """The onnx module, or a MissingDependencyError naming the extra that brings it."""
    try:
        import onnx
    except ImportError:
        raise MissingDependencyError("onnx", purpose, "export") from None
    return onnx


def check_model_file(path: Path | str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"ONNX model not found: {path}")
    return path


def needs_external_data(model: Any) -> bool:
    """Whether the weights are too big for one protobuf; a single file is simpler to ship otherwise."""
    return sum(len(t.raw_data) for t in model.graph.initializer) > _PROTOBUF_LIMIT - 64 * 1024**2


def save_model(model: Any, dst: Path | str) -> Path:
    """Write an onnx.ModelProto to dst (its folder made if needed), in one file unless it is too big for one."""
    import onnx

    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dst), save_as_external_data=needs_external_data(model))
    return dst


def save_for_shipping(src: Path | str, dst: Path | str) -> list[Path]:
    """The model of src written as dst plus its weights in dst.data; returns the files written.

    ONNX Runtime maps an external data file into memory instead of reading the model into a buffer and copying
    every initializer out of it: random:distilroberta-base's onnxruntime-int8 peaked at 120 MB RSS loaded that
    way against 177 MB from one file, loaded in 0.10 s against 0.27 s, at the same latency (measured here).
    """
    onnx = require_onnx("writing the shipped model")
    dst = Path(dst)
    data = dst.with_name(dst.name + ".data")
    model = onnx.load(str(check_model_file(src)))
    onnx.save(model, str(dst), save_as_external_data=True, all_tensors_to_one_file=True, location=data.name,
              size_threshold=1024)
    data.chmod(0o644)  # onnx writes it private; an artefact's files are meant to be read by whoever runs them
    return [dst, data]
